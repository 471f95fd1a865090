/**
 * How an order (or a channel's notification) gets its workflow without the request waiting on
 * Temporal. The request writes the intake row and a `workflow_starts` row in one PostgreSQL
 * transaction and answers; a relay in each API process starts the workflows from there — at once
 * when nudged, in batches with bounded concurrency, retried with backoff while Temporal is down or
 * backlogged, one row per relay at a time (leases). None is lost (the row stays until the start
 * is acknowledged) and none starts twice (the workflow id is the order's; a second start finds it).
 */
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Sql } from '../db/client';
import { WorkflowStartsRepo, type BacklogStats, type PendingStart } from '../db/workflow-starts-repo';
import { fromMinor } from '../domain/money';
import type { CanonicalOrder } from '../domain/order';
import { computeTotalMinor } from '../domain/validate';
import type { Logger } from '../lib/logger';
import type { ChannelIntakeInput, channelIntakeWorkflow } from '../workflows/channel-intake';
import type { OrderWorkflowInput, orderWorkflow } from '../workflows/order';
import {
  ChannelKey,
  CustomerIdKey,
  EscalationLevelKey,
  NeedsAttentionKey,
  OrderStatusKey,
  OrderTotalKey,
} from '../workflows/search-attributes';

/** The one-line summary shown in the Temporal Web UI's workflow list. */
export function summaryOf(order: CanonicalOrder, total: string): string {
  const lines = order.lines.map((l) => `${l.quantity}× ${l.sku}`).join(', ');
  return `${order.channel} #${order.channelOrderId} · customer ${order.customer.id} · ${lines} · ${total} ${order.currency} · ${order.payment.method === 'cod' ? 'COD' : 'prepaid'}`.slice(
    0,
    400,
  );
}

/** Starts the workflow a row asks for; `already` when it runs (or ran) under that id. */
export async function startFromRow(
  client: Client,
  row: Pick<PendingStart, 'workflowId' | 'kind' | 'taskQueue' | 'input'>,
): Promise<'started' | 'already'> {
  try {
    if (row.kind === 'order') {
      const input = row.input as OrderWorkflowInput;
      const total = fromMinor(Math.max(computeTotalMinor(input.order), 0));
      await client.workflow.start<typeof orderWorkflow>('orderWorkflow', {
        taskQueue: row.taskQueue,
        workflowId: row.workflowId,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        staticSummary: summaryOf(input.order, total),
        typedSearchAttributes: [
          { key: OrderStatusKey, value: 'RECEIVED' },
          { key: ChannelKey, value: input.order.channel },
          { key: CustomerIdKey, value: input.order.customer.id },
          { key: NeedsAttentionKey, value: false },
          { key: EscalationLevelKey, value: 0 },
          { key: OrderTotalKey, value: Number(total) },
        ],
      });
    } else {
      const input = row.input as ChannelIntakeInput;
      await client.workflow.start<typeof channelIntakeWorkflow>('channelIntakeWorkflow', {
        taskQueue: row.taskQueue,
        workflowId: row.workflowId,
        args: [input],
        // A running intake absorbs the notification; a finished one that did not take the order
        // in (it was unpaid when pulled) may run again for a later status.
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `${input.channel} #${input.channelOrderId} · notified ${input.notifiedStatus}`,
        typedSearchAttributes: [{ key: ChannelKey, value: input.channel }],
      });
    }
    return 'started';
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return 'already';
    throw err;
  }
}

export interface RelayOptions {
  /** Rows claimed per round. */
  batch: number;
  /** Starts in flight at once: what one relay asks of Temporal at most. */
  concurrency: number;
  /** How often a relay looks for rows when nobody nudged it (other processes' rows, retries). */
  pollMs: number;
  /** A claimed row's lease: longer than a start call can take. */
  leaseMs: number;
  /** Backoff of a row whose start failed: doubles per attempt from `retryMinMs` up to `retryMaxMs`. */
  retryMinMs: number;
  retryMaxMs: number;
  /** A start call's deadline (retries inside the client included): shorter than the lease. */
  startTimeoutMs: number;
}

export const DEFAULT_RELAY: RelayOptions = {
  batch: 100,
  concurrency: 16,
  pollMs: 1000,
  leaseMs: 30_000,
  retryMinMs: 250,
  retryMaxMs: 30_000,
  startTimeoutMs: 10_000,
};

