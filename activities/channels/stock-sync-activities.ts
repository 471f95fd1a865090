/**
 * One round of stock sync for one channel: wait (briefly, heartbeating) for a stock change,
 * read the levels of up to a batch of changed SKUs as they are *now*, push them in one request,
 * then acknowledge exactly the changes that push covered. Run by `stockSyncWorkflow`, which
 * spaces rounds by the channel's interval.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { StockSyncRepo } from '../../db/stock-sync-repo';
import type { Sql } from '../../db/client';
import {
  intervalFor,
  planStockPush,
  retryAfterMs,
  type PendingLevel,
  type StockLevel,
  type StockSyncSettings,
} from '../../domain/stock-sync';
import type { Logger } from '../../lib/logger';
import { beginOutboundCall, systemFor, TransientHttpError, type OutsideSystem } from '../http';

export interface StockSyncRound {
  /** The channel is not (or no longer) synced by this deployment: the workflow ends. */
  disabled?: boolean;
  /** SKUs sent in this round's push (0: no push was made). */
  pushed: number;
  /** SKUs whose level the channel already showed. */
  skipped: number;
  /** SKUs the channel refused (a 4xx that retrying cannot fix); logged, not retried. */
  refused: number;
  /** Least wait before the next push to this channel. */
  intervalMs: number;
}

export interface StockSyncDeps {
  sql: Sql;
  logger: Logger;
  systems: { channels: Record<string, OutsideSystem> };
  /** Absent: stock sync is off in this worker. */
  stockSync?: StockSyncSettings | undefined;
  /** Aborted when the worker is about to shut down: a waiting round hands back at once. */
  shutdown?: AbortSignal | undefined;
}

/** Idempotency key of one push: the same outbox rows and levels give the same key, anything newer another. */
export function stockPushKey(channel: string, levels: readonly PendingLevel[], items: readonly StockLevel[]): string {
  const h = createHash('sha256');
  h.update(channel);
  for (const l of [...levels].sort((a, b) => a.sku.localeCompare(b.sku))) h.update(`\u0000${l.sku}\u0000${l.ids.join(',')}`);
  for (const i of items) h.update(`\u0001${i.sku}=${i.available}`);
  return `stock-${channel}-${h.digest('hex').slice(0, 32)}`;
}

type PushOutcome = { ok: true } | { ok: false; refused: string };

/**
 * Sends stock levels to a channel. This is the one place that knows the channel's stock API
 * (today the sandbox's `{items: [{sku, available}]}`; the channel adapters' `stockUpdateBody`
 * will slot in here). 429 and 5xx are retried by Temporal — after Retry-After when the channel
 * gives one; 401/403 too (a fixed credential resumes the sync); any other 4xx is a refusal.
 */
export async function pushStockLevels(system: OutsideSystem, items: readonly StockLevel[], idempotencyKey: string): Promise<PushOutcome> {
  const path = '/v1/stock';
  // Heartbeats while waiting and aborts when the activity is cancelled (activities/http.ts).
  const call = beginOutboundCall(system.timeoutMs ?? 10_000);
  let res: Response;
  let text: string;
  try {
    res = await fetch(system.baseUrl + path, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${system.apiKey}`,
        'Content-Type': 'application/json',
        Accept: 'application/json',
        'Idempotency-Key': idempotencyKey,
      },
      body: JSON.stringify({ items }),
      signal: call.signal,
    });
    text = await res.text();
  } catch (err) {
    const failure = call.failure(err, path);
    if (failure instanceof TransientHttpError) throw ApplicationFailure.retryable(failure.message, 'ChannelUnavailable');
    throw failure;
  } finally {
    call.done();
  }
  if (res.ok) return { ok: true };
  let code = `http_${res.status}`;
  try {
    code = (JSON.parse(text) as { error?: string }).error ?? code;
  } catch {
    /* not JSON: keep the status */
  }
  if (res.status === 429 || res.status === 503) {
    const delay = retryAfterMs(res.headers.get('Retry-After'), Date.now());
    throw ApplicationFailure.create({
      message: `${path}: ${res.status} ${code}`,
      type: res.status === 429 ? 'ChannelRateLimited' : 'ChannelUnavailable',
      ...(delay !== undefined && delay > 0 ? { nextRetryDelay: delay } : {}),
    });
  }
  if (res.status >= 500 || res.status === 408 || res.status === 401 || res.status === 403) {
    throw ApplicationFailure.retryable(`${path}: ${res.status} ${code}`, 'ChannelUnavailable');
  }
  return { ok: false, refused: `${res.status} ${code}` };
}

function heartbeat(): void {
  try {
    Context.current().heartbeat();
  } catch {
    /* outside an activity (direct calls in tests) */
  }
}

function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

export function createStockSyncActivities(deps: StockSyncDeps) {
  const repo = new StockSyncRepo(deps.sql);

  /** True once the channel has a change waiting; false when the wait ran out or the worker stops. */
  async function waitForChange(channel: string, s: StockSyncSettings): Promise<boolean> {
    const signals = [deps.shutdown, activitySignal()].filter((x): x is AbortSignal => x !== undefined);
    const stop = signals.length ? AbortSignal.any(signals) : undefined;
    const deadline = Date.now() + s.waitMs;
    for (;;) {
      if (await repo.hasPending(channel)) return true;
      if (stop?.aborted || Date.now() >= deadline) return false;
      heartbeat();
      try {
        await sleep(Math.min(s.pollMs, Math.max(deadline - Date.now(), 0)), undefined, stop ? { signal: stop } : {});
      } catch {
        return false;
      }
    }
  }

  return {
    async syncStockRound(input: { channel: string }): Promise<StockSyncRound> {
      const s = deps.stockSync;
      if (!s || !(s.channels as string[]).includes(input.channel))
        return { disabled: true, pushed: 0, skipped: 0, refused: 0, intervalMs: 0 };
      const intervalMs = intervalFor(s, input.channel);
      if (!(await waitForChange(input.channel, s))) return { pushed: 0, skipped: 0, refused: 0, intervalMs };

      const round = await repo.withChannelLock(
        input.channel,
        async () => {
          const levels = await repo.pending(input.channel, s.batchSize);
          const { items, skipped } = planStockPush(levels);
          if (items.length === 0) {
            await repo.acknowledge(input.channel, levels, []);
            return { pushed: 0, skipped, refused: 0 };
          }
          heartbeat();
          const outcome = await pushStockLevels(
            systemFor(deps.systems.channels, 'channel', input.channel),
            items,
            stockPushKey(input.channel, levels, items),
          );
          if (!outcome.ok) {
            // Retrying the same values cannot succeed; the SKUs are pushed again at their next change.
            deps.logger.warn('channel refused a stock push', { channel: input.channel, skus: items.length, reason: outcome.refused });
            await repo.acknowledge(input.channel, levels, []);
            return { pushed: 0, skipped, refused: items.length };
          }
          await repo.acknowledge(input.channel, levels, items);
          return { pushed: items.length, skipped, refused: 0 };
          // The push is aborted at its timeout, well inside the lease.
        },
        (systemFor(deps.systems.channels, 'channel', input.channel).timeoutMs ?? 10_000) + 30_000,
      );
      if (!round.locked) throw ApplicationFailure.retryable(`another stock push to ${input.channel} is in flight`, 'StockSyncBusy');
      return { ...round.value, intervalMs };
    },
  };
}

export type StockSyncActivities = ReturnType<typeof createStockSyncActivities>;
