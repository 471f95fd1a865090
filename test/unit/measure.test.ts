import { describe, expect, it } from 'vitest';
import { atFixedRate, latencyLine, pct } from '../../scripts/measure';

describe('benchmark measures', () => {
  it('percentiles are nearest-rank, whatever the input order', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1
    expect(pct(xs, 50)).toBe(50);
    expect(pct(xs, 99)).toBe(99);
    expect(pct(xs, 100)).toBe(100);
    expect(pct(xs, 0)).toBe(1);
    expect(pct([7], 99)).toBe(7);
    expect(pct([], 50)).toBeNaN();
    expect(xs[0]).toBe(100); // the input is not sorted in place
  });

  it('a latency line names p50, p99 and max', () => {
    expect(latencyLine([1, 2, 3, 4])).toBe('p50 2.0 ms, p99 4.0 ms, max 4.0 ms');
  });

  it('the sender is open loop: a slow answer does not hold back the next call', async () => {
    let inFlight = 0;
    let most = 0;
    const latencies = await atFixedRate(200, 0.05, async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 150));
      inFlight--;
    });
    expect(latencies).toHaveLength(10);
    // Ten calls due within 50 ms, each answering after 150 ms: all were out at once.
    expect(most).toBe(10);
    expect(Math.min(...latencies)).toBeGreaterThanOrEqual(140);
  });
});
