/**
 * Channel webhooks over real HTTP, real Temporal and the sandbox's emulated platforms: each
 * channel's signed webhook becomes the right order (marketplaces through the pull from their
 * order-detail API), a wrong signature changes nothing, a replay makes one order, malformed
 * payloads name the field, the pull survives the platform failing, and a channel never sees an
 * older status after a newer one.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { DEFAULT_RULES } from '../../domain/settings';
import { outsideSystems } from '../../lib/stack';
import { DEV_SANDBOX_KEY } from '../../sandbox/server';
import type { channelIntakeWorkflow } from '../../workflows/channel-intake';
import { workflowMetadataQuery } from '@temporalio/workflow';
import { retryUpdate } from '../../workflows/messages';
import { NeedsAttentionKey } from '../../workflows/search-attributes';
import { eventually, seedNetwork } from '../support/fixtures';
import { memoryLogger, startTestStack, TEST_KEYS, uniqueSuffix, type TestStack } from '../support/harness';

let stack: TestStack;

type Doc = Record<string, unknown>;
const fixture = (path: string): Doc => JSON.parse(readFileSync(new URL(`../fixtures/channels/${path}`, import.meta.url), 'utf8')) as Doc;
const rawFixture = (path: string) => readFileSync(new URL(`../fixtures/channels/${path}`, import.meta.url), 'utf8');
const digits = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? randomInt(1, 10) : randomInt(0, 10))).join('');

/** The fixture with fresh platform ids, so every test has its own order (and its own workflows). */
function fresh(channel: 'shopify' | 'shopee' | 'lazada' | 'tiktok', doc: Doc): { doc: Doc; id: string } {
  const d = structuredClone(doc);
  if (channel === 'shopee') {
    const id = `2611${uniqueSuffix().toUpperCase()}${uniqueSuffix().toUpperCase()}`.slice(0, 14);
    return { doc: { ...d, order_sn: id }, id };
  }
  if (channel === 'lazada') {
    const id = digits(15);
    const order = { ...(d.order as Doc), order_id: Number(id), order_number: Number(id) };
    const items = (d.items as Doc[]).map((i, n) => ({ ...i, order_id: Number(id), order_item_id: Number(`${id.slice(0, 13)}${n}1`) }));
    return { doc: { order, items }, id };
  }
  if (channel === 'tiktok') {
    const id = `57${digits(16)}`;
    const lines = (d.line_items as Doc[]).map((l, n) => ({ ...l, id: `${id.slice(0, 16)}${n}9` }));
    return { doc: { ...d, id, line_items: lines }, id };
  }
  const id = `58${digits(11)}`;
  return { doc: { ...d, id: Number(id) }, id };
}

interface Delivery {
  status: number;
  body: {
    accepted?: boolean;
    duplicate?: boolean;
    orderId?: string;
    action?: string;
    nativeStatus?: string;
    errors?: { path: string }[];
    type?: string;
  };
}
interface NotifyResult {
  url: string;
  sent: { headers: Record<string, string>; body: string };
  deliveries: Delivery[];
}

async function sandbox<T>(path: string, json?: unknown): Promise<T> {
  const res = await fetch(
    stack.sandboxUrl + path,
    json === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(json) },
  );
  expect(res.status, `${path} → ${res.status}`).toBeLessThan(300);
  return (await res.json()) as T;
}
const putOnPlatform = (channel: string, doc: Doc) => sandbox<{ channelOrderId: string }>(`/sandbox/channels/${channel}/orders`, doc);
const notify = (channel: string, body: Record<string, unknown>) => sandbox<NotifyResult>(`/sandbox/channels/${channel}/notify`, body);
const ledger = (channel: string, channelOrderId?: string) =>
  sandbox<{
    calls: { action: string; status: string; body: unknown; idempotencyKey?: string }[];
    reads: { action: string }[];
    orders: Record<string, { status: string }>;
    pushes: { orderId: string; status: string; seq: number; stale: boolean }[];
    latest: Record<string, { status: string; seq: number }>;
  }>(`/sandbox/ledger/channels?channel=${channel}${channelOrderId ? `&channelOrderId=${channelOrderId}` : ''}`);

