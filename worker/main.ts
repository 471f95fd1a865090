/**
 * Worker process for a real deployment (docker-compose, Kubernetes): DATABASE_URL and
 * TEMPORAL_ADDRESS point at real services. SIGTERM lets in-flight activities finish (up to the
 * grace time) and hands the rest back to the server, so a deploy loses nothing.
 */
import { getHeapStatistics } from 'node:v8';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createSql } from '../db/client';
import { migrate } from '../db/migrate';
import { cacheFitsHeap, loadConfigOrExit } from '../lib/config';
import { createLogger } from '../lib/logger';
import { surviveStrayRejections } from '../lib/stray-rejections';
import { resolveSystems } from '../lib/stack';
import { temporalConnectionOptions } from '../lib/temporal-connection';
import { createStatusPusher } from '../activities/channels/channel-activities';
import { createOrderWorker } from './create-worker';
import { StatusPushRelay } from './status-pushes';
import { EventDeliveryRelay } from './event-deliveries';
import { InvoiceRelay } from './invoicing';
import { createInvoiceProvider } from '../activities/invoicing/provider';
import { TaxRelay } from './tax-commits';
import { taxServiceFor } from '../activities/tax/service';
import { installRuntime } from './runtime';
import { startStockSync } from './stock-sync';

const config = loadConfigOrExit(process.env, { service: true });
const logger = createLogger({ level: config.logLevel, base: { service: 'oms-worker' } });
surviveStrayRejections(logger);
if (!config.databaseUrl) {
  process.stderr.write('config error: invalid DATABASE_URL: required for a standalone worker (npm start runs an embedded one)\n');
  process.exit(1);
}
const sql = createSql(config.databaseUrl);
await migrate(sql, { log: (l) => logger.info(l) });
const address = config.temporal.address ?? '127.0.0.1:7233';
const runtime = installRuntime(logger, { metrics: config.workerMetrics });
const temporalConnection = temporalConnectionOptions(config.temporal);
const connection = await NativeConnection.connect({ address, ...temporalConnection }).catch((err: unknown) => {
  // One line that says what failed (a refused handshake names its reason), not a stack trace.
  process.stderr.write(
    `temporal error: cannot connect to ${address}${config.temporal.tls ? ' over TLS' : ''}: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
const stopping = new AbortController();
// Production: each outside system as configured; development: the sandbox (OMS_SANDBOX_URL or its default port).
const systems = resolveSystems(config, config.sandbox.url ?? `http://127.0.0.1:${config.sandbox.port}`);
// Channel status pushes queued by the orders go out from every worker process (leases share them).
const statusPushes = new StatusPushRelay({
  sql,
  logger,
  push: createStatusPusher({ sql, logger, systems, channelSecrets: config.channelSecrets }),
});
statusPushes.start();
// So does the event feed to its subscribers.
// Production: to public internet addresses only.
const deliveries = new EventDeliveryRelay({ sql, logger, addresses: config.mode === 'production' ? 'public' : 'any' });
deliveries.start();
// And the e-invoices the orders' money facts planned.
const invoicing = new InvoiceRelay(
  { sql, logger, provider: createInvoiceProvider(systems.invoicing) },
  { prepaidAt: config.invoicePrepaidAt },
);
invoicing.start();
// And their tax, committed to the tax service (or kept by the local rule set without one).
const taxCommits = new TaxRelay({ sql, logger, service: taxServiceFor(systems.tax) });
taxCommits.start();
const worker = await createOrderWorker({
  connection,
  namespace: config.temporal.namespace,
  taskQueue: config.taskQueue,
  sizing: config.workerSizing,
  deps: {
    sql,
    logger,
    rules: config.rules,
    systems,
    channelSecrets: config.channelSecrets,
    stockSync: config.stockSync,
    shutdown: stopping.signal,
    statusPushes,
  },
});
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    logger.info('shutting down', { signal: sig });
    stopping.abort();
    worker.shutdown();
  });
const clientConnection = await Connection.connect({ address, ...temporalConnection });
await startStockSync({
  client: new Client({ connection: clientConnection, namespace: config.temporal.namespace }),
  sql,
  taskQueue: config.taskQueue,
  settings: config.stockSync,
  logger,
});
await clientConnection.close();
const heap = cacheFitsHeap(config.workerSizing.maxCachedWorkflows, getHeapStatistics().heap_size_limit);
if (!heap.fits)
  logger.warn('the workflow cache may not fit the heap: lower OMS_WORKER_MAX_CACHED_WORKFLOWS or raise --max-old-space-size', {
    maxCachedWorkflows: config.workerSizing.maxCachedWorkflows,
    heapLimitMiB: heap.heapMiB,
    estimatedNeedMiB: heap.needMiB,
  });
logger.info('worker started', {
  mode: config.mode,
  address,
  namespace: config.temporal.namespace,
  taskQueue: config.taskQueue,
  sizing: config.workerSizing,
  metrics: runtime.metricsUrl ?? 'off',
});
await worker.run();
await Promise.all([statusPushes.stop(), deliveries.stop(), invoicing.stop(), taxCommits.stop()]);
await connection.close();
await sql.end({ timeout: 5 });
logger.info('worker stopped');
