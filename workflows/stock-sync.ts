/**
 * Keeps one sales channel's stock levels in step with the OMS, for as long as the deployment
 * runs: one long-lived workflow per channel (`stock-sync-<taskQueue>-<channel>`). Each round is
 * one activity that waits for a stock change, pushes the current levels of up to a batch of
 * changed SKUs and acknowledges them; after a push the workflow sleeps the channel's interval on
 * a durable timer. So a channel gets at most one push per interval however busy a sale is — the
 * changes in between collapse into the latest level — and a restarted worker keeps the pace.
 */
import { ActivityFailure, continueAsNew, defineQuery, log, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { routed } from './profiles';
import type { Activities } from '../activities';

export interface StockSyncInput {
  channel: string;
  /** Carried across continue-as-new so the status query counts the workflow's whole life. */
  totals?: { pushes: number; skus: number };
}

export interface StockSyncStatus {
  channel: string;
  /** Requests sent to the channel (pushes and refusals). */
  pushes: number;
  skus: number;
  lastPushAt: string | null;
  intervalMs: number;
}

export const stockSyncStatusQuery = defineQuery<StockSyncStatus>('stockSyncStatus');

/** Rounds per run before continue-as-new keeps the history short (a round is ~10 events). */
const ROUNDS_PER_RUN = 500;

const channel = routed<Activities>({
  // A round waits up to a minute for a change (heartbeating), then pushes once.
  startToCloseTimeout: '3m',
  heartbeatTimeout: '30s',
  // A channel outage or rate limit is waited out, never given up on; 429's Retry-After wins.
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

export async function stockSyncWorkflow(input: StockSyncInput): Promise<void> {
  const status: StockSyncStatus = {
    channel: input.channel,
    pushes: input.totals?.pushes ?? 0,
    skus: input.totals?.skus ?? 0,
    lastPushAt: null,
    intervalMs: 0,
  };
  setHandler(stockSyncStatusQuery, () => status);
  for (let round = 0; round < ROUNDS_PER_RUN && !workflowInfo().continueAsNewSuggested; round++) {
    let r;
    try {
      r = await channel.syncStockRound({ channel: input.channel });
    } catch (err) {
      // Only a non-retryable failure gets here (transient ones are retried without limit): the
      // channel must not lose its sync over it. Wait one interval and go on with the next round.
      if (!(err instanceof ActivityFailure)) throw err;
      log.warn('stock sync round failed', { channel: input.channel, error: err.cause?.message ?? err.message });
      await sleep(status.intervalMs || 60_000);
      continue;
    }
    if (r.disabled) return;
    if (r.pushed + r.refused === 0) continue;
    status.pushes += 1;
    status.skus += r.pushed;
    status.lastPushAt = new Date().toISOString();
    status.intervalMs = r.intervalMs;
    await sleep(r.intervalMs);
  }
  await continueAsNew<typeof stockSyncWorkflow>({ channel: input.channel, totals: { pushes: status.pushes, skus: status.skus } });
}
