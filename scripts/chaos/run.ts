/**
 * The chaos run: start the stack as real processes, drive the workload while injecting faults
 * (kill -9 of workers, of the API and of everything; PostgreSQL and Temporal restarts; the
 * Temporal dev server hung (SIGSTOP: alive but silent); a share of the outside systems' calls
 * failing or timing out; authorisations expiring; carrier webhooks replayed), then stop the
 * faults, let every order settle — ops retrying what needs attention, the documented recovery
 * path — and check the invariants. A liveness watchdog probes the dev server throughout and
 * restarts it when it stops answering (see watchdog.ts). Bounded in orders and time; loopback only.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createSql, type Sql } from '../../db/client';
import { migrate } from '../../db/migrate';
import { seedIfEmpty } from '../../db/seed';
import { collectFacts, diagnose, readStock, type StuckOrder } from './collect';
import { allHold, checkInvariants, TERMINAL_STATUSES, type InvariantResult } from './invariants';
import { createTopology, CHAOS_KEYS, type Topology } from './topology';
import {
  http,
  planOrder,
  rngFrom,
  runOrder,
  STOCK_PLAN,
  WorkloadStats,
  type OrderWatch,
  type PlannedOrder,
  type Product,
  type WatchedOrder,
} from './workload';
import type { ManagedProc } from './processes';
import { LivenessWatchdog, type WatchdogSummary } from './watchdog';
import { machineLine } from '../measure';
import { OUTSIDE_QUEUES, type OutsideQueue } from '../../domain/queues';
import { DEFAULT_WORKER_SIZING } from '../../lib/config';
import { readQueueRateLimit } from '../../worker/queue-limits';
import { ORDER_WORKFLOW_TYPES_QUERY } from '../../workflows/types';

export interface ChaosOptions {
  orders: number;
  /** Orders are sent evenly over this many seconds (slower if the stack falls behind: see maxInFlight). */
  workloadSeconds: number;
  /** After the faults stop: how long every order has to settle. */
  drainSeconds: number;
  /** The drain ends early when no unfinished order moved for this long. */
  stallSeconds: number;
  seed: number;
  workers: number;
  /** Orders sent but not finished, above which the workload waits (the run stays a test, not an overload). */
  maxInFlight: number;
  faults: {
    workerKills: number;
    apiKills: number;
    stackKills: number;
    postgresRestarts: number;
    temporalRestarts: number;
    /**
     * SIGSTOP of the Temporal dev server's process group: alive but answering nothing, like the
     * SQLite wedge; never continued, so only the watchdog's kill -9 and restart heals it.
     */
    temporalHangs: number;
    /** Share of calls to the gateway, carriers and channels that fail (5xx) or time out. */
    errorRate: number;
    /**
     * Lifetime of new authorisations during the middle third of the faults: short enough that
     * orders authorised then find them near or past expiry at capture (7 days otherwise).
     */
    authorizationTtlMs: number;
    /** Authorisations expired on the spot, spread over the run. */
    authorizationExpiries: number;
  };
  /** OMS settings: return window, backorder deadline (durations as the OMS's environment takes them). */
  returnWindow: string;
  backorderTimeout: string;
  /** The sandbox moves parcels one step per this many ms. */
  sandboxStepMs: number;
  /**
   * The Temporal dev server's liveness watchdog: a probe every `intervalMs` with a
   * `probeTimeoutMs` deadline; kill -9 and restart once probes failed for `unhealthyAfterMs`
   * (0: no watchdog). Default 5 s, 5 s, 45 s.
   */
  watchdog?: { intervalMs: number; probeTimeoutMs: number; unhealthyAfterMs: number };
  /** `cluster`: a real Temporal server on the run's PostgreSQL instead of the dev server (npm run test:cluster). */
  temporal?: 'dev' | 'cluster';
  /** API processes; the workload spreads its requests over them (default 1). */
  apis?: number;
  /** PATH, HOME, ...: what every child process inherits. */
  baseEnv: Record<string, string>;
  /** Where to run (logs, data); a fresh temp dir when not given. Kept after a failed run. */
  dir?: string;
  /** Aborted: send no more orders and inject no more faults; drain and check what was sent. */
  stop?: AbortSignal;
  log: (line: string) => void;
}

