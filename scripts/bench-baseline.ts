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
import { existsSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { benchDir } from './bench-dirs';
import { cpuLine, cpuSecondsByName, processTree } from './measure';

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

/** A bench's run as a child process: its printed lines, and its burst's CPU read from outside. */
export interface ChildBench {
  lines: string[];
  /** CPU per order of its burst, read from its process tree between the burst's heading and its last order DELIVERED. */
  burstCpu?: string;
  burstCpuMs?: number;
}

/**
 * Runs `scripts/bench.ts` of the tree at `cwd` as a child process, its lines printed as they come
 * with `prefix`. Its scratch files go to a directory of its own (TMPDIR), removed when it ends.
 * `stopAfterBurst`: the run is ended once its burst is measured (an older bench runs every section
 * whatever BENCH_SECTIONS says): the bench process is killed, then its PostgreSQL and Temporal
 * server are stopped as their own signals stop them.
 */
export async function runChildBench(
  cwd: string,
  prefix: string,
  env: NodeJS.ProcessEnv,
  say: (l: string) => void,
  opts: { stopAfterBurst?: boolean } = {},
): Promise<ChildBench> {
  const scratch = benchDir('child-');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench.ts'], {
      cwd,
      env: { ...env, TMPDIR: scratch },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    let partial = '';
    // An older bench does not print what its burst cost the machine: read from outside, between
    // its burst's heading and its last order DELIVERED (its process tree, as this bench reads its own).
    let burstOrders = 0;
    let before: Map<string, number> | undefined;
    let burstCpu: { line: string; total: number } | undefined;
    let stopped = false;
    let stopping: Promise<void> | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        if (stopped) return;
        lines.push(l);
        say(`${prefix} ${l}`);
        const start = /^3\) burst: (\d+) orders/.exec(l.trim());
        if (start && child.pid) {
          burstOrders = Number(start[1]);
          before = cpuSecondsByName(child.pid);
        }
        if (before && child.pid && /all DELIVERED after .* end to end/.test(l)) {
          burstCpu = cpuLine(before, cpuSecondsByName(child.pid), burstOrders);
          before = undefined;
          if (opts.stopAfterBurst) {
            stopped = true;
            stopping = stopTree(child.pid).then((n) => say(`${prefix} (stopped after its burst: ${n} processes)`));
          }
        }
      }
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    if (partial && !stopped) lines.push(partial);
    if (code !== 0 && !stopped) throw new Error(`the bench in ${cwd} exited with ${code}`);
    await stopping;
    return { lines, ...(burstCpu ? { burstCpu: burstCpu.line, burstCpuMs: Math.round(burstCpu.total) } : {}) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Ends a bench process and what it started: the bench itself at once (SIGKILL: it would otherwise
 * restart a server it sees die), then PostgreSQL with a fast shutdown (SIGINT) and the Temporal
 * server with SIGTERM, and SIGKILL for anything still there after 15 s. The processes it ended.
 */
async function stopTree(pid: number): Promise<number> {
  const { tree, stats } = processTree(pid);
  const signal = (p: number, s: NodeJS.Signals) => {
    try {
      process.kill(p, s);
    } catch {
      // Gone already.
    }
  };
  signal(pid, 'SIGKILL');
  for (const p of tree) {
    const s = stats.get(p);
    if (p === pid || !s) continue;
    const postgres = s.name === 'postgres';
    // A PostgreSQL backend ends with its postmaster.
    if (postgres && stats.get(s.ppid)?.name === 'postgres') continue;
    signal(p, postgres ? 'SIGINT' : 'SIGTERM');
  }
  const deadline = Date.now() + 15_000;
  const left = () => [...tree].filter((p) => existsSync(`/proc/${p}`) && !/^\S+ \S+ Z/.test(statOf(p)));
  while (left().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const p of left()) signal(p, 'SIGKILL');
  return tree.size;
}

const statOf = (pid: number): string => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return `${pid} x ${s.slice(s.lastIndexOf(') ') + 2)}`;
  } catch {
    return `${pid} x Z`;
  }
};

/** The baseline commit's tree, in a git worktree beside this clone, with its dependencies installed. */
export async function withBaselineTree<T>(
  commit: string,
  say: (l: string) => void,
  fn: (tree: string, short: string) => Promise<T>,
): Promise<T> {
  const root = resolve(import.meta.dirname, '..');
  const rev = spawnSync('git', ['rev-parse', '--short', '--verify', `${commit}^{commit}`], { cwd: root, encoding: 'utf8' });
  if (rev.status !== 0) throw new Error(`BENCH_BASELINE=${commit}: not a commit of this clone (${rev.stderr.trim()})`);
  const short = rev.stdout.trim();
  const dir = benchDir('baseline-');
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
    return await fn(tree, short);
  } finally {
    spawnSync('git', ['worktree', 'remove', '--force', tree], { cwd: root });
    spawnSync('git', ['worktree', 'prune'], { cwd: root });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The environment of a child bench: this one's, without the side-by-side knobs. */
const childEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !['BENCH_BASELINE', 'BENCH_PAIRS', 'BENCH_SAME_TIME'].includes(k))),
  ...extra,
});