export interface RelayCounts {
  /** Start calls that Temporal accepted (with USE_EXISTING, also a call that found the workflow running). */
  started: number;
  /** Start calls that found the workflow closed already (it had run). */
  alreadyStarted: number;
  failed: number;
}

export class WorkflowStartRelay {
  private readonly repo: WorkflowStartsRepo;
  private readonly o: RelayOptions;
  private running: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private nudged = false;
  /** What this relay did, for metrics and tests. */
  readonly counts: RelayCounts = { started: 0, alreadyStarted: 0, failed: 0 };

  constructor(
    private readonly deps: { sql: Sql; client: Client; logger: Logger },
    options: Partial<RelayOptions> = {},
  ) {
    this.repo = new WorkflowStartsRepo(deps.sql);
    this.o = { ...DEFAULT_RELAY, ...options };
  }

  /** Runs the relay's loop (again after a stop, once that stop has finished). */
  start(): void {
    if (this.stopping) {
      void this.stopping.then(() => this.start());
      return;
    }
    this.stopped = false;
    this.running ??= this.loop();
  }

  /** Something was just written: look now rather than at the next poll. */
  nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  /** Stops after the starts in flight; rows claimed but not tried are given back for the next relay. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      this.wake?.();
      await this.running;
      this.running = undefined;
      this.stopping = undefined;
    })();
    return this.stopping;
  }

  /** Whether the workflow was asked for and is not started yet. */
  isPending(workflowId: string): Promise<boolean> {
    return this.repo.isPending(workflowId);
  }

  backlog(): Promise<BacklogStats> {
    return this.repo.stats();
  }

  /**
   * Makes sure a workflow asked for is running before a command is sent to it: starts it here if
   * no relay holds it, or waits (up to `timeoutMs`) for the relay that does. False if it is still
   * pending after that (Temporal unreachable): the caller answers "try again".
   */
  async ensureStarted(workflowId: string, timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (await this.repo.isPending(workflowId)) {
      const [row] = await this.repo.claim(1, this.o.leaseMs, workflowId);
      if (row && (await this.startOne(row, Math.max(deadline - Date.now(), 100)))) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  /**
   * One round: claims due rows and starts them, `concurrency` at a time. After a failure the
   * round stops trying (Temporal is struggling; each row has its retry time) and, like a stop,
   * gives back the rows it had not tried. Returns how many rows it claimed and how many failed.
   */
  async round(): Promise<{ claimed: number; failed: number }> {
    const rows = await this.repo.claim(this.o.batch, this.o.leaseMs);
    let failed = 0;
    let next = 0;
    const lane = async () => {
      while (next < rows.length && !this.stopped && failed === 0) {
        const row = rows[next++]!;
        if (!(await this.startOne(row))) failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, rows.length) }, lane));
    if (next < rows.length) await this.repo.release(rows.slice(next)).catch(() => undefined);
    return { claimed: rows.length, failed };
  }

  /** True when the row's workflow runs now (or another relay holds the row); false when this attempt failed. */
  private async startOne(row: PendingStart, timeoutMs = this.o.startTimeoutMs): Promise<boolean> {
    // The lease starts again for this attempt: a row that waited behind others in its batch keeps it.
    if (!(await this.repo.renew(row, this.o.leaseMs))) return true;
    try {
      const outcome = await this.deps.client.withDeadline(Date.now() + Math.min(timeoutMs, this.o.startTimeoutMs), () =>
        startFromRow(this.deps.client, row),
      );
      if (outcome === 'started') this.counts.started++;
      else this.counts.alreadyStarted++;
      await this.repo.done(row);
      return true;
    } catch (err) {
      this.counts.failed++;
      const delay = Math.min(this.o.retryMaxMs, this.o.retryMinMs * 2 ** Math.min(row.attempts - 1, 20));
      const message = err instanceof Error ? err.message : String(err);
      // The workflow id and the error only: the order's contents stay out of the logs.
      this.deps.logger.warn('workflow not started yet; will retry', {
        workflowId: row.workflowId,
        kind: row.kind,
        attempt: row.attempts,
        retryInMs: delay,
        error: message,
      });
      await this.repo.retryLater(row, delay, message).catch(() => undefined);
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
        this.deps.logger.warn('workflow start relay could not read its backlog', {
          error: err instanceof Error ? err.message : String(err),
        });
        r = { claimed: 0, failed: 1 };
      }
      // A full round without failures: more may be waiting. Failures: back off (Temporal is
      // struggling; the rows have their own retry times). Otherwise sleep until nudged or polled.
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