interface OrderBody {
  orderId: string;
  channel: string;
  channelOrderId: string;
  status: string;
  total: string;
  paymentMethod: string;
  customerId: string;
  lines: { sku: string; quantity: number; unitPrice: string }[];
  shippingAddress: Record<string, unknown>;
}
const getOrder = async (orderId: string): Promise<OrderBody | undefined> => {
  const res = await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.cs });
  return res.status === 200 ? ((await res.json()) as OrderBody) : undefined;
};
const waitOrder = (orderId: string, pred: (o: OrderBody) => boolean = () => true, timeoutMs = 30_000) =>
  eventually(
    async () => {
      const o = await getOrder(orderId);
      return o && pred(o) ? o : undefined;
    },
    { timeoutMs, what: `order ${orderId}` },
  );

const count = async (table: 'orders' | 'order_intake_log' | 'channel_events', column: string, value: string) =>
  Number((await stack.db.sql.unsafe(`select count(*)::int as n from ${table} where ${column} = $1`, [value]))[0]!.n);
const workflowExists = async (id: string) => {
  try {
    await stack.client.workflow.getHandle(id).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
};
/** The intake workflow a notification asked for, once the relay has started it (the answer does not wait for that). */
const intakeHandle = async (id: string) => {
  await eventually(() => workflowExists(id), { what: `${id} started` });
  return stack.client.workflow.getHandle<typeof channelIntakeWorkflow>(id);
};

beforeAll(async () => {
  stack = await startTestStack({
    orderSettings: { stepRetry: { initialIntervalMs: 100, maximumIntervalMs: 300, maximumAttempts: 3 } },
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 100 } },
  });
  const stock = { 'WH-HCM': 500, 'WH-HN': 500 };
  await seedNetwork(stack.db.sql, { 'TSHIRT-M': stock, 'CAP-BLK': stock, 'BAG-TOTE': stock, 'SANDAL-42': stock, 'MUG-CER': stock });
});
afterAll(async () => {
  await stack?.close();
});

