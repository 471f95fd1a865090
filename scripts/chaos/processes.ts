/**
 * The chaos runner's processes: each one spawned detached, so it leads a process group of its
 * own and `kill -9` of the group takes whatever it started with it (PostgreSQL under its host,
 * the Temporal CLI under its host). Output goes to a log file per process; readiness is a line in
 * that file. A process that dies without being told to is restarted, as an orchestrator would,
 * and counted: the report names every unplanned exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** A line that says the process serves (matched in its output). */
  ready: RegExp;
  readyTimeoutMs: number;
}

/** Every group this module started and has not seen end, for the last-resort cleanup on exit. */
const liveGroups = new Set<number>();
/** `kill -9` of every process group still running: nothing the run started outlives it. */
export function killAllNow(): void {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
}
process.on('exit', killAllNow);

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One supervised process. */
export class ManagedProc {
  private child: ChildProcess | undefined;
  private planned = false;
  private starting: Promise<void> | undefined;
  private exitWaiters: (() => void)[] = [];
  /** Restart it when it dies on its own (off while the runner stops everything). */
  autoRestart = true;
  /** Called after every start that reached the ready line (e.g. to re-apply test controls). */
  onReady: (() => Promise<void>) | undefined;
  unplannedExits: { at: number; why: string }[] = [];
  starts = 0;
  readonly logFile: string;

  constructor(readonly spec: ProcSpec, logDir: string, private readonly log: (line: string) => void) {
    this.logFile = join(logDir, `${spec.name}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts it (a no-op while already running or starting) and resolves once its ready line shows. */
  start(): Promise<void> {
    if (this.child && !this.starting) return Promise.resolve();
    this.starting ??= this.spawnAndWait().finally(() => { this.starting = undefined; });
    return this.starting;
  }

  private async spawnAndWait(): Promise<void> {
    const fd = openSync(this.logFile, 'a');
    const from = statSync(this.logFile).size;
    this.planned = false;
    const child = spawn(this.spec.command, this.spec.args, { cwd: this.spec.cwd, env: this.spec.env, detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.child = child;
    this.starts++;
    const pid = child.pid!;
    liveGroups.add(pid);
    let exitedWhy: string | undefined;
    child.once('exit', (code, signal) => {
      exitedWhy = signal ? `killed by ${signal}` : `exited with code ${code}`;
      liveGroups.delete(pid);
      // Whatever it started may outlive it (a host killed alone): the group goes with it.
      killGroup(pid, 'SIGKILL');
      if (this.child === child) this.child = undefined;
      for (const w of this.exitWaiters.splice(0)) w();
      if (!this.planned) {
        this.unplannedExits.push({ at: Date.now(), why: exitedWhy });
        this.log(`${this.spec.name} (pid ${pid}) ${exitedWhy} on its own`);
        if (this.autoRestart) void this.restartUntilUp();
      }
    });
    const deadline = Date.now() + this.spec.readyTimeoutMs;
    let offset = from;
    let seen = '';
    for (;;) {
      const size = statSync(this.logFile).size;
      if (size > offset) {
        const buf = Buffer.alloc(Math.min(size - offset, 1 << 20));
        const rfd = openSync(this.logFile, 'r');
        try { readSync(rfd, buf, 0, buf.length, offset); } finally { closeSync(rfd); }
        offset += buf.length;
        seen = (seen + buf.toString('utf8')).slice(-20_000);
        if (this.spec.ready.test(seen)) {
          await this.onReady?.();
          return;
        }
      }
      if (exitedWhy !== undefined) throw new Error(`${this.spec.name} ${exitedWhy} before it was ready: ${seen.trim().split('\n').slice(-5).join(' | ').slice(-800)}`);
      if (Date.now() > deadline) {
        void this.kill9();
        throw new Error(`${this.spec.name} was not ready within ${this.spec.readyTimeoutMs} ms: ${seen.trim().split('\n').slice(-5).join(' | ').slice(-800)}`);
      }
      await sleep(100);
    }
  }

  /** After an unplanned exit: start again, backing off while what it needs is still down. */
  private async restartUntilUp(): Promise<void> {
    for (let delay = 1000; this.autoRestart && !this.child; delay = Math.min(delay * 2, 10_000)) {
      await sleep(delay);
      if (!this.autoRestart || this.child) return;
      try {
        await this.start();
        return;
      } catch (err) {
        this.log(`${this.spec.name} restart failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Starts it, retrying a failed start (its dependencies may still be coming back) until `untilMs`. */
  async ensureUp(untilMs: number): Promise<void> {
    for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
      try {
        await this.start();
        return;
      } catch (err) {
        if (Date.now() > untilMs) throw err;
        this.log(`${this.spec.name} start failed, trying again: ${err instanceof Error ? err.message : String(err)}`);
        await sleep(delay);
      }
    }
  }

  /** Resolves once the current process (if any) has exited. */
  private exited(): Promise<void> {
    if (!this.child) return Promise.resolve();
    return new Promise((res) => this.exitWaiters.push(res));
  }

  /** `kill -9` of the whole group, as a crash or an OOM kill would; resolves when it is gone. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    this.planned = true;
    const gone = this.exited();
    killGroup(child.pid, 'SIGKILL');
    await gone;
  }

  /** SIGTERM to the group, SIGKILL after the grace; resolves when it is gone. */
  async stop(graceMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    this.planned = true;
    const gone = this.exited();
    killGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }
}
