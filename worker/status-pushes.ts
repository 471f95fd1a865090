/**
 * The worker's status-push relay: sends the channel status pushes that order workflows queue
 * with each recorded status (db/status-pushes-repo.ts), so an order's history holds no activity
 * per push. Every worker process runs one; leases share the backlog between them. Pushes of one
 * order go out in seq order; a channel that refuses a push (4xx, or no secret configured) is
 * logged and the push dropped, as the push activity did; anything else is retried with backoff.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Sql } from '../db/client';
import { StatusPushesRepo, type PendingPush } from '../db/status-pushes-repo';
import type { StatusPushInput } from '../activities/channels/adapters';
import type { StatusPusher } from '../activities/channels/channel-activities';
import type { Logger } from '../lib/logger';
import { OutboxRelay, type RelayOptions } from '../lib/outbox-relay';

export const DEFAULT_PUSH_RELAY: RelayOptions = {
  batch: 100,
  concurrency: 16,
  pollMs: 1000,
  // One push per order at a time (only an order's oldest row is claimed), each call cut at the
  // channel's timeout: an attempt takes seconds. A worker killed mid-push holds the order's pushes
  // back until its lease runs out, so the lease is short.
  leaseMs: 60_000,
  retryMinMs: 500,
  retryMaxMs: 30_000,
  attemptTimeoutMs: 45_000,
};

export class StatusPushRelay extends OutboxRelay<PendingPush> {
  readonly counts = { pushed: 0, stale: 0, refused: 0, failed: 0 };

  constructor(
    private readonly deps: { sql: Sql; logger: Logger; push: StatusPusher },
    options: Partial<RelayOptions> = {},
  ) {
    super(new StatusPushesRepo(deps.sql), { ...DEFAULT_PUSH_RELAY, ...options }, deps.logger, 'status push');
  }

  protected async handle(row: PendingPush, timeoutMs: number): Promise<void> {
    const input = row.input as StatusPushInput;
    try {
      const outcome = await this.deps.push(input, { signal: AbortSignal.any([this.stopSignal, AbortSignal.timeout(timeoutMs)]) });
      this.counts[outcome === 'stale' ? 'stale' : 'pushed']++;
    } catch (err) {
      if (!(err instanceof ApplicationFailure) || !err.nonRetryable) throw err;
      this.counts.refused++;
      this.deps.logger.warn('channel refused a status push', {
        orderId: row.orderId,
        status: input.status,
        seq: row.seq,
        error: err.message,
      });
    }
  }

  protected describe(row: PendingPush): Record<string, unknown> {
    return { orderId: row.orderId, seq: row.seq, channel: row.channel };
  }

  protected onFailed(): void {
    this.counts.failed++;
  }
}
