/**
 * Crash recovery for the dev launcher: what a previous `npm start` on the same data dir left
 * running (found through its run record, PostgreSQL's `postmaster.pid` and /proc), whether that
 * launcher is still alive, stopping its orphans, and naming whoever holds a port we need.
 * Every pid is checked against /proc (command line, working directory, start time) before it is
 * signalled, so a recycled pid or another project's server is never touched.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, join, resolve } from 'node:path';

/** The launcher's own record in the data dir: who runs it, and the pids of what it started. */
export interface RunRecord {
  launcher: { pid: number; startTime: string | undefined };
  postgres?: number;
  temporal?: number;
}

const RUN_FILE = 'run.json';

/** Where the run record of a data dir lives. */
export const runRecordPath = (dataDir: string) => join(resolve(dataDir), RUN_FILE);

/** The run record, or undefined when there is none (or it is unreadable: then /proc still finds the orphans). */
export function readRunRecord(dataDir: string): RunRecord | undefined {
  try {
    const raw = JSON.parse(readFileSync(runRecordPath(dataDir), 'utf8')) as RunRecord;
    return typeof raw?.launcher?.pid === 'number' ? raw : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the record atomically (a torn file after a crash would hide the orphans' pids). */
export function writeRunRecord(dataDir: string, record: RunRecord): void {
  const file = runRecordPath(dataDir);
  writeFileSync(`${file}.tmp`, JSON.stringify(record, null, 2));
  renameSync(`${file}.tmp`, file);
}

/** Removes the record on a clean stop. */
export function removeRunRecord(dataDir: string): void {
  rmSync(runRecordPath(dataDir), { force: true });
}

/** A record for this process, to be written before anything is started. */
export function ownRunRecord(): RunRecord {
  return { launcher: { pid: process.pid, startTime: startTimeOf(process.pid) } };
}

// ---- /proc ----------------------------------------------------------------------------------

const hasProc = existsSync('/proc/self/stat');

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  const stat = readProc(pid, 'stat');
  if (!stat) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Clock ticks since boot at which the process started: with the pid, it names one process for good. */
export function startTimeOf(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

function parentOf(pid: number): number | undefined {
  const ppid = Number(statFields(pid)?.[1]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
}

/** The argv of a process ([] when it is gone or unreadable). */
export function cmdlineOf(pid: number): string[] {
  return (readProc(pid, 'cmdline') ?? '').split('\0').filter(Boolean);
}

function linkOf(pid: number, link: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/${link}`);
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (a zombie holds no port and no file). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = statFields(pid)?.[0];
  return state !== undefined ? state !== 'Z' && state !== 'X' : !hasProc;
}

function allPids(): number[] {
  if (!hasProc) return [];
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** Every process of the PostgreSQL cluster in `pgDir`: they all run the postgres binary with the data dir as working directory. */
export function postgresProcessesOf(pgDir: string): number[] {
  const dir = resolve(pgDir);
  return allPids().filter(
    (pid) => linkOf(pid, 'cwd') === dir && basename(linkOf(pid, 'exe') ?? cmdlineOf(pid)[0] ?? '') === 'postgres' && isAlive(pid),
  );
}

/** The postmaster of `pgDir`: a postgres started with `-D <pgDir>`. */
export function isPostmasterOf(pid: number, pgDir: string): boolean {
  const argv = cmdlineOf(pid);
  const d = argv.indexOf('-D');
  return (
    d >= 0 &&
    argv[d + 1] !== undefined &&
    resolve(argv[d + 1]!) === resolve(pgDir) &&
    basename(argv[0] ?? '') === 'postgres' &&
    isAlive(pid)
  );
}

/** A Temporal dev server keeping its state in `dbFile`. */
export function isTemporalOf(pid: number, dbFile: string): boolean {
  const argv = cmdlineOf(pid);
  const f = argv.indexOf('--db-filename');
  return argv.includes('start-dev') && f >= 0 && argv[f + 1] !== undefined && resolve(argv[f + 1]!) === resolve(dbFile) && isAlive(pid);
}

function temporalProcessesOf(dbFile: string): number[] {
  return allPids().filter((pid) => isTemporalOf(pid, dbFile));
}

/** A launcher (`scripts/start.ts`) process. */
function isLauncher(pid: number, startTime?: string): boolean {
  if (!isAlive(pid)) return false;
  if (startTime !== undefined && startTimeOf(pid) !== startTime) return false;
  return cmdlineOf(pid).some((a) => a.endsWith('start.ts'));
}

/** The pid in the first line of `postmaster.pid`, if any. */
function postmasterPidFile(pgDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(pgDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// ---- leftovers --------------------------------------------------------------------------------

export interface LeftoverProcess {
  pid: number;
  what: 'PostgreSQL' | 'Temporal dev server';
}

export interface Leftovers {
  /** A launcher of this data dir that is still running: starting a second one is refused. */
  liveLauncher?: number;
  /** The launcher of the last run when it did not stop cleanly (its record is still there). */
  previousLauncher?: number;
  /** Orphans of this data dir, main processes first (the postmaster before its backends). */
  processes: LeftoverProcess[];
  /** `postmaster.pid` names a process that is no PostgreSQL of this data dir (a recycled pid). */
  stalePidFile: boolean;
}

/**
 * What a previous launcher on this data dir left behind. Pids come from its run record, from
 * PostgreSQL's lock file and from a /proc scan (a crash before the record was written); each is
 * verified by command line / working directory before it counts.
 */
export function findLeftovers(o: { dataDir: string; pgDir?: string; temporalDbFile?: string }): Leftovers {
  const record = readRunRecord(o.dataDir);
  const out: Leftovers = { processes: [], stalePidFile: false };
  if (record && record.launcher.pid !== process.pid) {
    if (isLauncher(record.launcher.pid, record.launcher.startTime)) out.liveLauncher = record.launcher.pid;
    else out.previousLauncher = record.launcher.pid;
  }
  const seen = new Set<number>();
  const add = (pid: number, what: LeftoverProcess['what']) => {
    if (seen.has(pid)) return;
    seen.add(pid);
    out.processes.push({ pid, what });
  };
  if (o.pgDir) {
    const fromFile = postmasterPidFile(o.pgDir);
    for (const pid of [record?.postgres, fromFile]) if (pid !== undefined && isPostmasterOf(pid, o.pgDir)) add(pid, 'PostgreSQL');
    for (const pid of postgresProcessesOf(o.pgDir)) add(pid, 'PostgreSQL');
    out.stalePidFile = fromFile !== undefined && !seen.has(fromFile);
  }
  if (o.temporalDbFile) {
    if (record?.temporal !== undefined && isTemporalOf(record.temporal, o.temporalDbFile)) add(record.temporal, 'Temporal dev server');
    for (const pid of temporalProcessesOf(o.temporalDbFile)) add(pid, 'Temporal dev server');
  }
  // A launcher without a record (killed before writing it, or an older version) still owns its
  // children while it lives: a process whose parent is a live launcher is not an orphan.
  if (out.liveLauncher === undefined) {
    const owner = out.processes.map((p) => parentOf(p.pid)).find((ppid) => ppid !== undefined && ppid !== process.pid && isLauncher(ppid));
    if (owner !== undefined) out.liveLauncher = owner;
  }
  return out;
}

/** Resolves once none of `pids` is alive, or after `ms` with the ones that still are. */
async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const alive = pids.filter(isAlive);
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Stops the orphans: PostgreSQL by fast shutdown (SIGINT: rolls back open transactions, writes a
 * checkpoint), the dev server by SIGTERM; SIGKILL for whatever is still there after the grace.
 * Then removes a `postmaster.pid` that names a recycled pid (PostgreSQL would refuse to start).
 */
export async function stopLeftovers(leftovers: Leftovers, o: { pgDir?: string; graceMs?: number }): Promise<void> {
  const grace = o.graceMs ?? 15_000;
  const pids = leftovers.processes.map((p) => p.pid);
  for (const p of leftovers.processes) {
    // Backends follow their postmaster; signalling them directly could count as a crash.
    if (p.what === 'PostgreSQL' && !(o.pgDir && isPostmasterOf(p.pid, o.pgDir))) continue;
    signal(p.pid, p.what === 'PostgreSQL' ? 'SIGINT' : 'SIGTERM');
  }
  let alive = await waitGone(pids, grace);
  // Recheck identity right before SIGKILL: a pid that died and was reused meanwhile is not ours.
  for (const pid of alive) {
    const ours = (o.pgDir !== undefined && postgresProcessesOf(o.pgDir).includes(pid)) || cmdlineOf(pid).includes('start-dev');
    if (ours) signal(pid, 'SIGKILL');
  }
  alive = await waitGone(alive, 5_000);
  if (alive.length)
    throw new Error(`could not stop the leftover process${alive.length > 1 ? 'es' : ''} ${alive.join(', ')} of this data dir`);
  if (o.pgDir) {
    const fromFile = postmasterPidFile(o.pgDir);
    if (fromFile !== undefined && !isPostmasterOf(fromFile, o.pgDir)) rmSync(join(o.pgDir, 'postmaster.pid'), { force: true });
  }
}

// ---- ports ------------------------------------------------------------------------------------

/** True when nothing listens on `host:port` (0 is always free: the OS picks). */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  if (port === 0) return Promise.resolve(true);
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => res(true)));
  });
}

/** Who listens on a TCP port, from /proc/net/tcp{,6} and the processes' open sockets: "pid 123 (nginx)". */
export function portOwner(port: number): string | undefined {
  if (!hasProc) return undefined;
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      // st 0A = LISTEN; the inode is column 10.
      if (local && cols[3] === '0A' && parseInt(local.split(':')[1] ?? '', 16) === port && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of allPids()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const target = linkOf(pid, `fd/${fd}`);
      const m = target ? /^socket:\[(\d+)\]$/.exec(target) : null;
      if (m && inodes.has(m[1]!)) return `pid ${pid} (${(readProc(pid, 'comm') ?? '?').trim()})`;
    }
  }
  return undefined;
}

/** Throws a one-line error naming the port, its setting and, when it can be found, who holds it. */
export async function assertPortsFree(ports: { port: number; setting: string; host?: string }[]): Promise<void> {
  for (const p of ports) {
    if (await portIsFree(p.port, p.host)) continue;
    const owner = portOwner(p.port);
    throw new Error(
      `port ${p.port} (${p.setting}) is in use by another program${owner ? ` — ${owner}` : ''}; stop it or set ${p.setting} to a free port`,
    );
  }
}

// ---- the process that started the launcher -------------------------------------------------------

/**
 * The npm process that runs this launcher (`npm start`), with the shells between, when there is
 * one. A kill -9 of npm leaves its child running; the launcher watches this chain to stop with it.
 */
export function npmAncestry(): { pid: number; startTime: string | undefined }[] {
  const words = (pid: number) => cmdlineOf(pid).join(' ').trim().split(/\s+/);
  const isNpm = (pid: number) => {
    const w = words(pid);
    return basename(w[0] ?? '') === 'npm' || w.some((a) => a.endsWith('npm-cli.js'));
  };
  const isShell = (pid: number) => ['sh', 'bash', 'dash', 'zsh'].includes(basename(words(pid)[0] ?? ''));
  const entry = (pid: number) => ({ pid, startTime: startTimeOf(pid) });
  // npm runs a script as `sh -c <script>`, which may or may not exec the launcher.
  const parent = parentOf(process.pid);
  if (parent === undefined || parent <= 1) return [];
  if (isNpm(parent)) return [entry(parent)];
  const grandparent = parentOf(parent);
  if (isShell(parent) && grandparent !== undefined && grandparent > 1 && isNpm(grandparent)) return [entry(parent), entry(grandparent)];
  return [];
}

/** True while every process of the chain is alive and still the same process. */
export function ancestryAlive(chain: { pid: number; startTime: string | undefined }[]): boolean {
  return chain.every((p) => isAlive(p.pid) && startTimeOf(p.pid) === p.startTime);
}
