/**
 * What the benchmarks and the chaos runs share to measure and print: the machine they ran on,
 * percentiles, latencies, and an open-loop sender at a fixed rate.
 */
import { readFileSync, readdirSync } from 'node:fs';
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

/** A process in /proc: its parent, the CPU ticks (user + system, all threads, and its children it reaped) it has used, its command name. */
export interface ProcStat {
  ppid: number;
  ticks: number;
  name: string;
}

/**
 * CPU seconds a process and everything it started (PostgreSQL under its host, the Temporal CLI
 * under its) have used so far: user + system of the process tree, Linux /proc.
 */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  const { tree, stats } = processTree(pid);
  let ticks = 0;
  for (const p of tree) ticks += stats.get(p)?.ticks ?? 0;
  return ticks / 100;
}

/** A process and its descendants (Linux /proc), with each one's CPU ticks. */
export function processTree(pid: number): { tree: Set<number>; stats: Map<number, ProcStat> } {
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // After the command's closing parenthesis: state, ppid, ..., utime, stime, and cutime, cstime:
      // the children it reaped (PostgreSQL's backends and autovacuum workers that exited meanwhile).
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(') '));
      stats.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]), name });
    } catch {
      // Gone meanwhile.
    }
  }
  const tree = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, s] of stats)
      if (!tree.has(p) && tree.has(s.ppid)) {
        tree.add(p);
        grew = true;
      }
  }
  return { tree, stats };
}

/** CPU seconds used so far by a process and its descendants, summed by command name (`node`, `temporal`, `postgres`). */
export function cpuSecondsByName(pid: number): Map<string, number> {
  const { tree, stats } = processTree(pid);
  const out = new Map<string, number>();
  for (const p of tree) {
    const s = stats.get(p);
    if (s) out.set(s.name, (out.get(s.name) ?? 0) + s.ticks / 100);
  }
  return out;
}

/**
 * What `fn` cost the machine, per unit of work: CPU milliseconds of `pid`'s process tree per
 * item, in all and by command name, largest first ("412 ms: node 250, temporal 120, postgres 42").
 */
export async function cpuPerItem<T>(pid: number, items: number, fn: () => Promise<T>): Promise<{ result: T; line: string; total: number }> {
  const before = cpuSecondsByName(pid);
  const result = await fn();
  return { result, ...cpuLine(before, cpuSecondsByName(pid), items) };
}

/** CPU milliseconds per item between two readings of {@link cpuSecondsByName}, in all and by name. */
export function cpuLine(before: Map<string, number>, after: Map<string, number>, items: number): { line: string; total: number } {
  const parts = [...after]
    .map(([name, s]) => [name, ((s - (before.get(name) ?? 0)) * 1000) / items] as const)
    .filter(([, v]) => v >= 0.5)
    .sort((a, b) => b[1] - a[1]);
  const total = parts.reduce((a, [, v]) => a + v, 0);
  return { total, line: `${total.toFixed(0)} ms: ${parts.map(([n, v]) => `${n} ${v.toFixed(0)}`).join(', ')}` };
}
