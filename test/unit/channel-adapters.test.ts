/**
 * Channel adapters against realistic native payloads (test/fixtures/channels): each becomes the
 * right canonical order field by field; signatures verify over the raw bytes and fail on any
 * change; amounts convert exactly; COD is read from the payment fields; every native status is
 * mapped on purpose; malformed payloads are refused naming the field; pushes have each
 * platform's shape.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  channelCredentials,
  type ChannelRequest,
  type InboundRequest,
  type PushContext,
} from '../../activities/channels/adapters';
import { exactDecimal, linesFromUnits } from '../../activities/channels/adapters/common';
import { LAZADA_DISPOSITIONS, LAZADA_STATUSES, lazadaSign } from '../../activities/channels/adapters/lazada';
import { SHOPEE_DISPOSITIONS, SHOPEE_STATUSES } from '../../activities/channels/adapters/shopee';
import { shopifyNativeStatus } from '../../activities/channels/adapters/shopify';
import { TIKTOK_DISPOSITIONS, TIKTOK_STATUSES, tiktokSign } from '../../activities/channels/adapters/tiktok';
import { toMinor } from '../../domain/money';
import type { CanonicalOrder } from '../../domain/order';
import { computeTotalMinor } from '../../domain/validate';
import { DEV_CHANNEL_SECRETS } from '../../lib/config';

const fixture = <T = Record<string, unknown>>(path: string): T =>
  JSON.parse(readFileSync(new URL(`../fixtures/channels/${path}`, import.meta.url), 'utf8')) as T;
const raw = (path: string) => readFileSync(new URL(`../fixtures/channels/${path}`, import.meta.url), 'utf8');
const creds = (channel: string) => channelCredentials(channel, DEV_CHANNEL_SECRETS[channel]!);
const hmacHex = (secret: string, msg: string) => createHmac('sha256', secret).update(msg, 'utf8').digest('hex');
const hmacB64 = (secret: string, msg: string) => createHmac('sha256', secret).update(msg, 'utf8').digest('base64');
const URL_ = 'https://oms.example.vn/v1/channels/shopee/webhooks';

function inbound(rawBody: string, headers: Record<string, string> = {}, url = URL_): InboundRequest {
  const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { rawBody, header: (n) => h.get(n.toLowerCase()), url };
}

function ok<T>(r: { ok: true; value: T } | { ok: false; issues: { path: string; message: string }[] }): T {
  if (!r.ok) throw new Error(`expected success, got ${JSON.stringify(r.issues)}`);
  return r.value;
}
function issuesOf(r: { ok: boolean; issues?: { path: string }[] }): string[] {
  expect(r.ok).toBe(false);
  return (r.issues ?? []).map((i) => i.path);
}

/** What the canonical order's own validation computes: must agree with what the buyer paid. */
const totalOf = (o: CanonicalOrder) => computeTotalMinor(o);
const noCtx: PushContext = { shipments: [] };

describe('exact money', () => {
  it('converts native numbers and strings to decimal strings without float arithmetic', () => {
    expect(exactDecimal(149000)).toBe('149000.00');
    expect(exactDecimal(12.9)).toBe('12.90');
    expect(exactDecimal(0.1)).toBe('0.10');
    expect(exactDecimal(19.99)).toBe('19.99');
    expect(exactDecimal('007.5')).toBe('7.50');
    expect(exactDecimal('139000.00')).toBe('139000.00');
    expect(exactDecimal(0)).toBe('0.00');
  });

  it('refuses what it cannot represent exactly instead of rounding', () => {
    for (const bad of [
      1.005,
      149000.555,
      -1,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      1e21,
      '1,00',
      '1,0000.00',
      ',100',
      '12.345',
      '',
      'abc',
      '1e3',
    ]) {
      expect(exactDecimal(bad), String(bad)).toBeUndefined();
    }
    // Lazada groups thousands with commas in its order price.
    expect(exactDecimal('1,152.00')).toBe('1152.00');
    expect(exactDecimal('12,345,678')).toBe('12345678.00');
  });

  it('merges per-unit items into one line per SKU; price differences become discount, exactly', () => {
    const r = linesFromUnits([
      { sku: 'A', price: '0.10' },
      { sku: 'A', price: '0.10' },
      { sku: 'A', price: '0.05' },
      { sku: 'B', price: '19.99' },
    ]);
    expect(r.lines).toEqual([
      { sku: 'A', quantity: 3, unitPrice: '0.10' },
      { sku: 'B', quantity: 1, unitPrice: '19.99' },
    ]);
    expect(r.extraDiscountMinor).toBe(5);
  });
});

