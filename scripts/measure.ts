/**
 * What the benchmarks and the chaos runs share to measure and print: the machine they ran on,
 * percentiles, latencies, and an open-loop sender at a fixed rate.
 */
import { cpus, freemem, totalmem } from 'node:os';

/** The machine a figure was measured on: CPU, cores, memory, Node, platform. */
export function machineLine(): string {
  return `${cpus()[0]?.model ?? 'unknown cpu'} × ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM (${(freemem() / 2 ** 30).toFixed(1)} free), Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** The p-th percentile of `xs`, nearest rank (NaN when empty). */
export function pct(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

export const ms = (x: number): string => `${x.toFixed(1)} ms`;

/** `p50 …, p99 …, max …` of some latencies. */
export const latencyLine = (xs: number[]): string => `p50 ${ms(pct(xs, 50))}, p99 ${ms(pct(xs, 99))}, max ${ms(Math.max(...xs))}`;

/**
 * Calls `fn` `rate` times a second for `seconds` (open loop: a slow answer does not slow the
 * sender, as real clients do not wait for each other); the latency of each call, ms.
 */
export async function atFixedRate(rate: number, seconds: number, fn: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < rate * seconds; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      (async () => {
        const t = performance.now();
        await fn(i);
        latencies.push(performance.now() - t);
      })(),
    );
  }
  await Promise.all(inflight);
  return latencies;
}
