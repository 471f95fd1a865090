/**
 * The event feed for systems that poll (`GET /v1/events?after=`, docs/back-office.md): every step
 * of every order in the order it was written, in order per order, paged by position without ever
 * skipping one — proven with a real PostgreSQL transaction that takes a position and commits after
 * a later one. Real PostgreSQL and Temporal behind the real app.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanonicalOrder } from '../../domain/order';
import { eventually, makeOrder, seedNetwork, stockRow } from '../support/fixtures';
import { placeAndDeliver, startTestStack, stockUnits, TEST_KEYS, type StockFeedEvent, type TestStack } from '../support/harness';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } } });
  await seedNetwork(stack.db.sql, { 'FEED-A': { 'WH-HCM': 50 } });
});
afterAll(async () => {
  await stack?.close();
});

interface FeedEvent {
  position: string;
  eventId: string;
  type: string;
  orderId: string;
  seq: number;
  status: string;
  event: string;
}
interface Page {
  items: FeedEvent[];
  next: string;
}
const page = async (after: string, limit = 500, key: string = TEST_KEYS.ops) =>
  (await (await stack.api(`/v1/events?after=${after}&limit=${limit}`, { key })).json()) as Page;

/** Two orders written straight into PostgreSQL, for tests that write their steps with transactions of their own. */
async function twoOrders(): Promise<[CanonicalOrder, CanonicalOrder]> {
  const orders: [CanonicalOrder, CanonicalOrder] = [makeOrder({ sku: 'FEED-A' }), makeOrder({ sku: 'FEED-A' })];
  const sql = stack.db.sql;
  for (const o of orders)
    await sql`insert into orders (order_id, channel, channel_order_id, customer_id, status, currency, total, payment_method, placed_at, canonical)
      values (${`order-web-${o.channelOrderId}`}, 'web', ${o.channelOrderId}, ${o.customer.id}, 'RECEIVED', 'VND', '1.00', 'cod', ${o.placedAt},
              ${sql.json(o)})`;
  return orders;
}

/** Reads the whole feed after `after`, `limit` at a time. */
async function readAll(after: string, limit: number): Promise<{ items: FeedEvent[]; next: string }> {
  const items: FeedEvent[] = [];
  for (;;) {
    const p = await page(after, limit);
    items.push(...p.items);
    if (!p.items.length) return { items, next: after };
    after = p.next;
  }
}

