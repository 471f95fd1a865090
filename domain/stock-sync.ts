/**
 * Stock sync to sales channels: settings and the pure part of a push (what to send, what to
 * skip). The I/O lives in activities/channels/stock-sync-activities.ts and db/stock-sync-repo.ts.
 */
import type { Channel } from './order';

export interface StockSyncSettings {
  /**
   * Channels that hold stock listings. POS is left out by default: a till sells what is on the
   * shop's shelf and asks the OMS at sale time; it keeps no listing to update.
   */
  channels: Channel[];
  /** Least time between two pushes to one channel (its rate limit), per channel with a `default`. */
  intervalMs: Record<string, number>;
  /** Most SKUs in one push. */
  batchSize: number;
  /** How long one sync activity waits for a change before it hands back to its workflow. */
  waitMs: number;
  /** How often a waiting sync activity looks for changes. */
  pollMs: number;
}

/**
 * Every channel as a value, for the configuration to check names against without loading
 * domain/order.ts (its schemas must be built after @hono/zod-openapi has extended zod, and the
 * configuration is loaded first). The Record type keeps this list equal to `Channel`.
 */
const ALL_CHANNELS: Record<Channel, true> = { web: true, pos: true, shopify: true, shopee: true, lazada: true, tiktok: true };
export const CHANNEL_NAMES = Object.keys(ALL_CHANNELS) as Channel[];

export const DEFAULT_STOCK_SYNC: StockSyncSettings = {
  channels: ['web', 'shopify', 'shopee', 'lazada', 'tiktok'],
  intervalMs: { default: 1000 },
  // Lazada and Shopee take at most 50 SKUs per stock update call.
  batchSize: 50,
  waitMs: 60_000,
  pollMs: 250,
};

export function intervalFor(settings: Pick<StockSyncSettings, 'intervalMs'>, channel: string): number {
  return settings.intervalMs[channel] ?? settings.intervalMs.default ?? DEFAULT_STOCK_SYNC.intervalMs.default!;
}

/** A SKU waiting to be pushed to one channel: its level now and what the channel was last told. */
export interface PendingLevel {
  sku: string;
  available: number;
  /** null: the channel was never told about this SKU. */
  lastPushed: number | null;
  /** Outbox rows this level answers; they are deleted once it is pushed. */
  ids: string[];
}

export interface StockLevel {
  sku: string;
  available: number;
}

/**
 * What one push sends: every pending level the channel does not already show. A SKU reserved and
 * released again between two pushes is back where it was, and is not pushed at all.
 */
export function planStockPush(levels: readonly PendingLevel[]): { items: StockLevel[]; skipped: number } {
  const items = levels.filter((l) => l.available !== l.lastPushed).map((l) => ({ sku: l.sku, available: l.available }));
  return { items, skipped: levels.length - items.length };
}

/**
 * Retry-After as milliseconds (delta-seconds or an HTTP date), capped; undefined when absent or
 * unreadable, so the retry policy's own backoff applies.
 */
export function retryAfterMs(header: string | null | undefined, now: number, capMs = 60_000): number | undefined {
  if (!header) return undefined;
  const v = header.trim();
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, capMs);
  // An HTTP-date is always in GMT ("Sat, 21 Nov 2026 10:00:05 GMT").
  const at = /GMT$/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - now, 0), capMs);
}