export interface ChaosReport {
  machine: string;
  options: Omit<ChaosOptions, 'baseEnv' | 'log'>;
  dir: string;
  durations: { setupS: number; workloadS: number; drainS: number; totalS: number };
  orders: {
    planned: number;
    accepted: number;
    byPath: Record<string, number>;
    byFinalStatus: Record<string, number>;
    settled: boolean;
    unsettled: string[];
    stuck: StuckOrder[];
  };
  faults: Record<string, number>;
  /** Restarts of the Temporal dev server by its liveness watchdog (not faults the runner injected). */
  watchdogRestarts: number;
  /** The watchdog's probes and restarts; undefined when it was off. */
  watchdog: WatchdogSummary | undefined;
  sandboxFaults: { target: string; action: string; matched: number; applied: number }[];
  recovery: {
    ordersRetried: number;
    retryCalls: number;
    attentionReasons: Record<string, number>;
    opsInspections: number;
    unplannedExits: Record<string, number>;
  };
  workload: WorkloadStats;
  invariants: InvariantResult[];
  /** The outside queues' rate limits the Temporal server kept (set by the workers), and what was asked. */
  queueRateLimits: { queue: OutsideQueue; kept: number | undefined; asked: number }[];
  ok: boolean;
  /** The run was told to stop before it sent every order. */
  stoppedEarly: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Sleeps, or less when `signal` is aborted meanwhile. */
const sleepUnless = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((r) => {
    if (signal?.aborted) {
      r();
      return;
    }
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      r();
    }
    signal?.addEventListener('abort', done);
  });
const secondsSince = (t: number) => Math.round((Date.now() - t) / 100) / 10;
/** The watchdog's default timing: a probe every 5 s with a 5 s deadline; restart after 45 s without an answer. */
export const DEFAULT_WATCHDOG = { intervalMs: 5000, probeTimeoutMs: 5000, unhealthyAfterMs: 45_000 } as const;

/** The machine, for the report. */

/** The gateway's, carriers' and channels' operations that fail at the run's error rate. */
const FAULT_TARGETS: { service: string; op: string }[] = [
  ...['authorize', 'capture', 'void', 'refund'].map((op) => ({ service: 'payments', op })),
  ...['book', 'cancel', 'track', 'return'].map((op) => ({ service: 'carriers', op })),
  ...['push', 'stock', 'order'].map((op) => ({ service: 'channels', op })),
];

/** Retries a call through a restart (a PostgreSQL query, a Temporal call), until `untilMs`. */
async function db<T>(fn: () => Promise<T>, untilMs: number): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > untilMs) throw err;
      await sleep(500);
    }
  }
}

/** Plenty of stock everywhere, except the few SKUs that make backorders and splits. */
async function shapeStock(sql: Sql): Promise<void> {
  await sql`update warehouses set daily_capacity = 100000000`;
  await sql`update stock set on_hand = case when on_hand > 0 then ${STOCK_PLAN.plenty} else 0 end, reserved = 0, safety_stock = 0`;
  for (const sku of STOCK_PLAN.scarce) {
    await sql`update stock set on_hand = case when warehouse_id = 'WH-HN' then ${STOCK_PLAN.scarceUnits} else 0 end where sku = ${sku}`;
  }
  for (const [sku, wh] of Object.entries(STOCK_PLAN.split)) {
    await sql`update stock set on_hand = case when warehouse_id = ${wh} then ${STOCK_PLAN.plenty} else 0 end where sku = ${sku}`;
  }
}

