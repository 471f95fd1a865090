/**
 * The stack under chaos, as separate real processes on loopback: PostgreSQL (embedded, in its
 * own host process), the Temporal dev server on a SQLite file (so a restart keeps workflows), the
 * sandbox with a state dir (so it remembers), N workers and the API — each the project's own
 * entry point (`npm run worker`, `npm run api`, `npm run sandbox`) with its environment. Ports
 * are fixed for the run, so every restart comes back where the others expect it.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../lib/dev-services';
import { freeLowPort } from '../../lib/temporal-server';
import { ManagedProc, type ProcSpec } from './processes';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE = process.execPath;
const tsEntry = (path: string) => ['--import', 'tsx', join(ROOT, path)];

/** API keys of the run (the API takes them from OMS_API_KEYS). */
export const CHAOS_KEYS = {
  web: 'chaos-channel-web-key',
  pos: 'chaos-channel-pos-key',
  shopify: 'chaos-channel-shopify-key',
  shopee: 'chaos-channel-shopee-key',
  cs: 'chaos-cs-key-0001',
  ops: 'chaos-ops-key-0001',
  admin: 'chaos-admin-key-0001',
} as const;

export interface TopologyOptions {
  dir: string;
  workers: number;
  /** Environment every child inherits (PATH, HOME, ...); the runner adds the rest. */
  baseEnv: Record<string, string>;
  /** The OMS's order settings, as its environment says them. */
  omsEnv: Record<string, string>;
  sandboxStepMs: number;
  /** `dev`: the Temporal dev server on a SQLite file; `cluster`: a real Temporal server on the run's PostgreSQL. */
  temporal?: 'dev' | 'cluster';
  /** API processes (default 1); the workload spreads its requests over them. */
  apis?: number;
  /** A directory of `npm run build` output: API and workers run compiled (dist/api.js, dist/worker.js), as in the image. */
  compiled?: string;
  /**
   * CPU priority (nice, 0–19) to start some processes at, every thread of them: on a machine that
   * stands for several, what a deployment runs elsewhere yields the CPU to what is measured.
   */
  nice?: Partial<Record<'temporal' | 'sandbox' | 'worker', number>>;
  log: (line: string) => void;
}

export interface Topology {
  dir: string;
  databaseUrl: string;
  temporalAddress: string;
  sandboxUrl: string;
  apiUrl: string;
  /** Every API's URL (the first is `apiUrl`). */
  apiUrls: string[];
  taskQueue: string;
  postgres: ManagedProc;
  temporal: ManagedProc;
  sandbox: ManagedProc;
  api: ManagedProc;
  /** Every API process (the first is `api`). */
  apis: ManagedProc[];
  workers: ManagedProc[];
  all(): ManagedProc[];
  /** Starts what is not running, in dependency order. */
  startAll(): Promise<void>;
  /** Stops everything (SIGTERM, then SIGKILL), with no restarts or start retries after it. */
  stopAll(): Promise<void>;
}

