/**
 * Configuration, parsed once from the environment. Nothing else in the project reads
 * `process.env`: entry points call `loadConfig()` and hand the result down.
 * A bad value stops the process at start with one line naming the variable.
 */
import { z } from 'zod';
import { DEFAULT_ORDER_SETTINGS, DEFAULT_RULES, DEFAULT_SLA, type BusinessRules, type OrderSettings } from '../domain/settings';
import type { Channel } from '../domain/order';
import { CHANNEL_NAMES, DEFAULT_STOCK_SYNC, type StockSyncSettings } from '../domain/stock-sync';
import { WORKER_QUEUES, type OutsideQueue, type WorkerQueue } from '../domain/queues';

export const ROLES = ['channel', 'cs', 'ops', 'admin', 'carrier', 'finance'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiKeySpec {
  role: Role;
  channel?: string;
  key: string;
}

/** Thrown for a bad environment; `message` is the one-line reason. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

const apiKeys = z.string().transform((raw, ctx): ApiKeySpec[] => {
  const specs: ApiKeySpec[] = [];
  for (const entry of raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    const who = eq > 0 ? entry.slice(0, eq) : '';
    const key = eq > 0 ? entry.slice(eq + 1) : '';
    const [role, channel, extra] = who.split(':');
    if (!key || key.length < 8 || extra !== undefined || !ROLES.includes(role as Role)) {
      ctx.addIssue({
        code: 'custom',
        message: `entry "${who || entry}" must be role[:channel]=key with a known role (${ROLES.join(', ')}) and a key of 8+ characters`,
      });
      return z.NEVER;
    }
    if ((role === 'channel') !== Boolean(channel)) {
      ctx.addIssue({ code: 'custom', message: `entry "${who}": a channel key needs its channel (channel:web=...), other roles take none` });
      return z.NEVER;
    }
    specs.push(channel ? { role: role as Role, channel, key } : { role: role as Role, key });
  }
  return specs;
});

const namedSecrets = z.string().transform((raw, ctx): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const entry of raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    if (eq <= 0 || eq === entry.length - 1) {
      ctx.addIssue({ code: 'custom', message: `entry "${entry.slice(0, Math.max(eq, 0)) || '?'}" must be name=secret` });
      return z.NEVER;
    }
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
});

/** "90s", "30m", "48h", "7d" or plain milliseconds. */
const duration = (fallbackMs: number) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (!raw) return fallbackMs;
      const m = /^(\d+)(ms|s|m|h|d)?$/.exec(raw);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: 'must be a duration like 90s, 30m, 48h or 7d' });
        return z.NEVER;
      }
      const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
      return Number(m[1]) * unit;
    });
/** "default=7d,shopee=15d": a duration per channel, with a default for the rest. */
const perChannel = (fallbackMs: number) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx): Record<string, number> => {
      const out: Record<string, number> = { default: fallbackMs };
      for (const entry of (raw ?? '')
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean)) {
        const m = /^([a-z]+)=(\d+)(s|m|h|d)$/.exec(entry);
        if (!m) {
          ctx.addIssue({ code: 'custom', message: `entry "${entry}" must be channel=duration, e.g. default=7d,shopee=15d` });
          return z.NEVER;
        }
        out[m[1]!] = Number(m[2]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[3] as 's'];
      }
      return out;
    });
const money = (fallback: string) =>
  z
    .string()
    .trim()
    .regex(/^\d{1,13}(\.\d{1,2})?$/, 'must be a decimal amount like 10000000.00')
    .default(fallback);

/** The carriers the OMS books with (activities, webhooks, secrets). */
export const CARRIER_NAMES = ['ghn', 'vtp'] as const;