/** Runs the bench of `commit` in a worktree, every section; its lines are printed as they come, prefixed. */
export async function runBaselineBench(commit: string, say: (l: string) => void): Promise<ChildBench & { commit: string }> {
  return withBaselineTree(commit, say, async (tree, short) => {
    say(`\n0) baseline: the bench of ${short}, from a worktree, same settings (its lines prefixed [${short}])`);
    const run = await runChildBench(tree, `[${short}]`, childEnv(), say);
    if (run.burstCpu) say(`[${short}]    CPU per order of its burst, read from outside: ${run.burstCpu}`);
    return { commit: short, ...run };
  });
}

/** One pair of `BENCH_PAIRS`: the baseline's figures and this tree's, and which ran first (or both at once). */
export interface Pair {
  baselineFirst: boolean;
  /** `BENCH_SAME_TIME=1`: both benches ran at the same time. */
  together?: boolean;
  base: BenchFigures;
  now: BenchFigures;
}

/**
 * `BENCH_PAIRS=N` with `BENCH_BASELINE`: N pairs of runs, sections 1–3 each (the baseline stopped
 * once its burst is measured), the order swapped every pair so that neither tree always runs on
 * a warmer or a quieter machine; then each pair's ratios and their median. On a machine whose
 * speed moves by ±20% within an hour, one pair cannot say whether a ratio holds.
 *
 * `together` (`BENCH_SAME_TIME=1`): the two benches of a pair run at the same time instead, so the
 * machine's moment is the same for both. Only the CPU an order compares then (the orders/s are of
 * two stacks sharing the cores): for a lever of a few percent, which runs one after the other
 * cannot see.
 */
export async function runPairs(
  commit: string,
  pairs: number,
  say: (l: string) => void,
  opts: { together?: boolean } = {},
): Promise<Pair[]> {
  const root = resolve(import.meta.dirname, '..');
  return withBaselineTree(commit, say, async (tree, short) => {
    const out: Pair[] = [];
    for (let i = 1; i <= pairs; i++) {
      const baselineFirst = i % 2 === 1;
      const order = opts.together
        ? `${short} and this tree at the same time`
        : baselineFirst
          ? `${short} first, then this tree`
          : `this tree first, then ${short}`;
      say(`\n0) pair ${i} of ${pairs}: ${order}`);
      const runBase = async () => {
        const run = await runChildBench(tree, `[${short} ${i}]`, childEnv(), say, { stopAfterBurst: true });
        const f = figuresFrom(run.lines);
        f.burstCpuMs ??= run.burstCpuMs;
        return f;
      };
      const runNow = async () => figuresFrom((await runChildBench(root, `[now ${i}]`, childEnv({ BENCH_SECTIONS: '1' }), say)).lines);
      let pair: Pair;
      if (opts.together) {
        const [base, now] = await Promise.all([runBase(), runNow()]);
        pair = { baselineFirst, together: true, base, now };
      } else {
        const first = await (baselineFirst ? runBase() : runNow());
        const second = await (baselineFirst ? runNow() : runBase());
        pair = { baselineFirst, base: baselineFirst ? first : second, now: baselineFirst ? second : first };
      }
      out.push(pair);
      say(pairsSummary(short, [pair])[2]!.replace(/^ {3}1 /, `   ${i} `));
    }
    for (const l of pairsSummary(short, out)) say(l);
    return out;
  });
}

const median = (xs: number[]): number | undefined => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return undefined;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1]! + s[m]!) / 2;
};

/** Each pair's figures and ratios (now ÷ baseline), then the median of each ratio over the pairs. */
export function pairsSummary(commit: string, pairs: Pair[]): string[] {
  const ratio = (a?: number, b?: number) => (a && b ? b / a : NaN);
  const cell = (a?: number, b?: number, unit = '') => {
    const r = ratio(a, b);
    return `${a ?? '—'} → ${b ?? '—'}${unit}${Number.isFinite(r) ? ` ${r.toFixed(2)}×` : ''}`.padStart(24);
  };
  // Run at the same time, two stacks share the cores: their orders/s say nothing of either.
  const together = pairs.some((p) => p.together);
  const rates = (a?: number, b?: number) => (together ? 'shared cores'.padStart(24) : cell(a, b));
  const out = [
    `\n7) side by side, ${pairs.length} pair${pairs.length === 1 ? '' : 's'}: ${commit} → this tree (sections 1–3 each, ${together ? 'both at the same time: compare the CPU an order only' : 'the order swapped every pair'})`,
    `   ${'pair'.padEnd(18)}${'burst, orders/s'.padStart(24)}${'sustained, orders/s'.padStart(24)}${'CPU per order, ms'.padStart(24)}`,
  ];
  pairs.forEach((p, i) =>
    out.push(
      `   ${`${i + 1} (${p.together ? 'together' : p.baselineFirst ? 'baseline first' : 'now first'})`.padEnd(18)}${rates(p.base.burst, p.now.burst)}${rates(p.base.sustained, p.now.sustained)}${cell(p.base.burstCpuMs, p.now.burstCpuMs)}`,
    ),
  );
  if (pairs.length > 1) {
    const m = (pick: (f: BenchFigures) => number | undefined) => {
      const x = median(pairs.map((p) => ratio(pick(p.base), pick(p.now))));
      return (x === undefined ? '—' : `${x.toFixed(2)}×`).padStart(24);
    };
    const shared = 'shared cores'.padStart(24);
    out.push(
      `   ${'median ratio'.padEnd(18)}${together ? shared : m((f) => f.burst)}${together ? shared : m((f) => f.sustained)}${m((f) => f.burstCpuMs)}`,
    );
  }
  return out;
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
