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
  cancelledByChannel,
  pulledOrder,
  cleanPhone,
  dispositionFrom,
  finishCanonical,
  hmacHex,
  linesFromUnits,
  MappingError,
  nativeMoney,
  noteSurprises,
  parseWith,
  platformId,
  sameSignature,
  textOf,
  zodIssues,
  type Expectations,
  type InboundRequest,
  type Parsed,
} from './common';
import type {
  ChannelAdapter,
  ChannelCredentials,
  ChannelRequest,
  Disposition,
  Notification,
  PayloadNote,
  PulledOrder,
  StatusPushInput,
  StockLevel,
} from './types';

export const LAZADA_STATUSES = [
  'unpaid',
  'pending',
  'topack',
  'toship',
  'packed',
  'repacked',
  'ready_to_ship',
  'ready_to_ship_pending',
  'shipped',
  'delivered',
  'confirmed',
  'failed_delivery',
  'lost_by_3pl',
  'damaged_by_3pl',
  'returned',
  'shipped_back',
  'shipped_back_success',
  'shipped_back_failed',
  'package_scrapped',
  'canceled',
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

const numericId = platformId;

/** Push message types: 0 trade order, 10 reverse order (return/refund); others are acknowledged. */
export const LAZADA_MESSAGE_TYPES = { tradeOrder: 0, authExpiring: 8, reverseOrder: 10 } as const;
const KNOWN_TYPES: number[] = Object.values(LAZADA_MESSAGE_TYPES);

/** Reverse-order statuses that open a request; the later ones are recorded. */
export const LAZADA_REVERSE_REQUESTS = ['RTM_INIT', 'REQUEST_INITIATE', 'REFUND_PENDING', 'RTW_REFUND_PENDING'] as const;

export const LazadaPushEnvelopeSchema = z.object({
  seller_id: z.string().nullish().or(z.number()),
  message_type: z.number().int(),
  data: z.unknown(),
  timestamp: z.number().int().nullish(),
  site: z.string().nullish(),
});

/** Trade order message (message_type 0). */
export const LazadaPushSchema = LazadaPushEnvelopeSchema.extend({
  message_type: z.literal(0),
  data: z.object({
    order_status: z.string().nullish(),
    status_update_time: z.number().int().nullish(),
    trade_order_id: numericId,
    trade_order_line_id: numericId.nullish(),
    reverse_order_id: numericId.nullish(),
  }),
});

/** Reverse order message (message_type 10): a return or refund asked for or moving on. */
export const LazadaReversePushSchema = LazadaPushEnvelopeSchema.extend({
  message_type: z.literal(10),
  data: z.object({
    reverse_order_id: numericId,
    reverse_status: z.string().nullish(),
    trade_order_id: numericId,
    trade_order_line_id: numericId.nullish(),
    status_update_time: z.number().int().nullish(),
  }),
});

export const LAZADA_PUSH_EXPECTATIONS: Expectations = {
  'data.order_status': { values: LAZADA_STATUSES },
  'data.status_update_time': {},
  timestamp: {},
  site: {},
};
export const LAZADA_ORDER_EXPECTATIONS: Expectations = {
  'order.statuses.*': { values: LAZADA_STATUSES },
  'items.*.status': { values: LAZADA_STATUSES },
  'order.payment_method': {},
  'order.customer_first_name': {},
  'order.price': {},
  'order.shipping_fee': {},
  'order.address_shipping.phone': {},
  'items.*.shipping_amount': {},
  'items.*.name': {},
};

/** "2018-10-31 08:37:53 +0700" (what Lazada sends) or an ISO 8601 time (its newer examples). */
const lazadaTimeText = z
  .string()
  .refine(
    (t) => /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}$/.test(t) || !Number.isNaN(Date.parse(t)),
    'must look like "2026-11-21 10:05:12 +0700"',
  );

