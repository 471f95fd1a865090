/**
 * The loop every PostgreSQL outbox of the service runs (workflow starts, channel status pushes):
 * rows written in the transaction that asked for the work; a relay in each process claims due
 * rows under a lease (`for update skip locked`, so processes share a backlog and never hold one
 * row at once), handles them with bounded concurrency, deletes a row once handled and retries a
 * failed one with backoff. Nudged by its own writes, polling for the rest; a failing round stops
 * early and gives back its untried rows. What a row is and how it is claimed belong to the store.
 */

export interface OutboxRow {
  /** Attempts so far, counted by `renew` (the backoff doubles with each). */
  attempts: number;
}

export interface OutboxStore<R extends OutboxRow> {
  /** Up to `limit` due rows, leased for `leaseMs`. */
  claim(limit: number, leaseMs: number): Promise<R[]>;
  /** Right before an attempt: the lease starts again and the attempt is counted. False when the lease was lost. */
  renew(row: R, leaseMs: number): Promise<boolean>;
  /** Handled: the row goes. */
  done(row: R): Promise<void>;
  /** Not handled this time: due again after `delayMs`, the reason kept for ops. */
  retryLater(row: R, delayMs: number, error: string): Promise<void>;
  /** Claimed but not tried (a stop, a failing round): due again at once for any relay. */
  release(rows: R[]): Promise<void>;
}

export interface RelayOptions {
  /** Rows claimed per round. */
  batch: number;
  /** Rows handled at once: what one relay asks of the system behind it at most. */
  concurrency: number;
  /** How often a relay looks for rows when nobody nudged it (other processes' rows, retries). */
  pollMs: number;
  /** A claimed row's lease: longer than handling one can take. */
  leaseMs: number;
  /** Backoff of a row that failed: doubles per attempt from `retryMinMs` up to `retryMaxMs`. */
  retryMinMs: number;
  retryMaxMs: number;
  /** The deadline of one attempt: shorter than the lease. */
  attemptTimeoutMs: number;
}

/** The timing of a relay that hands documents to an outside service (e-invoices, tax documents). */
export const DEFAULT_SERVICE_RELAY: RelayOptions = {
  batch: 50,
  concurrency: 8,
  pollMs: 1000,
  leaseMs: 60_000,
  retryMinMs: 500,
  retryMaxMs: 60_000,
  attemptTimeoutMs: 30_000,
};

export interface RelayLog {
  warn(message: string, fields: Record<string, unknown>): void;
}

export abstract class OutboxRelay<R extends OutboxRow> {
  private running: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  protected stopped = false;
  private wake: (() => void) | undefined;
  private nudged = false;
  private halt = new AbortController();

  protected constructor(
    protected readonly store: OutboxStore<R>,
    protected readonly o: RelayOptions,
    private readonly log: RelayLog,
    /** What this relay moves, for its log lines ("workflow start", "status push"). */
    private readonly what: string,
  ) {}

  /** Does the row's work within `timeoutMs`; throwing means "not done, try again later". */
  protected abstract handle(row: R, timeoutMs: number): Promise<void>;
  /** Fields that name a row in the log: ids only, never personal data. */
  protected abstract describe(row: R): Record<string, unknown>;
  /** After a failed attempt, the row already due again later: counts, flags, whatever the relay keeps. */
  protected onFailed(_row: R, _error: string): Promise<void> | void {}

  /** Runs the relay's loop (again after a stop, once that stop has finished). */
  start(): void {
    if (this.stopping) {
      void this.stopping.then(() => this.start());
      return;
    }
    this.stopped = false;
    if (this.halt.signal.aborted) this.halt = new AbortController();
    this.running ??= this.loop();
  }

  /** Aborted when the relay stops: work in flight that can wait (a lease, a backoff) gives up, its row is tried again later. */
  protected get stopSignal(): AbortSignal {
    return this.halt.signal;
  }

  /** Something was just written: look now rather than at the next poll. */
  nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  /** Stops after the rows in flight; rows claimed but not tried are given back for the next relay. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      this.halt.abort(new Error(`${this.what} relay stopping`));
      this.wake?.();
      await this.running;
      this.running = undefined;
      this.stopping = undefined;
    })();
    return this.stopping;
  }

  /**
   * One round: claims due rows and handles them, `concurrency` at a time. After a failure the
   * round stops trying (the system behind is struggling; each row has its retry time) and, like a
   * stop, gives back the rows it had not tried. Returns how many rows it claimed and how many failed.
   */
  async round(): Promise<{ claimed: number; failed: number }> {
    const rows = await this.store.claim(this.o.batch, this.o.leaseMs);
    let failed = 0;
    let next = 0;
    const lane = async () => {
      while (next < rows.length && !this.stopped && failed === 0) {
        const row = rows[next++]!;
        if (!(await this.attempt(row))) failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, rows.length) }, lane));
    if (next < rows.length) await this.store.release(rows.slice(next)).catch(() => undefined);
    return { claimed: rows.length, failed };
  }

  /** True when the row is handled (or another relay holds it now); false when this attempt failed. */
  protected async attempt(row: R, timeoutMs = this.o.attemptTimeoutMs): Promise<boolean> {
    // The lease starts again for this attempt: a row that waited behind others in its batch keeps it.
    if (!(await this.store.renew(row, this.o.leaseMs))) return true;
    try {
      await this.handle(row, Math.min(timeoutMs, this.o.attemptTimeoutMs));
      await this.store.done(row);
      return true;
    } catch (err) {
      // The backoff, or later when the failure says when it can pass (e.g. a push waiting out a doubt).
      const hint = (err as { nextRetryDelay?: unknown } | null)?.nextRetryDelay;
      const backoff = Math.min(this.o.retryMaxMs, this.o.retryMinMs * 2 ** Math.min(row.attempts - 1, 20));
      const delay = typeof hint === 'number' ? Math.max(backoff, hint) : backoff;
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn(`${this.what} not done yet; will retry`, {
        ...this.describe(row),
        attempt: row.attempts,
        retryInMs: delay,
        error: message,
      });
      await this.store.retryLater(row, delay, message).catch(() => undefined);
      await Promise.resolve(this.onFailed(row, message)).catch(() => undefined);
      return false;
    }
  }

  private async loop(): Promise<void> {
    let idleMs = 0;
    while (!this.stopped) {
      this.nudged = false;
      let r = { claimed: 0, failed: 0 };
      try {
        r = await this.round();
      } catch (err) {
        // PostgreSQL itself is away: nothing was claimed; look again after a pause.
        this.log.warn(`${this.what} relay could not read its backlog`, { error: err instanceof Error ? err.message : String(err) });
        r = { claimed: 0, failed: 1 };
      }
      // A full round without failures: more may be waiting. Failures: back off (the rows have
      // their own retry times). Otherwise sleep until nudged or polled.
      if (r.claimed === this.o.batch && r.failed === 0) {
        idleMs = 0;
        continue;
      }
      idleMs = r.failed ? Math.min(this.o.retryMaxMs, Math.max(this.o.retryMinMs, idleMs * 2)) : this.o.pollMs;
      if (this.stopped) break;
      if (this.nudged && !r.failed) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, idleMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}