describe('the event feed', () => {
  it('every step of every order, in order per order, paged without a gap; ops and admins only; bad input named', async () => {
    const start = (await page('0')).next;
    const ids = await placeAndDeliver(
      stack,
      [1, 2, 3].map(() => makeOrder({ sku: 'FEED-A' })),
    );
    // The feed shows a step once no older transaction is open: read until every order's last step,
    // DELIVERED, is there (the projection may say DELIVERED a few milliseconds before the feed does).
    const steps = (items: FeedEvent[], id: string) => items.filter((e) => e.orderId === id && e.type === 'order.step');
    const small = await eventually(
      async () => {
        const r = await readAll(start, 3);
        return ids.every((id) => steps(r.items, id).at(-1)?.status === 'DELIVERED') ? r : undefined;
      },
      { what: 'every order delivered in the feed' },
    );
    // Pages of 3: the same events as one big page over the same positions, positions strictly increasing.
    const big = (await page(start)).items.filter((e) => BigInt(e.position) <= BigInt(small.next));
    expect(small.items.map((e) => e.position)).toEqual(big.map((e) => e.position));
    const positions = small.items.map((e) => BigInt(e.position));
    expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true);
    for (const id of ids) {
      const mine = steps(small.items, id);
      // Every step of the order's timeline, each once, in its own order.
      const timeline = ((await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.cs })).json()) as { timeline: { seq: number }[] })
        .timeline;
      expect(mine.map((e) => e.seq)).toEqual(timeline.map((t) => t.seq));
      expect(mine.at(-1)!.status).toBe('DELIVERED');
      expect(new Set(mine.map((e) => e.eventId)).size).toBe(mine.length);
    }
    // After the last position read come only later ones (the orders' invoices may still be arriving);
    // once nothing is new, the same position comes back.
    let last = small.next;
    await eventually(
      async () => {
        const p = await page(last);
        expect(p.items.every((e) => BigInt(e.position) > BigInt(last))).toBe(true);
        if (p.items.length) {
          last = p.next;
          return undefined;
        }
        expect(p).toEqual({ items: [], next: last });
        return true;
      },
      { what: 'the feed quiet' },
    );
    // Roles: ops and admin read it; customer service and channels do not.
    expect((await stack.api('/v1/events', { key: TEST_KEYS.admin })).status).toBe(200);
    expect((await stack.api('/v1/events', { key: TEST_KEYS.cs })).status).toBe(403);
    expect((await stack.api('/v1/events', { key: TEST_KEYS.web })).status).toBe(403);
    expect((await stack.api('/v1/events')).status).toBe(401);
    const bad = await stack.api('/v1/events?after=-1&limit=9999', { key: TEST_KEYS.ops });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path).sort()).toEqual(['after', 'limit']);
  }, 120_000);

  it("each order's shipment statuses and invoices are in the feed, the invoice after the steps that earned it, and in its channel's feed", async () => {
    const start = (await readAll('0', 500)).next;
    const onHandBefore = await stockRow(stack.db.sql, 'FEED-A', 'WH-HCM');
    const [id] = await placeAndDeliver(stack, [makeOrder({ sku: 'FEED-A', quantity: 2 })]);
    const issued = await eventually(
      async () => {
        const items = (await readAll(start, 50)).items as (FeedEvent & { status: string; gross?: string; number?: string })[];
        const inv = items.find((e) => e.orderId === id && e.type === 'invoice.status' && e.status === 'issued');
        return inv ? { items, inv } : undefined;
      },
      { what: 'the invoice issued in the feed' },
    );
    const order = (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.cs })).json()) as { total: string };
    expect(issued.inv).toMatchObject({ version: 1, kind: 'sale', gross: order.total, number: expect.stringMatching(/^\d{8}$/) as unknown });
    expect(issued.inv).not.toHaveProperty('buyer');
    // After the step that captured (the handover), in the one order of the feed.
    const steps = issued.items.filter((e) => e.orderId === id && e.type === 'order.step');
    const handover = steps.find((e) => e.status === 'SHIPPED' || /handed/i.test(e.event));
    expect(handover, JSON.stringify(steps.map((e) => [e.status, e.event]))).toBeDefined();
    expect(BigInt(issued.inv.position)).toBeGreaterThan(BigInt(handover!.position));
    // Its shipment's statuses too, each once, in the order it reached them, delivered last — booked
    // with the carrier's tracking number, which the order step only tells in words.
    const shipped = issued.items.filter((e) => e.orderId === id && e.type === 'shipment.status') as unknown as {
      status: string;
      trackingNumber: string | null;
      carrier: string | null;
      position: string;
    }[];
    const statuses = shipped.map((e) => e.status);
    expect(new Set(statuses).size).toBe(statuses.length);
    expect(statuses).toEqual(expect.arrayContaining(['booked', 'delivered']));
    expect(statuses.at(-1)).toBe('delivered');
    const rank = [
      'pending',
      'picking',
      'packed',
      'booked',
      'picked_up',
      'in_transit',
      'delivery_failed',
      'returned_to_sender',
      'delivered',
    ];
    expect(statuses.map((x) => rank.indexOf(x))).toEqual(statuses.map((x) => rank.indexOf(x)).sort((a, b) => a - b));
    expect(shipped.find((e) => e.status === 'delivered')).toMatchObject({
      carrier: expect.any(String) as unknown,
      trackingNumber: expect.any(String) as unknown,
    });
    // The stock it held: reserved before the handover step, handed over (committed) with it — the
    // same units, and on hand dropped by exactly them.
    const stock = issued.items.filter((e) => e.orderId === id && e.type.startsWith('stock.')) as unknown as StockFeedEvent[];
    expect(stock.map((e) => e.type)).toEqual(['stock.reserved', 'stock.committed']);
    expect(stockUnits(stock)).toEqual({ 'stock.reserved FEED-A@WH-HCM': 2, 'stock.committed FEED-A@WH-HCM': 2 });
    expect(stock[1]!.lines).toEqual([{ lineNo: 1, sku: 'FEED-A', warehouseId: 'WH-HCM', quantity: 2 }]);
    expect(BigInt(stock[0]!.position)).toBeLessThan(BigInt(handover!.position));
    expect(onHandBefore.onHand - (await stockRow(stack.db.sql, 'FEED-A', 'WH-HCM')).onHand).toBe(2);
    const web = (await (await stack.api(`/v1/events?after=${start}&channel=web&limit=500`, { key: TEST_KEYS.ops })).json()) as Page;
    expect(web.items.map((e) => e.eventId)).toContain(issued.inv.eventId);
    expect(web.items.map((e) => e.eventId)).toEqual(expect.arrayContaining(stock.map((e) => `${e.type}:${e.position}`)) as unknown);
    const shopee = (await (await stack.api(`/v1/events?after=${start}&channel=shopee&limit=500`, { key: TEST_KEYS.ops })).json()) as Page;
    expect(shopee.items.filter((e) => e.orderId === id)).toEqual([]);
  });

  it("stock counts are in the feed too, in the one order, and not in a channel's feed", async () => {
    const before = (await readAll('0', 500)).next;
    const res = await stack.api('/v1/inventory/FEED-A/WH-HCM', {
      method: 'PUT',
      key: TEST_KEYS.admin,
      json: { onHand: 77, reason: 'cycle count' },
    });
    expect(res.status).toBe(200);
    // (An invoice or a shipment of an earlier test's order moving on meanwhile would be in the feed too: stock only here.)
    const got = (await (await stack.api(`/v1/events?after=${before}`, { key: TEST_KEYS.ops })).json()) as {
      items: Record<string, unknown>[];
    };
    got.items = got.items.filter((e) => e.type === 'stock.adjusted');
    expect(got.items).toHaveLength(1);
    expect(got.items[0]).toMatchObject({
      type: 'stock.adjusted',
      version: 1,
      sku: 'FEED-A',
      warehouseId: 'WH-HCM',
      onHandAfter: 77,
      reason: 'cycle count',
      actor: expect.stringMatching(/admin/) as unknown,
    });
    expect(BigInt(got.items[0]!.position as string)).toBeGreaterThan(BigInt(before));
    const web = await stack.api(`/v1/events?after=${before}&channel=web`, { key: TEST_KEYS.ops });
    expect(web.status, await web.clone().text()).toBe(200);
    expect(((await web.json()) as Page).items).toEqual([]);
  });

  /** Writes an order's first step in a transaction held open until `commit()`; resolves once the row is written. */
  async function stepHeldOpen(orderId: string, event: string): Promise<{ commit(): Promise<void> }> {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let wrote!: () => void;
    const written = new Promise<void>((r) => (wrote = r));
    const done = stack.db.sql.begin(async (tx) => {
      await tx`insert into order_timeline (order_id, seq, status, event, actor, at) values (${orderId}, 1, 'RECEIVED', ${event}, 'test', now())`;
      wrote();
      await held;
    });
    await Promise.race([written, done]);
    return {
      commit: async () => {
        release();
        await done;
      },
    };
  }

  it('a transaction that writes first and commits late is not skipped: positions follow commits', async () => {
    const [o1, o2] = await twoOrders();
    const sql = stack.db.sql;
    const before = (await readAll('0', 500)).next;
    const step = (o: typeof o1, event: string) =>
      sql`insert into order_timeline (order_id, seq, status, event, actor, at) values (${`order-web-${o.channelOrderId}`}, 1, 'RECEIVED', ${event}, 'test', now())`;
    // A slow writer takes its position first and holds its transaction open...
    const slow = await stepHeldOpen(`order-web-${o1.channelOrderId}`, 'slow');
    // ...a fast one takes a later position and commits.
    await step(o2, 'fast');
    const ours = new Set([o1, o2].map((o) => `order-web-${o.channelOrderId}`));
    const steps = (p: Page) => p.items.filter((e) => e.type === 'order.step' && ours.has(e.orderId));
    // The fast one is in the feed: the open one has no position yet, and takes a later one as it commits.
    const during = await page(before);
    expect(steps(during).map((e) => e.event)).toEqual(['fast']);
    await slow.commit();
    // Both, in the order they committed.
    const after = await eventually(
      async () => {
        const s = steps(await page(before));
        return s.length === 2 ? s : undefined;
      },
      { what: 'both steps in the feed' },
    );
    expect(after.map((e) => e.event)).toEqual(['fast', 'slow']);
    expect(BigInt(after[0]!.position)).toBeLessThan(BigInt(after[1]!.position));
    // A reader that had paged to the fast one then gets the slow one next: nothing skipped.
    expect(steps(await page(during.next)).map((e) => e.event)).toEqual(['slow']);
  });

  it('a transaction that began writing first and commits first comes first, the one it passed after it: none skipped', async () => {
    const [o1, o2] = await twoOrders();
    const sql = stack.db.sql;
    const before = (await readAll('0', 500)).next;
    const id = (o: typeof o1) => `order-web-${o.channelOrderId}`;
    // The early one writes something first (its transaction id is the older)...
    let goOn!: () => void;
    const proceed = new Promise<void>((r) => (goOn = r));
    let began!: () => void;
    const started = new Promise<void>((r) => (began = r));
    const early = sql.begin(async (tx) => {
      await tx`update orders set status = status where order_id = ${id(o2)}`;
      began();
      await proceed;
      await tx`insert into order_timeline (order_id, seq, status, event, actor, at) values (${id(o2)}, 1, 'RECEIVED', 'early', 'test', now())`;
    });
    await started;
    // ...a later one writes its step and stays open...
    const late = await stepHeldOpen(id(o1), 'late');
    // ...and the early one writes its step and commits. Before migration 0028 it showed at a position
    // after the open one's, and a reader paging on from it skipped the open one when it committed.
    goOn();
    await early;
    const ours = new Set([id(o1), id(o2)]);
    const steps = (p: Page) => p.items.filter((e) => e.type === 'order.step' && ours.has(e.orderId));
    const during = await page(before);
    expect(steps(during).map((e) => e.event)).toEqual(['early']);
    await late.commit();
    const next = await eventually(
      async () => {
        const s2 = steps(await page(during.next));
        return s2.length ? s2 : undefined;
      },
      { what: 'the late step after the early one' },
    );
    expect(next.map((e) => e.event)).toEqual(['late']);
  });
});
