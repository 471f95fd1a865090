/**
 * Stock sync to channels, against the real stack: triggers fill the outbox, one workflow per
 * channel pushes over HTTP to the sandbox channels, spaced by the channel's interval.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStockSyncActivities } from '../../activities/channels/stock-sync-activities';
import { InventoryRepo } from '../../db/inventory-repo';
import { StockSyncRepo } from '../../db/stock-sync-repo';
import { DEFAULT_STOCK_SYNC } from '../../domain/stock-sync';
import { stockSyncStatusQuery } from '../../workflows/stock-sync';
import { stockSyncWorkflowId } from '../../worker/stock-sync';
import { eventually, seedNetwork } from '../support/fixtures';
import { memoryLogger, startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

const SYNCED = ['web', 'shopify', 'shopee', 'lazada', 'tiktok'] as const;
/** Interval per channel in this file: shopee is slower, to show the limit is per channel. */
const INTERVAL: Record<string, number> = { default: 500, shopee: 1000 };
const intervalOf = (ch: string) => INTERVAL[ch] ?? INTERVAL.default!;
const BATCH = 4;

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
    stockSync: { channels: [...SYNCED], intervalMs: INTERVAL, batchSize: BATCH, pollMs: 50, waitMs: 5000 },
  });
});
afterAll(async () => {
  await stack?.close();
});

interface StockPush {
  channel: string;
  items: { sku: string; available: number }[];
  at: string;
}

async function sandbox<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(
    stack.sandboxUrl + path,
    body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
  );
  expect(res.ok).toBe(true);
  return (await res.json()) as T;
}

/** Every stock push the channel received, in arrival order. */
const pushesTo = async (channel: string) => (await sandbox<{ stock: StockPush[] }>(`/sandbox/ledger/channels?channel=${channel}`)).stock;

/** The levels of `sku` the channel was sent, in arrival order. */
async function levelsSent(channel: string, sku: string): Promise<number[]> {
  return (await pushesTo(channel)).flatMap((p) => p.items.filter((i) => i.sku === sku).map((i) => i.available));
}

/** ATP as the inventory API reports it (sum over warehouses). */
async function trueAtp(sku: string): Promise<number> {
  const res = await stack.api(`/v1/inventory/${sku}`, { key: TEST_KEYS.cs });
  expect(res.status).toBe(200);
  return ((await res.json()) as { atp: number }).atp;
}

