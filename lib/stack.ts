/**
 * The application stack on top of a Temporal cluster and a PostgreSQL database: migrations,
 * sandbox, worker and API. The dev launcher, the test harness and the benchmark all use this,
 * so what the tests exercise is what `npm start` runs.
 */
import { serve, type ServerType } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import { createApp } from '../api/create-app';
import { KeyStore } from '../api/auth';
import { addStartBacklogMetrics, createApiMetrics } from '../api/metrics';
import { WorkflowStartRelay, type StartRelayOptions } from '../intake/workflow-starts';
import { createSql, type Sql } from '../db/client';
import { migrate } from '../db/migrate';
import { DEV_SANDBOX_KEY, startSandbox, type Sandbox, type SandboxOptions } from '../sandbox/server';
import { SANDBOX_TAX_ACCOUNT, SANDBOX_TAX_COMPANY } from '../sandbox/tax';
import { createOrderWorker, type OrderWorker } from '../worker/create-worker';
import { StatusPushRelay } from '../worker/status-pushes';
import { EventDeliveryRelay } from '../worker/event-deliveries';
import { InvoiceRelay, type DEFAULT_INVOICE_RELAY } from '../worker/invoicing';
import { createInvoiceProvider } from '../activities/invoicing/provider';
import { TaxRelay } from '../worker/tax-commits';
import { taxServiceFor } from '../activities/tax/service';
import type { RelayOptions } from './outbox-relay';
import { createStatusPusher } from '../activities/channels/channel-activities';
import { startStockSync } from '../worker/stock-sync';
import { CHANNEL_NAMES, DEFAULT_STOCK_SYNC, type StockSyncSettings } from '../domain/stock-sync';
import type { OutsideSystems } from '../activities/http';
import type { TemporalConnectionOptions } from './temporal-connection';
import { installRuntime } from '../worker/runtime';
import {
  CARRIER_NAMES,
  DEV_CARRIER_SECRETS,
  DEV_CHANNEL_SECRETS,
  type ApiKeySpec,
  type Config,
  type ExplicitSystems,
  type WorkerSizing,
} from './config';
import { DEFAULT_ORDER_SETTINGS, DEFAULT_RULES, type BusinessRules, type OrderSettings } from '../domain/settings';
import { seedIfEmpty } from '../db/seed';
import type { Logger } from './logger';

export interface StackOptions {
  databaseUrl: string;
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  apiKeys: ApiKeySpec[];
  /** Use this sandbox instead of starting one in-process. */
  sandboxUrl?: string;
  sandboxPort?: number;
  /** Knobs of the in-process sandbox (latency, tracking progress, `stateDir` to keep its state across restarts, authorisation TTL). */
  sandboxOptions?: Omit<SandboxOptions, 'port' | 'host' | 'merchantKey' | 'carrierSecrets'>;
  bodyLimitBytes: number;
  logger: Logger;
  orderSettings?: Partial<OrderSettings>;
  rules?: Partial<BusinessRules>;
  carrierSecrets?: Record<string, string>;
  /** Webhook/API secret per sales channel; the development secrets when not given. */
  channelSecrets?: Record<string, string>;
  /** Return window per channel (`default` for the rest); 7 days when not given. */
  returnWindows?: Record<string, number>;
  /** API key for the outside systems (the sandbox's merchant key in dev). */
  systemsKey?: string;
  /** Every outside system at its own URL (production): no sandbox is started or used. */
  systems?: OutsideSystems;
  /** Development: systems set on their own (OMS_<SYSTEM>_URL); the sandbox serves the rest. */
  explicitSystems?: ExplicitSystems;
  /** TLS and API key for the Temporal frontend (lib/temporal-connection.ts). */
  temporalConnection?: TemporalConnectionOptions;
  /** Load the dev catalog, warehouses and stock into an empty database. */
  seed?: boolean;
  workflowBundle?: WorkflowBundleOption;
  /** Default true; benchmarks and some tests run the worker separately. */
  runWorker?: boolean;
  /** Knobs of the workflow-start relay (intake/workflow-starts.ts); its defaults otherwise. */
  startRelay?: Partial<StartRelayOptions>;
  /**
   * `https` (production mode): event subscribers must be reached over https, at public internet
   * addresses only; `any` (the default): http too, and this machine or the private network.
   */
  subscriberUrls?: 'any' | 'https';
  /** Knobs of the event-delivery relay (worker/event-deliveries.ts); its defaults otherwise. */
  eventDeliveries?: Partial<RelayOptions>;
  /** The e-invoice relay's timing (worker/invoicing.ts); its defaults otherwise. */
  invoicing?: Partial<typeof DEFAULT_INVOICE_RELAY>;
  /** The tax relay's timing (worker/tax-commits.ts); its defaults otherwise. */
  taxCommits?: Partial<RelayOptions>;
  /** Stock sync to channels, run by this stack's worker: on with defaults unless `false`. */
  stockSync?: Partial<StockSyncSettings> | false;
  /** How much the worker takes on at once (OMS_WORKER_MAX_*); the defaults otherwise. */
  workerSizing?: Partial<WorkerSizing>;
}