export async function createTopology(o: TopologyOptions): Promise<Topology> {
  const logs = join(o.dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const apiCount = o.apis ?? 1;
  const [pgPort, temporalPort, sandboxPort, ...apiPorts] = await Promise.all(Array.from({ length: 3 + apiCount }, () => freePort()));
  const apiPort = apiPorts[0]!;
  // A real server's other services and membership rings (cluster mode).
  const serverPorts: number[] = [];
  if (o.temporal === 'cluster') {
    // Below 32768 (lib/temporal-server.ts freeLowPort), the frontend's too.
    const taken = new Set<number>();
    for (let i = 0; i < 9; i++) {
      const p = await freeLowPort(taken);
      taken.add(p);
      serverPorts.push(p);
    }
  }
  const database = 'oms_chaos';
  const databaseUrl = `postgres://oms:oms-dev-password@127.0.0.1:${pgPort}/${database}`;
  const frontendPort = o.temporal === 'cluster' ? serverPorts.shift()! : temporalPort;
  const temporalAddress = `127.0.0.1:${frontendPort}`;
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const taskQueue = 'chaos';
  const keys = [
    `channel:web=${CHAOS_KEYS.web}`,
    `channel:pos=${CHAOS_KEYS.pos}`,
    `channel:shopify=${CHAOS_KEYS.shopify}`,
    `channel:shopee=${CHAOS_KEYS.shopee}`,
    `cs=${CHAOS_KEYS.cs}`,
    `ops=${CHAOS_KEYS.ops}`,
    `admin=${CHAOS_KEYS.admin}`,
  ].join(',');
  const oms = {
    ...o.baseEnv,
    ...o.omsEnv,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    OMS_TASK_QUEUE: taskQueue,
    OMS_SANDBOX_URL: sandboxUrl,
    OMS_API_KEYS: keys,
    OMS_DATA_DIR: join(o.dir, 'oms-data'),
    OMS_WORKER_METRICS_PORT: 'off',
    LOG_LEVEL: 'info',
  };
  const spec = (name: string, args: string[], env: Record<string, string>, ready: RegExp, readyTimeoutMs = 120_000): ProcSpec => {
    const nice = o.nice?.[name.startsWith('worker-') ? 'worker' : (name as 'temporal' | 'sandbox')];
    return {
      name,
      // `nice` runs the process itself (exec), so its pid and group are the same: stops and kills reach it.
      ...(nice ? { command: 'nice', args: ['-n', String(nice), NODE, ...args] } : { command: NODE, args }),
      env,
      cwd: ROOT,
      ready,
      readyTimeoutMs,
    };
  };
  const proc = (s: ProcSpec) => new ManagedProc(s, logs, o.log);

  const postgres = proc(
    spec(
      'postgres',
      tsEntry('scripts/chaos/service-host.ts'),
      {
        ...o.baseEnv,
        CHAOS_SERVICE: 'postgres',
        CHAOS_DIR: join(o.dir, 'pg'),
        CHAOS_PORT: String(pgPort),
        CHAOS_DATABASE: database,
        CHAOS_PG_FSYNC: 'off',
      },
      /chaos-service ready/,
      180_000,
    ),
  );
  const temporalEnv: Record<string, string> =
    o.temporal === 'cluster'
      ? {
          CHAOS_SERVICE: 'temporal-server',
          CHAOS_DIR: join(o.dir, 'temporal-server'),
          CHAOS_PORT: String(frontendPort),
          CHAOS_PORTS: serverPorts.join(','),
          CHAOS_PG_HOST: '127.0.0.1',
          CHAOS_PG_PORT: String(pgPort),
          CHAOS_PG_USER: 'oms',
          CHAOS_PG_PASSWORD: 'oms-dev-password',
        }
      : { CHAOS_SERVICE: 'temporal', CHAOS_DB_FILE: join(o.dir, 'temporal', 'temporal.sqlite'), CHAOS_PORT: String(temporalPort) };
  // A first start of a real server may build it (a few minutes) and sets up its schemas.
  const temporal = proc(
    spec('temporal', tsEntry('scripts/chaos/service-host.ts'), { ...o.baseEnv, ...temporalEnv }, /chaos-service ready/, 600_000),
  );
  const sandbox = proc(
    spec(
      'sandbox',
      tsEntry('sandbox/main.ts'),
      {
        ...o.baseEnv,
        SANDBOX_PORT: String(sandboxPort),
        SANDBOX_HOST: '127.0.0.1',
        SANDBOX_STATE_DIR: join(o.dir, 'sandbox-state'),
        SANDBOX_OMS_URL: apiUrl,
        SANDBOX_STEP_MS: String(o.sandboxStepMs),
        SANDBOX_FSYNC: 'off',
      },
      /sandbox listening on/,
    ),
  );
  const apis = apiPorts.map((port, i) =>
    proc(
      spec(
        i === 0 ? 'api' : `api-${i + 1}`,
        o.compiled ? [join(o.compiled, 'api.js')] : tsEntry('api/main.ts'),
        { ...oms, PORT: String(port), HOST: '127.0.0.1' },
        /"api started"/,
      ),
    ),
  );
  const api = apis[0]!;
  const workers = Array.from({ length: o.workers }, (_, i) =>
    proc(
      spec(`worker-${i + 1}`, o.compiled ? [join(o.compiled, 'worker.js')] : tsEntry('worker/main.ts'), oms, /"worker started"/, 240_000),
    ),
  );
  const all = () => [postgres, temporal, sandbox, ...apis, ...workers];

  return {
    dir: o.dir,
    databaseUrl,
    temporalAddress,
    sandboxUrl,
    apiUrl,
    apiUrls: apiPorts.map((p) => `http://127.0.0.1:${p}`),
    taskQueue,
    postgres,
    temporal,
    sandbox,
    api,
    apis,
    workers,
    all,
    async startAll() {
      for (const p of all()) p.autoRestart = true;
      await Promise.all([postgres.start(), temporal.start(), sandbox.start()]);
      await Promise.all([...apis.map((a) => a.start()), ...workers.map((w) => w.start())]);
    },
    async stopAll() {
      for (const p of all()) p.close();
      // The clients first, so nothing they do is cut off by their services going away.
      await Promise.all([...apis.map((a) => a.stop()), ...workers.map((w) => w.stop())]);
      await Promise.all([sandbox.stop(), temporal.stop(), postgres.stop(30_000)]);
    },
  };
}
