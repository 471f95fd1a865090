/**
 * Lazada Open Platform. Push (Lazada Push Mechanism): a thin trade-order message
 * (`message_type` 0: trade order id, status, update time) with an `Authorization` header holding
 * the hex HMAC-SHA256 of app_key + raw body, keyed with the app secret. Pull: `/order/get` and
 * `/order/items/get` (Lazada lists one order item per unit sold), signed by the platform's
 * scheme: upper-case hex HMAC-SHA256 over the API name followed by every parameter, sorted by
 * name, as name+value. Amounts come as strings or numbers; errors come in a 200 with `code` ≠ "0".
 */
import { z } from 'zod';
import { fromMinor, toMinor } from '../../../domain/money';
import type { CanonicalOrder } from '../../../domain/order';
import {
  cleanPhone, finishCanonical, hmacHex, linesFromUnits, MappingError, nativeMoney, parseWith, sameSignature, zodIssues,
  type InboundRequest, type Parsed,
} from './common';
import type { ChannelAdapter, ChannelCredentials, ChannelRequest, Disposition, Notification, PulledOrder, StatusPushInput, StockLevel } from './types';

export const LAZADA_STATUSES = [
  'unpaid', 'pending', 'topack', 'toship', 'packed', 'repacked', 'ready_to_ship', 'ready_to_ship_pending', 'shipped', 'delivered', 'confirmed',
  'failed_delivery', 'lost_by_3pl', 'damaged_by_3pl', 'returned', 'shipped_back', 'shipped_back_success', 'shipped_back_failed', 'package_scrapped', 'canceled',
] as const;
export type LazadaStatus = (typeof LAZADA_STATUSES)[number];

export const LAZADA_DISPOSITIONS: Record<LazadaStatus, Disposition> = {
  unpaid: 'wait',
  pending: 'intake', // paid, or COD accepted: to pack
  topack: 'intake',
  toship: 'intake',
  packed: 'intake',
  repacked: 'intake',
  ready_to_ship: 'intake',
  ready_to_ship_pending: 'intake',
  shipped: 'track',
  delivered: 'track',
  confirmed: 'track',
  failed_delivery: 'track',
  lost_by_3pl: 'track',
  damaged_by_3pl: 'track',
  returned: 'track',
  shipped_back: 'track',
  shipped_back_success: 'track',
  shipped_back_failed: 'track',
  package_scrapped: 'track',
  canceled: 'cancelled',
};

const numericId = z.union([z.number().int().positive(), z.string().regex(/^\d{1,20}$/, 'must be a Lazada numeric id')]).transform(String);

/** Trade order message (message_type 0). */
export const LazadaPushSchema = z.object({
  seller_id: numericId,
  message_type: z.literal(0, { error: 'only trade order messages (message_type 0) are subscribed' }),
  data: z.object({
    order_status: z.enum(LAZADA_STATUSES),
    status_update_time: z.number().int().positive(),
    trade_order_id: numericId,
    trade_order_line_id: numericId.optional(),
  }),
  timestamp: z.number().int().positive(),
  site: z.string().regex(/^lazada_[a-z]{2}$/),
});

export const LazadaOrderSchema = z.object({
  order_id: numericId,
  order_number: numericId,
  created_at: z.string().regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}$/, 'must look like "2026-11-21 10:05:12 +0700"'),
  updated_at: z.string(),
  customer_first_name: z.string(),
  customer_last_name: z.string().optional(),
  buyer_id: numericId.optional(),
  payment_method: z.string().min(1),
  price: nativeMoney,
  shipping_fee: nativeMoney,
  voucher: nativeMoney.optional(),
  statuses: z.array(z.enum(LAZADA_STATUSES)).min(1),
  items_count: z.number().int().positive(),
  address_shipping: z.object({
    first_name: z.string().trim().min(1),
    last_name: z.string().optional(),
    phone: z.string(),
    address1: z.string().trim().min(1),
    address2: z.string().optional(),
    address3: z.string().optional(),
    address4: z.string().optional(),
    address5: z.string().optional(),
    city: z.string().trim().min(1),
    post_code: z.string().optional(),
    country: z.string().trim().min(1),
  }),
});

export const LazadaItemSchema = z.object({
  order_item_id: numericId,
  order_id: numericId,
  sku: z.string({ error: 'the seller SKU is required' }).trim().min(1, 'the seller SKU is required'),
  shop_sku: z.string().optional(),
  name: z.string(),
  item_price: nativeMoney,
  paid_price: nativeMoney,
  currency: z.string().regex(/^[A-Z]{3}$/),
  status: z.enum(LAZADA_STATUSES),
  shipping_amount: nativeMoney,
  voucher_amount: nativeMoney.optional(),
});

