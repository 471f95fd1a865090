/**
 * A liveness watchdog for the Temporal dev server, run the way a supervisor with a liveness probe
 * runs a service in production (a Kubernetes livenessProbe, a systemd watchdog): every few seconds
 * one cheap call with a short deadline; when the calls have failed continuously for a set time
 * while the process is still alive, it is killed (`kill -9`) and started again on the same SQLite
 * file, and the restart is counted.
 *
 * Why: the dev server can wedge. Its process stays alive, but every call that reaches its SQLite
 * store fails (`GetNamespace operation failed. Error interrupted (9)`, SQLITE_INTERRUPT; cf.
 * temporalio/temporal#3784, #8017) and no order moves until it is restarted, which heals it.
 * A process that dies is the runner's restart path's already; a process that hangs is only seen
 * by probing it.
 *
 * The probe is `DescribeNamespace`: the frontend answers it from the store (the metadata
 * manager's `GetNamespace`, the very call that failed in the wedge, and the first call a worker
 * makes), where `GetSystemInfo` is answered from memory. One attempt per probe, no SDK retries.
 *
 * It never fights a deliberate restart: it probes only a process that is serving (not one being
 * started or stopped), forgets a failure streak when the process changed under it, does nothing
 * while the runner holds it (a fault that restarts Temporal on purpose), and lets the runner wait
 * for a restart of its own to finish before the next fault.
 */
import { probeTemporal } from '../../lib/dev-services';
import type { ManagedProc } from './processes';

export interface WatchdogOptions {
  proc: ManagedProc;
  address: string;
  namespace: string;
  /** One probe every this many ms. */
  intervalMs: number;
  /** Deadline of one probe (connect + call). */
  probeTimeoutMs: number;
  /** Restart once probes have failed continuously for this long while the process is alive. */
  unhealthyAfterMs: number;
  /** How long a restart may keep retrying the start (the run's end). */
  restartUntil: () => number;
  log: (line: string) => void;
}

export interface WatchdogRestart {
  /** When it was killed (ms since the epoch). */
  at: number;
  pid: number | undefined;
  /** How long the probes had been failing. */
  failingForMs: number;
  failedProbes: number;
  lastError: string;
  /** How long the kill and the new start took. */
  restartMs: number;
}

export interface WatchdogSummary {
  target: string;
  probe: string;
  intervalMs: number;
  probeTimeoutMs: number;
  unhealthyAfterMs: number;
  probes: number;
  failedProbes: number;
  restarts: WatchdogRestart[];
}

const oneLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 300);

export class LivenessWatchdog {
  readonly restarts: WatchdogRestart[] = [];
  probes = 0;
  failedProbes = 0;
  private stopped = false;
  private holds = 0;
  private healing: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly o: WatchdogOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops probing and waits for the loop (and a restart under way) to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.healing?.catch(() => undefined);
  }

  /**
   * Runs `fn` (a deliberate stop or restart of the process) with the watchdog held: a restart
   * of its own under way finishes first, and no probe counts until `fn` is done.
   */
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    this.holds++;
    try {
      await this.healing?.catch(() => undefined);
      return await fn();
    } finally {
      this.holds--;
    }
  }

  /** Resolves when no restart of the watchdog's is under way. */
  async idle(): Promise<void> {
    while (this.healing) await this.healing.catch(() => undefined);
  }

  summary(): WatchdogSummary {
    return {
      target: this.o.proc.spec.name,
      probe: `DescribeNamespace(${this.o.namespace})`,
      intervalMs: this.o.intervalMs,
      probeTimeoutMs: this.o.probeTimeoutMs,
      unhealthyAfterMs: this.o.unhealthyAfterMs,
      probes: this.probes,
      failedProbes: this.failedProbes,
      restarts: this.restarts,
    };
  }

  /** One probe: undefined when it answered, else why not. */
  private async probe(): Promise<string | undefined> {
    try {
      await probeTemporal(this.o.address, this.o.namespace, this.o.probeTimeoutMs);
      return undefined;
    } catch (err) {
      return oneLine(err);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(t);
        r();
      }
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    const { proc, intervalMs, unhealthyAfterMs, log } = this.o;
    let failingSince: number | undefined;
    let failures = 0;
    let lastError = '';
    let lastLogged = 0;
    let incarnation = -1;
    const forget = () => {
      failingSince = undefined;
      failures = 0;
    };
    while (!this.stopped) {
      const probeAt = Date.now();
      // Only a process that serves is probed: one being started, stopped or restarted on purpose is not.
      if (this.holds || this.healing || !proc.serving) {
        forget();
      } else {
        if (proc.starts !== incarnation) {
          incarnation = proc.starts;
          forget();
        }
        const error = await this.probe();
        if (this.stopped) break;
        this.probes++;
        // The process changed (or was held) while the probe ran: its answer says nothing of the one now.
        if (this.holds || this.healing || !proc.serving || proc.starts !== incarnation) {
          forget();
        } else if (error === undefined) {
          if (failingSince !== undefined)
            log(
              `watchdog: ${proc.spec.name} answers again after ${failures} failed probe(s) over ${Math.round((Date.now() - failingSince) / 1000)}s`,
            );
          forget();
        } else {
          this.failedProbes++;
          failures++;
          lastError = error;
          failingSince ??= probeAt;
          const failingFor = Date.now() - failingSince;
          if (failures === 1 || Date.now() - lastLogged > 15_000) {
            lastLogged = Date.now();
            log(
              `watchdog: ${proc.spec.name} (pid ${proc.pid}) did not answer a probe (${failures} in a row, ${Math.round(failingFor / 1000)}s; restart after ${Math.round(unhealthyAfterMs / 1000)}s): ${error}`,
            );
          }
          if (failingFor >= unhealthyAfterMs) {
            const pid = proc.pid;
            const record = { at: Date.now(), pid, failingForMs: failingFor, failedProbes: failures, lastError, restartMs: 0 };
            log(
              `watchdog: ${proc.spec.name} (pid ${pid}) is alive but has not answered for ${Math.round(failingFor / 1000)}s (${failures} failed probes; last: ${lastError}); kill -9 and restart on the same data`,
            );
            this.healing = this.heal(record).finally(() => {
              this.healing = undefined;
            });
            await this.healing.catch(() => undefined);
            forget();
          }
        }
      }
      if (!this.stopped) await this.pause(probeAt + intervalMs - Date.now());
    }
  }

  private async heal(record: WatchdogRestart): Promise<void> {
    const { proc, log } = this.o;
    if (proc.running) {
      await proc.kill9();
      this.restarts.push(record);
    }
    try {
      await proc.ensureUp(this.o.restartUntil());
      record.restartMs = Date.now() - record.at;
      log(
        `watchdog: ${proc.spec.name} restarted (pid ${proc.pid}) in ${Math.round(record.restartMs / 100) / 10}s; watchdog restarts so far: ${this.restarts.length}`,
      );
    } catch (err) {
      record.restartMs = Date.now() - record.at;
      log(`watchdog: ${proc.spec.name} could not be restarted: ${oneLine(err)}`);
    }
  }
}
