/**
 * `BENCH_BASELINE=<commit> npm run bench`: the bench of that commit runs first, from a git
 * worktree beside this clone with the same settings; then this tree's bench; then the figures side
 * by side. Both run on the same machine minutes apart, so the ratios mean something even on a busy
 * machine. The worktree installs that commit's own dependencies (`npm ci` from its lockfile, with
 * its own install scripts and patches), so the baseline is the commit as it was.
 * BENCH_BASELINE_SHARED_DEPS=1 runs it on this clone's node_modules instead: the ratio of the code
 * alone, on today's dependencies (and today's patches of them).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cpuLine, cpuSecondsByName } from './measure';

export interface BenchFigures {
  /** Orders/s of the fixed-rate run, intake to DELIVERED. */
  sustained?: number;
  /** Orders/s of the burst, intake to DELIVERED. */
  burst?: number;
  intakeP50?: number;
  intakeP99?: number;
  /** CPU milliseconds per order of the burst, every process of the stack (this tree's bench prints it; an older one's is read from outside). */
  burstCpuMs?: number;
  /** History events of every workflow of one order, per shape. */
  events: Record<string, number>;
}

/** Reads the figures out of a bench's printed lines (this bench's and older ones' print the same). */
export function figuresFrom(lines: string[]): BenchFigures {
  const f: BenchFigures = { events: {} };
  let inIntake = false;
  for (const l of lines) {
    if (/^2\) intake latency/.test(l.trim())) inIntake = true;
    const p = inIntake ? /^\s*p50 ([\d.]+) ms\s+p99 ([\d.]+) ms/.exec(l) : null;
    if (p) {
      f.intakeP50 = Number(p[1]);
      f.intakeP99 = Number(p[2]);
      inIntake = false;
    }
    const s = /→ ([\d.]+) orders\/s sustained/.exec(l);
    if (s) f.sustained = Number(s[1]);
    const b = /all DELIVERED after [\d.]+s → ([\d.]+) orders\/s end to end/.exec(l);
    if (b) f.burst = Number(b[1]);
    const c = /CPU per order .*?: (\d+) ms:/.exec(l);
    if (c) f.burstCpuMs = Number(c[1]);
    const e = /^\s{3}(\S.*?→ [A-Z]+)\s+\d+\s+(\d+)\s+\d+\s+\(\d+ events\)/.exec(l);
    if (e) f.events[e[1]!.trim()] = Number(e[2]);
  }
  return f;
}

/** Runs the bench of `commit` in a worktree; its lines are printed as they come, prefixed. */
export async function runBaselineBench(
  commit: string,
  say: (l: string) => void,
): Promise<{ commit: string; lines: string[]; burstCpu?: string; burstCpuMs?: number }> {
  const root = resolve(import.meta.dirname, '..');
  const rev = spawnSync('git', ['rev-parse', '--short', '--verify', `${commit}^{commit}`], { cwd: root, encoding: 'utf8' });
  if (rev.status !== 0) throw new Error(`BENCH_BASELINE=${commit}: not a commit of this clone (${rev.stderr.trim()})`);
  const short = rev.stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), 'oms-bench-baseline-'));
  // As root, PostgreSQL runs as the postgres user, which must reach the baseline's own binaries.
  chmodSync(dir, 0o755);
  const tree = join(dir, 'tree');
  const add = spawnSync('git', ['worktree', 'add', '--detach', tree, short], { cwd: root, encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`git worktree add failed: ${add.stderr.trim()}`);
  try {
    if (!existsSync(join(tree, 'scripts/bench.ts'))) throw new Error(`${short} has no scripts/bench.ts`);
    if (process.env.BENCH_BASELINE_SHARED_DEPS === '1') {
      say(`\n0) baseline ${short}: on this clone's node_modules (BENCH_BASELINE_SHARED_DEPS=1)`);
      symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'));
    } else {
      say(`\n0) baseline ${short}: installing its own dependencies (npm ci, its lockfile)...`);
      const t = performance.now();
      // npm's own output on stderr, as it goes: the bench's stdout stays its figures.
      const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: tree, stdio: ['ignore', process.stderr, process.stderr] });
      if (ci.error || ci.status !== 0)
        throw new Error(`npm ci for the baseline ${short} failed (${ci.error?.message ?? `exit ${ci.status}`}); its output is above`);
      say(`   installed in ${((performance.now() - t) / 1000).toFixed(0)}s`);
    }
    say(`\n0) baseline: the bench of ${short}, from a worktree, same settings (its lines prefixed [${short}])`);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'BENCH_BASELINE'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench.ts'], {
      cwd: tree,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    let partial = '';
    // An older bench does not print what its burst cost the machine: read from outside, between
    // its burst's heading and its last order DELIVERED (its process tree, as this bench reads its own).
    let burstOrders = 0;
    let before: Map<string, number> | undefined;
    let burstCpu: { line: string; total: number } | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        lines.push(l);
        say(`[${short}] ${l}`);
        const start = /^3\) burst: (\d+) orders/.exec(l.trim());
        if (start && child.pid) {
          burstOrders = Number(start[1]);
          before = cpuSecondsByName(child.pid);
        }
        if (before && child.pid && /all DELIVERED after .* end to end/.test(l)) {
          burstCpu = cpuLine(before, cpuSecondsByName(child.pid), burstOrders);
          before = undefined;
        }
      }
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    if (partial) lines.push(partial);
    if (code !== 0) throw new Error(`the baseline bench (${short}) exited with ${code}`);
    if (burstCpu) say(`[${short}]    CPU per order of its burst, read from outside: ${burstCpu.line}`);
    return { commit: short, lines, ...(burstCpu ? { burstCpu: burstCpu.line, burstCpuMs: Math.round(burstCpu.total) } : {}) };
  } finally {
    spawnSync('git', ['worktree', 'remove', '--force', tree], { cwd: root });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The figures side by side: baseline, now, and now ÷ baseline (for events, fewer is better). */
export function compareFigures(commit: string, base: BenchFigures, now: BenchFigures): string[] {
  const row = (name: string, a: number | undefined, b: number | undefined, unit: string) =>
    `   ${name.padEnd(64)}${(a === undefined ? '—' : `${a} ${unit}`).padStart(16)}${(b === undefined ? '—' : `${b} ${unit}`).padStart(16)}${(a && b ? `${(b / a).toFixed(2)}×` : '—').padStart(9)}`;
  const out = [
    `\n7) side by side: ${commit} (run first) and this tree, same machine, same settings`,
    `   ${'figure'.padEnd(64)}${commit.padStart(16)}${'now'.padStart(16)}${'ratio'.padStart(9)}`,
    row('orders/s sustained (section 2)', base.sustained, now.sustained, '/s'),
    row('orders/s in the burst (section 3)', base.burst, now.burst, '/s'),
    row('CPU per order in the burst, all processes (section 3)', base.burstCpuMs, now.burstCpuMs, 'ms'),
    row('intake p50 (section 2)', base.intakeP50, now.intakeP50, 'ms'),
    row('intake p99 (section 2)', base.intakeP99, now.intakeP99, 'ms'),
  ];
  for (const shape of new Set([...Object.keys(base.events), ...Object.keys(now.events)]))
    out.push(row(`events: ${shape}`, base.events[shape], now.events[shape], 'ev'));
  return out;
}
