/**
 * The chaos runner's processes: each one spawned detached, so it leads a process group of its
 * own and `kill -9` of the group takes whatever it started with it (PostgreSQL under its host,
 * the Temporal CLI under its host). Output goes to a log file per process; readiness is a line in
 * that file. A process that dies without being told to is restarted, as an orchestrator would,
 * and counted: the report names every unplanned exit. A start that fails (the process exits
 * before its ready line, e.g. a worker whose Temporal does not answer) is tried again with
 * backoff for as long as the run lasts; it is not an unplanned exit, and it never ends the run.
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
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
/** The longest wait between two start attempts (the waits double up to it). */
const RETRY_MAX_MS = 10_000;

/** One supervised process. */
export class ManagedProc {
  private child: ChildProcess | undefined;
  private planned = false;
  private starting: Promise<void> | undefined;
  private restarting: Promise<void> | undefined;
  private closed = false;
  private exitWaiters: (() => void)[] = [];
  /** Restart it when it dies on its own (off while the runner stops everything). */
  autoRestart = true;
  /** Called after every start that reached the ready line (e.g. to re-apply test controls). */
  onReady: (() => Promise<void>) | undefined;
  unplannedExits: { at: number; why: string }[] = [];
  starts = 0;
  readonly logFile: string;

  constructor(
    readonly spec: ProcSpec,
    logDir: string,
    private readonly log: (line: string) => void,
  ) {
    this.logFile = join(logDir, `${spec.name}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Running and past its ready line (not being started). */
  get serving(): boolean {
    return this.child !== undefined && this.starting === undefined;
  }

  /** Starts it (a no-op while already running or starting) and resolves once its ready line shows. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.spec.name}: the run is over, not starting it again`));
    if (this.child && !this.starting) return Promise.resolve();
    this.starting ??= this.spawnAndWait().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async spawnAndWait(): Promise<void> {
    const fd = openSync(this.logFile, 'a');
    const from = statSync(this.logFile).size;
    this.planned = false;
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: this.spec.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.starts++;
    const pid = child.pid!;
    liveGroups.add(pid);
    let exitedWhy: string | undefined;
    let wasReady = false;
    child.once('exit', (code, signal) => {
      exitedWhy = signal ? `killed by ${signal}` : `exited with code ${code}`;
      liveGroups.delete(pid);
      // Whatever it started may outlive it (a host killed alone): the group goes with it.
      killGroup(pid, 'SIGKILL');
      if (this.child === child) this.child = undefined;
      for (const w of this.exitWaiters.splice(0)) w();
      // Dying before the ready line is a failed start: whoever started it sees the error and
      // tries again. Only a process that served and then died on its own is an unplanned exit.
      if (!this.planned && wasReady) {
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
        try {
          readSync(rfd, buf, 0, buf.length, offset);
        } finally {
          closeSync(rfd);
        }
        offset += buf.length;
        seen = (seen + buf.toString('utf8')).slice(-20_000);
        if (this.spec.ready.test(seen)) {
          wasReady = true;
          await this.onReady?.();
          return;
        }
      }
      if (exitedWhy !== undefined)
        throw new Error(`${this.spec.name} ${exitedWhy} before it was ready: ${seen.trim().split('\n').slice(-5).join(' | ').slice(-800)}`);
      if (Date.now() > deadline) {
        void this.kill9();
        throw new Error(
          `${this.spec.name} was not ready within ${this.spec.readyTimeoutMs} ms: ${seen.trim().split('\n').slice(-5).join(' | ').slice(-800)}`,
        );
      }
      await sleep(100);
    }
  }

  /**
   * After an unplanned exit: start again, backing off while what it needs is still down, until it
   * serves or the run is over. One loop per process, however many exits asked for it.
   */
  private restartUntilUp(): Promise<void> {
    this.restarting ??= (async () => {
      let failures = 0;
      // Until it serves: a start someone else has under way is joined (start() shares it), not left to them.
      for (let delay = 1000; this.autoRestart && !this.closed && !this.serving; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
        await sleep(delay);
        if (!this.autoRestart || this.closed || this.serving) return;
        try {
          await this.start();
          if (failures) this.log(`${this.spec.name} up again after ${failures} failed restart(s)`);
          return;
        } catch (err) {
          failures++;
          this.log(
            `${this.spec.name} restart failed (attempt ${failures}), trying again in ${Math.min(delay * 2, RETRY_MAX_MS) / 1000}s: ${message(err)}`,
          );
        }
      }
    })().finally(() => {
      this.restarting = undefined;
    });
    return this.restarting;
  }

  /**
   * Starts it, retrying a failed start with backoff (its dependencies may still be coming back —
   * PostgreSQL restarting, Temporal not answering) until `untilMs`, or until the run is over.
   */
  async ensureUp(untilMs: number): Promise<void> {
    let failures = 0;
    for (let delay = 500; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        await this.start();
        if (failures) this.log(`${this.spec.name} up after ${failures} failed start(s)`);
        return;
      } catch (err) {
        failures++;
        if (this.closed || Date.now() + delay > untilMs) throw err;
        this.log(`${this.spec.name} start failed (attempt ${failures}), trying again in ${delay / 1000}s: ${message(err)}`);
        await sleep(delay);
      }
    }
  }

  /** Sends `signal` to the whole group without waiting for anything (SIGSTOP: alive but silent). */
  signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid) killGroup(pid, signal);
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

  /** The run is over: no more starts or restarts (pending retries give up); `stop()` still works. */
  close(): void {
    this.closed = true;
    this.autoRestart = false;
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