export const LazadaOrderSchema = z.object({
  order_id: numericId,
  order_number: numericId.nullish(),
  created_at: lazadaTimeText,
  updated_at: z.string().nullish(),
  customer_first_name: z.string().nullish(),
  customer_last_name: z.string().nullish(),
  buyer_id: numericId.nullish(),
  payment_method: z.string().nullish(),
  price: nativeMoney.nullish(),
  shipping_fee: nativeMoney.nullish(),
  voucher: nativeMoney.nullish(),
  statuses: z.array(z.string().nullable()).nullish(),
  items_count: z.union([z.number(), z.string()]).nullish(),
  address_shipping: z.object({
    first_name: z.string().trim().min(1),
    last_name: z.string().nullish(),
    phone: z.string().nullish(),
    address1: z.string().trim().min(1),
    address2: z.string().nullish(),
    address3: z.string().nullish(),
    address4: z.string().nullish(),
    address5: z.string().nullish(),
    city: z.string().trim().min(1),
    post_code: z.string().nullish(),
    country: z.string().trim().min(1),
  }),
});

export const LazadaItemSchema = z.object({
  order_item_id: numericId,
  order_id: numericId,
  sku: z.string({ error: 'the seller SKU is required' }).trim().min(1, 'the seller SKU is required'),
  shop_sku: z.string().nullish(),
  name: z.string().nullish(),
  item_price: nativeMoney,
  paid_price: nativeMoney,
  currency: z.string().regex(/^[A-Z]{3}$/),
  status: z.string().nullish(),
  shipping_amount: nativeMoney.nullish(),
  voucher_amount: nativeMoney.nullish(),
});

/** Enough of the pulled document to know the order's status, before anything else is read. */
const LazadaStatusesSchema = z.object({
  order: z.object({ order_id: numericId, order_number: numericId.nullish(), statuses: z.array(z.unknown()).nullish() }),
  items: z.array(z.object({ status: z.unknown() })),
});

/** What the pull fetches: the order and its per-unit items, as one native document. */
export const LazadaPulledSchema = z.object({ order: LazadaOrderSchema, items: z.array(LazadaItemSchema).min(1) });
export type LazadaPulled = z.infer<typeof LazadaPulledSchema>;

const COUNTRIES: Record<string, string> = {
  vietnam: 'VN',
  'viet nam': 'VN',
  thailand: 'TH',
  malaysia: 'MY',
  singapore: 'SG',
  philippines: 'PH',
  indonesia: 'ID',
};

/** "2026-11-21 10:05:12 +0700" → "2026-11-21T10:05:12+07:00"; ISO times as they are. */
const lazadaTime = (t: string) =>
  /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}$/.test(t)
    ? `${t.slice(0, 10)}T${t.slice(11, 19)}${t.slice(20, 23)}:${t.slice(23, 25)}`
    : new Date(t).toISOString();

/**
 * The order's status: the one of its live units (cancelled units are left out of the order), or
 * the order's own list when the items carry none.
 */
function orderStatus(p: z.infer<typeof LazadaStatusesSchema>): string | null {
  const unit = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const live = p.items.map((i) => unit(i.status)).find((st) => st && st !== 'canceled');
  if (live) return live;
  if (p.items.some((i) => unit(i.status) === 'canceled')) return 'canceled';
  return unit((p.order.statuses ?? [])[0]) ?? null;
}