describe("each channel's webhook becomes the right order", () => {
  it('shopify: the whole order in the webhook, taken in at once; statuses go back as order updates, the newest last', async () => {
    const { doc, id } = fresh('shopify', fixture('shopify/orders-create-prepaid.json'));
    await putOnPlatform('shopify', doc);
    const r = await notify('shopify', { channelOrderId: id, topic: 'orders/create' });
    expect(r.deliveries[0]).toEqual({
      status: 202,
      body: { accepted: true, duplicate: false, orderId: `order-shopify-${id}`, action: 'intake', nativeStatus: 'paid' },
    });
    const o = await waitOrder(`order-shopify-${id}`);
    expect(o).toMatchObject({
      channel: 'shopify',
      channelOrderId: id,
      customerId: 'shopify-7012345678901',
      total: '468000.00',
      paymentMethod: 'prepaid',
    });
    expect(o.lines).toEqual([
      { lineNo: 1, sku: 'TSHIRT-M', quantity: 2, unitPrice: '149000.00' },
      { lineNo: 2, sku: 'CAP-BLK', quantity: 1, unitPrice: '150000.00' },
    ]);
    expect(o.shippingAddress).toMatchObject({ city: 'Hồ Chí Minh', district: 'Quận 1', line1: '45 Nguyễn Huệ' });
    await waitOrder(o.orderId, (x) => x.status === 'DELIVERED');
    // Shopify keeps the last write: it must be the newest status, and every call was an order update.
    const l = await eventually(async () => {
      const x = await ledger('shopify', id);
      return x.orders[id]?.status === 'oms:DELIVERED' ? x : undefined;
    });
    expect(l.calls.length).toBeGreaterThanOrEqual(4);
    expect(l.calls.every((c) => c.action === 'update_order')).toBe(true);
    expect(l.calls.map((c) => c.status)).toContain('oms:SHIPPED');
    expect(l.calls.at(-1)!.status).toBe('oms:DELIVERED');
  });

  it('shopee: a thin push, the order pulled from get_order_detail (signed), COD; handover goes back as ship_order', async () => {
    const { doc, id } = fresh('shopee', fixture('shopee/order-detail-cod.json'));
    await putOnPlatform('shopee', doc);
    const r = await notify('shopee', { channelOrderId: id });
    expect(r.deliveries[0]).toEqual({
      status: 202,
      body: { accepted: true, duplicate: false, orderId: `order-shopee-${id}`, action: 'intake', nativeStatus: 'READY_TO_SHIP' },
    });
    const result = await (await intakeHandle(`intake-shopee-${id}`)).result();
    expect(result).toEqual({ outcome: 'intake', nativeStatus: 'READY_TO_SHIP', orderId: `order-shopee-${id}`, created: true });
    const o = await waitOrder(`order-shopee-${id}`);
    expect(o).toMatchObject({ channel: 'shopee', customerId: 'shopee-402117733', total: '427000.00', paymentMethod: 'cod' });
    expect(o.lines.map((l) => [l.sku, l.quantity, l.unitPrice])).toEqual([
      ['TSHIRT-M', 2, '149000.00'],
      ['BAG-TOTE', 1, '99000.00'],
    ]);
    expect(o.shippingAddress).toMatchObject({ city: 'Hà Nội', district: 'Quận Đống Đa', ward: 'Phường Láng Hạ' });
    expect((await ledger('shopee', id)).reads).toHaveLength(1);
    const l = await eventually(async () => {
      const x = await ledger('shopee', id);
      return x.calls.some((c) => c.action === 'ship_order') ? x : undefined;
    });
    expect(l.calls.filter((c) => c.action === 'ship_order')[0]!.body).toMatchObject({ order_sn: id });
    expect(l.orders[id]!.status).toBe('SHIPPED');
  });

  it('lazada: a thin message, the order pulled from /order/get + /order/items/get; ready-to-ship goes back with the item ids', async () => {
    const { doc, id } = fresh('lazada', fixture('lazada/order-cod.json'));
    await putOnPlatform('lazada', doc);
    const r = await notify('lazada', { channelOrderId: id });
    expect(r.deliveries[0]!.status).toBe(202);
    expect(r.deliveries[0]!.body).toMatchObject({ orderId: `order-lazada-${id}`, action: 'intake', nativeStatus: 'pending' });
    const o = await waitOrder(`order-lazada-${id}`);
    expect(o).toMatchObject({ channel: 'lazada', customerId: 'lazada-1102938475', total: '305000.00', paymentMethod: 'cod' });
    expect(o.lines.map((l) => [l.sku, l.quantity, l.unitPrice])).toEqual([['SANDAL-42', 2, '159000.00']]);
    const items = (doc.items as Doc[]).filter((i) => i.status !== 'canceled').map((i) => i.order_item_id);
    const l = await eventually(async () => {
      const x = await ledger('lazada', id);
      return x.calls.some((c) => c.action === 'set_ready_to_ship') ? x : undefined;
    });
    expect(JSON.parse((l.calls.find((c) => c.action === 'set_ready_to_ship')!.body as { order_item_ids: string }).order_item_ids)).toEqual(
      items,
    );
    expect((await ledger('lazada', id)).reads.map((x) => x.action).sort()).toEqual(['get_order', 'get_order_items']);
  });

  it('tiktok: a thin ORDER_STATUS_CHANGE, the order pulled from /order/202309/orders, prepaid', async () => {
    const { doc, id } = fresh('tiktok', fixture('tiktok/order-detail-prepaid.json'));
    await putOnPlatform('tiktok', doc);
    const r = await notify('tiktok', { channelOrderId: id });
    expect(r.deliveries[0]!.status).toBe(202);
    const o = await waitOrder(`order-tiktok-${id}`);
    expect(o).toMatchObject({ channel: 'tiktok', customerId: 'tiktok-7123987654321098765', total: '396000.00', paymentMethod: 'prepaid' });
    expect(o.lines.map((l) => [l.sku, l.quantity, l.unitPrice])).toEqual([
      ['TSHIRT-M', 2, '149000.00'],
      ['CAP-BLK', 1, '100000.00'],
    ]);
    expect(o.shippingAddress).toMatchObject({ city: 'Khánh Hòa', district: 'Thành phố Nha Trang' });
    const l = await eventually(async () => {
      const x = await ledger('tiktok', id);
      return x.calls.some((c) => c.action === 'mark_package_shipped') ? x : undefined;
    });
    expect(
      (l.calls.find((c) => c.action === 'mark_package_shipped')!.body as { order_line_item_ids: string[] }).order_line_item_ids,
    ).toHaveLength(3);
  });

  it('web: the canonical order, signed with X-Channel-Signature', async () => {
    const order = { ...fixture('web/order.json'), channelOrderId: `W${uniqueSuffix()}` };
    const r = await notify('web', { order });
    expect(r.deliveries[0]!.body).toMatchObject({ duplicate: false, orderId: `order-web-${order.channelOrderId}`, action: 'intake' });
    const o = await waitOrder(`order-web-${order.channelOrderId}`);
    expect(o).toMatchObject({ total: '198000.00', paymentMethod: 'prepaid', customerId: 'cust-88120' });
  });
});

