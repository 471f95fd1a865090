/**
 * `npm run bench:deploy`: the processes of a deployment measured apart — PostgreSQL, the Temporal
 * dev server (SQLite file), the sandbox, BENCH_WORKERS worker processes (`npm run worker`) and one
 * API process (`npm run api`), each its own process on loopback (scripts/chaos/topology.ts).
 *
 * BENCH_TEMPORAL=cluster puts a real Temporal server (on the run's PostgreSQL) in place of the dev server.
 *
 * 1) intake with the API in its own process: `POST /v1/orders` at BENCH_RATE (50/s) for
 *    BENCH_SECONDS (10) while a burst of BENCH_ORDERS (200) saturates the worker, `GET /healthz`
 *    at the same rate alongside (the baseline); the CPU each process used in those seconds; then
 *    how fast the worker(s) take all those orders to DELIVERED (orders/s per worker: sizing).
 * 2) open orders: orders are fed in (never more than BENCH_WINDOW undelivered at once) until
 *    BENCH_OPEN_ORDERS (10,000) sit DELIVERED in their return window — open workflows with a
 *    timer — with the worker's resident memory sampled all along; then intake at BENCH_RATE again.
 *
 * API and workers run compiled, as the image runs them (`npm run build` into the run's directory);
 * BENCH_FROM_SOURCE=1 runs them through tsx instead (the worker then bundles its workflows at start).
 *
 *   BENCH_SECTIONS=1 | 2 | 1,2   BENCH_OPEN_ORDERS=10000   BENCH_WORKERS=1   BENCH_WORKER_NICE=0   BENCH_NICE=0   BENCH_INTAKE_RT=0   npm run bench:deploy
 * The workers' settings come from this shell (OMS_WORKER_MAX_CACHED_WORKFLOWS, ...), defaults otherwise.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { createSql } from '../db/client';
import { migrate } from '../db/migrate';
import { seedIfEmpty } from '../db/seed';
import { benchDir, sweepStaleBenchDirs } from './bench-dirs';
import { CHAOS_KEYS, createTopology, type Topology } from './chaos/topology';
import { killAllNow, type ManagedProc } from './chaos/processes';
import { atFixedRate, cpuSeconds, latencyLine as lat, machineLine, processTree } from './measure';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const RATE = num('BENCH_RATE', 50);
const SECONDS = num('BENCH_SECONDS', 10);
const BURST = num('BENCH_ORDERS', 200);
const OPEN = num('BENCH_OPEN_ORDERS', 10_000);
const WINDOW = num('BENCH_WINDOW', 300);
const WORKERS = num('BENCH_WORKERS', 1);
/** BENCH_WORKER_NICE=10: the worker processes at a lower CPU priority than the API (as a shared host would run them). */
const WORKER_NICE = num('BENCH_WORKER_NICE', 0);
/**
 * BENCH_NICE=19: what a deployment runs on other machines than the API's — the worker(s), the
 * Temporal server, the sandbox standing in for the outside systems — at that CPU priority, every
 * thread of them, so that on this machine's shared cores they yield to the API (and to
 * PostgreSQL, which the API needs, and to this bench, which stands for the channels' side).
 * It sets the worker's priority too, over BENCH_WORKER_NICE.
 */
const ELSEWHERE_NICE = num('BENCH_NICE', 0);
/**
 * BENCH_INTAKE_RT=1: the intake path — the API process, PostgreSQL (its backends included: they
 * inherit it) and this bench, which stands for the channels — at real-time CPU priority
 * (SCHED_RR 10, `chrt`, every thread), so they get a core as soon as they have work, as on
 * machines of their own; the worker(s), the Temporal server and the sandbox take what is left.
 * Unlike `nice`, which only weighs time slices, this removes the wait for another process's slice.
 * Round-robin, not FIFO: a run under FIFO stalled a request for 300 s (docs/benchmarks.md); a
 * spinning thread keeps its core from threads of the same priority for a time slice at most.
 * Needs root or CAP_SYS_NICE; the bench stops with the reason otherwise (see raiseIntakePath).
 */
