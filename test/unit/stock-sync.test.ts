import { describe, expect, it } from 'vitest';
import { stockPushKey } from '../../activities/channels/stock-sync-activities';
import { DEFAULT_STOCK_SYNC, intervalFor, planStockPush, retryAfterMs, type PendingLevel } from '../../domain/stock-sync';
import { ConfigError, loadConfig } from '../../lib/config';

const level = (sku: string, available: number, lastPushed: number | null, ids: string[]): PendingLevel => ({
  sku,
  available,
  lastPushed,
  ids,
});

describe('planStockPush', () => {
  it('sends every level the channel does not show yet and skips the ones it does', () => {
    const plan = planStockPush([level('A', 5, 7, ['1', '4']), level('B', 3, 3, ['2']), level('C', 0, null, ['3'])]);
    expect(plan.items).toEqual([
      { sku: 'A', available: 5 },
      { sku: 'C', available: 0 },
    ]);
    expect(plan.skipped).toBe(1);
  });

  it('sends nothing when every level is already shown', () => {
    expect(planStockPush([level('A', 2, 2, ['9'])])).toEqual({ items: [], skipped: 1 });
    expect(planStockPush([])).toEqual({ items: [], skipped: 0 });
  });
});

describe('stockPushKey', () => {
  const levels = [level('A', 5, 7, ['1', '4']), level('B', 3, null, ['2'])];
  const items = planStockPush(levels).items;

  it('is the same for a retry of the same push, whatever the order rows were read in', () => {
    expect(stockPushKey('shopee', levels, items)).toBe(stockPushKey('shopee', [...levels].reverse(), items));
    expect(stockPushKey('shopee', levels, items)).toMatch(/^stock-shopee-[0-9a-f]{32}$/);
  });

  it('differs for a newer change, a different level, or another channel', () => {
    const base = stockPushKey('shopee', levels, items);
    // The level went 5 → 4 → 5: same value, but newer outbox rows, so the channel must get it again.
    const newer = [level('A', 5, 7, ['1', '4', '11']), levels[1]!];
    expect(stockPushKey('shopee', newer, planStockPush(newer).items)).not.toBe(base);
    expect(
      stockPushKey('shopee', levels, [
        { sku: 'A', available: 6 },
        { sku: 'B', available: 3 },
      ]),
    ).not.toBe(base);
    expect(stockPushKey('lazada', levels, items)).not.toBe(base);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-11-21T10:00:00Z');
  it('reads seconds and HTTP dates, capped', () => {
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('Sat, 21 Nov 2026 10:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Sat, 21 Nov 2026 09:59:00 GMT', now)).toBe(0);
    expect(retryAfterMs('3600', now)).toBe(60_000);
  });
  it('leaves the backoff to the retry policy when absent or unreadable', () => {
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-1', now)).toBeUndefined();
  });
});

describe('stock sync configuration', () => {
  it('defaults: marketplaces, shopify and web (not pos), 1 s apart, 50 SKUs a push', () => {
    const c = loadConfig({});
    expect(c.stockSync.channels).toEqual(['web', 'shopify', 'shopee', 'lazada', 'tiktok']);
    expect(c.stockSync.batchSize).toBe(50);
    expect(intervalFor(c.stockSync, 'lazada')).toBe(1000);
  });

  it('takes a channel list, none, one interval or one per channel', () => {
    expect(loadConfig({ OMS_STOCK_SYNC_CHANNELS: 'shopee, pos,shopee' }).stockSync.channels).toEqual(['shopee', 'pos']);
    expect(loadConfig({ OMS_STOCK_SYNC_CHANNELS: 'none' }).stockSync.channels).toEqual([]);
    expect(intervalFor(loadConfig({ OMS_STOCK_SYNC_INTERVAL: '2s' }).stockSync, 'web')).toBe(2000);
    const per = loadConfig({ OMS_STOCK_SYNC_INTERVAL: 'default=500ms,shopee=1m', OMS_STOCK_SYNC_BATCH: '20' }).stockSync;
    expect([intervalFor(per, 'shopee'), intervalFor(per, 'tiktok'), per.batchSize]).toEqual([60_000, 500, 20]);
  });

  it('refuses unknown channels, bad durations and batch sizes, naming the variable', () => {
    expect(() => loadConfig({ OMS_STOCK_SYNC_CHANNELS: 'web,ebay' })).toThrow(
      new ConfigError(
        'invalid OMS_STOCK_SYNC_CHANNELS: unknown channel "ebay" (known: web, pos, shopify, shopee, lazada, tiktok; or none)',
      ),
    );
    expect(() => loadConfig({ OMS_STOCK_SYNC_INTERVAL: 'ebay=1s' })).toThrow(/^invalid OMS_STOCK_SYNC_INTERVAL: entry "ebay=1s"/);
    expect(() => loadConfig({ OMS_STOCK_SYNC_INTERVAL: 'fast' })).toThrow(/^invalid OMS_STOCK_SYNC_INTERVAL/);
    expect(() => loadConfig({ OMS_STOCK_SYNC_INTERVAL: '0s' })).toThrow(/^invalid OMS_STOCK_SYNC_INTERVAL/);
    expect(() => loadConfig({ OMS_STOCK_SYNC_BATCH: '0' })).toThrow(/^invalid OMS_STOCK_SYNC_BATCH/);
  });

  it('keeps the default interval when only some channels are given', () => {
    const s = loadConfig({ OMS_STOCK_SYNC_INTERVAL: 'shopee=3s' }).stockSync;
    expect([intervalFor(s, 'shopee'), intervalFor(s, 'web')]).toEqual([3000, DEFAULT_STOCK_SYNC.intervalMs.default]);
  });
});