describe('what a webhook may not do', () => {
  it('a wrong or missing signature is 401: no event, no intake, no order, no workflow', async () => {
    const { doc, id } = fresh('shopee', fixture('shopee/order-detail-cod.json'));
    await putOnPlatform('shopee', doc);
    const wrong = await notify('shopee', { channelOrderId: id, signature: 'wrong' });
    const none = await notify('shopee', { channelOrderId: id, signature: 'none' });
    for (const r of [wrong, none])
      expect(r.deliveries[0]).toMatchObject({ status: 401, body: { type: 'https://durable-oms.dev/problems/unauthorized' } });
    const s = fresh('shopify', fixture('shopify/orders-create-prepaid.json'));
    await putOnPlatform('shopify', s.doc);
    expect((await notify('shopify', { channelOrderId: s.id, signature: 'wrong' })).deliveries[0]!.status).toBe(401);
    // The signature is checked before the payload: a validly signed malformed push is a 400,
    // the same push with its body changed after signing is a 401.
    const signed = await notify('tiktok', { rawBody: rawFixture('tiktok/push-malformed.json') });
    expect(signed.deliveries[0]!.status).toBe(400);
    const tampered = await fetch(signed.url, {
      method: 'POST',
      headers: signed.sent.headers,
      body: signed.sent.body.replace('AWAITING_SHIPMENT', 'CANCEL'),
    });
    expect(tampered.status).toBe(401);

    // A 401 is answered before anything is written or started, so nothing can still be on its way.
    expect(await count('channel_events', 'channel_order_id', id)).toBe(0);
    expect(await count('orders', 'order_id', `order-shopee-${id}`)).toBe(0);
    expect(await count('order_intake_log', 'order_id', `order-shopify-${s.id}`)).toBe(0);
    expect(await count('orders', 'order_id', `order-shopify-${s.id}`)).toBe(0);
    expect(await workflowExists(`intake-shopee-${id}`)).toBe(false);
    expect(await workflowExists(`order-shopee-${id}`)).toBe(false);
    expect(await workflowExists(`order-shopify-${s.id}`)).toBe(false);
    expect((await ledger('shopee', id)).reads).toHaveLength(0);
  });

  it('a replayed webhook makes one order: 3 deliveries in a row and 3 at once, Shopify and Shopee', async () => {
    const sp = fresh('shopee', fixture('shopee/order-detail-cod.json'));
    await putOnPlatform('shopee', sp.doc);
    const r = await notify('shopee', { channelOrderId: sp.id, times: 3 });
    expect(r.deliveries.map((d) => [d.status, d.body.duplicate, d.body.orderId])).toEqual([
      [202, false, `order-shopee-${sp.id}`],
      [200, true, `order-shopee-${sp.id}`],
      [200, true, `order-shopee-${sp.id}`],
    ]);
    const sh = fresh('shopify', fixture('shopify/orders-create-cod.json'));
    await putOnPlatform('shopify', sh.doc);
    const first = await notify('shopify', { channelOrderId: sh.id, eventId: `wh-${uniqueSuffix()}` });
    // The same bytes again, three times at once (a platform retrying while the first is in flight).
    const again = await Promise.all(
      [0, 1, 2].map(() => fetch(first.url, { method: 'POST', headers: first.sent.headers, body: first.sent.body })),
    );
    expect(first.deliveries[0]!.status).toBe(202);
    expect(again.map((x) => x.status)).toEqual([200, 200, 200]);
    for (const x of again) expect(await x.json()).toMatchObject({ duplicate: true, orderId: `order-shopify-${sh.id}` });
    // A different event for the same order (orders/paid after orders/create): still the same order.
    const paid = await notify('shopify', { channelOrderId: sh.id, topic: 'orders/paid' });
    expect(paid.deliveries[0]).toMatchObject({ status: 200, body: { duplicate: true, orderId: `order-shopify-${sh.id}` } });

    await waitOrder(`order-shopee-${sp.id}`);
    await waitOrder(`order-shopify-${sh.id}`);
    expect(await count('orders', 'order_id', `order-shopee-${sp.id}`)).toBe(1);
    expect(await count('channel_events', 'channel_order_id', sp.id)).toBe(1);
    expect((await ledger('shopee', sp.id)).reads).toHaveLength(1);
    expect(await count('orders', 'order_id', `order-shopify-${sh.id}`)).toBe(1);
    expect(
      Number(
        (
          await stack.db.sql`select count(*)::int as n from order_intake_log where order_id = ${`order-shopify-${sh.id}`} and not duplicate`
        )[0]!.n,
      ),
    ).toBe(1);
    expect(await count('channel_events', 'channel_order_id', sh.id)).toBe(2);
  });

  it('each malformed native payload is 400 naming the field, and nothing is kept', async () => {
    const cases: [string, string, string][] = [
      ['shopify', 'shopify/orders-create-malformed.json', 'line_items.0.quantity'],
      ['shopee', 'shopee/push-malformed.json', 'data.ordersn'],
      ['lazada', 'lazada/push-malformed.json', 'data.trade_order_id'],
      ['tiktok', 'tiktok/push-malformed.json', 'data.order_id'],
      ['web', 'web/order-malformed.json', 'lines.0.unitPrice'],
    ];
    const before = Number((await stack.db.sql`select count(*)::int as n from channel_events`)[0]!.n);
    for (const [channel, file, path] of cases) {
      const r = await notify(channel, { rawBody: rawFixture(file) });
      expect(r.deliveries[0]!.status, channel).toBe(400);
      expect(
        r.deliveries[0]!.body.errors!.map((e) => e.path),
        channel,
      ).toEqual([path]);
    }
    const broken = await notify('shopee', { rawBody: '{"shop_id": 880123456, "code": 3,' });
    expect(broken.deliveries[0]).toMatchObject({ status: 400, body: { type: 'https://durable-oms.dev/problems/malformed-json' } });
    expect(Number((await stack.db.sql`select count(*)::int as n from channel_events`)[0]!.n)).toBe(before);
  });

  it("is described in the OpenAPI document: each channel's body (oneOf), the signature headers, every answer", async () => {
    const doc = (await (await fetch(`${stack.apiUrl}/openapi.json`)).json()) as {
      paths: Record<
        string,
        {
          post?: {
            requestBody: { content: { 'application/json': { schema: { $ref?: string } } } };
            responses: Record<string, unknown>;
            parameters: { name: string; in: string }[];
          };
        }
      >;
      components: { schemas: Record<string, { oneOf?: { $ref: string }[] }> };
    };
    const op = doc.paths['/v1/channels/{channel}/webhooks']!.post!;
    expect(Object.keys(op.responses).sort()).toEqual(['200', '202', '400', '401', '404', '413', '503']);
    expect(op.parameters.map((p) => p.name)).toEqual(
      expect.arrayContaining(['channel', 'x-shopify-hmac-sha256', 'authorization', 'x-channel-signature']),
    );
    const body = doc.components.schemas[op.requestBody.content['application/json'].schema.$ref!.split('/').pop()!]!;
    expect(body.oneOf!.map((s) => s.$ref.split('/').pop())).toEqual([
      'ShopifyOrderWebhook',
      'ShopeeOrderStatusPush',
      'LazadaTradeOrderMessage',
      'TikTokOrderStatusChange',
      'CanonicalOrder',
    ]);
  });

  it('an unknown channel is 404', async () => {
    const res = await fetch(`${stack.apiUrl}/v1/channels/ebay/webhooks`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'abc' },
      body: '{}',
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });
});