function toCanonical(p: LazadaPulled): CanonicalOrder {
  const o = p.order;
  const live = p.items.filter((i) => i.status !== 'canceled');
  if (!live.length) throw new MappingError([{ path: 'items', message: 'every unit is cancelled: nothing to fulfil' }]);
  const a = o.address_shipping;
  const country = COUNTRIES[a.country.toLowerCase()] ?? (/^[A-Z]{2}$/.test(a.country) ? a.country : undefined);
  if (!country) throw new MappingError([{ path: 'order.address_shipping.country', message: `unknown country "${a.country}"` }]);
  const { lines, extraDiscountMinor } = linesFromUnits(live.map((i) => ({ sku: i.sku, price: i.item_price })));
  // Per unit, what the buyer did not pay of the list price is vouchers (seller's or Lazada's).
  const voucherMinor = live.reduce((acc, i) => acc + toMinor(i.item_price) - toMinor(i.paid_price), 0);
  if (voucherMinor < 0) throw new MappingError([{ path: 'items', message: 'an item was paid more than its price' }]);
  const shippingMinor = live.reduce((acc, i) => acc + toMinor(i.shipping_amount ?? '0'), 0);
  const phone = cleanPhone(a.phone);
  const name = [textOf(o.customer_first_name), textOf(o.customer_last_name)].filter(Boolean).join(' ') || a.first_name;
  return finishCanonical({
    channel: 'lazada',
    channelOrderId: o.order_id,
    currency: live[0]!.currency,
    customer: { id: o.buyer_id ? `lazada-${o.buyer_id}` : `lazada-order-${o.order_id}`, name, ...(phone ? { phone } : {}) },
    shippingAddress: {
      name: [a.first_name, textOf(a.last_name)].filter(Boolean).join(' '),
      line1: a.address1,
      ...(textOf(a.address2) ? { line2: textOf(a.address2) } : {}),
      // Lazada VN: address3 = province, address4 = district, address5 = ward (elsewhere address5 is the post code).
      ...(country === 'VN' && textOf(a.address5) ? { ward: textOf(a.address5) } : {}),
      ...(textOf(a.address4) ? { district: textOf(a.address4) } : {}),
      city: textOf(a.address3) ?? a.city,
      ...(textOf(a.post_code) ? { postalCode: textOf(a.post_code) } : {}),
      country,
    },
    lines,
    shippingFee: fromMinor(shippingMinor),
    discount: fromMinor(voucherMinor + extraDiscountMinor),
    payment: /^cod$/i.test(o.payment_method ?? '')
      ? { method: 'cod' }
      : { method: 'prepaid', token: `tok_lazada_${o.order_id}`, provider: 'lazada' },
    placedAt: lazadaTime(o.created_at),
  });
}

export function parseLazadaOrder(pulled: unknown): Parsed<CanonicalOrder> {
  return parseWith(LazadaPulledSchema, pulled, toCanonical);
}

/** Lazada's request signature: API name + sorted name/value pairs, HMAC-SHA256, upper-case hex. */
export function lazadaSign(apiName: string, params: Record<string, string>, secret: string): string {
  const base =
    apiName +
    Object.keys(params)
      .filter((k) => k !== 'sign')
      .sort()
      .map((k) => `${k}${params[k]}`)
      .join('');
  return hmacHex(secret, base).toUpperCase();
}