describe('shopify', () => {
  const a = ADAPTERS.shopify;
  const body = raw('shopify/orders-create-prepaid.json');
  const headers = (b: string, over: Record<string, string> = {}) => ({
    'X-Shopify-Hmac-Sha256': hmacB64(DEV_CHANNEL_SECRETS.shopify!, b),
    'X-Shopify-Topic': 'orders/create',
    'X-Shopify-Webhook-Id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    ...over,
  });

  it('verifies X-Shopify-Hmac-Sha256 (base64 HMAC of the raw body) and nothing else', () => {
    expect(a.verifyWebhook(inbound(body, headers(body)), creds('shopify'))).toBe(true);
    expect(a.verifyWebhook(inbound(body.replace('468000.00', '1.00'), headers(body)), creds('shopify'))).toBe(false);
    expect(a.verifyWebhook(inbound(body, { 'X-Shopify-Hmac-Sha256': hmacB64('another-secret', body) }), creds('shopify'))).toBe(false);
    expect(a.verifyWebhook(inbound(body, { 'X-Shopify-Hmac-Sha256': hmacHex(DEV_CHANNEL_SECRETS.shopify!, body) }), creds('shopify'))).toBe(
      false,
    );
    expect(a.verifyWebhook(inbound(body), creds('shopify'))).toBe(false);
  });

  it('maps a paid order to the canonical order, field by field', () => {
    const n = ok(a.parseWebhook(JSON.parse(body), inbound(body, headers(body))));
    expect(n).toMatchObject({
      eventId: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
      channelOrderId: '5832947261442',
      nativeStatus: 'paid',
      disposition: 'intake',
    });
    expect(n.order).toEqual({
      channel: 'shopify',
      channelOrderId: '5832947261442',
      currency: 'VND',
      customer: { id: 'shopify-7012345678901', name: 'Mai Trần Thị', email: 'tran.thi.mai@example.vn', phone: '+84901234567' },
      shippingAddress: {
        name: 'Trần Thị Mai',
        line1: '45 Nguyễn Huệ',
        line2: 'Tầng 3',
        city: 'Hồ Chí Minh',
        district: 'Quận 1',
        postalCode: '700000',
        country: 'VN',
        lat: 10.7743,
        lng: 106.7038,
      },
      lines: [
        { sku: 'TSHIRT-M', quantity: 2, unitPrice: '149000.00' },
        { sku: 'CAP-BLK', quantity: 1, unitPrice: '150000.00' },
      ],
      shippingFee: '30000.00',
      discount: '10000.00',
      total: '468000.00',
      payment: { method: 'prepaid', token: 'tok_shopify_5832947261442', provider: 'vnpay' },
      placedAt: '2026-11-21T10:15:32+07:00',
    });
    expect(totalOf(n.order!)).toBe(toMinor('468000.00'));
  });

  it('detects COD from the gateway: a pending COD order is an order to fulfil; a guest gets an id', () => {
    const b = raw('shopify/orders-create-cod.json');
    const n = ok(a.parseWebhook(JSON.parse(b), inbound(b, headers(b))));
    expect(n.disposition).toBe('intake');
    expect(n.nativeStatus).toBe('pending_cod');
    expect(n.order).toMatchObject({
      channelOrderId: '5832947261443',
      customer: { id: 'shopify-guest-5832947261443', name: 'Lê Văn Hùng', email: 'le.van.hung@example.vn', phone: '0935222333' },
      shippingAddress: { name: 'Lê Văn Hùng', line1: '78 Trần Phú', city: 'Đà Nẵng', district: 'Quận Hải Châu', country: 'VN' },
      lines: [{ sku: 'CAP-BLK', quantity: 3, unitPrice: '150000.00' }],
      shippingFee: '25000.00',
      discount: '0.00',
      total: '475000.00',
      payment: { method: 'cod' },
    });
    expect(n.order!.shippingAddress.lat).toBeUndefined();
  });

  it('maps its statuses explicitly: unpaid bank transfer waits, cancelled and refunded start nothing', () => {
    const o = fixture<{ payment_gateway_names: string[] }>('shopify/orders-create-prepaid.json');
    const st = (over: object) =>
      shopifyNativeStatus({
        cancelled_at: null,
        fulfillment_status: null,
        financial_status: 'paid',
        payment_gateway_names: o.payment_gateway_names,
        ...over,
      });
    expect(a.dispositionOf(st({ financial_status: 'pending' }))).toBe('wait');
    expect(a.dispositionOf(st({ financial_status: 'pending', payment_gateway_names: ['Cash on Delivery (COD)'] }))).toBe('intake');
    expect(a.dispositionOf(st({ financial_status: 'authorized' }))).toBe('intake');
    expect(a.dispositionOf(st({ cancelled_at: '2026-11-21T11:00:00+07:00' }))).toBe('cancelled');
    expect(a.dispositionOf(st({ financial_status: 'refunded' }))).toBe('cancelled');
    expect(a.dispositionOf(st({ fulfillment_status: 'fulfilled' }))).toBe('track');
    const cancelled = JSON.stringify({ ...(JSON.parse(body) as Record<string, unknown>), cancelled_at: '2026-11-21T11:00:00+07:00' });
    const n = ok(a.parseWebhook(JSON.parse(cancelled), inbound(cancelled, headers(cancelled, { 'X-Shopify-Topic': 'orders/cancelled' }))));
    expect(n.disposition).toBe('cancelled');
    expect(n.order).toBeUndefined();
  });

  it('refuses malformed orders naming the field', () => {
    const bad = raw('shopify/orders-create-malformed.json');
    expect(issuesOf(a.parseWebhook(JSON.parse(bad), inbound(bad, headers(bad))))).toEqual(['line_items.0.quantity']);
    const noSku = {
      ...(JSON.parse(body) as Record<string, unknown>),
      line_items: [{ ...fixture<{ line_items: object[] }>('shopify/orders-create-prepaid.json').line_items[0], sku: null }],
    };
    expect(issuesOf(a.parseWebhook(noSku, inbound('', headers(''))))).toEqual(['line_items.0.sku']);
    const noAddress = { ...(JSON.parse(body) as Record<string, unknown>), shipping_address: null };
    expect(issuesOf(a.parseWebhook(noAddress, inbound('', headers(''))))).toEqual(['shipping_address']);
    // A topic the OMS does not read is acknowledged and noted, not refused (Shopify would retry it and disable the subscription).
    expect(ok(a.parseWebhook(JSON.parse(body), inbound(body, headers(body, { 'X-Shopify-Topic': 'products/create' }))))).toMatchObject({
      disposition: 'ignore',
      notes: [{ path: 'headers.x-shopify-topic', value: 'products/create' }],
    });
  });

  it('pushes status by updating the order (tags, note attributes), cancels through cancel.json, stock through GraphQL', () => {
    const input = {
      channel: 'shopify',
      orderId: 'order-shopify-5832947261442',
      channelOrderId: '5832947261442',
      seq: 7,
      occurredAt: '2026-11-21T12:00:00.000Z',
    };
    const [upd] = a.statusPush(
      { ...input, status: 'SHIPPED' },
      { shipments: [{ carrier: 'ghn', trackingNumber: 'GHN123' }] },
      creds('shopify'),
      0,
    );
    expect(upd).toMatchObject({
      method: 'PUT',
      path: '/admin/api/2025-01/orders/5832947261442.json',
      headers: { 'X-Shopify-Access-Token': 'shpat_dev_durable_oms' },
    });
    expect(JSON.parse(upd!.body!)).toEqual({
      order: {
        id: 5832947261442,
        tags: 'oms:SHIPPED',
        note_attributes: [
          { name: 'oms_status', value: 'SHIPPED' },
          { name: 'oms_status_at', value: '2026-11-21T12:00:00.000Z' },
          { name: 'oms_tracking', value: 'GHN123' },
        ],
      },
    });
    const [cancel] = a.statusPush(
      { ...input, status: 'CANCELLED', detail: { reasons: ['backorder expired'] } },
      noCtx,
      creds('shopify'),
      0,
    );
    expect(cancel).toMatchObject({ method: 'POST', path: '/admin/api/2025-01/orders/5832947261442/cancel.json' });
    expect(JSON.parse(cancel!.body!)).toEqual({ reason: 'inventory', email: false });
    const stock = a.stockUpdateBody([
      { sku: 'TSHIRT-M', available: 17 },
      { sku: 'CAP-BLK', available: 0 },
    ]) as { query: string; variables: { input: { quantities: unknown[] } } };
    expect(stock.query).toContain('inventorySetQuantities');
    expect(stock.variables.input.quantities).toEqual([
      { inventoryItemId: 'gid://shopify/InventoryItem/sku:TSHIRT-M', locationId: 'gid://shopify/Location/1', quantity: 17 },
      { inventoryItemId: 'gid://shopify/InventoryItem/sku:CAP-BLK', locationId: 'gid://shopify/Location/1', quantity: 0 },
    ]);
    expect(a.platformError({ errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED' } }] })).toMatchObject({ retryable: true });
    expect(a.platformError({ data: { inventorySetQuantities: { userErrors: [{ message: 'unknown item' }] } } })).toMatchObject({
      retryable: false,
    });
  });
});

describe('shopee', () => {
  const a = ADAPTERS.shopee;
  const push = raw('shopee/push-ready-to-ship.json');
  const sig = (b: string, url = URL_) => hmacHex(DEV_CHANNEL_SECRETS.shopee!, `${url}|${b}`);

  it('verifies the Authorization header: hex HMAC of "<callback URL>|<raw body>"', () => {
    expect(a.verifyWebhook(inbound(push, { Authorization: sig(push) }), creds('shopee'))).toBe(true);
    expect(a.verifyWebhook(inbound(push, { Authorization: sig(push).toUpperCase() }), creds('shopee'))).toBe(true);
    expect(a.verifyWebhook(inbound(push, { Authorization: sig(push, 'https://evil.example/hook') }), creds('shopee'))).toBe(false);
    expect(a.verifyWebhook(inbound(`${push} `, { Authorization: sig(push) }), creds('shopee'))).toBe(false);
    expect(a.verifyWebhook(inbound(push, { Authorization: `Bearer ${sig(push)}` }), creds('shopee'))).toBe(false);
    expect(a.verifyWebhook(inbound(push), creds('shopee'))).toBe(false);
  });

  it('reads a thin status push: the event is order + status + time', () => {
    expect(ok(a.parseWebhook(JSON.parse(push), inbound(push)))).toEqual({
      eventId: '261121K7QX3M2A:READY_TO_SHIP:1795230344',
      channelOrderId: '261121K7QX3M2A',
      nativeStatus: 'READY_TO_SHIP',
      disposition: 'intake',
      notes: [],
    });
    expect(ok(a.parseWebhook(fixture('shopee/push-unpaid.json'), inbound('')))).toMatchObject({
      nativeStatus: 'UNPAID',
      disposition: 'wait',
    });
    expect(issuesOf(a.parseWebhook(fixture('shopee/push-malformed.json'), inbound('')))).toEqual(['data.ordersn']);
    // Push codes the OMS does not act on are acknowledged; an undocumented one is noted.
    expect(ok(a.parseWebhook({ ...JSON.parse(push), code: 4 }, inbound('')))).toMatchObject({ disposition: 'ignore', notes: [] });
    expect(ok(a.parseWebhook({ ...JSON.parse(push), code: 77 }, inbound('')))).toMatchObject({
      disposition: 'ignore',
      notes: [{ path: 'code', value: '77' }],
    });
  });

  it('maps every Shopee status on purpose', () => {
    expect(Object.keys(SHOPEE_DISPOSITIONS).sort()).toEqual([...SHOPEE_STATUSES].sort());
    expect(SHOPEE_DISPOSITIONS).toMatchObject({
      UNPAID: 'wait',
      READY_TO_SHIP: 'intake',
      PROCESSED: 'intake',
      SHIPPED: 'track',
      IN_CANCEL: 'cancel_request',
      CANCELLED: 'cancelled',
      COMPLETED: 'track',
    });
    // A status Shopee adds tomorrow is recorded, and starts nothing.
    expect(a.dispositionOf('LOST')).toBe('track');
  });

  it('signs the order-detail call as Shopee does (partner_id + path + timestamp + access_token + shop_id)', () => {
    const [r] = a.orderDetailRequests!('261121K7QX3M2A', creds('shopee'), 1_795_233_950_123);
    const q = r!.query!;
    expect(r).toMatchObject({ method: 'GET', path: '/api/v2/order/get_order_detail' });
    expect(q).toMatchObject({
      partner_id: '2004567',
      timestamp: '1795233950',
      shop_id: '880123456',
      access_token: 'dev-shopee-access-token',
      order_sn_list: '261121K7QX3M2A',
    });
    expect(q.sign).toBe(
      hmacHex(DEV_CHANNEL_SECRETS.shopee!, '2004567/api/v2/order/get_order_detail1795233950dev-shopee-access-token880123456'),
    );
  });

  it('maps a COD order (numbers in VND) field by field; the buyer total minus items is shipping', () => {
    const native = fixture('shopee/order-detail-cod.json');
    const pulled = ok(
      a.parseOrderDetail!([{ request_id: 'x', error: '', message: '', response: { order_list: [native] } }], '261121K7QX3M2A'),
    );
    expect(pulled).toMatchObject({ nativeStatus: 'READY_TO_SHIP', disposition: 'intake', native });
    expect(pulled.order).toEqual({
      channel: 'shopee',
      channelOrderId: '261121K7QX3M2A',
      currency: 'VND',
      customer: { id: 'shopee-402117733', name: 'Phạm Ngọc Anh', phone: '84912345678' },
      shippingAddress: {
        name: 'Phạm Ngọc Anh',
        line1: 'Số 12 ngõ 56 Láng Hạ, Phường Láng Hạ, Quận Đống Đa, Hà Nội',
        ward: 'Phường Láng Hạ',
        district: 'Quận Đống Đa',
        city: 'Hà Nội',
        postalCode: '100000',
        country: 'VN',
      },
      lines: [
        { sku: 'TSHIRT-M', quantity: 2, unitPrice: '149000.00' },
        { sku: 'BAG-TOTE', quantity: 1, unitPrice: '99000.00' },
      ],
      shippingFee: '30000.00',
      discount: '0.00',
      total: '427000.00',
      payment: { method: 'cod' },
      placedAt: '2026-11-21T03:00:00.000Z',
    });
    expect(totalOf(pulled.order!)).toBe(toMinor('427000.00'));
  });

  it('converts cents sent as JSON floats exactly (3 × 0.1 is 0.30, not 0.30000000000000004) and masks nothing into a phone', () => {
    const native = fixture('shopee/order-detail-prepaid-sg.json');
    const o = ok(a.parseOrderDetail!([{ error: '', response: { order_list: [native] } }], '261121SGP8W1ZC')).order!;
    expect(o.lines).toEqual([
      { sku: 'PROMO-PEN', quantity: 3, unitPrice: '0.10' },
      { sku: 'BAG-TOTE', quantity: 1, unitPrice: '19.99' },
    ]);
    expect(o).toMatchObject({
      currency: 'SGD',
      shippingFee: '1.99',
      discount: '0.00',
      total: '22.28',
      payment: { method: 'prepaid', token: 'tok_shopee_261121SGP8W1ZC', provider: 'shopee' },
    });
    expect(o.customer.phone).toBeUndefined();
    expect(totalOf(o)).toBe(2228);
  });

  it('does not map an order that is not to be taken in, and refuses malformed details naming the field', () => {
    const unpaid = { ...fixture('shopee/order-detail-cod.json'), order_status: 'UNPAID' };
    const waiting = ok(a.parseOrderDetail!([{ response: { order_list: [unpaid] } }], '261121K7QX3M2A'));
    expect(waiting.disposition).toBe('wait');
    expect(waiting.order).toBeUndefined();
    const bad = fixture('shopee/order-detail-malformed.json');
    expect(issuesOf(a.parseOrderDetail!([{ response: { order_list: [bad] } }], '261121BADPRICE'))).toEqual([
      'item_list.0.model_discounted_price',
    ]);
    const noSku = fixture<{ item_list: Record<string, unknown>[] }>('shopee/order-detail-cod.json');
    noSku.item_list[1] = { ...noSku.item_list[1], model_sku: '', item_sku: '' };
    expect(issuesOf(a.parseOrderDetail!([{ response: { order_list: [noSku] } }], '261121K7QX3M2A'))).toEqual(['item_list.1.model_sku']);
    expect(issuesOf(a.parseOrderDetail!([{ response: { order_list: [] } }], '261121K7QX3M2A'))).toEqual(['response.order_list']);
  });

  it('tells retryable Shopee errors from refusals', () => {
    expect(a.platformError({ error: '', message: '' })).toBeUndefined();
    expect(a.platformError({ error: 'error_busy', message: 'busy' })).toMatchObject({ retryable: true });
    expect(a.platformError({ error: 'error_sign', message: 'Wrong sign.' })).toMatchObject({ retryable: false });
  });

  it("pushes handover as ship_order and cancellation as cancel_order with a fitting reason; other statuses are Shopee's own", () => {
    const input = {
      channel: 'shopee',
      orderId: 'order-shopee-261121K7QX3M2A',
      channelOrderId: '261121K7QX3M2A',
      seq: 5,
      occurredAt: '2026-11-21T12:00:00Z',
    };
    const [ship] = a.statusPush(
      { ...input, status: 'SHIPPED' },
      { shipments: [{ carrier: 'ghn', trackingNumber: 'GHNVN12345' }] },
      creds('shopee'),
      1_795_233_950_000,
    );
    expect(ship).toMatchObject({ method: 'POST', path: '/api/v2/logistics/ship_order', action: 'ship_order' });
    expect(JSON.parse(ship!.body!)).toEqual({ order_sn: '261121K7QX3M2A', non_integrated: { tracking_number: 'GHNVN12345' } });
    expect(ship!.query!.sign).toBe(
      hmacHex(DEV_CHANNEL_SECRETS.shopee!, '2004567/api/v2/logistics/ship_order1795233950dev-shopee-access-token880123456'),
    );
    const [cancel] = a.statusPush(
      { ...input, status: 'CANCELLED', detail: { reasons: ['shippingAddress: no warehouse serves the north region'] } },
      noCtx,
      creds('shopee'),
      0,
    );
    expect(JSON.parse(cancel!.body!)).toEqual({ order_sn: '261121K7QX3M2A', cancel_reason: 'UNDELIVERABLE_AREA' });
    for (const status of ['RECEIVED', 'ALLOCATED', 'FULFILLING', 'DELIVERED', 'COMPLETED'])
      expect(a.statusPush({ ...input, status }, noCtx, creds('shopee'), 0)).toEqual([]);
    expect(a.stockUpdateBody([{ sku: 'TSHIRT-M', available: 12 }])).toEqual({
      stock_list: [{ model_sku: 'TSHIRT-M', seller_stock: [{ stock: 12 }] }],
    });
  });
});

describe('lazada', () => {
  const a = ADAPTERS.lazada;
  const push = raw('lazada/push-pending.json');
  const pulledAnswers = (doc: { order: unknown; items: unknown }) => [
    { code: '0', request_id: 'r1', data: doc.order },
    { code: '0', request_id: 'r2', data: doc.items },
  ];

  it('verifies the Authorization header: hex HMAC of app_key + raw body', () => {
    const good = hmacHex(DEV_CHANNEL_SECRETS.lazada!, `112233${push}`);
    expect(a.verifyWebhook(inbound(push, { Authorization: good }), creds('lazada'))).toBe(true);
    expect(a.verifyWebhook(inbound(push, { Authorization: hmacHex(DEV_CHANNEL_SECRETS.lazada!, push) }), creds('lazada'))).toBe(false);
    expect(a.verifyWebhook(inbound(push.replace('pending', 'canceled'), { Authorization: good }), creds('lazada'))).toBe(false);
  });

  it("signs API calls with Lazada's documented algorithm (its published example)", () => {
    expect(
      lazadaSign(
        '/order/get',
        { access_token: 'test', app_key: '123456', order_id: '1234', sign_method: 'sha256', timestamp: '1517820392000' },
        'helloworld',
      ),
    ).toBe('4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A');
    const [get, items] = a.orderDetailRequests!('680412933571822', creds('lazada'), 1_795_240_020_000);
    expect(get).toMatchObject({
      method: 'GET',
      path: '/rest/order/get',
      query: { order_id: '680412933571822', app_key: '112233', sign_method: 'sha256', timestamp: '1795240020000' },
    });
    expect(items!.path).toBe('/rest/order/items/get');
    const { sign, ...params } = get!.query!;
    expect(sign).toBe(lazadaSign('/order/get', params, DEV_CHANNEL_SECRETS.lazada!));
  });

  it('reads a trade order message', () => {
    expect(ok(a.parseWebhook(JSON.parse(push), inbound(push)))).toEqual({
      eventId: '680412933571822:pending:1795245712',
      channelOrderId: '680412933571822',
      nativeStatus: 'pending',
      disposition: 'intake',
      notes: [],
    });
    expect(ok(a.parseWebhook(fixture('lazada/push-unpaid.json'), inbound('')))).toMatchObject({ disposition: 'wait' });
    expect(issuesOf(a.parseWebhook(fixture('lazada/push-malformed.json'), inbound('')))).toEqual(['data.trade_order_id']);
  });

  it('maps every Lazada status on purpose', () => {
    expect(Object.keys(LAZADA_DISPOSITIONS).sort()).toEqual([...LAZADA_STATUSES].sort());
    expect(LAZADA_DISPOSITIONS).toMatchObject({
      unpaid: 'wait',
      pending: 'intake',
      ready_to_ship: 'intake',
      shipped: 'track',
      delivered: 'track',
      canceled: 'cancelled',
    });
  });

  it('maps a COD order from per-unit items field by field: units merge, a cancelled unit is left out, vouchers are discount', () => {
    const doc = fixture<{ order: object; items: object[] }>('lazada/order-cod.json');
    const pulled = ok(a.parseOrderDetail!(pulledAnswers(doc), '680412933571822'));
    expect(pulled).toMatchObject({ nativeStatus: 'pending', disposition: 'intake' });
    expect(pulled.order).toEqual({
      channel: 'lazada',
      channelOrderId: '680412933571822',
      currency: 'VND',
      customer: { id: 'lazada-1102938475', name: 'Võ Thị Thu', phone: '84903555777' },
      shippingAddress: {
        name: 'Võ Thị Thu',
        line1: '210 Đường 30 Tháng 4',
        ward: 'Phường Xuân Khánh',
        district: 'Quận Ninh Kiều',
        city: 'Cần Thơ',
        postalCode: '900000',
        country: 'VN',
      },
      // Two units at 139000 (flash sale) and 159000: one line at 159000, 20000 of it discount.
      lines: [{ sku: 'SANDAL-42', quantity: 2, unitPrice: '159000.00' }],
      shippingFee: '22000.00',
      discount: '35000.00',
      payment: { method: 'cod' },
      placedAt: '2026-11-21T14:20:05+07:00',
    });
    // What the buyer pays: the paid prices of the live units plus shipping.
    expect(totalOf(pulled.order!)).toBe(toMinor('124000') + toMinor('159000') + toMinor('22000'));
    const prepaid = ok(a.parseOrderDetail!(pulledAnswers(fixture('lazada/order-prepaid.json')), '680412933571822'));
    expect(prepaid.order!.payment).toEqual({ method: 'prepaid', token: 'tok_lazada_680412933571822', provider: 'lazada' });
  });

  it('refuses malformed order details naming the field', () => {
    const doc = fixture<{ order: Record<string, unknown>; items: Record<string, unknown>[] }>('lazada/order-cod.json');
    doc.items[0] = { ...doc.items[0], paid_price: '12.345' };
    expect(issuesOf(a.parseOrderDetail!(pulledAnswers(doc), '680412933571822'))).toEqual(['items.0.paid_price']);
    const noCountry = fixture<{ order: { address_shipping: Record<string, unknown> }; items: object[] }>('lazada/order-cod.json');
    noCountry.order.address_shipping.country = 'Atlantis';
    expect(issuesOf(a.parseOrderDetail!(pulledAnswers(noCountry), '680412933571822'))).toEqual(['order.address_shipping.country']);
    expect(a.platformError({ code: 'IncompleteSignature', type: 'ISV', message: 'bad sign' })).toMatchObject({ retryable: false });
    expect(a.platformError({ code: 'ApiCallLimit', type: 'ISP', message: 'slow down' })).toMatchObject({ retryable: true });
    expect(a.platformError({ code: '0', data: {} })).toBeUndefined();
  });

  it('sets ready-to-ship on the live order items, cancels item by item, and updates sellable stock by seller SKU', () => {
    const native = fixture('lazada/order-cod.json');
    const input = {
      channel: 'lazada',
      orderId: 'order-lazada-680412933571822',
      channelOrderId: '680412933571822',
      seq: 9,
      occurredAt: '2026-11-21T12:00:00Z',
    };
    const ctx: PushContext = { native, shipments: [{ carrier: 'ghn', trackingNumber: 'GHNVN777' }] };
    const [rts] = a.statusPush({ ...input, status: 'SHIPPED' }, ctx, creds('lazada'), 1_795_240_020_000) as [ChannelRequest];
    expect(rts).toMatchObject({
      method: 'POST',
      path: '/rest/order/rts',
      query: { order_item_ids: '[680412933671822,680412933771822]', tracking_number: 'GHNVN777', shipment_provider: 'ghn' },
    });
    expect(a.statusPush({ ...input, status: 'CANCELLED' }, ctx, creds('lazada'), 0).map((r) => r.query!.order_item_id)).toEqual([
      '680412933671822',
      '680412933771822',
    ]);
    expect(a.statusPush({ ...input, status: 'SHIPPED' }, noCtx, creds('lazada'), 0)).toEqual([]);
    expect(a.stockUpdateBody([{ sku: 'SANDAL-42', available: 3 }])).toEqual({
      Request: { Product: { Skus: { Sku: [{ SellerSku: 'SANDAL-42', SellableQuantity: 3 }] } } },
    });
    expect(JSON.parse(a.stockUpdateRequest([{ sku: 'SANDAL-42', available: 3 }], creds('lazada'), 0).query!.payload!)).toEqual(
      a.stockUpdateBody([{ sku: 'SANDAL-42', available: 3 }]),
    );
  });
});

describe('tiktok shop', () => {
  const a = ADAPTERS.tiktok;
  const push = raw('tiktok/push-awaiting-shipment.json');
  const answer = (order: unknown) => [{ code: 0, message: 'Success', request_id: 'r', data: { orders: [order] } }];

  it('verifies the Authorization header: hex HMAC of app_key + raw body', () => {
    const good = hmacHex(DEV_CHANNEL_SECRETS.tiktok!, `6abcde12fgh34${push}`);
    expect(a.verifyWebhook(inbound(push, { Authorization: good }), creds('tiktok'))).toBe(true);
    expect(a.verifyWebhook(inbound(push, { Authorization: good.slice(0, -2) }), creds('tiktok'))).toBe(false);
    expect(a.verifyWebhook(inbound(push, { Authorization: 'not-hex-at-all' }), creds('tiktok'))).toBe(false);
  });

  it('reads ORDER_STATUS_CHANGE: the notification id is the event; held orders wait; an unknown status is recorded, not refused', () => {
    expect(ok(a.parseWebhook(JSON.parse(push), inbound(push)))).toEqual({
      eventId: '7440192837465019213',
      channelOrderId: '579134826710459613',
      nativeStatus: 'AWAITING_SHIPMENT',
      disposition: 'intake',
      notes: [],
    });
    expect(ok(a.parseWebhook(fixture('tiktok/push-on-hold.json'), inbound('')))).toMatchObject({
      nativeStatus: 'ON_HOLD',
      disposition: 'wait',
    });
    const parsedPush = JSON.parse(push) as { data: Record<string, unknown> };
    expect(ok(a.parseWebhook({ ...parsedPush, data: { ...parsedPush.data, order_status: 'SHIPPED_OUT' } }, inbound('')))).toMatchObject({
      nativeStatus: 'SHIPPED_OUT',
      disposition: 'track',
      notes: [{ path: 'data.order_status', value: 'SHIPPED_OUT' }],
    });
    // An order id that is not TikTok's numeric id names nothing the OMS can look up.
    expect(issuesOf(a.parseWebhook(fixture('tiktok/push-malformed.json'), inbound('')))).toEqual(['data.order_id']);
    expect(issuesOf(a.parseWebhook({ ...JSON.parse(push), data: { order_status: 'UNPAID' } }, inbound('')))).toEqual(['data.order_id']);
    expect(Object.keys(TIKTOK_DISPOSITIONS).sort()).toEqual([...TIKTOK_STATUSES].sort());
    expect(TIKTOK_DISPOSITIONS).toMatchObject({
      UNPAID: 'wait',
      ON_HOLD: 'wait',
      AWAITING_SHIPMENT: 'intake',
      IN_TRANSIT: 'track',
      CANCELLED: 'cancelled',
    });
  });

  it('signs the order-detail call: secret + path + sorted params (no sign/access_token) + body + secret', () => {
    const [r] = a.orderDetailRequests!('579134826710459613', creds('tiktok'), 1_795_241_110_000);
    expect(r).toMatchObject({
      method: 'GET',
      path: '/order/202309/orders',
      headers: { 'x-tts-access-token': 'ROW_dev_tiktok_access_token' },
    });
    const { sign, ...params } = r!.query!;
    const s = DEV_CHANNEL_SECRETS.tiktok!;
    expect(sign).toBe(
      hmacHex(s, `${s}/order/202309/ordersapp_key6abcde12fgh34ids579134826710459613shop_cipherROW_dev_shop_ciphertimestamp1795241110${s}`),
    );
    expect(tiktokSign('/order/202309/orders', params, '', s)).toBe(sign);
  });

  it("maps a prepaid order field by field: per-unit lines merge, TikTok's vouchers are discount, the total checks out", () => {
    const pulled = ok(a.parseOrderDetail!(answer(fixture('tiktok/order-detail-prepaid.json')), '579134826710459613'));
    expect(pulled.order).toEqual({
      channel: 'tiktok',
      channelOrderId: '579134826710459613',
      currency: 'VND',
      customer: {
        id: 'tiktok-7123987654321098765',
        name: 'Đặng Minh Quân',
        email: 'v2qR8xWkLm3NpT@scs2.tiktok.com',
        phone: '+84977888999',
      },
      shippingAddress: {
        name: 'Đặng Minh Quân',
        line1: 'Số 8 Trần Phú',
        ward: 'Phường Lộc Thọ',
        district: 'Thành phố Nha Trang',
        city: 'Khánh Hòa',
        postalCode: '650000',
        country: 'VN',
      },
      lines: [
        { sku: 'TSHIRT-M', quantity: 2, unitPrice: '149000.00' },
        { sku: 'CAP-BLK', quantity: 1, unitPrice: '100000.00' },
      ],
      shippingFee: '18000.00',
      discount: '20000.00',
      total: '396000.00',
      payment: { method: 'prepaid', token: 'tok_tiktok_579134826710459613', provider: 'tiktok' },
      placedAt: '2026-11-21T08:00:00.000Z',
    });
    expect(totalOf(pulled.order!)).toBe(toMinor('396000'));
    const cod = ok(a.parseOrderDetail!(answer(fixture('tiktok/order-detail-cod.json')), '579134826710459777'));
    expect(cod.order!.payment).toEqual({ method: 'cod' });
  });

  it('refuses malformed order details naming the field', () => {
    const o = fixture<{ line_items: Record<string, unknown>[]; recipient_address: Record<string, unknown> }>(
      'tiktok/order-detail-prepaid.json',
    );
    o.line_items[2] = { ...o.line_items[2], sale_price: 'một trăm nghìn' };
    expect(issuesOf(a.parseOrderDetail!(answer(o), '579134826710459613'))).toEqual(['line_items.2.sale_price']);
    const noProvince = fixture<{ recipient_address: { district_info: unknown[] } }>('tiktok/order-detail-prepaid.json');
    noProvince.recipient_address.district_info = [];
    expect(issuesOf(a.parseOrderDetail!(answer(noProvince), '579134826710459613'))).toEqual(['recipient_address.district_info']);
    expect(a.platformError({ code: 106001, message: 'signature is invalid' })).toMatchObject({ code: '106001', retryable: false });
    expect(a.platformError({ code: 36009004, message: 'internal error' })).toMatchObject({ retryable: true });
  });

  it("marks the package shipped with the order's line item ids and cancels through return_refund", () => {
    const native = fixture('tiktok/order-detail-prepaid.json');
    const input = {
      channel: 'tiktok',
      orderId: 'order-tiktok-579134826710459613',
      channelOrderId: '579134826710459613',
      seq: 4,
      occurredAt: '2026-11-21T12:00:00Z',
    };
    const [ship] = a.statusPush(
      { ...input, status: 'SHIPPED' },
      { native, shipments: [{ carrier: 'ghn', trackingNumber: 'GHNVN9' }] },
      creds('tiktok'),
      1_795_241_110_000,
    );
    expect(ship).toMatchObject({ method: 'POST', path: '/fulfillment/202309/orders/579134826710459613/packages' });
    expect(JSON.parse(ship!.body!)).toEqual({
      tracking_number: 'GHNVN9',
      shipping_provider_id: 'ghn',
      order_line_item_ids: ['579134826710590685', '579134826710656221', '579134826710721757'],
    });
    // The body is covered by the signature.
    const { sign, ...params } = ship!.query!;
    expect(sign).toBe(tiktokSign(ship!.path, params, ship!.body!, DEV_CHANNEL_SECRETS.tiktok!));
    const [cancel] = a.statusPush({ ...input, status: 'REJECTED' }, { native, shipments: [] }, creds('tiktok'), 0);
    expect(cancel!.path).toBe('/return_refund/202309/cancellations');
    expect(a.statusPush({ ...input, status: 'FULFILLING' }, noCtx, creds('tiktok'), 0)).toEqual([]);
    expect(a.stockUpdateBody([{ sku: 'CAP-BLK', available: 40 }])).toEqual({
      skus: [{ seller_sku: 'CAP-BLK', inventory: [{ quantity: 40 }] }],
    });
  });
});

describe('canonical (web, pos)', () => {
  const a = ADAPTERS.web;
  const body = raw('web/order.json');

  it('verifies X-Channel-Signature and takes the canonical order as is', () => {
    expect(a.verifyWebhook(inbound(body, { 'X-Channel-Signature': hmacHex(DEV_CHANNEL_SECRETS.web!, body) }), creds('web'))).toBe(true);
    expect(a.verifyWebhook(inbound(body, { 'X-Channel-Signature': hmacHex(DEV_CHANNEL_SECRETS.pos!, body) }), creds('web'))).toBe(false);
    const n = ok(a.parseWebhook(JSON.parse(body), inbound(body)));
    expect(n).toMatchObject({ eventId: 'order:W100231', channelOrderId: 'W100231', disposition: 'intake' });
    expect(n.order).toEqual(JSON.parse(body));
  });

  it("refuses a malformed order or another channel's, naming the field", () => {
    expect(issuesOf(a.parseWebhook(fixture('web/order-malformed.json'), inbound('')))).toEqual(['lines.0.unitPrice']);
    expect(issuesOf(ADAPTERS.pos.parseWebhook(JSON.parse(body), inbound('')))).toEqual(['channel']);
  });

  it('pushes every status with its seq, and stock as {items}', () => {
    const [r] = a.statusPush(
      { channel: 'web', orderId: 'order-web-W100231', channelOrderId: 'W100231', status: 'SHIPPED', seq: 6, occurredAt: 't' },
      noCtx,
      creds('web'),
      0,
    );
    expect(r).toMatchObject({ method: 'POST', path: '/v1/order-status' });
    expect(JSON.parse(r!.body!)).toEqual({
      orderId: 'order-web-W100231',
      channelOrderId: 'W100231',
      status: 'SHIPPED',
      seq: 6,
      occurredAt: 't',
    });
    expect(a.stockUpdateBody([{ sku: 'MUG-CER', available: 5 }])).toEqual({ items: [{ sku: 'MUG-CER', available: 5 }] });
  });
});