describe("the pull and the platform's statuses", () => {
  it('the order-detail API failing twice still ends in an order: the pull is retried', async () => {
    const { doc, id } = fresh('shopee', fixture('shopee/order-detail-cod.json'));
    await putOnPlatform('shopee', doc);
    await sandbox('/sandbox/faults', {
      service: 'channels',
      op: 'order',
      match: { channel: 'shopee', orderId: id },
      action: 'error500',
      times: 2,
    });
    expect((await notify('shopee', { channelOrderId: id })).deliveries[0]!.status).toBe(202);
    const handle = await intakeHandle(`intake-shopee-${id}`);
    expect(await handle.result()).toMatchObject({ outcome: 'intake', orderId: `order-shopee-${id}`, created: true });
    await waitOrder(`order-shopee-${id}`);
    const history = await handle.fetchHistory();
    const attempts = (history.events ?? [])
      .map((e) => e.activityTaskStartedEventAttributes?.attempt)
      .filter((a): a is number => typeof a === 'number');
    expect(Math.max(...attempts)).toBe(3);
    expect((await ledger('shopee', id)).reads).toHaveLength(1);
  });

  it('an UNPAID order is acknowledged and not taken in; once paid, it is', async () => {
    const { doc, id } = fresh('shopee', { ...fixture('shopee/order-detail-cod.json'), order_status: 'UNPAID' });
    await putOnPlatform('shopee', doc);
    const unpaid = await notify('shopee', { channelOrderId: id });
    expect(unpaid.deliveries[0]).toEqual({
      status: 200,
      body: { accepted: true, duplicate: false, orderId: `order-shopee-${id}`, action: 'wait', nativeStatus: 'UNPAID' },
    });
    expect(await workflowExists(`intake-shopee-${id}`)).toBe(false);
    expect(await count('orders', 'order_id', `order-shopee-${id}`)).toBe(0);
    expect(await count('channel_events', 'channel_order_id', id)).toBe(1);
    await sandbox(`/sandbox/channels/shopee/orders/${id}/status`, { status: 'READY_TO_SHIP' });
    expect((await notify('shopee', { channelOrderId: id })).deliveries[0]!.status).toBe(202);
    await waitOrder(`order-shopee-${id}`);
  });

  it('the pulled status decides: notified READY_TO_SHIP but cancelled since → no order', async () => {
    const { doc, id } = fresh('tiktok', { ...fixture('tiktok/order-detail-cod.json') });
    await putOnPlatform('tiktok', doc);
    await sandbox(`/sandbox/channels/tiktok/orders/${id}/status`, { status: 'CANCELLED' });
    expect((await notify('tiktok', { channelOrderId: id, status: 'AWAITING_SHIPMENT' })).deliveries[0]!.status).toBe(202);
    expect(await (await intakeHandle(`intake-tiktok-${id}`)).result()).toEqual({ outcome: 'cancelled', nativeStatus: 'CANCELLED' });
    expect(await count('orders', 'order_id', `order-tiktok-${id}`)).toBe(0);
    // And a cancellation notice is acknowledged and recorded, nothing started.
    const c = await notify('tiktok', { channelOrderId: id });
    expect(c.deliveries[0]).toMatchObject({ status: 200, body: { action: 'cancelled', duplicate: false } });
  });

  it('an order detail that cannot be mapped parks the intake for ops, naming the field; a retry after the fix takes it in', async () => {
    const malformed = fixture('shopee/order-detail-malformed.json');
    const { doc, id } = fresh('shopee', malformed);
    await putOnPlatform('shopee', doc);
    expect((await notify('shopee', { channelOrderId: id })).deliveries[0]!.status).toBe(202);
    const handle = await intakeHandle(`intake-shopee-${id}`);
    // Not Failed: running, flagged for the Web UI, and saying which field is wrong.
    const parked = await eventually(
      async () => {
        const d = await handle.describe();
        return d.typedSearchAttributes.get(NeedsAttentionKey) === true ? d : undefined;
      },
      { timeoutMs: 30_000, what: 'the intake flagged NeedsAttention' },
    );
    expect(parked.status.name).toBe('RUNNING');
    expect((await handle.query(workflowMetadataQuery)).currentDetails).toContain('item_list.0.model_discounted_price');
    expect(await count('orders', 'order_id', `order-shopee-${id}`)).toBe(0);
    // The platform's order is corrected; the ops retry pulls it again and takes it in.
    await putOnPlatform('shopee', { ...fresh('shopee', fixture('shopee/order-detail-cod.json')).doc, order_sn: id });
    await handle.executeUpdate(retryUpdate, { args: [{ actor: 'ops:test' }] });
    expect(await handle.result()).toMatchObject({ outcome: 'intake', orderId: `order-shopee-${id}` });
    expect(await count('orders', 'order_id', `order-shopee-${id}`)).toBe(1);
    // The intake is over: a second retry finds nothing to act on.
    await expect(handle.executeUpdate(retryUpdate, { args: [{ actor: 'ops:test' }] })).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });
});