/** What the pull fetches: the order and its per-unit items, as one native document. */
export const LazadaPulledSchema = z.object({ order: LazadaOrderSchema, items: z.array(LazadaItemSchema).min(1) });
export type LazadaPulled = z.infer<typeof LazadaPulledSchema>;

const COUNTRIES: Record<string, string> = { vietnam: 'VN', 'viet nam': 'VN', thailand: 'TH', malaysia: 'MY', singapore: 'SG', philippines: 'PH', indonesia: 'ID' };

/** "2026-11-21 10:05:12 +0700" → "2026-11-21T10:05:12+07:00". */
const lazadaTime = (t: string) => `${t.slice(0, 10)}T${t.slice(11, 19)}${t.slice(20, 23)}:${t.slice(23, 25)}`;

/** The order's status: the one of its live units (cancelled units are left out of the order). */
function orderStatus(p: LazadaPulled): LazadaStatus {
  return p.items.find((i) => i.status !== 'canceled')?.status ?? 'canceled';
}

function toCanonical(p: LazadaPulled): CanonicalOrder {
  const o = p.order;
  const live = p.items.filter((i) => i.status !== 'canceled');
  const a = o.address_shipping;
  const country = COUNTRIES[a.country.toLowerCase()] ?? (/^[A-Z]{2}$/.test(a.country) ? a.country : undefined);
  if (!country) throw new MappingError([{ path: 'order.address_shipping.country', message: `unknown country "${a.country}"` }]);
  const { lines, extraDiscountMinor } = linesFromUnits(live.map((i) => ({ sku: i.sku, price: i.item_price })));
  // Per unit, what the buyer did not pay of the list price is vouchers (seller's or Lazada's).
  const voucherMinor = live.reduce((acc, i) => acc + toMinor(i.item_price) - toMinor(i.paid_price), 0);
  if (voucherMinor < 0) throw new MappingError([{ path: 'items', message: 'an item was paid more than its price' }]);
  const shippingMinor = live.reduce((acc, i) => acc + toMinor(i.shipping_amount), 0);
  const phone = cleanPhone(a.phone);
  const name = [o.customer_first_name, o.customer_last_name].filter(Boolean).join(' ').trim() || a.first_name;
  return finishCanonical({
    channel: 'lazada',
    channelOrderId: o.order_id,
    currency: live[0]?.currency ?? p.items[0]!.currency,
    customer: { id: o.buyer_id ? `lazada-${o.buyer_id}` : `lazada-order-${o.order_id}`, name, ...(phone ? { phone } : {}) },
    shippingAddress: {
      name: [a.first_name, a.last_name].filter(Boolean).join(' '),
      line1: a.address1,
      ...(a.address2 ? { line2: a.address2 } : {}),
      // Lazada VN: address3 = province, address4 = district, address5 = ward.
      ...(a.address5 ? { ward: a.address5 } : {}),
      ...(a.address4 ? { district: a.address4 } : {}),
      city: a.address3 || a.city,
      ...(a.post_code ? { postalCode: a.post_code } : {}),
      country,
    },
    lines,
    shippingFee: fromMinor(shippingMinor),
    discount: fromMinor(voucherMinor + extraDiscountMinor),
    payment: /^cod$/i.test(o.payment_method) ? { method: 'cod' } : { method: 'prepaid', token: `tok_lazada_${o.order_id}`, provider: 'lazada' },
    placedAt: lazadaTime(o.created_at),
  });
}

export function parseLazadaOrder(pulled: unknown): Parsed<CanonicalOrder> {
  return parseWith(LazadaPulledSchema, pulled, toCanonical);
}

/** Lazada's request signature: API name + sorted name/value pairs, HMAC-SHA256, upper-case hex. */
export function lazadaSign(apiName: string, params: Record<string, string>, secret: string): string {
  const base = apiName + Object.keys(params).filter((k) => k !== 'sign').sort().map((k) => `${k}${params[k]}`).join('');
  return hmacHex(secret, base).toUpperCase();
}

/** A signed call; every parameter travels in the query string (covered by the signature). */
function lazadaRequest(method: 'GET' | 'POST', apiName: string, params: Record<string, string>, creds: ChannelCredentials, nowMs: number, action: string): ChannelRequest {
  const all = { ...params, app_key: creds.appKey, timestamp: String(nowMs), access_token: creds.accessToken, sign_method: 'sha256' };
  return { method, path: `/rest${apiName}`, query: { ...all, sign: lazadaSign(apiName, all, creds.secret) }, action };
}

const RETRYABLE = new Set(['ApiCallLimit', 'ServiceTimeout', 'InternalError', 'ServiceUnavailable']);

/** The order item ids of a pulled Lazada order, from the native document kept at intake. */
function itemIds(native: unknown): string[] {
  const r = LazadaPulledSchema.safeParse(native);
  return r.success ? r.data.items.filter((i) => i.status !== 'canceled').map((i) => i.order_item_id) : [];
}

