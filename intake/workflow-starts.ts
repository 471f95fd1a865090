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
import { OutboxRelay, type RelayOptions } from '../lib/outbox-relay';
import type { ChannelIntakeInput, channelIntakeWorkflow } from '../workflows/channel-intake';
import type { OrderWorkflowInput, orderWorkflowV5 } from '../workflows/order';
import { ORDER_WORKFLOW_TYPE } from '../workflows/types';
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
  orderWorkflowType: string = ORDER_WORKFLOW_TYPE,
): Promise<'started' | 'already'> {
  try {
    if (row.kind === 'order') {
      const input = row.input as OrderWorkflowInput;
      const total = fromMinor(Math.max(computeTotalMinor(input.order), 0));
      await client.workflow.start<typeof orderWorkflowV5>(orderWorkflowType, {
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

export type { RelayOptions };

export interface StartRelayOptions extends RelayOptions {
  /** An order whose workflow is still not started this long after intake is flagged for ops (needs attention). */
  flagAfterMs: number;
  /**
   * The workflow type orders start as (default: the newest, `ORDER_WORKFLOW_TYPE`). An older
   * version keeps new orders on it while workers that know the newest roll out, and lets tests
   * drive orders as those in flight from before run.
   */
  orderWorkflowType?: string | undefined;
}

export const DEFAULT_RELAY: StartRelayOptions = {
  flagAfterMs: 5 * 60_000,
  batch: 100,
  concurrency: 16,
  pollMs: 1000,
  leaseMs: 30_000,
  retryMinMs: 250,
  retryMaxMs: 30_000,
  // A start call's deadline (retries inside the client included): shorter than the lease.
  attemptTimeoutMs: 10_000,
};

export interface RelayCounts {
  /** Start calls that Temporal accepted (with USE_EXISTING, also a call that found the workflow running). */
  started: number;
  /** Start calls that found the workflow closed already (it had run). */
  alreadyStarted: number;
  failed: number;
}

export class WorkflowStartRelay extends OutboxRelay<PendingStart> {
  private readonly repo: WorkflowStartsRepo;
  /** What this relay did, for metrics and tests. */
  readonly counts: RelayCounts = { started: 0, alreadyStarted: 0, failed: 0 };

  private readonly flagAfterMs: number;
  private readonly orderWorkflowType: string;

  constructor(
    private readonly deps: { sql: Sql; client: Client; logger: Logger },
    options: Partial<StartRelayOptions> = {},
  ) {
    const repo = new WorkflowStartsRepo(deps.sql);
    const o = { ...DEFAULT_RELAY, ...options };
    super(repo, o, deps.logger, 'workflow start');
    this.repo = repo;
    this.flagAfterMs = o.flagAfterMs;
    this.orderWorkflowType = o.orderWorkflowType ?? ORDER_WORKFLOW_TYPE;
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
      if (row && (await this.attempt(row, Math.max(deadline - Date.now(), 100)))) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  protected async handle(row: PendingStart, timeoutMs: number): Promise<void> {
    const outcome = await this.deps.client.withDeadline(Date.now() + timeoutMs, () =>
      startFromRow(this.deps.client, row, this.orderWorkflowType),
    );
    if (outcome === 'started') this.counts.started++;
    else this.counts.alreadyStarted++;
  }

  // The workflow id and its kind only: the order's contents stay out of the logs.
  protected describe(row: PendingStart): Record<string, unknown> {
    return { workflowId: row.workflowId, kind: row.kind };
  }

  /**
   * An order still not started long after it was accepted is not left to the metrics alone: it is
   * flagged, with the reason, in the needs-attention list ops watch. Its workflow's first step
   * clears the flag (the projection then follows the workflow).
   */
  protected async onFailed(row: PendingStart, error: string): Promise<void> {
    this.counts.failed++;
    const waited = Date.now() - row.createdAt.getTime();
    if (row.kind !== 'order' || waited < this.flagAfterMs) return;
    const reason = `accepted ${Math.round(waited / 1000)} s ago and its workflow is not started yet: the workflow service does not take it (${row.attempts} attempts; last: ${error.slice(0, 200)}); it starts by itself once the service answers`;
    await this.deps.sql`update orders set needs_attention = true, attention_reason = ${reason}, updated_at = now()
      where order_id = ${row.workflowId} and seq = 0`;
  }
}