/** "shopee,lazada": names from a known list, no duplicates; an unknown one is an issue naming it. */
function knownNames<N extends string>(raw: string, kind: string, known: readonly N[], ctx: z.RefinementCtx, alsoAccepted = ''): N[] {
  const out = [
    ...new Set(
      raw
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean),
    ),
  ];
  const unknown = out.find((c) => !(known as readonly string[]).includes(c));
  if (unknown !== undefined) {
    ctx.addIssue({ code: 'custom', message: `unknown ${kind} "${unknown}" (known: ${known.join(', ')}${alsoAccepted})` });
    return z.NEVER;
  }
  return out as N[];
}

const nameList = <N extends string>(kind: string, known: readonly N[]) =>
  z.string().transform((raw, ctx): N[] => knownNames(raw, kind, known, ctx));

/** An outside system's API: where, and the key the OMS presents. */
export interface SystemEndpoint {
  baseUrl: string;
  apiKey: string;
}

/** The setting prefix of each outside system: OMS_<PREFIX>_URL and OMS_<PREFIX>_KEY. */
export const systemPrefix = (kind: 'channel' | 'carrier' | 'payments' | 'wms' | 'notify' | 'invoicing' | 'tax', name?: string) =>
  `OMS_${kind.toUpperCase()}${name ? `_${name.toUpperCase()}` : ''}`;

/** OMS_<PREFIX>_URL and OMS_<PREFIX>_KEY: both, or neither (undefined); a bad URL stops the start. */
function endpointFrom(env: Record<string, string | undefined>, prefix: string): Partial<SystemEndpoint> {
  const raw = env[`${prefix}_URL`]?.trim();
  const key = env[`${prefix}_KEY`]?.trim() || undefined;
  if (raw) {
    const url = z.url({ protocol: /^https?$/ }).safeParse(raw);
    if (!url.success) throw new ConfigError(`invalid ${prefix}_URL: must be an http(s) URL`);
  }
  return { ...(raw ? { baseUrl: raw.replace(/\/$/, '') } : {}), ...(key ? { apiKey: key } : {}) };
}

/** Where a worker serves its Temporal SDK metrics unless told otherwise (the usual Prometheus exporter port). */
export const DEFAULT_WORKER_METRICS_PORT = 9464;

/** What one worker process takes on at once; the Temporal SDK's option named beside each. */
export interface WorkerSizing {
  /** `maxCachedWorkflows`: workflows kept in memory between their tasks (the rest are replayed when they wake). */
  maxCachedWorkflows: number;
  /** `maxConcurrentWorkflowTaskExecutions` (never more than the cache). */
  maxWorkflowTasks: number;
  /** `maxConcurrentActivityTaskExecutions`: calls to outside systems at once. */
  maxActivities: number;
  /** `maxConcurrentLocalActivityExecutions`: bookkeeping writes to the OMS's own database at once. */
  maxLocalActivities: number;
  /** The task queues this process serves (domain/queues.ts): all of them unless a deployment splits them. */
  queues: WorkerQueue[];
  /** Calls per second to carriers and to channels, over every worker (the Temporal server enforces it per queue). */
  callsPerSecond: Record<OutsideQueue, number>;
}

/**
 * The SDK sizes its cache from the heap limit (about 2,300 workflows on a 4 GB heap) whatever
 * the memory the process is given; a fixed cache keeps a worker's memory flat however many orders
 * are open (docs/deploy.md, sizing).
 */
export const DEFAULT_WORKER_SIZING: WorkerSizing = {
  maxCachedWorkflows: 250,
  maxWorkflowTasks: 40,
  maxActivities: 100,
  maxLocalActivities: 100,
  queues: [...WORKER_QUEUES],
  callsPerSecond: { carriers: 50, channels: 20 },
};

/**
 * Whether a workflow cache of `maxCached` is likely to fit a V8 heap limited to `heapLimitBytes`
 * (`--max-old-space-size`): about 64 MiB for the worker itself and 0.4 MiB per cached order
 * workflow, the figures behind docs/deploy.md's sizing (a 256 MB heap held a cache of 350 flat
 * over 2,000 open orders). A cache past 90% of the heap collects all the time or runs out of it.
 */