/** Polls the projection for the orders someone waits on. */
function createWatch(sql: Sql, stopped: () => boolean): OrderWatch & { loop: Promise<void> } {
  const waiters = new Map<
    number,
    { orderId: string; pred: (o: WatchedOrder) => boolean; untilMs: number; resolve: (o: WatchedOrder | undefined) => void }
  >();
  let next = 0;
  const loop = (async () => {
    while (!stopped() || waiters.size) {
      await sleep(1000);
      if (!waiters.size) continue;
      const ids = [...new Set([...waiters.values()].map((w) => w.orderId))];
      let rows: { order_id: string; status: string; needs_attention: boolean; returns: { returnId: string; status: string }[] | null }[] =
        [];
      try {
        rows = await sql`select order_id, status, needs_attention, detail -> 'returns' as returns from orders where order_id = any(${ids})`;
      } catch {
        // PostgreSQL is restarting: next round.
      }
      const byId = new Map(
        rows.map((r) => [r.order_id, { status: r.status, needsAttention: r.needs_attention, returns: r.returns ?? [] }]),
      );
      for (const [k, w] of waiters) {
        const o = byId.get(w.orderId);
        if (o && w.pred(o)) {
          waiters.delete(k);
          w.resolve(o);
        } else if (Date.now() > w.untilMs || stopped()) {
          waiters.delete(k);
          w.resolve(undefined);
        }
      }
    }
  })();
  return {
    loop,
    waitFor: (orderId, pred, untilMs) =>
      new Promise((resolve) => {
        waiters.set(next++, { orderId, pred, untilMs, resolve });
      }),
  };
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const t0 = Date.now();
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'oms-chaos-'));
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const log = o.log;
  const faults: Record<string, number> = {};
  const countFault = (kind: string, n = 1) => {
    faults[kind] = (faults[kind] ?? 0) + n;
  };
  const sandboxFaultTotals = new Map<string, { target: string; action: string; matched: number; applied: number }>();
  const stats = new WorkloadStats();
  const accepted = new Set<string>();
  const retries = new Map<string, { calls: number; lastAt: number }>();
  const attentionReasons: Record<string, number> = {};
  let opsInspections = 0;
  let faultsActive = false;
  const LONG_TTL_MS = 7 * 86_400_000;
  let authTtlMs = LONG_TTL_MS;
  let finished = false;
  let sql: Sql | undefined;
  let topo: Topology | undefined;
  let ok = false;
  const rng = rngFrom(o.seed ^ 0x5eed);
  const watchdogOptions = o.watchdog ?? DEFAULT_WATCHDOG;
  if (o.faults.temporalHangs > 0 && watchdogOptions.unhealthyAfterMs <= 0)
    throw new Error('temporal-hang faults need the watchdog (only its restart heals them)');
  let watchdog: LivenessWatchdog | undefined;
  // The run's end: processes that do not come back are retried until then (set once the workload starts).
  let runEnd = () => Date.now() + 3_600_000;
  try {
    topo = await createTopology({
      dir,
      workers: o.workers,
      ...(o.temporal ? { temporal: o.temporal } : {}),
      ...(o.apis ? { apis: o.apis } : {}),
      baseEnv: o.baseEnv,
      sandboxStepMs: o.sandboxStepMs,
      log,
      omsEnv: {
        OMS_RETURN_WINDOWS: `default=${o.returnWindow}`,
        OMS_BACKORDER_TIMEOUT: o.backorderTimeout,
        OMS_DEFAULT_CARRIER: 'ghn',
        OMS_STEP_TIMEOUT: '15s',
        OMS_RISK_VELOCITY_PER_HOUR: '1000000',
        OMS_STOCK_SYNC_INTERVAL: '2s',
        // A shipment whose webhooks stop (an API or PostgreSQL outage) asks the carrier after 20 s.
        OMS_TRACKING_QUIET: '20s',
      },
    });
    const t = topo;
    log(`machine: ${machineLine()}`);
    log(`run dir: ${dir} (logs in ${join(dir, 'logs')})`);
    log(
      `starting PostgreSQL, ${o.temporal === 'cluster' ? 'a Temporal server on it (schemas set up; built once)' : 'the Temporal dev server (SQLite)'} and the sandbox (state dir)...`,
    );
    await Promise.all([t.postgres.start(), t.temporal.start(), t.sandbox.start()]);
    if (watchdogOptions.unhealthyAfterMs > 0) {
      watchdog = new LivenessWatchdog({
        proc: t.temporal,
        address: t.temporalAddress,
        namespace: 'default',
        ...watchdogOptions,
        restartUntil: () => runEnd(),
        log,
      });
      watchdog.start();
      log(
        `watchdog: probing ${o.temporal === 'cluster' ? 'the Temporal server' : 'the Temporal dev server'} (DescribeNamespace) every ${watchdogOptions.intervalMs / 1000}s, ${watchdogOptions.probeTimeoutMs / 1000}s deadline; kill -9 and restart after ${watchdogOptions.unhealthyAfterMs / 1000}s without an answer`,
      );
    }
    sql = createSql(t.databaseUrl, { max: 4 });
    const q = sql;
    await migrate(q);
    await seedIfEmpty(q);
    await shapeStock(q);
    const seedStock = await readStock(q);
    const [{ maxId } = { maxId: 0 }] = await q<{ maxId: number }[]>`select coalesce(max(id), 0)::int as "maxId" from stock_adjustments`;
    const products: Product[] = (
      await q<{ sku: string; unit_price: string }[]>`select sku, unit_price::text as unit_price from products order by sku`
    ).map((p) => ({ sku: p.sku, unitPrice: p.unit_price }));
    log(`starting ${t.apis.length === 1 ? 'the API' : `${t.apis.length} APIs`} and ${o.workers} worker(s)...`);
    // Retried with backoff: a worker exits when Temporal does not answer its first call yet.
    await Promise.all([...t.apis, ...t.workers].map((p) => p.ensureUp(Date.now() + 600_000)));
    const setupS = secondsSince(t0);
    log(`stack ready in ${setupS}s`);

    // ------------------------------------------------------------ faults at the outside systems
    const sandboxPost = (path: string, json: unknown) => http(`${t.sandboxUrl}${path}`, { json, timeoutMs: 10_000 });
    const applySandboxFaults = async () => {
      if (!faultsActive) return;
      for (const [i, f] of FAULT_TARGETS.entries()) {
        // Two faults per operation, rolled in turn: 5xx for 2/3 of the error rate, a timeout (the
        // call hangs past the OMS's 10 s client timeout, then takes effect) for the rest.
        const p500 = (o.faults.errorRate * 2) / 3;
        const pTimeout = (o.faults.errorRate - p500) / (1 - p500);
        await sandboxPost('/sandbox/faults', { ...f, action: 'error500', probability: p500, times: -1, seed: o.seed + i * 2 });
        await sandboxPost('/sandbox/faults', {
          ...f,
          action: 'timeout',
          delayMs: 11_000,
          probability: pTimeout,
          times: -1,
          seed: o.seed + i * 2 + 1,
        });
      }
      await sandboxPost('/sandbox/config', { authorizationTtlMs: authTtlMs });
    };
    /** Adds the sandbox's fault counters to the run's totals (they restart with the sandbox). */
    const harvestSandboxFaults = async () => {
      const a = await http(`${t.sandboxUrl}/sandbox/faults`, { timeoutMs: 10_000 });
      const list =
        (a.body as { faults?: { service: string; op: string; action: string; matched: number; applied: number }[] } | undefined)?.faults ??
        [];
      for (const f of list) {
        const key = `${f.service}.${f.op} ${f.action}`;
        const cur = sandboxFaultTotals.get(key) ?? { target: `${f.service}.${f.op}`, action: f.action, matched: 0, applied: 0 };
        cur.matched += f.matched;
        cur.applied += f.applied;
        sandboxFaultTotals.set(key, cur);
      }
      return a.status === 200;
    };
    t.sandbox.onReady = applySandboxFaults;

    faultsActive = true;
    await applySandboxFaults();
    const setAuthTtl = async (ms: number) => {
      authTtlMs = ms;
      await sandboxPost('/sandbox/config', { authorizationTtlMs: ms });
      log(`fault: new authorisations now expire after ${Math.round(ms / 1000)}s`);
    };

    // ------------------------------------------------------------ the workload
    const workloadStart = Date.now();
    const windowMs = o.workloadSeconds * 1000;
    const drainDeadline = () => (finishedWorkloadAt ?? Date.now() + windowMs * 3) + o.drainSeconds * 1000;
    let finishedWorkloadAt: number | undefined = undefined;
    runEnd = drainDeadline;
    const watch = createWatch(q, () => finished);
    // Requests go to the APIs in turn, as behind a load balancer.
    let nextApi = 0;
    const ctx = {
      get apiUrl() {
        return t.apiUrls[nextApi++ % t.apiUrls.length]!;
      },
      sandboxUrl: t.sandboxUrl,
      stats,
      watch,
      accepted,
      untilMs: drainDeadline,
      log,
    };
    let settledCount = 0;
    let stalledCount = 0;
    const statusCounts: Record<string, number> = {};

    /** Ops: retry what needs attention (every 15 s at most, five times per order), inspect returns left waiting. */
    const receivedSince = new Map<string, number>();
    const opsSweep = async () => {
      const flagged = await q<{ order_id: string; attention_reason: string | null }[]>`
        select order_id, attention_reason from orders where needs_attention and status not in ('COMPLETED', 'CANCELLED', 'REJECTED')`;
      for (const f of flagged) {
        const r = retries.get(f.order_id) ?? { calls: 0, lastAt: 0 };
        // Every 15 s at most, and five times: an order a retry cannot help stays flagged for people.
        if (Date.now() - r.lastAt < 15_000 || r.calls >= 5) continue;
        if (r.calls === 0) {
          const reason = (f.attention_reason ?? 'unknown').replace(/\d+/g, 'N').slice(0, 90);
          attentionReasons[reason] = (attentionReasons[reason] ?? 0) + 1;
          log(`ops: ${f.order_id} needs attention: ${f.attention_reason ?? '?'}`);
        }
        r.calls++;
        r.lastAt = Date.now();
        retries.set(f.order_id, r);
        await http(`${t.apiUrl}/v1/orders/${f.order_id}/retry`, {
          key: CHAOS_KEYS.ops,
          json: {},
          headers: { 'Idempotency-Key': `chaos-retry-${f.order_id}-${r.calls}` },
        });
      }
      const received = await q<{ order_id: string; return_id: string }[]>`
        select order_id, r ->> 'returnId' as return_id from orders, jsonb_array_elements(coalesce(detail -> 'returns', '[]'::jsonb)) r where r ->> 'status' = 'received'`;
      const now = Date.now();
      for (const r of received) {
        const since = receivedSince.get(r.return_id) ?? now;
        receivedSince.set(r.return_id, since);
        // The customer's script inspects at once; one left waiting a minute is ops' to do.
        if (now - since < 60_000) continue;
        const a = await http(`${t.apiUrl}/v1/orders/${r.order_id}/returns/${encodeURIComponent(r.return_id)}/inspection`, {
          key: CHAOS_KEYS.ops,
          json: { result: 'accept', reason: 'inspected by ops' },
          headers: { 'Idempotency-Key': `chaos-ops-inspect-${r.return_id}` },
        });
        if (a.status === 200) opsInspections++;
      }
      const counts = await q<{ status: string; n: number }[]>`select status, count(*)::int as n from orders group by status`;
      // Orders that have not moved for two minutes are stuck, not in flight: they must not hold the workload back for ever.
      const [idle] = await q<
        { n: number }[]
      >`select count(*)::int as n from orders where status not in ('COMPLETED', 'CANCELLED', 'REJECTED') and updated_at < now() - interval '120 seconds'`;
      stalledCount = idle?.n ?? 0;
      for (const k of Object.keys(statusCounts)) delete statusCounts[k];
      for (const c of counts) statusCounts[c.status] = c.n;
      settledCount = counts.filter((c) => (TERMINAL_STATUSES as readonly string[]).includes(c.status)).reduce((a, c) => a + c.n, 0);
    };
    const opsLoop = (async () => {
      let lastLog = 0;
      while (!finished) {
        try {
          await opsSweep();
        } catch {
          /* PostgreSQL or the API is restarting */
        }
        if (Date.now() - lastLog > 15_000) {
          lastLog = Date.now();
          log(
            `  t+${secondsSince(workloadStart)}s: ${stats.accepted}/${o.orders} accepted, ${settledCount} finished; ${Object.entries(
              statusCounts,
            )
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}`,
          );
        }
        await sleep(3000);
      }
    })();

    // Faults: process kills and restarts, spread evenly over the window, one at a time.
    const kinds: string[] = [
      ...Array<string>(o.faults.workerKills).fill('worker-kill'),
      ...Array<string>(o.faults.apiKills).fill('api-kill'),
      ...Array<string>(o.faults.postgresRestarts).fill('postgres-restart'),
      ...Array<string>(o.faults.temporalRestarts).fill('temporal-restart'),
      ...Array<string>(o.faults.stackKills).fill('stack-kill'),
      ...Array<string>(o.faults.temporalHangs).fill('temporal-hang'),
    ].sort(() => rng() - 0.5);
    // A process that does not come back at once (a worker whose Temporal does not answer yet) is
    // tried again with backoff for as long as the run lasts.
    const upWithin = (p: ManagedProc) => p.ensureUp(runEnd());
    /** Deliberate stops and starts of Temporal: the watchdog must not count them, nor restart it twice. */
    const held = <T>(fn: () => Promise<T>) => (watchdog ? watchdog.hold(fn) : fn());
    const inject = async (kind: string) => {
      // One fault at a time: a watchdog restart under way finishes first.
      await watchdog?.idle();
      log(`fault: ${kind}`);
      if (kind === 'worker-kill') {
        const w = t.workers[Math.floor(rng() * t.workers.length)]!;
        await w.kill9();
        await sleep(500 + rng() * 2000);
        await upWithin(w);
      } else if (kind === 'api-kill') {
        const a = t.apis[Math.floor(rng() * t.apis.length)]!;
        await a.kill9();
        await sleep(1000);
        await upWithin(a);
      } else if (kind === 'postgres-restart') {
        await t.postgres.kill9();
        await sleep(2000);
        await upWithin(t.postgres);
      } else if (kind === 'temporal-restart') {
        await held(async () => {
          await t.temporal.kill9();
          await sleep(2000);
          await upWithin(t.temporal);
        });
      } else if (kind === 'temporal-hang') {
        // Alive but silent, like the SQLite wedge. No SIGCONT: the watchdog must see it, kill it and start it again.
        if (!watchdog) throw new Error('temporal-hang without a watchdog');
        await upWithin(t.temporal);
        const before = t.temporal.starts;
        const restartsBefore = watchdog.restarts.length;
        log(`fault: temporal-hang: SIGSTOP to the Temporal dev server's process group (pid ${t.temporal.pid}); it is never continued`);
        t.temporal.signalGroup('SIGSTOP');
        const bound = Date.now() + watchdogOptions.unhealthyAfterMs + 300_000;
        while (!(t.temporal.starts > before && t.temporal.serving && watchdog.restarts.length > restartsBefore) && Date.now() < bound)
          await sleep(1000);
        await watchdog.idle();
        if (watchdog.restarts.length === restartsBefore) {
          // The watchdog failed its job: say so (the run fails), and restart it here so the run can go on.
          countFault('temporal-hang NOT healed by the watchdog');
          log(
            `fault: temporal-hang: the watchdog did not restart the dev server within ${Math.round((watchdogOptions.unhealthyAfterMs + 300_000) / 1000)}s; the runner restarts it`,
          );
          await held(async () => {
            await t.temporal.kill9();
            await upWithin(t.temporal);
          });
        } else {
          log(
            `fault: temporal-hang healed by the watchdog after ${Math.round(watchdog.restarts.at(-1)!.failingForMs / 1000)}s without an answer`,
          );
        }
        await Promise.all([...t.apis.map(upWithin), ...t.workers.map(upWithin)]);
      } else {
        await held(async () => {
          await harvestSandboxFaults();
          for (const p of t.all()) p.autoRestart = false;
          await Promise.all(t.all().map((p) => p.kill9()));
          await sleep(2000);
          for (const p of t.all()) p.autoRestart = true;
          await Promise.all([upWithin(t.postgres), upWithin(t.temporal), upWithin(t.sandbox)]);
          await Promise.all([...t.apis.map(upWithin), ...t.workers.map(upWithin)]);
        });
      }
      countFault(kind);
      log(`fault: ${kind} done, all back`);
    };
    const faultLoop = (async () => {
      for (const [i, kind] of kinds.entries()) {
        const at = workloadStart + windowMs * (0.1 + (0.75 * (i + 0.5)) / kinds.length);
        if (at > Date.now()) await sleepUnless(at - Date.now(), o.stop);
        if (o.stop?.aborted) break;
        try {
          await inject(kind);
        } catch (err) {
          // Only when a process did not come back by the run's end: the drain and the checks say what it cost.
          log(`fault: ${kind} failed: ${err instanceof Error ? err.message : String(err)}; going on`);
        }
      }
    })();

    // Side faults while the workload runs: expired authorisations, replayed carrier webhooks, restocks.
    const sideLoop = (async () => {
      let expiries = 0;
      let tick = 0;
      const ids = () => [...accepted];
      let ttlPhase = 0;
      while (faultsActive) {
        await sleep(2000);
        tick++;
        const elapsed = Date.now() - workloadStart;
        if (ttlPhase === 0 && elapsed > windowMs / 3) {
          ttlPhase = 1;
          await setAuthTtl(o.faults.authorizationTtlMs);
          countFault('short authorisation lifetime (phases)');
        }
        if (ttlPhase === 1 && elapsed > (2 * windowMs) / 3) {
          ttlPhase = 2;
          await setAuthTtl(LONG_TTL_MS);
        }
        const pool = ids();
        if (!pool.length) continue;
        // A carrier delivers an old event again (a duplicate, and out of order).
        const oid = pool[Math.floor(rng() * pool.length)]!;
        const led = await http(`${t.sandboxUrl}/sandbox/ledger/carriers?orderId=${encodeURIComponent(oid)}`, { timeoutMs: 10_000 });
        const bookings =
          (led.body as { bookings?: { bookingId: string; carrier: string; events: { eventId: string }[] }[] } | undefined)?.bookings ?? [];
        const b = bookings.filter((x) => x.carrier === 'ghn' && x.events.length > 1)[0];
        if (b) {
          const ev = b.events[1 + Math.floor(rng() * (b.events.length - 1))]!;
          const r = await sandboxPost(`/sandbox/carriers/${b.bookingId}/replay`, { eventId: ev.eventId, times: 2 });
          if (r.status === 200) countFault('carrier webhook replayed ×2');
        }
        // An authorisation expires on the spot (one every few seconds, up to the planned number).
        if (expiries < o.faults.authorizationExpiries) {
          const pid = pool[Math.floor(rng() * pool.length)]!;
          const pay = await http(`${t.sandboxUrl}/sandbox/ledger/payments?orderId=${encodeURIComponent(pid)}`, { timeoutMs: 10_000 });
          const auth = ((pay.body as { entries?: { type: string; authorizationId?: string }[] } | undefined)?.entries ?? [])
            .filter((e) => e.type === 'authorize')
            .pop();
          if (auth?.authorizationId) {
            const r = await sandboxPost(`/sandbox/payments/authorizations/${auth.authorizationId}/expire`, {});
            if (r.status === 200) {
              expiries++;
              countFault('authorisation expired now');
            }
          }
        }
        // Restock the scarce SKUs a little (wakes backordered orders).
        if (tick % 3 === 0) {
          for (const sku of STOCK_PLAN.scarce) {
            const inv = await http(`${t.apiUrl}/v1/inventory/${sku}`, { key: CHAOS_KEYS.admin, timeoutMs: 10_000 });
            const row = ((inv.body as { warehouses?: { warehouseId: string; onHand: number }[] } | undefined)?.warehouses ?? []).find(
              (w) => w.warehouseId === 'WH-HN',
            );
            if (!row) continue;
            const add = 1 + Math.floor(rng() * 3);
            const put = await http(`${t.apiUrl}/v1/inventory/${sku}/WH-HN`, {
              method: 'PUT',
              key: CHAOS_KEYS.admin,
              json: { onHand: row.onHand + add, reason: 'chaos restock' },
              timeoutMs: 10_000,
            });
            if (put.status === 200) countFault('restock (units)', add);
          }
        }
      }
    })();

    // The orders themselves, evenly over the window; held back while too many are in flight.
    const running: Promise<void>[] = [];
    const launching = (async () => {
      for (let n = 1; n <= o.orders && !o.stop?.aborted; n++) {
        const due = workloadStart + ((n - 1) * windowMs) / o.orders;
        if (due > Date.now()) await sleepUnless(due - Date.now(), o.stop);
        while (stats.planned - settledCount - stalledCount > o.maxInFlight && !o.stop?.aborted) await sleep(500);
        if (o.stop?.aborted) break;
        const plan: PlannedOrder = planOrder(o.seed, n, products);
        running.push(
          runOrder(plan, ctx).catch((err: unknown) => {
            log(`order ${plan.orderId}: ${String(err)}`);
          }),
        );
      }
    })();
    // The faults last the window (and the process faults planned in it), not longer: a slow
    // machine sends its last orders, and drains, without them.
    await faultLoop;
    if (workloadStart + windowMs > Date.now()) await sleepUnless(workloadStart + windowMs - Date.now(), o.stop);
    faultsActive = false;
    await sideLoop;
    await harvestSandboxFaults();
    await http(`${t.sandboxUrl}/sandbox/faults`, { method: 'DELETE' });
    authTtlMs = LONG_TTL_MS;
    await sandboxPost('/sandbox/config', { authorizationTtlMs: LONG_TTL_MS });
    log(`faults stopped after ${secondsSince(workloadStart)}s (${stats.planned}/${o.orders} orders sent)`);
    await launching;
    finishedWorkloadAt = Date.now();
    const workloadS = secondsSince(workloadStart);
    log(
      `${stats.planned} of ${o.orders} orders sent after ${workloadS}s${o.stop?.aborted ? ' (stopped early)' : ''}; draining (at most ${o.drainSeconds}s)...`,
    );

    // ------------------------------------------------------------ drain
    const drainStart = Date.now();
    await watchdog?.idle();
    await Promise.all(
      t.all().map((p) =>
        p.ensureUp(drainDeadline()).catch((err: unknown) => {
          log(`${p.spec.name} is not up for the drain: ${err instanceof Error ? err.message : String(err)}`);
        }),
      ),
    );
    const connection = await db(() => Connection.connect({ address: t.temporalAddress }), drainDeadline());
    const client = new Client({ connection, namespace: 'default' });
    // Bounded: a call to a server that hangs (until the watchdog restarts it) must not hold the drain.
    const temporalCall = <T>(fn: () => Promise<T>) => db(() => connection.withDeadline(Date.now() + 30_000, fn), drainDeadline());
    let unsettled: string[] = [];
    let stuck: StuckOrder[] = [];
    const queueRateLimits: ChaosReport['queueRateLimits'] = [];
    try {
      let lastChange = Date.now();
      let fingerprint = '';
      for (;;) {
        const rows = await db(
          () => q<{ order_id: string; status: string; seq: number }[]>`
          select order_id, status, seq from orders where order_id = any(${[...accepted]}) order by updated_at`,
          drainDeadline(),
        );
        const terminal = new Set(rows.filter((r) => (TERMINAL_STATUSES as readonly string[]).includes(r.status)).map((r) => r.order_id));
        const runningWorkflows = (
          await temporalCall(() => client.workflow.count(`${ORDER_WORKFLOW_TYPES_QUERY} AND ExecutionStatus = 'Running'`))
        ).count;
        // Longest unmoved first (then those not in the projection at all).
        const known = new Set(rows.map((r) => r.order_id));
        unsettled = [...rows.map((r) => r.order_id).filter((id) => !terminal.has(id)), ...[...accepted].filter((id) => !known.has(id))];
        // Channel status pushes are sent by the workers' relay after the step is recorded: an order
        // can be finished with its last pushes still queued. Drained means those went out too.
        const [queued] = await db(() => q<{ n: number }[]>`select count(*)::int as n from status_pushes`, drainDeadline());
        const pushesQueued = queued?.n ?? 0;
        if (!unsettled.length && runningWorkflows === 0 && stats.intakesDone === stats.planned && pushesQueued === 0) break;
        // Nothing moved for a while (no order changed its step, none finished): waiting longer won't help.
        const now =
          rows
            .filter((r) => !terminal.has(r.order_id))
            .map((r) => `${r.order_id}:${r.seq}`)
            .sort()
            .join(',') + `|${runningWorkflows}|${pushesQueued}`;
        if (now !== fingerprint) {
          fingerprint = now;
          lastChange = Date.now();
        }
        const stalled = Date.now() - lastChange > o.stallSeconds * 1000;
        if (Date.now() > drainDeadline() || stalled) {
          log(
            `${stalled ? `nothing moved for ${o.stallSeconds}s` : 'drain bound reached'}: ${unsettled.length} order(s) not finished, ${runningWorkflows} order workflow(s) running, ${pushesQueued} status push(es) queued`,
          );
          stuck = await connection
            .withDeadline(Date.now() + 180_000, () => diagnose(client, q, t.sandboxUrl, unsettled.slice(0, 10)))
            .catch((err: unknown) => {
              log(`could not describe the stuck orders: ${String(err)}`);
              return [];
            });
          break;
        }
        await sleep(2000);
      }
      // The workers set the outside queues' limits on the server: it must have kept them.
      for (const queue of OUTSIDE_QUEUES)
        queueRateLimits.push({
          queue,
          asked: DEFAULT_WORKER_SIZING.callsPerSecond[queue],
          kept: await temporalCall(() => readQueueRateLimit(connection, { namespace: 'default', taskQueue: t.taskQueue, queue })).catch(
            () => undefined,
          ),
        });
    } finally {
      await connection.close();
    }
    finished = true;
    await Promise.all(running);
    await opsLoop;
    await watch.loop;
    const drainS = secondsSince(drainStart);
    log(`drained in ${drainS}s; checking invariants...`);

    // ------------------------------------------------------------ invariants
    await watchdog?.idle();
    const facts = await db(
      () =>
        collectFacts({
          sql: q,
          sandboxUrl: t.sandboxUrl,
          temporalAddress: t.temporalAddress,
          accepted: [...accepted],
          seedStock,
          adjustmentsAfterId: maxId,
        }),
      Date.now() + 300_000,
    );
    const invariants = checkInvariants(facts);
    const byFinalStatus: Record<string, number> = {};
    for (const ord of facts.orders) byFinalStatus[ord.status] = (byFinalStatus[ord.status] ?? 0) + 1;
    const unplannedExits: Record<string, number> = {};
    for (const p of t.all()) if (p.unplannedExits.length) unplannedExits[p.spec.name] = p.unplannedExits.length;
    // A hang the watchdog did not heal fails the run, whatever the orders did.
    ok =
      allHold(invariants) &&
      unsettled.length === 0 &&
      !faults['temporal-hang NOT healed by the watchdog'] &&
      queueRateLimits.every((l) => l.kept === l.asked);
    await watchdog?.stop();
    const shown: Omit<ChaosOptions, 'baseEnv' | 'log'> = {
      orders: o.orders,
      workloadSeconds: o.workloadSeconds,
      drainSeconds: o.drainSeconds,
      stallSeconds: o.stallSeconds,
      seed: o.seed,
      workers: o.workers,
      ...(o.temporal ? { temporal: o.temporal } : {}),
      ...(o.apis ? { apis: o.apis } : {}),
      maxInFlight: o.maxInFlight,
      faults: o.faults,
      returnWindow: o.returnWindow,
      backorderTimeout: o.backorderTimeout,
      sandboxStepMs: o.sandboxStepMs,
      watchdog: watchdogOptions,
    };
    return {
      machine: machineLine(),
      options: { ...shown, dir },
      dir,
      durations: { setupS, workloadS, drainS, totalS: secondsSince(t0) },
      orders: {
        planned: stats.planned,
        accepted: accepted.size,
        byPath: stats.byPath,
        byFinalStatus,
        settled: unsettled.length === 0,
        unsettled,
        stuck,
      },
      faults,
      watchdogRestarts: watchdog?.restarts.length ?? 0,
      watchdog: watchdog?.summary(),
      sandboxFaults: [...sandboxFaultTotals.values()],
      recovery: {
        ordersRetried: retries.size,
        retryCalls: [...retries.values()].reduce((a, r) => a + r.calls, 0),
        attentionReasons,
        opsInspections,
        unplannedExits,
      },
      workload: stats,
      invariants,
      queueRateLimits,
      ok,
      stoppedEarly: o.stop?.aborted ?? false,
    };
  } finally {
    finished = true;
    // The watchdog ends with the run, before the stack is stopped (a stop is not a hang).
    await watchdog?.stop();
    await topo?.stopAll().catch((err: unknown) => log(`stopping the stack: ${String(err)}`));
    await sql?.end({ timeout: 5 }).catch(() => undefined);
    if (ok && !o.dir) rmSync(dir, { recursive: true, force: true });
    else log(`run dir kept: ${dir}`);
  }
}
