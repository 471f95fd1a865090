/**
 * The side-by-side bench reads figures out of printed bench output (its own and an older
 * commit's): the lines below are as `npm run bench` prints them.
 */
import { describe, expect, it } from 'vitest';
import { compareFigures, figuresFrom, pairsSummary } from '../../scripts/bench-baseline';

const printed = `
2) intake latency: POST /v1/orders at 10/s for 10s (open loop; the worker processes them meanwhile)
   p50 4.1 ms  p99 12.9 ms  max 15.0 ms  → p50 is 3.1× the /healthz p50
   those 100 orders were all DELIVERED 21.3s after the first was sent → 4.7 orders/s sustained

3) burst: 200 orders at once, intake → DELIVERED (carrier steps every 20 ms)
   accepted in 1.2s; all DELIVERED after 41.0s → 4.9 orders/s end to end
   channel webhooks ... answered p50 3.0 ms  p99 9.0 ms  max 10.0 ms
   shape                                                  workflows  history events  workflow tasks  (order workflow alone)
   1 line, 1 shipment, prepaid → DELIVERED                        2             212              26  (141 events)
   2 lines split over 2 warehouses, prepaid → DELIVERED           3             349              44  (197 events)
      order: marker_recorded 19, upsert_workflow_search_attributes 18
`.split('\n');

describe('bench figures', () => {
  it('reads orders/s, intake latency and events per shape; the webhook percentiles are not intake', () => {
    expect(figuresFrom(printed)).toEqual({
      sustained: 4.7,
      burst: 4.9,
      intakeP50: 4.1,
      intakeP99: 12.9,
      events: { '1 line, 1 shipment, prepaid → DELIVERED': 212, '2 lines split over 2 warehouses, prepaid → DELIVERED': 349 },
    });
  });

  it('puts them side by side with now ÷ baseline, and a dash where one side has no figure', () => {
    const rows = compareFigures('46c07b4', figuresFrom(printed), {
      sustained: 9.4,
      events: { '1 line, 1 shipment, prepaid → DELIVERED': 133 },
    });
    expect(rows.find((r) => r.includes('orders/s sustained'))).toMatch(/4\.7 \/s\s+9\.4 \/s\s+2\.00×$/);
    expect(rows.find((r) => r.includes('1 line, 1 shipment'))).toMatch(/212 ev\s+133 ev\s+0\.63×$/);
    expect(rows.find((r) => r.includes('in the burst'))).toMatch(/4\.9 \/s\s+—\s+—$/);
  });
});

describe('bench pairs', () => {
  const pair = (baselineFirst: boolean, base: [number, number, number], now: [number, number, number]) => ({
    baselineFirst,
    base: { burst: base[0], sustained: base[1], burstCpuMs: base[2], events: {} },
    now: { burst: now[0], sustained: now[1], burstCpuMs: now[2], events: {} },
  });

  it('prints each pair with its ratios, and the median of each ratio over the pairs', () => {
    const rows = pairsSummary('46c07b4', [
      pair(true, [3.1, 3.0, 500], [7.6, 5.9, 248]),
      pair(false, [2.9, 3.4, 520], [8.1, 7.5, 232]),
      pair(true, [4.0, 3.2, 400], [7.2, 7.8, 188]),
      pair(false, [3.1, 4.0, 610], [9.3, 7.9, 206]),
    ]);
    expect(rows.find((r) => r.trimStart().startsWith('1 (baseline first)'))).toMatch(
      /3\.1 → 7\.6 2\.45×\s+3 → 5\.9 1\.97×\s+500 → 248 0\.50×$/,
    );
    expect(rows.find((r) => r.trimStart().startsWith('2 (now first)'))).toMatch(/2\.9 → 8\.1 2\.79×/);
    // Burst ratios 2.45, 2.79, 1.80, 3.00 → the middle two's mean (2.45 + 2.79) / 2; sustained
    // 1.97, 2.21, 2.44, 1.98 → (1.98 + 2.21) / 2; CPU 0.50, 0.45, 0.47, 0.34 → (0.45 + 0.47) / 2.
    expect(rows.find((r) => r.includes('median ratio'))).toMatch(/2\.62×\s+2\.09×\s+0\.46×$/);
  });

  it('says a dash for a figure a pair lacks, and leaves it out of the median', () => {
    const rows = pairsSummary('46c07b4', [
      pair(true, [3, 3, 500], [6, 6, 250]),
      { ...pair(false, [3, 3, 500], [9, 9, 250]), now: { events: {} } },
    ]);
    expect(rows.find((r) => r.trimStart().startsWith('2 (now first)'))).toMatch(/3 → —\s+3 → —\s+500 → —$/);
    expect(rows.find((r) => r.includes('median ratio'))).toMatch(/2\.00×\s+2\.00×\s+0\.50×$/);
  });

  it('at the same time (BENCH_SAME_TIME=1) compares the CPU an order only: the rates are of two stacks sharing the cores', () => {
    const rows = pairsSummary('1fc4044', [
      { ...pair(true, [5, 4, 200], [5, 4, 206]), together: true },
      { ...pair(false, [5, 4, 210], [5, 4, 210]), together: true },
      { ...pair(true, [5, 4, 190], [5, 4, 185]), together: true },
    ]);
    expect(rows[0]).toContain('both at the same time: compare the CPU an order only');
    expect(rows.find((r) => r.trimStart().startsWith('1 (together)'))).toMatch(/shared cores\s+shared cores\s+200 → 206 1\.03×$/);
    // CPU ratios 1.03, 1.00, 0.97 → 1.00; no median of the rates.
    expect(rows.find((r) => r.includes('median ratio'))).toMatch(/shared cores\s+shared cores\s+1\.00×$/);
    expect(rows.join('\n')).not.toMatch(/5 → 5/);
  });
});