const INTAKE_RT = process.env.BENCH_INTAKE_RT === '1';
/** BENCH_TEMPORAL=cluster: a real Temporal server on the run's PostgreSQL (built once, as `npm run test:cluster`). */
const CLUSTER = process.env.BENCH_TEMPORAL === 'cluster';
const SECTIONS = (process.env.BENCH_SECTIONS ?? '1,2').split(',').map((s) => s.trim());
const say = (l: string) => process.stdout.write(`${l}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident memory of a process, MiB (Linux /proc). */
function rssMiB(pid: number | undefined): number {
  if (!pid) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
/**
 * What the API itself saw, from its Prometheus metrics: a reading, and what happened between it
 * and a later one — the share of `POST /v1/orders` handled within 20 ms (its own clock, from the
 * request parsed to the answer written), and its event loop's delay (prom-client's, over the
 * seconds since the reading before: it resets on each scrape).
 */
async function serverSide(apiUrl: string) {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  const bucket = (le: string) =>
    value(
      new RegExp(`oms_http_request_duration_seconds_bucket\\{[^}]*le="${le}"[^}]*method="POST",route="/v1/orders",status="201"\\} (\\d+)`),
    ) ||
    value(
      new RegExp(`oms_http_request_duration_seconds_bucket\\{[^}]*method="POST",route="/v1/orders",status="201"[^}]*le="${le}"\\} (\\d+)`),
    );
  // prom-client samples the loop every 10 ms and records the whole interval: the delay is past those 10 ms.
  const ms = (name: string) => Math.max(0, value(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm')) * 1000 - 10).toFixed(1);
  const reading = { within: bucket('0\\.02') || 0, all: bucket('\\+Inf') || 0 };
  return {
    ...reading,
    since(later: { within: number; all: number; lagP50: string; lagP99: string; lagMax: string }) {
      const n = later.all - reading.all;
      const k = later.within - reading.within;
      return { ...later, within20: n ? `${k}/${n} (${((100 * k) / n).toFixed(1)}%)` : 'none' };
    },
    lagP50: ms('nodejs_eventloop_lag_p50_seconds'),
    lagP99: ms('nodejs_eventloop_lag_p99_seconds'),
    lagMax: ms('nodejs_eventloop_lag_max_seconds'),
  };
}

/** CPU of each named process over `fn`, as % of one core. */
async function cpuOver<T>(procs: ManagedProc[], fn: () => Promise<T>): Promise<{ result: T; cpu: Record<string, number> }> {
  const before = procs.map((p) => cpuSeconds(p.pid));
  const t = performance.now();
  const result = await fn();
  const secs = (performance.now() - t) / 1000;
  const cpu = Object.fromEntries(procs.map((p, i) => [p.spec.name, (100 * (cpuSeconds(p.pid) - before[i]!)) / secs]));
  return { result, cpu };
}

/**
 * BENCH_INTAKE_RT: the API's and PostgreSQL's process trees and this bench to SCHED_RR 10, every
 * thread. PostgreSQL's postmaster passes it on to the backends it forks later; this bench does not
 * pass it on (reset-on-fork), so a worker or server it restarts runs at normal priority. Refused
 * when the kernel does not throttle real-time tasks (`sched_rt_runtime_us` -1): a spinning thread
 * could then keep its core from everything else.
 */
function raiseIntakePath(t: Topology): void {
  if (readFileSync('/proc/sys/kernel/sched_rt_runtime_us', 'utf8').trim() === '-1')
    throw new Error('BENCH_INTAKE_RT=1: real-time tasks are not throttled on this kernel (sched_rt_runtime_us = -1); not raising anything');
  const roots = [...t.apis, t.postgres];
  const missing = roots.filter((p) => !p.pid).map((p) => p.spec.name);
  if (missing.length) throw new Error(`BENCH_INTAKE_RT=1: ${missing.join(', ')} not running`);
  const chrt = (pid: number, resetOnFork: boolean) =>
    spawnSync('chrt', ['--all-tasks', '--rr', ...(resetOnFork ? ['--reset-on-fork'] : []), '--pid', '10', String(pid)], {
      encoding: 'utf8',
    });
  let raised = 0;
  for (const root of roots) {
    for (const pid of processTree(root.pid!).tree) {
      const r = chrt(pid, false);
      if (r.status === 0) raised++;
      // A backend or autovacuum worker that exited since the snapshot: nothing to raise.
      else if (pid === root.pid || existsSync(`/proc/${pid}`))
        throw new Error(`BENCH_INTAKE_RT=1: chrt could not raise ${root.spec.name} (pid ${pid}): ${(r.stderr || String(r.error)).trim()}`);
    }
  }
  const own = chrt(process.pid, true);
  if (own.status !== 0) throw new Error(`BENCH_INTAKE_RT=1: chrt could not raise this bench: ${(own.stderr || String(own.error)).trim()}`);
  say(
    `the API, PostgreSQL and this bench run at real-time priority (BENCH_INTAKE_RT, ${raised + 1} processes): as on machines of their own`,
  );
}

const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    (kv): kv is [string, string] =>
      kv[1] !== undefined && /^(PATH|HOME|USER|LANG|LC_ALL|TMPDIR|TEMPORAL_CLI_PATH|NODE_OPTIONS|OMS_WORKER_MAX_[A-Z_]+)$/.test(kv[0]),
  ),
);
sweepStaleBenchDirs(say);
const dir = benchDir('deploy-');
let topo: Topology | undefined;
let sql: ReturnType<typeof createSql> | undefined;
let failed = false;
process.once('SIGINT', () => {
  say('interrupted: stopping the processes...');
  // Whatever does not stop within 30 s is killed: nothing the bench started outlives it.
  void Promise.race([topo?.stopAll(), sleep(30_000)]).finally(() => {
    killAllNow();
    process.exit(130);
  });
});
try {
  say(`machine: ${machineLine()}`);
  const compiled = process.env.BENCH_FROM_SOURCE === '1' ? undefined : join(dir, 'dist');
  if (compiled) {
    const built = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', '--out', compiled], { stdio: 'inherit' });
    if (built.status !== 0) throw new Error('npm run build failed');
    // The compiled entries import their packages from node_modules beside them: this clone's.
    symlinkSync(join(process.cwd(), 'node_modules'), join(dir, 'node_modules'));
  }
  topo = await createTopology({
    ...(compiled ? { compiled } : {}),
    ...(CLUSTER ? { temporal: 'cluster' as const } : {}),
    dir,
    workers: WORKERS,
    baseEnv,
    omsEnv: { OMS_RISK_VELOCITY_PER_HOUR: '1000000', OMS_STOCK_SYNC_INTERVAL: '5s' },
    sandboxStepMs: 20,
    ...(ELSEWHERE_NICE || WORKER_NICE
      ? {
          nice: {
            worker: ELSEWHERE_NICE || WORKER_NICE,
            ...(ELSEWHERE_NICE ? { temporal: ELSEWHERE_NICE, sandbox: ELSEWHERE_NICE } : {}),
          },
        }
      : {}),
    log: (l) => say(`   [processes] ${l}`),
  });
  const t = topo;
  say(
    `starting PostgreSQL, ${CLUSTER ? 'a Temporal server on it' : 'the Temporal dev server (SQLite)'}, the sandbox, ${WORKERS} worker process(es) and an API process (${compiled ? 'compiled' : 'from source'})...`,
  );
  await Promise.all([t.postgres.start(), t.temporal.start(), t.sandbox.start()]);
  sql = createSql(t.databaseUrl, { max: 4 });
  const q = sql;
  await migrate(q);
  await seedIfEmpty(q);
  await q`update warehouses set daily_capacity = 100000000`;
  await q`update stock set on_hand = 100000000, reserved = 0, safety_stock = 0`;
  await Promise.all([...t.apis, ...t.workers].map((p) => p.ensureUp(Date.now() + 600_000)));
  if (INTAKE_RT) raiseIntakePath(t);
  say(`worker RSS at start: ${t.workers.map((w) => rssMiB(w.pid).toFixed(0)).join(' + ')} MiB`);
  if (ELSEWHERE_NICE) say(`worker(s), Temporal server and sandbox run at nice ${ELSEWHERE_NICE} (BENCH_NICE): as on machines of their own`);
  else if (WORKER_NICE) say(`worker process(es) run at nice ${WORKER_NICE} (BENCH_WORKER_NICE)`);
  const sizing = Object.entries(baseEnv).filter(([k]) => k.startsWith('OMS_WORKER_MAX_'));
  say(
    `worker settings: ${sizing.length ? sizing.map(([k, v]) => `${k}=${v}`).join(' ') : 'the defaults (lib/config.ts DEFAULT_WORKER_SIZING)'}`,
  );

  let seq = 0;
  const order = () => ({
    channel: 'web',
    channelOrderId: `D${Date.now().toString(36)}${(seq++).toString(36)}`,
    currency: 'VND',
    customer: { id: `bench-${seq % 997}`, name: 'Bench Customer' },
    shippingAddress: { name: 'Bench Customer', line1: '1 Nguyen Hue', city: 'Ho Chi Minh', country: 'VN' },
    lines: [{ sku: 'TSHIRT-M', quantity: 1, unitPrice: '149000.00' }],
    payment: seq % 2 ? { method: 'cod' } : { method: 'prepaid', token: 'tok_visa' },
    placedAt: new Date().toISOString(),
  });
  const post = async () => {
    const res = await fetch(`${t.apiUrl}/v1/orders`, {
      method: 'POST',
      body: JSON.stringify(order()),
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${CHAOS_KEYS.web}` },
    });
    if (res.status !== 201) throw new Error(`intake answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { orderId: string }).orderId;
  };
  const healthz = async () => {
    const res = await fetch(`${t.apiUrl}/healthz`);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`/healthz answered ${res.status}`);
  };
  const delivered = async () => (await q<{ n: number }[]>`select count(*)::int as n from orders where status = 'DELIVERED'`)[0]?.n ?? 0;
  const accepted = async () => (await q<{ n: number }[]>`select count(*)::int as n from orders`)[0]?.n ?? 0;
  /** Until every accepted order is DELIVERED; the seconds it took from `since`. */
  const drain = async (since: number, limitS = 1800) => {
    let report = performance.now();
    for (;;) {
      const [d, a] = await Promise.all([delivered(), accepted()]);
      if (d === a) return (performance.now() - since) / 1000;
      if (performance.now() - report > 15_000) {
        say(`   ... ${d}/${a} delivered after ${((performance.now() - since) / 1000).toFixed(0)}s`);
        report = performance.now();
      }
      if (performance.now() - since > limitS * 1000) throw new Error(`only ${d}/${a} delivered after ${limitS}s`);
      await sleep(500);
    }
  };

  // Warm-up: the HTTP path, the workflow bundle and the connection pools.
  await Promise.all(Array.from({ length: 10 }, post));
  await drain(performance.now());
  const procs = [t.api, ...t.workers, t.temporal, t.postgres, t.sandbox];

  if (SECTIONS.includes('1')) {
    say(`\n1) intake with the API in its own process, ${RATE}/s for ${SECONDS}s`);
    const idle = await atFixedRate(RATE, SECONDS, healthz);
    say(`   GET /healthz, idle stack:                    ${lat(idle)}`);
    const t0 = performance.now();
    const before = await accepted();
    await Promise.all(Array.from({ length: BURST }, post));
    const served = await serverSide(t.apiUrl);
    // This process stands for the channels: its own event loop's delay is in every latency it measures.
    const own = monitorEventLoopDelay({ resolution: 1 });
    own.enable();
    const { result, cpu } = await cpuOver(procs, () =>
      Promise.all([atFixedRate(RATE, SECONDS, async () => void (await post())), atFixedRate(RATE, SECONDS, healthz)]),
    );
    own.disable();
    const [intake, health] = result;
    const inside = served.since(await serverSide(t.apiUrl));
    say(`   (a burst of ${BURST} orders was taken in first: the worker works through it during the window)`);
    say(`   POST /v1/orders, worker saturated:           ${lat(intake)}  (${intake.length} orders, all 201)`);
    say(`   GET /healthz, same seconds:                  ${lat(health)}`);
    say(
      `   inside the API (its /metrics, same seconds): intake handled within 20 ms ${inside.within20}; event-loop delay p50 ${inside.lagP50} ms, p99 ${inside.lagP99} ms, max ${inside.lagMax} ms`,
    );
    const ownMs = (x: number) => Math.max(0, x / 1e6 - 1).toFixed(1);
    say(
      `   this bench's own event-loop delay, same seconds: p50 ${ownMs(own.percentile(50))} ms, p99 ${ownMs(own.percentile(99))} ms, max ${ownMs(own.max)} ms`,
    );
    say(
      `   CPU in those seconds (% of one core):        ${Object.entries(cpu)
        .map(([n, c]) => `${n} ${c.toFixed(0)}%`)
        .join(', ')}`,
    );
    const took = await drain(t0);
    const n = (await accepted()) - before;
    say(`   all ${n} DELIVERED ${took.toFixed(1)}s after the burst began: ${(n / took).toFixed(1)} orders/s with ${WORKERS} worker(s)`);
    say(
      `   resident memory now: worker(s) ${t.workers.map((w) => rssMiB(w.pid).toFixed(0)).join(' + ')} MiB, API ${rssMiB(t.api.pid).toFixed(0)} MiB`,
    );
  }

  if (SECTIONS.includes('2')) {
    say(`\n2) ${OPEN} orders open in their return window (at most ${WINDOW} not yet delivered at a time)`);
    const t0 = performance.now();
    const openBefore = await delivered();
    let maxRss = 0;
    let lastReport = 0;
    const sample = () => {
      const r = t.workers.reduce((a, w) => a + rssMiB(w.pid), 0);
      maxRss = Math.max(maxRss, r);
      return r;
    };
    for (;;) {
      const [d, a] = await Promise.all([delivered(), accepted()]);
      const rss = sample();
      if (performance.now() - lastReport > 30_000 || d >= OPEN) {
        say(
          `   ${((performance.now() - t0) / 1000).toFixed(0).padStart(5)}s  ${String(d).padStart(6)} open in their return window, ${a - d} on their way; worker RSS ${rss.toFixed(0)} MiB`,
        );
        lastReport = performance.now();
      }
      if (d >= OPEN) break;
      if (a < OPEN && a - d < WINDOW) await Promise.all(Array.from({ length: Math.min(50, OPEN - a) }, post));
      else await sleep(1000);
    }
    const fedS = (performance.now() - t0) / 1000;
    say(`   ${OPEN} open after ${fedS.toFixed(0)}s (${((OPEN - openBefore) / fedS).toFixed(1)} orders/s); settling 30 s...`);
    for (let i = 0; i < 6; i++) {
      await sleep(5000);
      sample();
    }
    const intake = await atFixedRate(RATE, SECONDS, async () => void (await post()));
    say(`   POST /v1/orders at ${RATE}/s with ${OPEN} open:  ${lat(intake)}`);
    await drain(performance.now());
    say(
      `   worker RSS: ${sample().toFixed(0)} MiB now, ${maxRss.toFixed(0)} MiB at most during the run; API ${rssMiB(t.api.pid).toFixed(0)} MiB`,
    );
  }
} catch (err) {
  failed = true;
  // fetch's own message is only "fetch failed": the reason is its cause (refused, reset, timed out).
  const c = err instanceof Error ? (err.cause as (Error & { code?: string }) | undefined) : undefined;
  const cause = c instanceof Error ? ` (${[c.code, c.message].filter(Boolean).join(': ')})` : '';
  say(`bench failed: ${err instanceof Error ? err.message : String(err)}${cause}`);
} finally {
  await sql?.end({ timeout: 5 });
  await topo?.stopAll();
  if (failed) {
    // Without its owner file, the next bench's sweep leaves it for the reader.
    rmSync(join(dir, 'owner.pid'), { force: true });
    say(`logs kept in ${dir}`);
  } else rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