export function cacheFitsHeap(maxCached: number, heapLimitBytes: number): { fits: boolean; needMiB: number; heapMiB: number } {
  const needMiB = Math.ceil(64 + 0.4 * maxCached);
  const heapMiB = Math.floor(heapLimitBytes / 2 ** 20);
  return { fits: needMiB <= 0.9 * heapMiB, needMiB, heapMiB };
}

const envSchema = z.object({
  PORT: port(3000),
  HOST: z.string().default('127.0.0.1'),
  DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  TEMPORAL_ADDRESS: optionalString.pipe(
    z
      .string()
      .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port')
      .optional(),
  ),
  TEMPORAL_NAMESPACE: z.string().trim().min(1).default('default'),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  OMS_DATA_DIR: z.string().trim().min(1).default('.data'),
  OMS_PG_PORT: port(5433),
  // `off` is the named non-durable mode (tests, benchmarks): faster, but a power cut can corrupt the data.
  OMS_PG_FSYNC: z.enum(['on', 'off'], { error: 'must be on (durable, the default) or off (faster, not crash-safe)' }).default('on'),
  OMS_API_KEYS: optionalString.pipe(apiKeys.optional()),
  OMS_CHANNEL_SECRETS: optionalString.pipe(namedSecrets.optional()),
  OMS_CARRIER_SECRETS: optionalString.pipe(namedSecrets.optional()),
  OMS_TASK_QUEUE: z.string().trim().min(1).default('orders'),
  OMS_SANDBOX_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  SANDBOX_PORT: port(4000),
  SANDBOX_HOST: z.string().default('127.0.0.1'),
  OMS_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(50 * 1024 * 1024)
    .default(256 * 1024),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  OMS_SANDBOX_KEY: z.string().min(8).default('dev-sandbox-merchant-key'),
  /** The seller's company code at the tax service (OMS_TAX_URL); Avalara-style accounts name their first company DEFAULT. */
  OMS_TAX_COMPANY: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,50}$/, 'must be a company code (letters, digits, . _ -)')
    .default('DEFAULT'),
  OMS_HOLD_TIMEOUT: duration(DEFAULT_ORDER_SETTINGS.holdTimeoutMs),
  OMS_BACKORDER_TIMEOUT: duration(DEFAULT_ORDER_SETTINGS.backorderTimeoutMs),
  OMS_TRACKING_POLL_INTERVAL: duration(DEFAULT_ORDER_SETTINGS.trackingPollMs),
  // Push carriers: poll a booking that has been quiet this long (0 = never).
  OMS_TRACKING_QUIET: duration(DEFAULT_ORDER_SETTINGS.trackingQuietMs),
  OMS_DEFAULT_CARRIER: z.enum(['ghn', 'vtp']).default('ghn'),
  OMS_STEP_TIMEOUT: duration(DEFAULT_ORDER_SETTINGS.stepTimeoutMs),
  OMS_RETURN_SHIP_BY: duration(14 * 86_400_000),
  OMS_RETURN_WINDOWS: perChannel(7 * 86_400_000),
  OMS_SHIP_BY: perChannel(DEFAULT_SLA.shipByMs.default!),
  OMS_DELIVER_BY: perChannel(DEFAULT_SLA.deliverByMs.default!),
  OMS_ESCALATION_GRACE: duration(DEFAULT_SLA.graceMs),
  OMS_ESCALATION_STEP: duration(DEFAULT_SLA.stepMs),
  OMS_COD_REMIT_BY: duration(DEFAULT_SLA.codRemitByMs),
  OMS_RTS_POLICY: z.enum(['reship', 'refund']).default('refund'),
  /** A prepaid sale's e-invoice: issued at its handover (when it is captured) or once its parcel is delivered. */
  OMS_INVOICE_PREPAID_AT: z.enum(['handover', 'delivery']).default('handover'),
  OMS_STEP_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(1000).default(DEFAULT_ORDER_SETTINGS.stepRetry.maximumAttempts),
  OMS_RISK_AMOUNT_LIMIT: money(DEFAULT_RULES.riskAmountLimit),
  OMS_RISK_VELOCITY_PER_HOUR: z.coerce.number().int().min(1).default(DEFAULT_RULES.riskVelocityPerHour),
  OMS_COD_LIMIT: money(DEFAULT_RULES.codLimit),
  OMS_STOCK_SYNC_CHANNELS: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx): Channel[] => {
      if (!raw) return [...DEFAULT_STOCK_SYNC.channels];
      if (raw === 'none') return [];
      return knownNames(raw, 'channel', CHANNEL_NAMES, ctx, '; or none');
    }),
  // "2s" for every channel, or per channel: "default=1s,shopee=2s".
  OMS_STOCK_SYNC_INTERVAL: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx): Record<string, number> => {
      const out: Record<string, number> = { ...DEFAULT_STOCK_SYNC.intervalMs };
      for (const entry of (raw ?? '')
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean)) {
        const m = /^(?:([a-z]+)=)?(\d+)(ms|s|m)$/.exec(entry);
        if (
          !m ||
          Number(m[2]) === 0 ||
          (m[1] !== undefined && m[1] !== 'default' && !(CHANNEL_NAMES as readonly string[]).includes(m[1]))
        ) {
          ctx.addIssue({
            code: 'custom',
            message: `entry "${entry}" must be a positive duration (500ms, 2s, 1m) or channel=duration, e.g. default=1s,shopee=2s`,
          });
          return z.NEVER;
        }
        out[m[1] ?? 'default'] = Number(m[2]) * { ms: 1, s: 1000, m: 60_000 }[m[3] as 'ms'];
      }
      return out;
    }),
  OMS_STOCK_SYNC_BATCH: z.coerce.number().int().min(1).max(1000).default(DEFAULT_STOCK_SYNC.batchSize),
  // The worker's Temporal SDK metrics for Prometheus: a port, or 0 / off for none.
  OMS_WORKER_METRICS_PORT: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx): number | undefined => {
      if (!raw) return DEFAULT_WORKER_METRICS_PORT;
      if (raw === 'off' || raw === '0') return undefined;
      const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
      if (!(port >= 1 && port <= 65535)) {
        ctx.addIssue({ code: 'custom', message: 'must be a port (1-65535), or 0 / off for no worker metrics' });
        return z.NEVER;
      }
      return port;
    }),
  OMS_WORKER_METRICS_HOST: z.string().trim().min(1).default('127.0.0.1'),
  // Worker sizing (docs/deploy.md): the workflow cache bounds the worker's memory, whatever the open orders.
  OMS_WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(2).max(100_000).default(DEFAULT_WORKER_SIZING.maxCachedWorkflows),
  OMS_WORKER_MAX_WORKFLOW_TASKS: z.coerce.number().int().min(2).max(10_000).default(DEFAULT_WORKER_SIZING.maxWorkflowTasks),
  OMS_WORKER_MAX_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_WORKER_SIZING.maxActivities),
  OMS_WORKER_MAX_LOCAL_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_WORKER_SIZING.maxLocalActivities),
  OMS_WORKER_QUEUES: optionalString.pipe(nameList('task queue', WORKER_QUEUES).optional()),
  OMS_CARRIER_CALLS_PER_SECOND: z.coerce.number().positive().max(100_000).default(DEFAULT_WORKER_SIZING.callsPerSecond.carriers),
  OMS_CHANNEL_CALLS_PER_SECOND: z.coerce.number().positive().max(100_000).default(DEFAULT_WORKER_SIZING.callsPerSecond.channels),
  // Production mode: every outside system, secret and key set explicitly; nothing of development is used.
  OMS_ENV: z.enum(['development', 'production'], { error: 'must be development or production' }).optional(),
  NODE_ENV: optionalString,
  OMS_CHANNELS: optionalString.pipe(nameList('channel', CHANNEL_NAMES).optional()),
  OMS_CARRIERS: optionalString.pipe(nameList('carrier', CARRIER_NAMES).optional()),
  /** Channels whose prices exclude tax unless an order says otherwise. */
  OMS_PRICES_EXCLUDE_TAX: optionalString.pipe(nameList('channel', CHANNEL_NAMES).optional()),
  // Temporal Cloud or a cluster with mTLS: an API key, and/or a client certificate and key (PEM files).
  TEMPORAL_API_KEY: optionalString,
  TEMPORAL_TLS_CERT: optionalString,
  TEMPORAL_TLS_KEY: optionalString,
  TEMPORAL_TLS_CA: optionalString,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
});