export interface Stack {
  apiUrl: string;
  /** The sandbox's URL; undefined when the stack runs against real outside systems. */
  sandboxUrl: string | undefined;
  sandbox: Sandbox | undefined;
  sql: Sql;
  client: Client;
  /** Starts the workflows of accepted orders and notifications. */
  starts: WorkflowStartRelay;
  worker: OrderWorker | undefined;
  stop(): Promise<void>;
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => o.logger.warn('shutdown step failed', { error: err }));
    cleanups.length = 0;
  };
  try {
    const sql = createSql(o.databaseUrl, { max: 20 });
    cleanups.push(() => sql.end({ timeout: 5 }));
    const applied = await migrate(sql, { log: (l) => o.logger.info(l) });
    if (applied.length) o.logger.info('database migrated', { applied });
    if (o.seed) {
      const seeded = await seedIfEmpty(sql);
      if (seeded) o.logger.info('dev data seeded', seeded);
    }
    const settings: OrderSettings = { ...DEFAULT_ORDER_SETTINGS, ...o.orderSettings };
    const rules: BusinessRules = { ...DEFAULT_RULES, ...o.rules };
    const carrierSecrets = o.carrierSecrets ?? DEV_CARRIER_SECRETS;
    const channelSecrets = o.channelSecrets ?? DEV_CHANNEL_SECRETS;
    const systemsKey = o.systemsKey ?? DEV_SANDBOX_KEY;

    let sandbox: Sandbox | undefined;
    if (!o.sandboxUrl && !o.systems) {
      const started = await startSandbox({
        ...o.sandboxOptions,
        port: o.sandboxPort ?? 0,
        host: '127.0.0.1',
        merchantKey: systemsKey,
        carrierSecrets,
        channelSecrets,
      });
      cleanups.push(() => started.stop());
      sandbox = started;
    }
    const sandboxUrl = o.sandboxUrl ?? sandbox?.url;
    const systems =
      o.systems ??
      resolveSystems(
        { mode: 'development', systems: o.explicitSystems ?? { carriers: {}, channels: {} }, systemsKey, taxCompany: SANDBOX_TAX_COMPANY },
        sandboxUrl!,
      );

    // Lazy: an API process starts, and takes orders in, while Temporal is away (the relay starts them later).
    const connection = Connection.lazy({ address: o.temporalAddress, ...o.temporalConnection });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: o.namespace });
    // Orders and channel notifications are accepted into PostgreSQL; this relay starts their workflows.
    const starts = new WorkflowStartRelay({ sql, client, logger: o.logger }, o.startRelay);
    starts.start();
    cleanups.push(() => starts.stop());

    let worker: OrderWorker | undefined;
    if (o.runWorker !== false) {
      installRuntime(o.logger);
      const nativeConnection = await NativeConnection.connect({ address: o.temporalAddress, ...o.temporalConnection });
      const stockSync = o.stockSync === false ? undefined : { ...DEFAULT_STOCK_SYNC, ...o.stockSync };
      const stopping = new AbortController();
      // Channel status pushes queued by the orders go out from here (worker/status-pushes.ts).
      const statusPushes = new StatusPushRelay({
        sql,
        logger: o.logger,
        push: createStatusPusher({ sql, logger: o.logger, systems, channelSecrets }),
      });
      statusPushes.start();
      cleanups.push(() => statusPushes.stop());
      // The event feed goes out to its subscribers from here too (worker/event-deliveries.ts).
      const deliveries = new EventDeliveryRelay(
        { sql, logger: o.logger, addresses: o.subscriberUrls === 'https' ? 'public' : 'any' },
        o.eventDeliveries,
      );
      deliveries.start();
      cleanups.push(() => deliveries.stop());
      // And the e-invoices the orders' money facts planned (worker/invoicing.ts).
      const invoicing = new InvoiceRelay({ sql, logger: o.logger, provider: createInvoiceProvider(systems.invoicing) }, o.invoicing);
      invoicing.start();
      cleanups.push(() => invoicing.stop());
      // And their tax, committed to the tax service (worker/tax-commits.ts).
      const taxCommits = new TaxRelay({ sql, logger: o.logger, service: taxServiceFor(systems.tax) }, o.taxCommits);
      taxCommits.start();
      cleanups.push(() => taxCommits.stop());
      worker = await createOrderWorker({
        connection: nativeConnection,
        namespace: o.namespace,
        taskQueue: o.taskQueue,
        ...(o.workerSizing ? { sizing: o.workerSizing } : {}),
        deps: {
          sql,
          logger: o.logger,
          rules,
          systems,
          channelSecrets,
          stockSync,
          shutdown: stopping.signal,
          statusPushes,
        },
        ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : {}),
      });
      const running = worker.run();
      cleanups.push(async () => {
        stopping.abort();
        // Closing the native connection before the worker has drained would strand its tasks.
        worker!.shutdown();
        await running;
        await nativeConnection.close();
      });
      await startStockSync({ client, sql, taskQueue: o.taskQueue, settings: stockSync, logger: o.logger });
    }

    const metrics = createApiMetrics({ defaultMetrics: true });
    addStartBacklogMetrics(metrics.registry, starts);
    const app = createApp({
      keys: new KeyStore(o.apiKeys),
      logger: o.logger,
      metrics,
      bodyLimitBytes: o.bodyLimitBytes,
      client,
      sql,
      starts,
      taskQueue: o.taskQueue,
      orderSettings: settings,
      carrierSecrets,
      channelSecrets,
      returnWindows: o.returnWindows ?? { default: 7 * 86_400_000 },
      subscriberUrls: o.subscriberUrls ?? 'any',
      health: {
        postgres: async () => {
          await sql`select 1`;
        },
        temporal: async () => {
          await connection.workflowService.getSystemInfo({});
        },
      },
    });
    const server = await new Promise<ServerType>((res) => {
      const s = serve({ fetch: app.fetch, port: o.port, hostname: o.host }, () => res(s));
    });
    cleanups.push(
      () =>
        new Promise<void>((res) => {
          server.close(() => res());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
    );
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : o.port;
    const apiUrl = `http://${o.host}:${port}`;
    sandbox?.setOmsBaseUrl(apiUrl);

    return { apiUrl, sandboxUrl, sandbox, sql, client, starts, worker, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** In dev and tests every outside system is a path of the sandbox; production points each at the real one (lib/config.ts). */
export function outsideSystems(baseUrl: string, apiKey: string): OutsideSystems {
  const base = baseUrl.replace(/\/$/, '');
  const at = (prefix: string) => ({ baseUrl: `${base}${prefix}`, apiKey, timeoutMs: 10_000 });
  return {
    payments: at('/payments'),
    wms: at('/wms'),
    notify: at('/notify'),
    invoicing: at('/einvoice/v1'),
    tax: { ...at('/tax/v2'), apiKey: `${SANDBOX_TAX_ACCOUNT}:${apiKey}`, companyCode: SANDBOX_TAX_COMPANY },
    carriers: Object.fromEntries(CARRIER_NAMES.map((c) => [c, at(`/carriers/${c}`)])),
    channels: Object.fromEntries(CHANNEL_NAMES.map((c) => [c, at(`/channels/${c}`)])),
  };
}

/**
 * The outside systems a process calls: in production each one as configured (lib/config.ts makes
 * sure all are); in development the sandbox at `sandboxUrl`, with any system set explicitly
 * pointing elsewhere.
 */
export function resolveSystems(config: Pick<Config, 'mode' | 'systems' | 'systemsKey' | 'taxCompany'>, sandboxUrl: string): OutsideSystems {
  const sandbox = outsideSystems(sandboxUrl, config.systemsKey);
  const production = config.mode === 'production';
  const pick = (explicit: Partial<{ baseUrl: string; apiKey: string }> | undefined, fallback: OutsideSystems['payments'] | undefined) => {
    if (production) return { baseUrl: explicit!.baseUrl!, apiKey: explicit!.apiKey!, timeoutMs: 10_000 };
    return explicit?.baseUrl ? { baseUrl: explicit.baseUrl, apiKey: explicit.apiKey ?? config.systemsKey, timeoutMs: 10_000 } : fallback!;
  };
  const byName = (explicit: Record<string, Partial<{ baseUrl: string; apiKey: string }>>, fallback: OutsideSystems['carriers']) =>
    Object.fromEntries(
      Object.keys(fallback)
        .filter((n) => !production || explicit[n]?.baseUrl)
        .map((n) => [n, pick(explicit[n], fallback[n])]),
    );
  return {
    payments: pick(config.systems.payments, sandbox.payments),
    wms: pick(config.systems.wms, sandbox.wms),
    notify: pick(config.systems.notify, sandbox.notify),
    invoicing: pick(config.systems.invoicing, sandbox.invoicing),
    // The tax service when one is set; in development the sandbox's, in production the local rule set without one.
    tax: config.systems.tax?.baseUrl
      ? { ...pick(config.systems.tax, undefined), companyCode: config.taxCompany }
      : production
        ? undefined
        : sandbox.tax,
    carriers: byName(config.systems.carriers, sandbox.carriers),
    channels: byName(config.systems.channels, sandbox.channels),
  };
}
