/**
 * What the platforms themselves send, end to end over real HTTP, real Temporal and PostgreSQL:
 *
 * - Shopify's own "send test notification" body for `orders/create` (captured from a real store,
 *   test/fixtures/channels/shopify): a cancelled test order with 18-digit ids. It is answered 2xx,
 *   starts nothing and reserves nothing; the same payload with its cancellation removed and stocked
 *   SKUs reaches DELIVERED, its id exact to the last digit from intake through the projection and
 *   the API to the status pushes Shopify receives.
 * - A buyer's cancellation on each marketplace, in that platform's own form (Shopify
 *   `orders/cancelled`, Shopee IN_CANCEL, Lazada `canceled` with a reverse order, TikTok Shop's
 *   cancellation request): before handover the order ends CANCELLED, stock back and authorisation
 *   voided, and the platform's request is answered its way; after handover the order is flagged
 *   for ops with the platform's reason, and nothing is undone.
 * - A platform's return request flags the order; unknown values are accepted and listed for ops.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonWithBigInts, stringifyJson } from '../../lib/lossless-json';
import { eventually, one, seedNetwork, stockRow } from '../support/fixtures';
import { startTestStack, TEST_KEYS, uniqueSuffix, type TestStack } from '../support/harness';

let stack: TestStack;
type Doc = Record<string, unknown>;
type Marketplace = 'shopify' | 'shopee' | 'lazada' | 'tiktok';

const fixtureText = (path: string) => readFileSync(new URL(`../fixtures/channels/${path}`, import.meta.url), 'utf8');
/** A fixture with its 64-bit ids as bigint, so they are written back exactly. */
const fixture = (path: string): Doc => parseJsonWithBigInts(fixtureText(path)) as Doc;
const digits = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? randomInt(1, 10) : randomInt(0, 10))).join('');

interface Delivery {
  status: number;
  body: {
    accepted?: boolean;
    duplicate?: boolean;
    orderId?: string;
    action?: string;
    nativeStatus?: string;
    notes?: { path: string; value: string }[];
  };
}
interface Sent {
  url: string;
  sent: { headers: Record<string, string>; body: string };
  deliveries: Delivery[];
}

async function sandboxRaw(path: string, body?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(
    stack.sandboxUrl + path,
    body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body },
  );
  return { status: res.status, text: await res.text() };
}
async function sandbox<T>(path: string, json?: unknown): Promise<T> {
  const r = await sandboxRaw(path, json === undefined ? undefined : stringifyJson(json));
  expect(r.status, `${path} → ${r.status}: ${r.text.slice(0, 300)}`).toBeLessThan(300);
  return JSON.parse(r.text) as T;
}
const putOnPlatform = (channel: Marketplace, doc: Doc) => sandbox<{ channelOrderId: string }>(`/sandbox/channels/${channel}/orders`, doc);
const notify = (channel: Marketplace, body: Doc) => sandbox<Sent>(`/sandbox/channels/${channel}/notify`, body);
const buyerCancel = (channel: Marketplace, id: string) =>
  sandbox<Sent & { before: string; platformStatus: string }>(`/sandbox/channels/${channel}/orders/${id}/buyer-cancel`, {});
const channelLedger = (channel: Marketplace, id: string) =>
  sandbox<{ calls: { action: string; status: string; body: unknown }[]; orders: Record<string, { status: string }> }>(
    `/sandbox/ledger/channels?channel=${channel}&channelOrderId=${id}`,
  );

interface OrderBody {
  orderId: string;
  channelOrderId: string;
  status: string;
  needsAttention: boolean;
  attentionReason: string | null;
  total: string;
  reasons: string[];
  shipments: { bookingId?: string; status: string }[];
  timeline: { status: string; event: string; actor: string }[];
}
const getOrder = async (id: string): Promise<OrderBody | undefined> => {
  const res = await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops });
  return res.status === 200 ? ((await res.json()) as OrderBody) : undefined;
};
const waitFor = (id: string, pred: (o: OrderBody) => boolean, what: string, timeoutMs = 60_000) =>
  eventually(
    async () => {
      const o = await getOrder(id);
      return o && pred(o) ? o : undefined;
    },
    { what: `${id}: ${what}`, timeoutMs },
  );