/** Development defaults for webhook secrets: the sandbox signs with the same ones. */
export const DEV_CHANNEL_SECRETS: Record<string, string> = {
  web: 'dev-web-secret',
  pos: 'dev-pos-secret',
  shopify: 'dev-shopify-secret',
  shopee: 'dev-shopee-secret',
  lazada: 'dev-lazada-secret',
  tiktok: 'dev-tiktok-secret',
};
export const DEV_CARRIER_SECRETS: Record<string, string> = {
  ghn: 'dev-ghn-secret',
  vtp: 'dev-vtp-secret',
};
export const DEV_PAYMENT_SECRET = 'dev-payment-secret';

export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  temporal: {
    address: string | undefined;
    namespace: string;
    cliPath: string | undefined;
    port: number;
    uiPort: number;
    /** Temporal Cloud's API key (sent as a bearer token, over TLS). */
    apiKey: string | undefined;
    /** TLS to the frontend: a client certificate and key for mTLS, a CA and server name when not the system's. */
    tls:
      | { certPath?: string | undefined; keyPath?: string | undefined; caPath?: string | undefined; serverName?: string | undefined }
      | undefined;
  };
  dataDir: string;
  pgPort: number;
  /** fsync of the embedded PostgreSQL: true (durable) unless OMS_PG_FSYNC=off. */
  pgFsync: boolean;
  apiKeys: ApiKeySpec[] | undefined;
  channelSecrets: Record<string, string>;
  carrierSecrets: Record<string, string>;
  taskQueue: string;
  sandbox: { url: string | undefined; port: number; host: string };
  bodyLimitBytes: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** API key for the outside systems (the sandbox in dev). */
  systemsKey: string;
  /** The seller's company code at the tax service (OMS_TAX_COMPANY). */
  taxCompany: string;
  /** When a prepaid sale is invoiced (OMS_INVOICE_PREPAID_AT): at its handover, or on delivery. */
  invoicePrepaidAt: 'handover' | 'delivery';
  orderSettings: OrderSettings;
  rules: BusinessRules;
  /** Return window per channel, with a `default`. */
  returnWindows: Record<string, number>;
  /** Stock sync to channels: which, how often (per channel), how many SKUs per push. */
  stockSync: StockSyncSettings;
  /** The worker's Prometheus endpoint for Temporal SDK metrics; undefined: none. */
  workerMetrics: { host: string; port: number } | undefined;
  /** How much one worker process takes on at once (OMS_WORKER_MAX_*). */
  workerSizing: WorkerSizing;
  /**
   * `development` (the default): what is not set falls back to the sandbox, the development
   * secrets and generated keys. `production` (OMS_ENV=production, or NODE_ENV=production):
   * every key, secret and outside system is set explicitly, or the process refuses to start.
   */
  mode: 'development' | 'production';
  /** Sales channels and carriers enabled: each has its secret and its system. */
  channels: Channel[];
  carriers: Carrier[];
  /** Outside systems set explicitly (OMS_<SYSTEM>_URL and _KEY); in development the rest are the sandbox's. */
  systems: ExplicitSystems;
}