describe('status pushes are ordered per order', () => {
  const acts = () =>
    createActivities({
      sql: stack.db.sql,
      logger: memoryLogger(),
      rules: DEFAULT_RULES,
      systems: outsideSystems(stack.sandboxUrl, DEV_SANDBOX_KEY),
    });
  const push = (channel: string, orderId: string, channelOrderId: string, status: string, seq: number) =>
    acts().pushOrderStatus({ channel, orderId, channelOrderId, status, seq, occurredAt: new Date().toISOString() });

  it('a push older than what the channel was told is never sent, even when its first try was lost and retried late', async () => {
    const orderId = `order-web-P${uniqueSuffix()}`;
    await sandbox('/sandbox/faults', { service: 'channels', op: 'push', match: { channel: 'web', orderId }, action: 'lose_response' });
    // seq 2 reaches the channel but its answer is lost: the activity fails and will be retried…
    await expect(push('web', orderId, 'P1', 'ALLOCATED', 2)).rejects.toThrow(/500/);
    // …meanwhile seq 3 is pushed…
    await push('web', orderId, 'P1', 'FULFILLING', 3);
    // …and the late retry of seq 2 must not overwrite it.
    await push('web', orderId, 'P1', 'ALLOCATED', 2);
    const l = await ledger('web');
    expect(l.pushes.filter((p) => p.orderId === orderId).map((p) => [p.seq, p.status, p.stale])).toEqual([
      [2, 'ALLOCATED', false],
      [3, 'FULFILLING', false],
    ]);
    expect(l.latest[orderId]).toMatchObject({ status: 'FULFILLING', seq: 3 });
  });

  it('pushes racing for one order reach the channel in seq order, the newest last (a last-write-wins platform)', async () => {
    const id = `58${digits(11)}`;
    const orderId = `order-shopify-${id}`;
    const statuses = ['RECEIVED', 'PAYMENT_PENDING', 'ALLOCATED', 'FULFILLING', 'SHIPPED', 'DELIVERED'];
    // Newest first, all at once: whatever gets through must never be followed by an older one.
    await Promise.all(
      statuses
        .map((s, i) => ({ s, seq: i + 1 }))
        .reverse()
        .map(({ s, seq }) => push('shopify', orderId, id, s, seq)),
    );
    const calls = (await ledger('shopify', id)).calls;
    const seqs = calls.map((c) => statuses.indexOf(c.status.replace('oms:', '')) + 1);
    expect(seqs.length).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
    expect(calls.at(-1)!.status).toBe('oms:DELIVERED');
    const [row] = await stack.db.sql<
      { seq: number; status: string }[]
    >`select seq, status from channel_status_pushes where channel = 'shopify' and order_id = ${orderId}`;
    expect(row).toEqual({ seq: 6, status: 'DELIVERED' });
  });
});
