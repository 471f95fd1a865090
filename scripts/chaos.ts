/**
 * `npm run chaos`: the long chaos run (see docs/reliability.md, "Chaos runner"). Starts its own
 * PostgreSQL, Temporal dev server, sandbox, workers and API as separate processes on loopback,
 * sends CHAOS_ORDERS orders over CHAOS_SECONDS while killing and restarting them and failing a
 * share of the outside systems' calls, lets every order settle, checks the invariants and prints
 * the table. A liveness watchdog restarts the Temporal dev server when it stops answering
 * (CHAOS_WATCHDOG_SECONDS). Exit code 1 when an invariant is violated, an order did not finish
 * or the watchdog did not heal a hang.
 *
 *   CHAOS_ORDERS=5000 CHAOS_SECONDS=3600 CHAOS_SEED=7 npm run chaos
 */
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { formatReport } from './chaos/report';
import { killAllNow } from './chaos/processes';
import { runChaos } from './chaos/run';

const count = (fallback: number) => z.coerce.number().int().min(0).default(fallback);
const envSchema = z
  .object({
    CHAOS_ORDERS: z.coerce.number().int().min(1).default(5000),
    CHAOS_SECONDS: z.coerce.number().int().min(10).default(3600),
    CHAOS_DRAIN_SECONDS: z.coerce.number().int().min(10).default(900),
    CHAOS_STALL_SECONDS: z.coerce.number().int().min(10).default(180),
    CHAOS_SEED: z.coerce.number().int().default(20261121),
    CHAOS_WORKERS: z.coerce.number().int().min(1).max(8).default(2),
    CHAOS_APIS: z.coerce.number().int().min(1).max(4).default(1),
    /** dev: the Temporal dev server on SQLite; cluster: a real Temporal server on the run's PostgreSQL. */
    CHAOS_TEMPORAL: z.enum(['dev', 'cluster']).default('dev'),
    CHAOS_MAX_IN_FLIGHT: z.coerce.number().int().min(1).default(60),
    CHAOS_WORKER_KILLS: count(20),
    CHAOS_API_KILLS: count(6),
    CHAOS_STACK_KILLS: count(3),
    CHAOS_PG_RESTARTS: count(4),
    CHAOS_TEMPORAL_RESTARTS: count(4),
    /** SIGSTOP of the Temporal dev server (alive but silent): only the watchdog heals it. */
    CHAOS_TEMPORAL_HANGS: count(1),
    /** The dev server's liveness watchdog: restart after this long without an answer (0: off). */
    CHAOS_WATCHDOG_SECONDS: z.coerce.number().int().min(0).default(45),
    CHAOS_WATCHDOG_PROBE_SECONDS: z.coerce.number().min(0.5).default(5),
    CHAOS_WATCHDOG_TIMEOUT_SECONDS: z.coerce.number().min(0.5).default(5),
    CHAOS_ERROR_RATE: z.coerce.number().min(0).max(0.9).default(0.3),
    CHAOS_AUTH_TTL_SECONDS: z.coerce.number().int().min(1).default(3000),
    CHAOS_AUTH_EXPIRIES: count(40),
    CHAOS_RETURN_WINDOW: z
      .string()
      .regex(/^\d+[smhd]$/)
      .default('20s'),
    CHAOS_BACKORDER_TIMEOUT: z
      .string()
      .regex(/^\d+[smhd]$/)
      .default('60s'),
    CHAOS_STEP_MS: z.coerce.number().int().min(10).default(300),
    /** Keep everything (data, logs) here instead of a temp dir. */
    CHAOS_DIR: z.string().optional(),
    /** Also write the report as JSON here. */
    CHAOS_REPORT_JSON: z.string().optional(),
  })
  .refine((e) => e.CHAOS_TEMPORAL_HANGS === 0 || e.CHAOS_WATCHDOG_SECONDS > 0, {
    path: ['CHAOS_TEMPORAL_HANGS'],
    message: 'a hang is healed only by the watchdog: set CHAOS_TEMPORAL_HANGS=0 with CHAOS_WATCHDOG_SECONDS=0',
  });

const parsed = envSchema.safeParse(process.env);
if (!parsed.success) {
  const i = parsed.error.issues[0]!;
  process.stderr.write(`config error: invalid ${String(i.path[0])}: ${i.message}\n`);
  process.exit(2);
}
const e = parsed.data;
const say = (line: string) => process.stdout.write(`[chaos] ${line}\n`);
// What the children inherit: the tools' paths and home, nothing of this shell's OMS settings.
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    (kv): kv is [string, string] =>
      kv[1] !== undefined && /^(PATH|HOME|USER|LANG|LC_ALL|TMPDIR|TEMPORAL_CLI_PATH|NODE_OPTIONS)$/.test(kv[0]),
  ),
);

// First Ctrl-C (or SIGTERM): stop sending orders and injecting faults, then drain and check what
// was sent. Second: kill everything now (the children lead process groups of their own).
const stop = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.removeAllListeners(sig);
  process.on(sig, () => {
    if (!stop.signal.aborted) {
      say(`${sig}: stopping early — no more orders or faults; draining and checking what was sent (again to kill everything now)`);
      stop.abort();
      return;
    }
    say(`${sig}: killing every process of the run`);
    killAllNow();
    process.exit(130);
  });
}

const report = await runChaos({
  orders: e.CHAOS_ORDERS,
  workloadSeconds: e.CHAOS_SECONDS,
  drainSeconds: e.CHAOS_DRAIN_SECONDS,
  stallSeconds: e.CHAOS_STALL_SECONDS,
  seed: e.CHAOS_SEED,
  workers: e.CHAOS_WORKERS,
  apis: e.CHAOS_APIS,
  temporal: e.CHAOS_TEMPORAL,
  maxInFlight: e.CHAOS_MAX_IN_FLIGHT,
  faults: {
    workerKills: e.CHAOS_WORKER_KILLS,
    apiKills: e.CHAOS_API_KILLS,
    stackKills: e.CHAOS_STACK_KILLS,
    postgresRestarts: e.CHAOS_PG_RESTARTS,
    temporalRestarts: e.CHAOS_TEMPORAL_RESTARTS,
    temporalHangs: e.CHAOS_TEMPORAL_HANGS,
    errorRate: e.CHAOS_ERROR_RATE,
    authorizationTtlMs: e.CHAOS_AUTH_TTL_SECONDS * 1000,
    authorizationExpiries: e.CHAOS_AUTH_EXPIRIES,
  },
  returnWindow: e.CHAOS_RETURN_WINDOW,
  backorderTimeout: e.CHAOS_BACKORDER_TIMEOUT,
  sandboxStepMs: e.CHAOS_STEP_MS,
  watchdog: {
    intervalMs: e.CHAOS_WATCHDOG_PROBE_SECONDS * 1000,
    probeTimeoutMs: e.CHAOS_WATCHDOG_TIMEOUT_SECONDS * 1000,
    unhealthyAfterMs: e.CHAOS_WATCHDOG_SECONDS * 1000,
  },
  baseEnv,
  ...(e.CHAOS_DIR ? { dir: e.CHAOS_DIR } : {}),
  log: say,
  stop: stop.signal,
});
process.stdout.write(`\n${formatReport(report)}\n`);
if (e.CHAOS_REPORT_JSON) writeFileSync(e.CHAOS_REPORT_JSON, JSON.stringify(report, null, 2));
process.exitCode = report.ok ? 0 : 1;