/** Waits until every synced channel's latest level of `sku` is `level` and nothing is queued. */
async function untilEveryChannelShows(sku: string, level: number, timeoutMs = 20_000): Promise<void> {
  await eventually(
    async () => {
      for (const ch of SYNCED) if ((await levelsSent(ch, sku)).at(-1) !== level) return false;
      const [q] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from stock_sync_outbox where sku = ${sku}`;
      return q?.n === 0;
    },
    { timeoutMs, intervalMs: 100, what: `every channel shows ${sku} = ${level}` },
  );
}

const day = '2026-11-21';
const reserveOne = (repo: InventoryRepo, orderId: string, sku: string, warehouseId: string) =>
  repo.reserve(orderId, [{ lineNo: 1, sku, warehouseId, quantity: 1 }], day);

describe('stock sync', () => {
  it('100 reservations on one SKU within a second: a bounded number of pushes per channel, the last one the true level', async () => {
    await seedNetwork(stack.db.sql, { 'SKU-SALE': { 'WH-HCM': 1000, 'WH-HN': 50 } });
    await untilEveryChannelShows('SKU-SALE', 1050);
    const before = Object.fromEntries(
      await Promise.all(SYNCED.map(async (ch) => [ch, (await levelsSent(ch, 'SKU-SALE')).length] as const)),
    );

    const repo = new InventoryRepo(stack.db.sql);
    const t0 = Date.now();
    // 10 waves of 10 concurrent reservations, 100 ms apart: a sale's worth of changes in ~1 s.
    const waves: Promise<unknown>[] = [];
    for (let w = 0; w < 10; w++) {
      waves.push(Promise.all(Array.from({ length: 10 }, (_, i) => reserveOne(repo, `order-sale-${w}-${i}`, 'SKU-SALE', 'WH-HCM'))));
      await new Promise((r) => setTimeout(r, 100));
    }
    await Promise.all(waves);
    const burstMs = Date.now() - t0;

    const final = await trueAtp('SKU-SALE');
    expect(final).toBe(950);
    await untilEveryChannelShows('SKU-SALE', final);

    const figures: Record<string, { pushes: number; bound: number; msAfterStart: number[] }> = {};
    for (const ch of SYNCED) {
      const sent = (await levelsSent(ch, 'SKU-SALE')).slice(before[ch]);
      // One push per interval while the burst lasts, plus the one that finds its last changes.
      const bound = Math.floor(burstMs / intervalOf(ch)) + 2;
      const times = (await pushesTo(ch))
        .filter((p) => p.items.some((i) => i.sku === 'SKU-SALE'))
        .slice(before[ch])
        .map((p) => Date.parse(p.at) - t0);
      figures[ch] = { pushes: sent.length, bound, msAfterStart: times };
      expect(sent.length).toBeGreaterThanOrEqual(1);
      expect(sent.length).toBeLessThanOrEqual(bound);
      expect(sent.at(-1)).toBe(final);
      // Only reservations happened: a channel never sees the level go back up (no older level after a newer one).
      for (let i = 1; i < sent.length; i++) expect(sent[i]!).toBeLessThan(sent[i - 1]!);
    }
    console.info('stock sync burst', JSON.stringify({ burstMs, figures }));
    // POS keeps no listing: it is not synced at all.
    expect(await pushesTo('pos')).toEqual([]);

    const status = await stack.client.workflow.getHandle(stockSyncWorkflowId(stack.taskQueue, 'shopee')).query(stockSyncStatusQuery);
    expect(status).toMatchObject({ channel: 'shopee', intervalMs: 1000 });
    expect(status.pushes).toBeGreaterThanOrEqual(2);
  });

  it('release and restock reach every channel; a commit, which leaves the level as it is, is not pushed again', async () => {
    const repo = new InventoryRepo(stack.db.sql);
    const outboxOf = async (sku: string) =>
      (await stack.db.sql<{ n: number }[]>`select count(*)::int as n from stock_sync_outbox where sku = ${sku}`)[0]?.n;
    // SKU-SALE after the sale: 950 available, 100 reserved.
    await repo.release('order-sale-0-0');
    await repo.release('order-sale-0-1');
    await untilEveryChannelShows('SKU-SALE', 952);
    const before = Object.fromEntries(
      await Promise.all(SYNCED.map(async (ch) => [ch, (await levelsSent(ch, 'SKU-SALE')).length] as const)),
    );
    // Handover: on hand and reserved both drop by 1 — the same level, so nothing to tell.
    expect(await repo.commit('order-sale-1-0', 'WH-HCM')).toBe(1);
    await eventually(async () => (await outboxOf('SKU-SALE')) === 0, { what: 'commit acknowledged' });
    for (const ch of SYNCED) expect((await levelsSent(ch, 'SKU-SALE')).length).toBe(before[ch]);
    expect(
      await repo.restock({ sku: 'SKU-SALE', warehouseId: 'WH-HCM', quantity: 3, ref: 'ret-1:1', reason: 'return', actor: 'test' }),
    ).toEqual({ applied: true });
    expect(await trueAtp('SKU-SALE')).toBe(955);
    await untilEveryChannelShows('SKU-SALE', 955);
  });

  it('a waiting round hands back at once when the worker is about to stop', async () => {
    const shutdown = new AbortController();
    const acts = createStockSyncActivities({
      sql: stack.db.sql,
      logger: memoryLogger(),
      systems: { channels: { pos: { baseUrl: `${stack.sandboxUrl}/channels/pos`, apiKey: 'unused' } } },
      // pos is not registered in this stack: nothing is ever queued for it, so the round waits.
      stockSync: { ...DEFAULT_STOCK_SYNC, channels: ['pos'], waitMs: 30_000, pollMs: 50 },
      shutdown: shutdown.signal,
    });
    const t0 = Date.now();
    const round = acts.syncStockRound({ channel: 'pos' });
    setTimeout(() => shutdown.abort(), 300);
    expect(await round).toEqual({ pushed: 0, skipped: 0, refused: 0, intervalMs: 1000 });
    // Far sooner than the 30 s wait it would otherwise sit out (loose: a busy machine is slow to wake).
    expect(Date.now() - t0).toBeLessThan(10_000);
    // A channel this worker does not sync ends its workflow.
    expect(await acts.syncStockRound({ channel: 'web' })).toMatchObject({ disabled: true });
  });

  it('a manual set through the API reaches every channel', async () => {
    await seedNetwork(stack.db.sql, { 'SKU-MAN': { 'WH-HN': 5, 'WH-DN': 3 } });
    await untilEveryChannelShows('SKU-MAN', 8);
    const res = await stack.api('/v1/inventory/SKU-MAN/WH-HN', {
      method: 'PUT',
      key: TEST_KEYS.admin,
      json: { onHand: 12, safetyStock: 2, reason: 'cycle count' },
    });
    expect(res.status).toBe(200);
    expect(await trueAtp('SKU-MAN')).toBe(13);
    await untilEveryChannelShows('SKU-MAN', 13);
  });

  it('a channel answering 429 and another answering 500 for a while still converge to the final level', async () => {
    await seedNetwork(stack.db.sql, { 'SKU-FLT': { 'WH-HCM': 20 } });
    await untilEveryChannelShows('SKU-FLT', 20);
    await sandbox('/sandbox/faults', { service: 'channels', op: 'stock', match: { channel: 'shopee' }, action: 'error429', times: 3 });
    await sandbox('/sandbox/faults', { service: 'channels', op: 'stock', match: { channel: 'lazada' }, action: 'error500', times: 3 });
    const shopeeBefore = (await levelsSent('shopee', 'SKU-FLT')).length;

    const repo = new InventoryRepo(stack.db.sql);
    for (let i = 0; i < 5; i++) await reserveOne(repo, `order-flt-${i}`, 'SKU-FLT', 'WH-HCM');
    // A healthy channel is not held up by the others' outage.
    await eventually(async () => (await levelsSent('web', 'SKU-FLT')).at(-1) === 15, { timeoutMs: 10_000, what: 'web shows 15' });
    await untilEveryChannelShows('SKU-FLT', 15, 40_000);

    // Every fault was served (the pushes really failed first) and none is left.
    expect((await sandbox<{ faults: unknown[] }>('/sandbox/faults')).faults).toEqual([]);
    // The failed attempts changed nothing: after them shopee got the final level, once.
    expect((await levelsSent('shopee', 'SKU-FLT')).slice(shopeeBefore)).toEqual([15]);
    expect(stack.logs.some((l) => l.includes('channel refused a stock push'))).toBe(false);
  }, 120_000);

  it('a channel never gets an older level after a newer one, however the changes interleave with the pushes', async () => {
    await seedNetwork(stack.db.sql, { 'SKU-SEQ': { 'WH-DN': 100 } });
    await untilEveryChannelShows('SKU-SEQ', 100);
    const before = Object.fromEntries(await Promise.all(SYNCED.map(async (ch) => [ch, (await levelsSent(ch, 'SKU-SEQ')).length] as const)));
    // Distinct levels going up and down, so each pushed value names the change it came from.
    const history = [37, 12, 58, 3, 44, 21, 60, 9, 31, 50, 17, 26, 5, 41, 33, 2, 55, 14, 48, 29];
    for (const [i, onHand] of history.entries()) {
      const res = await stack.api('/v1/inventory/SKU-SEQ/WH-DN', {
        method: 'PUT',
        key: TEST_KEYS.admin,
        json: { onHand, reason: `count ${i}` },
      });
      expect(res.status).toBe(200);
      await new Promise((r) => setTimeout(r, (i * 37) % 90));
    }
    await untilEveryChannelShows('SKU-SEQ', 29);
    for (const ch of SYNCED) {
      const sent = (await levelsSent(ch, 'SKU-SEQ')).slice(before[ch]);
      // What the channel saw is the history with steps left out, never reordered.
      let pos = -1;
      for (const v of sent) {
        const at = history.indexOf(v, pos + 1);
        expect(at, `${ch} got ${v} after ${history[pos]} (sent: ${sent.join(',')})`).toBeGreaterThan(pos);
        pos = at;
      }
      expect(sent.length).toBeLessThan(history.length);
    }
  });

  it('batches: at most the batch size per push, every SKU reaches every channel', async () => {
    const skus = Array.from({ length: 10 }, (_, i) => `SKU-BAT-${i}`);
    await seedNetwork(stack.db.sql, Object.fromEntries(skus.map((s, i) => [s, { 'WH-HN': i + 1 }])));
    for (const [i, s] of skus.entries()) await untilEveryChannelShows(s, i + 1);
    for (const ch of SYNCED) {
      const carrying = (await pushesTo(ch)).filter((p) => p.items.some((x) => skus.includes(x.sku)));
      for (const p of carrying) expect(p.items.length).toBeLessThanOrEqual(BATCH);
      expect(carrying.length).toBeGreaterThanOrEqual(Math.ceil(skus.length / BATCH));
      // Spaced by the channel's interval (the rate limit), measured where the channel received them.
      const times = carrying.map((p) => Date.parse(p.at));
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(intervalOf(ch) - 50);
    }
  });

  it('a warehouse switched off or a product off sale lowers what channels may sell', async () => {
    await seedNetwork(stack.db.sql, { 'SKU-OFF': { 'WH-HN': 4, 'WH-DN': 6 } });
    await untilEveryChannelShows('SKU-OFF', 10);
    const dn = { name: 'WH-DN', city: 'Da Nang', lat: 16.0544, lng: 108.2022, regionsServed: ['central'], dailyCapacity: 100000 };
    expect((await stack.api('/v1/warehouses/WH-DN', { method: 'PUT', key: TEST_KEYS.admin, json: { ...dn, active: false } })).status).toBe(
      200,
    );
    await untilEveryChannelShows('SKU-OFF', 4);
    expect((await stack.api('/v1/warehouses/WH-DN', { method: 'PUT', key: TEST_KEYS.admin, json: { ...dn, active: true } })).status).toBe(
      200,
    );
    await untilEveryChannelShows('SKU-OFF', 10);
    expect(
      (
        await stack.api('/v1/products/SKU-OFF', {
          method: 'PUT',
          key: TEST_KEYS.admin,
          json: { name: 'SKU-OFF', unitPrice: '100000.00', weightGrams: 400, active: false },
        })
      ).status,
    ).toBe(200);
    await untilEveryChannelShows('SKU-OFF', 0);
  });

  it('the channel push lock admits one pusher per channel', async () => {
    // Lock names no workflow of this stack uses, so its own pushes cannot interfere.
    const repo = new StockSyncRepo(stack.db.sql);
    let entered!: () => void;
    let release!: () => void;
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    const held = new Promise<void>((r) => {
      release = r;
    });
    const first = repo.withChannelLock('lock-test-a', () => {
      entered();
      return held.then(() => 'first');
    });
    await inside;
    expect(await repo.withChannelLock('lock-test-a', () => Promise.resolve('second'))).toEqual({ locked: false });
    expect(await repo.withChannelLock('lock-test-b', () => Promise.resolve('other channel'))).toEqual({
      locked: true,
      value: 'other channel',
    });
    release();
    expect(await first).toEqual({ locked: true, value: 'first' });
    expect(await repo.withChannelLock('lock-test-a', () => Promise.resolve('after'))).toEqual({ locked: true, value: 'after' });
  });

  it('a channel dropped and registered again gets a full sync of the catalog', async () => {
    const repo = new StockSyncRepo(stack.db.sql);
    expect(await repo.registerChannels(SYNCED.filter((c) => c !== 'tiktok'))).toEqual({ added: [], removed: ['tiktok'] });
    expect(await repo.lastPushed('tiktok')).toEqual({});
    // While dropped, tiktok is not queued anything.
    await stack.db.sql`update stock set on_hand = on_hand + 1 where sku = 'SKU-MAN' and warehouse_id = 'WH-DN'`;
    const [queued] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from stock_sync_outbox where channel = 'tiktok'`;
    expect(queued?.n).toBe(0);
    const before = (await pushesTo('tiktok')).length;

    expect(await repo.registerChannels(SYNCED)).toEqual({ added: ['tiktok'], removed: [] });
    const products = (await stack.db.sql<{ sku: string }[]>`select sku from products`).map((r) => r.sku);
    await eventually(
      async () => {
        const sent = new Set((await pushesTo('tiktok')).slice(before).flatMap((p) => p.items.map((i) => i.sku)));
        return products.every((s) => sent.has(s));
      },
      { timeoutMs: 30_000, what: 'tiktok got every SKU again' },
    );
    expect((await levelsSent('tiktok', 'SKU-MAN')).at(-1)).toBe(await trueAtp('SKU-MAN'));
  }, 60_000);
});