const advance = (bookingId: string, status: string) => sandbox(`/sandbox/carriers/${bookingId}/advance`, { status });
const payments = async (orderId: string) =>
  (await sandbox<{ entries: { type: string; amount: string }[] }>(`/sandbox/ledger/payments?orderId=${orderId}`)).entries.map(
    (e) => e.type,
  );
const bookings = async (orderId: string) =>
  (await sandbox<{ bookings: { status: string }[] }>(`/sandbox/ledger/carriers?orderId=${orderId}`)).bookings.map((b) => b.status);
const reservedUnits = async (orderId: string) =>
  (
    await one(
      stack.db.sql<
        { n: number }[]
      >`select coalesce(sum(quantity), 0)::int as n from reservations where order_id = ${orderId} and state = 'reserved'`,
    )
  ).n;
const workflowExists = async (id: string) => {
  try {
    await stack.client.workflow.getHandle(id).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
};

const SKUS = ['TSHIRT-M', 'CAP-BLK', 'SANDAL-42', 'MUG-CER', 'BAG-TOTE'];
const totalStock = async () => {
  let onHand = 0;
  let reserved = 0;
  for (const sku of SKUS)
    for (const wh of ['WH-HCM', 'WH-HN']) {
      const r = await stockRow(stack.db.sql, sku, wh);
      onHand += r.onHand;
      reserved += r.reserved;
    }
  return { onHand, reserved };
};

beforeAll(async () => {
  stack = await startTestStack({
    orderSettings: { stepRetry: { initialIntervalMs: 100, maximumIntervalMs: 300, maximumAttempts: 3 } },
    // Parcels move only when a test moves them: "before handover" stays before handover.
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
  });
  const stock = { 'WH-HCM': 500, 'WH-HN': 500 };
  await seedNetwork(stack.db.sql, Object.fromEntries(SKUS.map((s) => [s, stock])));
});
afterAll(async () => {
  await stack?.close();
});

/** A Vietnamese address in Shopify's shape: the OMS delivers in Vietnam only. */
const VN_ADDRESS = {
  first_name: 'Mai',
  last_name: 'Tran',
  name: 'Mai Tran',
  company: null,
  address1: '45 Nguyễn Huệ',
  address2: null,
  city: 'Quận 1',
  province: 'Hồ Chí Minh',
  province_code: null,
  zip: '700000',
  country: 'Vietnam',
  country_code: 'VN',
  phone: '+84 90 123 4567',
  latitude: null,
  longitude: null,
};

describe("Shopify's own test notification", () => {
  it('is answered 2xx and starts nothing, reserves nothing; its surprise (fulfillment_status "pending") is listed for ops', async () => {
    const body = fixtureText('shopify/orders-create-test-notification-captured.json');
    const before = await totalStock();
    const r = await notify('shopify', { rawBody: body, topic: 'orders/create' });
    expect(r.deliveries[0]).toEqual({
      status: 200,
      body: {
        accepted: true,
        duplicate: false,
        orderId: 'order-shopify-820982911946154508',
        action: 'cancelled',
        nativeStatus: 'cancelled',
        notes: [{ path: 'fulfillment_status', value: 'pending', note: expect.any(String) as string }],
      },
    });
    // Shopify's retry of the same delivery (same webhook id) is a duplicate.
    const again = await sandboxRaw(
      `/sandbox/channels/shopify/notify`,
      JSON.stringify({ rawBody: body, topic: 'orders/create', eventId: r.sent.headers['X-Shopify-Webhook-Id'] }),
    );
    expect((JSON.parse(again.text) as Sent).deliveries[0]!.body).toMatchObject({ duplicate: true });
    expect(await getOrder('order-shopify-820982911946154508')).toBeUndefined();
    expect(await workflowExists('order-shopify-820982911946154508')).toBe(false);
    expect(await totalStock()).toEqual(before);
    const notes = (await (await stack.api('/v1/channels/payload-notes?channel=shopify', { key: TEST_KEYS.ops })).json()) as {
      notes: { path: string; value: string; count: number; lastEventId: string }[];
    };
    expect(notes.notes).toContainEqual(
      expect.objectContaining({ path: 'fulfillment_status', value: 'pending', lastEventId: r.sent.headers['X-Shopify-Webhook-Id'] }),
    );
    // Ops' list, not the channel's: a channel key may not read it.
    expect((await stack.api('/v1/channels/payload-notes', { key: TEST_KEYS.web })).status).toBe(403);
  });

  it('uncancelled, with stocked SKUs and an address in Vietnam, reaches DELIVERED: the 18-digit id exact from intake to the pushes', async () => {
    const doc = fixture('shopify/orders-create-test-notification-captured.json');
    // Its cancellation removed (the cancellation voided the payment: it is paid again)...
    Object.assign(doc, { cancelled_at: null, cancel_reason: null, financial_status: 'paid' });
    // ...its lines given SKUs the warehouses stock (Shopify's test lines have none)...
    const lines = doc.line_items as Doc[];
    lines[0]!.sku = 'TSHIRT-M';
    lines[1]!.sku = 'CAP-BLK';
    // ...and shipped within the delivery area (Kentucky is outside it: see the next test).
    doc.shipping_address = VN_ADDRESS;
    const id = '820982911946154508';
    expect(doc.id).toBe(820982911946154508n);
    await putOnPlatform('shopify', doc);
    const r = await notify('shopify', { channelOrderId: id, topic: 'orders/create' });
    // Written by the sandbox as Shopify writes it: a bare 18-digit number.
    expect(r.sent.body).toContain('"id":820982911946154508,');
    expect(r.deliveries[0]).toMatchObject({ status: 202, body: { orderId: `order-shopify-${id}`, action: 'intake' } });

    const orderId = `order-shopify-${id}`;
    const booked = await waitFor(orderId, (o) => o.shipments.length > 0 && o.shipments.every((s) => s.status === 'booked'), 'booked');
    expect(booked.channelOrderId).toBe(id);
    expect(booked.total).toBe('1575.90');
    for (const s of booked.shipments) for (const st of ['picked_up', 'in_transit', 'delivered']) await advance(s.bookingId!, st);
    const delivered = await waitFor(orderId, (o) => o.status === 'DELIVERED', 'delivered');
    expect(delivered.channelOrderId).toBe(id);

    // The projection and the intake log keep the digits.
    const row = await one(
      stack.db.sql<{ channelOrderId: string }[]>`select channel_order_id as "channelOrderId" from orders where order_id = ${orderId}`,
    );
    expect(row.channelOrderId).toBe(id);
    const raw = await one(
      stack.db.sql<{ id: string }[]>`select raw ->> 'id' as id from order_intake_log where order_id = ${orderId} and not duplicate`,
    );
    expect(raw.id).toBe(id);
    // The pushes Shopify received name the order exactly, in the path and as the bare number in the body.
    const pushes = await eventually(
      async () => {
        const l = await channelLedger('shopify', id);
        return l.orders[id]?.status === 'oms:DELIVERED' ? l : undefined;
      },
      { what: 'DELIVERED pushed to Shopify' },
    );
    expect(pushes.calls.length).toBeGreaterThanOrEqual(3);
    const ledgerText = (await sandboxRaw(`/sandbox/ledger/channels?channel=shopify&channelOrderId=${id}`)).text;
    expect(ledgerText).toContain('"id":820982911946154508,');
    expect(ledgerText).not.toContain('820982911946154500');
  });

  it('uncancelled with its own address (Kentucky) is taken in and rejected as outside the delivery area, nothing reserved', async () => {
    const doc = fixture('shopify/orders-create-test-notification-captured.json');
    const id = `8${digits(17)}`;
    Object.assign(doc, { id: BigInt(id), cancelled_at: null, cancel_reason: null, financial_status: 'paid' });
    (doc.line_items as Doc[]).forEach((l, i) => {
      l.sku = i === 0 ? 'TSHIRT-M' : 'CAP-BLK';
    });
    await putOnPlatform('shopify', doc);
    expect((await notify('shopify', { channelOrderId: id })).deliveries[0]!.status).toBe(202);
    const o = await waitFor(`order-shopify-${id}`, (x) => x.status === 'REJECTED', 'rejected');
    expect(o.reasons.join('; ')).toMatch(/Kentucky, US is not an area we deliver to/);
    expect(await reservedUnits(o.orderId)).toBe(0);
  });
});

/** Each marketplace's prepaid order (fixtures of the adapters' own tests), with fresh ids. */
function prepaidOrder(channel: Marketplace): { doc: Doc; id: string } {
  if (channel === 'shopify') {
    const id = `8${digits(17)}`;
    return { doc: { ...fixture('shopify/orders-create-prepaid.json'), id: BigInt(id) }, id };
  }
  if (channel === 'shopee') {
    const id = `2612${uniqueSuffix().toUpperCase()}${uniqueSuffix().toUpperCase()}`.replace(/[^0-9A-Z]/g, '').slice(0, 14);
    return { doc: { ...fixture('shopee/order-detail-cod.json'), order_sn: id, cod: false, payment_method: 'Credit Card' }, id };
  }
  if (channel === 'lazada') {
    const id = digits(15);
    const d = fixture('lazada/order-prepaid.json');
    const order = { ...(d.order as Doc), order_id: Number(id), order_number: Number(id) };
    const items = (d.items as Doc[]).map((i, n) => ({ ...i, order_id: Number(id), order_item_id: Number(`${id.slice(0, 13)}${n}1`) }));
    return { doc: { order, items }, id };
  }
  const id = `57${digits(16)}`;
  const d = fixture('tiktok/order-detail-prepaid.json');
  return { doc: { ...d, id, line_items: (d.line_items as Doc[]).map((l, n) => ({ ...l, id: `${id.slice(0, 16)}${n}9` })) }, id };
}

/** Takes the order in through the platform's webhook and waits until its parcels are booked (not handed over). */
async function bookedOrder(channel: Marketplace): Promise<{ id: string; orderId: string; order: OrderBody }> {
  const { doc, id } = prepaidOrder(channel);
  await putOnPlatform(channel, doc);
  const r = await notify(channel, channel === 'shopify' ? { channelOrderId: id, topic: 'orders/create' } : { channelOrderId: id });
  expect(r.deliveries[0]!.status, JSON.stringify(r.deliveries[0])).toBe(202);
  const orderId = `order-${channel}-${id}`;
  const order = await waitFor(orderId, (o) => o.shipments.length > 0 && o.shipments.every((s) => s.status === 'booked'), 'booked');
  return { id, orderId, order };
}

describe("a buyer's cancellation on the marketplace", () => {
  const answered: Record<Marketplace, string> = {
    shopify: 'cancelled',
    shopee: 'cancel_request',
    lazada: 'cancelled',
    tiktok: 'cancel_request',
  };
  for (const channel of ['shopify', 'shopee', 'lazada', 'tiktok'] as const) {
    it(`${channel}, before handover: the order is cancelled (actor channel), stock released, authorisation voided, the platform answered`, async () => {
      const before = await totalStock();
      const { id, orderId } = await bookedOrder(channel);
      expect(await payments(orderId)).toEqual(['authorize']);
      const sent = await buyerCancel(channel, id);
      expect(sent.deliveries[0]).toMatchObject({ status: 200, body: { accepted: true, orderId, action: answered[channel] } });

      const o = await waitFor(orderId, (x) => x.status === 'CANCELLED', 'cancelled');
      expect(o.needsAttention).toBe(false);
      const cancelling = o.timeline.find((t) => t.status === 'CANCELLING')!;
      expect(cancelling.actor).toBe('channel');
      expect(await payments(orderId)).toEqual(['authorize', 'void']);
      expect(await bookings(orderId)).toEqual(o.shipments.map(() => 'cancelled'));
      expect(await reservedUnits(orderId)).toBe(0);
      await eventually(
        async () => {
          const now = await totalStock();
          return now.reserved === before.reserved && now.onHand === before.onHand ? now : undefined;
        },
        { what: 'stock back' },
      );

      // The platform's request is answered its way; an order it cancelled itself is not cancelled again.
      const l = await eventually(
        async () => {
          const x = await channelLedger(channel, id);
          const done =
            channel === 'shopee'
              ? x.calls.some((c) => c.action === 'handle_buyer_cancellation')
              : channel === 'tiktok'
                ? x.calls.some((c) => c.action === 'approve_cancellation')
                : channel === 'shopify'
                  ? x.calls.some((c) => c.status === 'oms:CANCELLED')
                  : true;
          return done ? x : undefined;
        },
        { what: `${channel} answered` },
      );
      const actions = l.calls.map((c) => c.action);
      expect(actions).not.toContain('cancel_order');
      expect(actions).not.toContain('cancel_item');
      if (channel === 'shopee')
        expect(l.calls.find((c) => c.action === 'handle_buyer_cancellation')!.body).toMatchObject({ order_sn: id, operation: 'ACCEPT' });
      if (channel !== 'shopify') expect(l.orders[id]?.status).toMatch(/^(CANCELLED|canceled)$/);
    });

    it(`${channel}, after handover: the order is flagged for ops with the platform's reason; nothing is undone`, async () => {
      const { id, orderId, order } = await bookedOrder(channel);
      for (const s of order.shipments) await advance(s.bookingId!, 'picked_up');
      await waitFor(orderId, (o) => o.status === 'SHIPPED', 'shipped');
      const sent = await buyerCancel(channel, id);
      expect(sent.deliveries[0]).toMatchObject({ status: 200, body: { orderId, action: answered[channel] } });
      const flagged = await waitFor(orderId, (o) => o.needsAttention, 'flagged');
      expect(flagged.status).toBe('SHIPPED');
      expect(flagged.attentionReason).toMatch(new RegExp(`^${channel}: .*(cancel).*handed to the carrier`, 'i'));
      expect(flagged.timeline.filter((t) => t.actor === 'channel').map((t) => t.event)).toEqual([
        `needs attention: ${flagged.attentionReason}`,
      ]);
      // Nothing undone: the handover's capture stands, the parcel travels on.
      await eventually(async () => ((await payments(orderId)).includes('capture') ? true : undefined), { what: 'captured' });
      expect(await payments(orderId)).not.toContain('void');
      expect(await bookings(orderId)).not.toContain('cancelled');
      // Ops saw to it: the flag clears, the order carries on.
      const retry = await stack.api(`/v1/orders/${orderId}/retry`, { method: 'POST', key: TEST_KEYS.ops, json: {} });
      expect(retry.status).toBe(200);
      const cleared = await waitFor(orderId, (o) => !o.needsAttention, 'flag cleared');
      expect(cleared.status).toBe('SHIPPED');
    });
  }
});

describe("a platform's return request", () => {
  it('Shopify returns/request for a delivered order flags it for ops; for an unknown order it is acknowledged', async () => {
    const { id, orderId, order } = await bookedOrder('shopify');
    for (const s of order.shipments) for (const st of ['picked_up', 'in_transit', 'delivered']) await advance(s.bookingId!, st);
    await waitFor(orderId, (o) => o.status === 'DELIVERED', 'delivered');
    const ret = fixture('shopify/returns-request-docs-example.json');
    (ret.order as Doc).id = BigInt(id);
    const r = await notify('shopify', { rawBody: stringifyJson(ret), topic: 'returns/request' });
    expect(r.deliveries[0]).toMatchObject({ status: 200, body: { orderId, action: 'return_request' } });
    const flagged = await waitFor(orderId, (o) => o.needsAttention, 'flagged');
    expect(flagged.attentionReason).toMatch(/^shopify: returns\/request 123134564567890 \(requested\)/);
    const unknown = await notify('shopify', {
      rawBody: fixtureText('shopify/returns-request-docs-example.json'),
      topic: 'returns/request',
    });
    expect(unknown.deliveries[0]).toMatchObject({
      status: 200,
      body: { action: 'return_request', orderId: 'order-shopify-4783296544821' },
    });
  });
});