export const lazadaAdapter: ChannelAdapter = {
  channel: 'lazada',
  delivery: 'thin',
  signature: { header: 'Authorization', scheme: 'hex HMAC-SHA256 of app_key + raw body, keyed with the app secret' },

  verifyWebhook(req: InboundRequest, creds: ChannelCredentials): boolean {
    return sameSignature(hmacHex(creds.secret, creds.appKey + req.rawBody), req.header('authorization'), 'hex');
  },

  parseWebhook(body: unknown): Parsed<Notification> {
    return parseWith(LazadaPushSchema, body, (p) => ({
      // One message per order line is sent for the same change; order + status + time is the event.
      eventId: `${p.data.trade_order_id}:${p.data.order_status}:${p.data.status_update_time}`,
      channelOrderId: p.data.trade_order_id,
      nativeStatus: p.data.order_status,
      disposition: LAZADA_DISPOSITIONS[p.data.order_status],
    }));
  },

  dispositionOf(nativeStatus: string): Disposition {
    const d = LAZADA_DISPOSITIONS[nativeStatus as LazadaStatus];
    if (!d) throw new Error(`unknown Lazada status ${nativeStatus}`);
    return d;
  },

  orderDetailRequests(channelOrderId: string, creds: ChannelCredentials, nowMs: number): ChannelRequest[] {
    return [
      lazadaRequest('GET', '/order/get', { order_id: channelOrderId }, creds, nowMs, 'get_order'),
      lazadaRequest('GET', '/order/items/get', { order_id: channelOrderId }, creds, nowMs, 'get_order_items'),
    ];
  },

  parseOrderDetail(responses: unknown[], channelOrderId: string): Parsed<PulledOrder> {
    const pulled = { order: (responses[0] as { data?: unknown } | undefined)?.data, items: (responses[1] as { data?: unknown } | undefined)?.data };
    const shape = LazadaPulledSchema.safeParse(pulled);
    if (!shape.success) return { ok: false, issues: zodIssues(shape.error) };
    if (shape.data.order.order_id !== channelOrderId) return { ok: false, issues: [{ path: 'order.order_id', message: `expected order ${channelOrderId}` }] };
    const nativeStatus = orderStatus(shape.data);
    const disposition = LAZADA_DISPOSITIONS[nativeStatus];
    if (disposition !== 'intake') return { ok: true, value: { channelOrderId, nativeStatus, disposition, native: pulled } };
    const mapped = parseLazadaOrder(pulled);
    if (!mapped.ok) return mapped;
    return { ok: true, value: { channelOrderId, nativeStatus, disposition, order: mapped.value, native: pulled } };
  },

  platformError(json: unknown) {
    const j = json as { code?: unknown; type?: unknown; message?: unknown } | undefined;
    if (typeof j?.code !== 'string' && typeof j?.code !== 'number') return undefined;
    const code = String(j.code);
    if (code === '0') return undefined;
    return { code, message: typeof j.message === 'string' ? j.message : code, retryable: RETRYABLE.has(code) || j.type === 'SYSTEM' };
  },

  statusPush(input: StatusPushInput, ctx, creds, nowMs): ChannelRequest[] {
    // Lazada acts on order items: it needs their ids, which only an order pulled from Lazada has.
    const ids = itemIds(ctx.native);
    if (!ids.length) return [];
    if (input.status === 'SHIPPED' || input.status === 'PARTIALLY_SHIPPED') {
      const s = ctx.shipments.find((x) => x.trackingNumber);
      return [lazadaRequest('POST', '/order/rts', {
        order_item_ids: JSON.stringify(ids.map(Number)), delivery_type: 'dropship',
        shipment_provider: s?.carrier ?? 'seller', tracking_number: s?.trackingNumber ?? '',
      }, creds, nowMs, 'set_ready_to_ship')];
    }
    if (input.status === 'CANCELLED' || input.status === 'REJECTED') {
      // Lazada cancels item by item; reason 15 is "out of stock" in its failure-reason list.
      return ids.map((id) => lazadaRequest('POST', '/order/cancel', { order_item_id: id, reason_id: '15', reason_detail: input.status === 'REJECTED' ? 'rejected by validation' : 'cancelled by the seller' }, creds, nowMs, 'cancel_item'));
    }
    return [];
  },

  /** UpdateSellableQuantity: keyed by seller SKU, which Lazada supports natively. */
  stockUpdateBody(items: StockLevel[]) {
    return { Request: { Product: { Skus: { Sku: items.map((i) => ({ SellerSku: i.sku, SellableQuantity: i.available })) } } } };
  },

  stockUpdateRequest(items: StockLevel[], creds: ChannelCredentials, nowMs: number): ChannelRequest {
    return lazadaRequest('POST', '/product/stock/sellable/update', { payload: JSON.stringify(this.stockUpdateBody(items)) }, creds, nowMs, 'update_sellable_quantity');
  },
};