/** A signed call; every parameter travels in the query string (covered by the signature). */
function lazadaRequest(
  method: 'GET' | 'POST',
  apiName: string,
  params: Record<string, string>,
  creds: ChannelCredentials,
  nowMs: number,
  action: string,
): ChannelRequest {
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
    const env = LazadaPushEnvelopeSchema.safeParse(body);
    if (!env.success) return { ok: false, issues: zodIssues(env.error) };
    const notes: PayloadNote[] = [];
    const type = env.data.message_type;
    if (type === LAZADA_MESSAGE_TYPES.tradeOrder) {
      noteSurprises(body, LAZADA_PUSH_EXPECTATIONS, notes);
      return parseWith(LazadaPushSchema, body, (p) => {
        const status = p.data.order_status ?? 'null';
        const disposition = dispositionFrom(LAZADA_DISPOSITIONS, p.data.order_status, 'data.order_status', notes);
        return {
          // One message per order line is sent for the same change; order + status + time is the event.
          eventId: `${p.data.trade_order_id}:${status}:${p.data.status_update_time ?? p.timestamp ?? ''}`,
          channelOrderId: p.data.trade_order_id,
          nativeStatus: status,
          disposition,
          ...(disposition === 'cancelled'
            ? {
                reason: p.data.reverse_order_id
                  ? `cancelled on Lazada at the buyer's request (reverse order ${p.data.reverse_order_id})`
                  : 'cancelled on Lazada',
              }
            : {}),
          notes,
        };
      });
    }
    if (type === LAZADA_MESSAGE_TYPES.reverseOrder) {
      return parseWith(LazadaReversePushSchema, body, (p) => {
        const status = p.data.reverse_status ?? 'null';
        const opens = (LAZADA_REVERSE_REQUESTS as readonly string[]).includes(status);
        return {
          eventId: `reverse:${p.data.reverse_order_id}:${status}:${p.data.status_update_time ?? p.timestamp ?? ''}`,
          channelOrderId: p.data.trade_order_id,
          nativeStatus: status,
          disposition: opens ? ('return_request' as const) : ('track' as const),
          reason: `Lazada reverse order ${p.data.reverse_order_id}: ${status}`,
          notes,
        };
      });
    }
    if (!KNOWN_TYPES.includes(type))
      notes.push({ path: 'message_type', value: String(type), note: 'a message type the OMS does not act on: acknowledged' });
    const order = numericId.safeParse((env.data.data as { trade_order_id?: unknown } | null)?.trade_order_id);
    const ref = order.success ? order.data : 'none';
    return {
      ok: true,
      value: {
        eventId: `type${type}:${ref}:${env.data.timestamp ?? ''}`,
        channelOrderId: ref,
        nativeStatus: `message_type_${type}`,
        disposition: 'ignore',
        notes,
      },
    };
  },

  dispositionOf(nativeStatus: string): Disposition {
    return dispositionFrom(LAZADA_DISPOSITIONS, nativeStatus, 'order_status', []);
  },

  orderDetailRequests(channelOrderId: string, creds: ChannelCredentials, nowMs: number): ChannelRequest[] {
    return [
      lazadaRequest('GET', '/order/get', { order_id: channelOrderId }, creds, nowMs, 'get_order'),
      lazadaRequest('GET', '/order/items/get', { order_id: channelOrderId }, creds, nowMs, 'get_order_items'),
    ];
  },

  parseOrderDetail(responses: unknown[], channelOrderId: string): Parsed<PulledOrder> {
    const pulled = {
      order: (responses[0] as { data?: unknown } | undefined)?.data,
      items: (responses[1] as { data?: unknown } | undefined)?.data,
    };
    const shape = LazadaStatusesSchema.safeParse(pulled);
    if (!shape.success) return { ok: false, issues: zodIssues(shape.error) };
    const { order_id: id, order_number: number } = shape.data.order;
    if (id !== channelOrderId && number !== channelOrderId)
      return { ok: false, issues: [{ path: 'order.order_id', message: `expected order ${channelOrderId}` }] };
    const notes = noteSurprises(pulled, LAZADA_ORDER_EXPECTATIONS, []);
    const status = orderStatus(shape.data);
    const disposition = dispositionFrom(LAZADA_DISPOSITIONS, status, 'items.0.status', notes);
    const base = { channelOrderId, nativeStatus: status ?? 'null', disposition, native: pulled, notes };
    return pulledOrder(base, () => parseLazadaOrder(pulled));
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
      return [
        lazadaRequest(
          'POST',
          '/order/rts',
          {
            // A JSON array of numbers, written digit for digit (Number() would round ids beyond 2^53).
            order_item_ids: `[${ids.join(',')}]`,
            delivery_type: 'dropship',
            shipment_provider: s?.carrier ?? 'seller',
            tracking_number: s?.trackingNumber ?? '',
          },
          creds,
          nowMs,
          'set_ready_to_ship',
        ),
      ];
    }
    // An order Lazada cancelled (the buyer's reverse order) needs no call.
    if (input.status === 'CANCELLED' && cancelledByChannel(input)) return [];
    if (input.status === 'CANCELLED' || input.status === 'REJECTED') {
      // Lazada cancels item by item; reason 15 is "out of stock" in its failure-reason list.
      return ids.map((id) =>
        lazadaRequest(
          'POST',
          '/order/cancel',
          {
            order_item_id: id,
            reason_id: '15',
            reason_detail: input.status === 'REJECTED' ? 'rejected by validation' : 'cancelled by the seller',
          },
          creds,
          nowMs,
          'cancel_item',
        ),
      );
    }
    return [];
  },

  /** UpdateSellableQuantity: keyed by seller SKU, which Lazada supports natively. */
  stockUpdateBody(items: StockLevel[]) {
    return { Request: { Product: { Skus: { Sku: items.map((i) => ({ SellerSku: i.sku, SellableQuantity: i.available })) } } } };
  },

  stockUpdateRequest(items: StockLevel[], creds: ChannelCredentials, nowMs: number): ChannelRequest {
    return lazadaRequest(
      'POST',
      '/product/stock/sellable/update',
      { payload: JSON.stringify(this.stockUpdateBody(items)) },
      creds,
      nowMs,
      'update_sellable_quantity',
    );
  },
};