export type Carrier = (typeof CARRIER_NAMES)[number];

export interface ExplicitSystems {
  payments?: Partial<SystemEndpoint>;
  wms?: Partial<SystemEndpoint>;
  notify?: Partial<SystemEndpoint>;
  invoicing?: Partial<SystemEndpoint>;
  /** The tax service (its key is `account:licenceKey`); none in production: the local rule set. */
  tax?: Partial<SystemEndpoint>;
  carriers: Record<string, Partial<SystemEndpoint>>;
  channels: Record<string, Partial<SystemEndpoint>>;
}

/** What production mode requires and development fills in: one line per missing or unsafe setting. */
function productionIssues(e: z.infer<typeof envSchema>, systems: ExplicitSystems, channels: Channel[], carriers: Carrier[]): string[] {
  const issues: string[] = [];
  const need = (name: string, what: string) => issues.push(`${name} is required: ${what}`);
  if (!e.DATABASE_URL) need('DATABASE_URL', 'the OMS database (postgres://...); the embedded PostgreSQL is for development');
  if (!e.TEMPORAL_ADDRESS) need('TEMPORAL_ADDRESS', 'the Temporal frontend (host:port); the dev server is for development');
  if (!e.OMS_API_KEYS?.length) need('OMS_API_KEYS', 'role[:channel]=key,...; keys are generated in development only');
  if (!e.OMS_CHANNELS) need('OMS_CHANNELS', `the sales channels to take orders from (${CHANNEL_NAMES.join(', ')})`);
  if (!e.OMS_CARRIERS) need('OMS_CARRIERS', `the carriers to book with (${CARRIER_NAMES.join(', ')})`);
  const endpoint = (prefix: string, got: Partial<SystemEndpoint> | undefined, what: string) => {
    if (!got?.baseUrl) need(`${prefix}_URL`, `the ${what}'s API`);
    if (!got?.apiKey) need(`${prefix}_KEY`, `the ${what}'s API key`);
  };
  endpoint(systemPrefix('payments'), systems.payments, 'payment gateway');
  endpoint(systemPrefix('wms'), systems.wms, 'warehouse system');
  endpoint(systemPrefix('notify'), systems.notify, 'ops notification service');
  endpoint(systemPrefix('invoicing'), systems.invoicing, 'e-invoice provider');
  // The tax service is optional (without it the local rule set keeps the tax), but whole when set.
  if (systems.tax) endpoint(systemPrefix('tax'), systems.tax, 'tax service');
  const secrets = (
    variable: string,
    given: Record<string, string> | undefined,
    dev: Record<string, string>,
    kind: string,
    names: string[],
  ) => {
    for (const n of names) {
      const secret = given?.[n];
      if (!secret) issues.push(`${variable} has no secret for ${kind} ${n}: its webhooks could not be verified`);
      else if (secret === dev[n])
        issues.push(`${variable}: the secret of ${kind} ${n} is the development one, published in the repository`);
    }
  };
  secrets('OMS_CHANNEL_SECRETS', e.OMS_CHANNEL_SECRETS, DEV_CHANNEL_SECRETS, 'channel', channels);
  for (const c of channels) endpoint(systemPrefix('channel', c), systems.channels[c], `${c} platform`);
  secrets('OMS_CARRIER_SECRETS', e.OMS_CARRIER_SECRETS, DEV_CARRIER_SECRETS, 'carrier', carriers);
  for (const c of carriers) endpoint(systemPrefix('carrier', c), systems.carriers[c], `${c} carrier`);
  if (e.OMS_CARRIERS && !(e.OMS_CARRIERS as string[]).includes(e.OMS_DEFAULT_CARRIER))
    issues.push(`OMS_DEFAULT_CARRIER: ${e.OMS_DEFAULT_CARRIER} is not among OMS_CARRIERS`);
  if (e.OMS_SANDBOX_URL) issues.push('OMS_SANDBOX_URL: the sandbox is for development; set each outside system instead');
  return issues.map((i) => `production mode: ${i}`);
}

/** Parses the environment; throws `ConfigError` with a one-line reason naming the variable. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  opts: { /** A service process (API, worker): production mode requires its settings. Tools need only theirs. */ service?: boolean } = {},
): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`invalid ${variable}: ${issue.message}`);
  }
  const e = parsed.data;
  const mode = e.OMS_ENV ?? (e.NODE_ENV === 'production' ? 'production' : 'development');
  const production = mode === 'production';
  const channels = e.OMS_CHANNELS ?? (production ? [] : [...CHANNEL_NAMES]);
  const carriers = e.OMS_CARRIERS ?? (production ? [] : [...CARRIER_NAMES]);
  const present = (x: Partial<SystemEndpoint>) => (x.baseUrl || x.apiKey ? x : undefined);
  const systems: ExplicitSystems = {
    payments: present(endpointFrom(env, systemPrefix('payments'))),
    wms: present(endpointFrom(env, systemPrefix('wms'))),
    notify: present(endpointFrom(env, systemPrefix('notify'))),
    invoicing: present(endpointFrom(env, systemPrefix('invoicing'))),
    tax: present(endpointFrom(env, systemPrefix('tax'))),
    channels: Object.fromEntries(CHANNEL_NAMES.map((c) => [c, endpointFrom(env, systemPrefix('channel', c))])),
    carriers: Object.fromEntries(CARRIER_NAMES.map((c) => [c, endpointFrom(env, systemPrefix('carrier', c))])),
  };
  if (systems.tax?.apiKey !== undefined && !/^[^:]+:.+$/.test(systems.tax.apiKey))
    throw new ConfigError('invalid OMS_TAX_KEY: must be the account id and licence key, account:licenceKey');
  if (e.TEMPORAL_TLS_CERT !== undefined && e.TEMPORAL_TLS_KEY === undefined)
    throw new ConfigError('invalid TEMPORAL_TLS_KEY: a client certificate (TEMPORAL_TLS_CERT) needs its key');
  if (e.TEMPORAL_TLS_KEY !== undefined && e.TEMPORAL_TLS_CERT === undefined)
    throw new ConfigError('invalid TEMPORAL_TLS_CERT: a client key (TEMPORAL_TLS_KEY) needs its certificate');
  if (production && opts.service) {
    const issues = productionIssues(e, systems, channels, carriers);
    if (issues.length) throw new ConfigError(issues.join('\n'));
  }
  return {
    mode,
    channels,
    carriers,
    systems,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      cliPath: e.TEMPORAL_CLI_PATH,
      port: e.TEMPORAL_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
      apiKey: e.TEMPORAL_API_KEY,
      tls:
        e.TEMPORAL_TLS_CERT || e.TEMPORAL_TLS_CA || e.TEMPORAL_TLS_SERVER_NAME || e.TEMPORAL_API_KEY
          ? {
              certPath: e.TEMPORAL_TLS_CERT,
              keyPath: e.TEMPORAL_TLS_KEY,
              caPath: e.TEMPORAL_TLS_CA,
              serverName: e.TEMPORAL_TLS_SERVER_NAME,
            }
          : undefined,
    },
    dataDir: e.OMS_DATA_DIR,
    pgPort: e.OMS_PG_PORT,
    pgFsync: e.OMS_PG_FSYNC === 'on',
    apiKeys: e.OMS_API_KEYS,
    // Development secrets are public (the sandbox signs with them): production never falls back to them.
    channelSecrets: production ? { ...e.OMS_CHANNEL_SECRETS } : { ...DEV_CHANNEL_SECRETS, ...e.OMS_CHANNEL_SECRETS },
    carrierSecrets: production ? { ...e.OMS_CARRIER_SECRETS } : { ...DEV_CARRIER_SECRETS, ...e.OMS_CARRIER_SECRETS },
    taskQueue: e.OMS_TASK_QUEUE,
    sandbox: { url: e.OMS_SANDBOX_URL, port: e.SANDBOX_PORT, host: e.SANDBOX_HOST },
    bodyLimitBytes: e.OMS_BODY_LIMIT_BYTES,
    logLevel: e.LOG_LEVEL,
    systemsKey: e.OMS_SANDBOX_KEY,
    taxCompany: e.OMS_TAX_COMPANY,
    invoicePrepaidAt: e.OMS_INVOICE_PREPAID_AT,
    orderSettings: {
      holdTimeoutMs: e.OMS_HOLD_TIMEOUT,
      backorderTimeoutMs: e.OMS_BACKORDER_TIMEOUT,
      trackingPollMs: e.OMS_TRACKING_POLL_INTERVAL,
      trackingQuietMs: e.OMS_TRACKING_QUIET,
      defaultCarrier: e.OMS_DEFAULT_CARRIER,
      stepTimeoutMs: e.OMS_STEP_TIMEOUT,
      returnShipByMs: e.OMS_RETURN_SHIP_BY,
      rtsPolicy: e.OMS_RTS_POLICY,
      ...(e.OMS_PRICES_EXCLUDE_TAX?.length ? { pricesExcludeTax: [...e.OMS_PRICES_EXCLUDE_TAX] } : {}),
      sla: {
        shipByMs: e.OMS_SHIP_BY,
        deliverByMs: e.OMS_DELIVER_BY,
        graceMs: e.OMS_ESCALATION_GRACE,
        stepMs: e.OMS_ESCALATION_STEP,
        codRemitByMs: e.OMS_COD_REMIT_BY,
      },
      stepRetry: { ...DEFAULT_ORDER_SETTINGS.stepRetry, maximumAttempts: e.OMS_STEP_MAX_ATTEMPTS },
    },
    returnWindows: e.OMS_RETURN_WINDOWS,
    rules: { riskAmountLimit: e.OMS_RISK_AMOUNT_LIMIT, riskVelocityPerHour: e.OMS_RISK_VELOCITY_PER_HOUR, codLimit: e.OMS_COD_LIMIT },
    stockSync: {
      ...DEFAULT_STOCK_SYNC,
      // Only to channels taken orders from (all of them in development).
      channels: e.OMS_STOCK_SYNC_CHANNELS.filter((c) => channels.includes(c)),
      intervalMs: e.OMS_STOCK_SYNC_INTERVAL,
      batchSize: e.OMS_STOCK_SYNC_BATCH,
    },
    workerMetrics:
      e.OMS_WORKER_METRICS_PORT === undefined ? undefined : { host: e.OMS_WORKER_METRICS_HOST, port: e.OMS_WORKER_METRICS_PORT },
    workerSizing: {
      maxCachedWorkflows: e.OMS_WORKER_MAX_CACHED_WORKFLOWS,
      maxWorkflowTasks: Math.min(e.OMS_WORKER_MAX_WORKFLOW_TASKS, e.OMS_WORKER_MAX_CACHED_WORKFLOWS),
      maxActivities: e.OMS_WORKER_MAX_ACTIVITIES,
      maxLocalActivities: e.OMS_WORKER_MAX_LOCAL_ACTIVITIES,
      queues: e.OMS_WORKER_QUEUES?.length ? e.OMS_WORKER_QUEUES : [...WORKER_QUEUES],
      callsPerSecond: { carriers: e.OMS_CARRIER_CALLS_PER_SECOND, channels: e.OMS_CHANNEL_CALLS_PER_SECOND },
    },
  };
}

/** For entry points: load the config or exit with the one-line reason. */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env, opts: { service?: boolean } = {}): Config {
  try {
    return loadConfig(env, opts);
  } catch (err) {
    if (err instanceof ConfigError) {
      // One line per problem; names of settings only, never their values.
      for (const line of err.message.split('\n')) process.stderr.write(`config error: ${line}\n`);
      process.exit(1);
    }
    throw err;
  }
}
