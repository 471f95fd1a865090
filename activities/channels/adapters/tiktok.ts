/**
 * TikTok Shop (Partner API, version 202309). Push: a thin ORDER_STATUS_CHANGE webhook (type 1:
 * order id, status, update time, with a `tts_notification_id`) whose `Authorization` header is the
 * hex HMAC-SHA256 of app_key + raw body, keyed with the app secret. Pull:
 * `GET /order/202309/orders?ids=…` with `x-tts-access-token` and `sign` = hex HMAC-SHA256 of
 * secret + path + sorted name/value parameters (without sign and access_token) + body + secret.
 * Line items are one per unit; amounts are decimal strings; errors come as `code` ≠ 0.
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
  isoFromUnix,
  linesFromUnits,
  MappingError,
  nativeMoney,
  noteSurprises,
  parseWith,
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

/** The order API's statuses, and `CANCEL`: what the ORDER_STATUS_CHANGE webhook says for CANCELLED. */
export const TIKTOK_STATUSES = [
  'UNPAID',
  'ON_HOLD',
  'AWAITING_SHIPMENT',
  'PARTIALLY_SHIPPING',
  'AWAITING_COLLECTION',
  'IN_TRANSIT',
  'DELIVERED',
  'COMPLETED',
  'CANCELLED',
  'CANCEL',
] as const;
export type TikTokStatus = (typeof TIKTOK_STATUSES)[number];

export const TIKTOK_DISPOSITIONS: Record<TikTokStatus, Disposition> = {
  UNPAID: 'wait',
  // New orders are held for the buyer's free-cancellation window; they may not be shipped yet.
  ON_HOLD: 'wait',
  AWAITING_SHIPMENT: 'intake',
  PARTIALLY_SHIPPING: 'track',
  AWAITING_COLLECTION: 'track',
  IN_TRANSIT: 'track',
  DELIVERED: 'track',
  COMPLETED: 'track',
  CANCELLED: 'cancelled',
  CANCEL: 'cancelled',
};

/** Webhook types: 1 order status, 11 cancellation status, 12 return status; others are acknowledged. */
export const TIKTOK_WEBHOOK_TYPES = {
  orderStatus: 1,
  recipientAddress: 3,
  packageUpdate: 4,
  deauthorization: 6,
  authorizationExpiring: 7,
  cancellationStatus: 11,
  returnStatus: 12,
} as const;
const KNOWN_TYPES: number[] = Object.values(TIKTOK_WEBHOOK_TYPES);

/** Cancellation statuses (type 11): a buyer's request to answer, or a cancellation done. */
export const TIKTOK_CANCEL_DISPOSITIONS: Record<string, Disposition> = {
  CANCELLATION_REQUEST_PENDING: 'cancel_request',
  CANCELLATION_REQUEST_SUCCESS: 'cancelled',
  CANCELLATION_REQUEST_COMPLETE: 'cancelled',
  CANCELLATION_REQUEST_CANCEL: 'track',
  CANCELLATION_REQUEST_REJECT: 'track',
};
/** Return statuses (type 12): a new request is for ops; its later steps are recorded. */
export const TIKTOK_RETURN_DISPOSITIONS: Record<string, Disposition> = {
  RETURN_OR_REFUND_REQUEST_PENDING: 'return_request',
  RETURN_OR_REFUND_REQUEST_REJECT: 'track',
  AWAITING_BUYER_SHIP: 'track',
  BUYER_SHIPPED_ITEM: 'track',
  REJECT_RECEIVE_PACKAGE: 'track',
  RETURN_OR_REFUND_REQUEST_SUCCESS: 'track',
  RETURN_OR_REFUND_REQUEST_CANCEL: 'track',
  RETURN_OR_REFUND_REQUEST_COMPLETE: 'track',
  REPLACEMENT_REQUEST_PENDING: 'return_request',
  REPLACEMENT_REQUEST_REJECT: 'track',
  REPLACEMENT_REQUEST_REFUND_SUCCESS: 'track',
  REPLACEMENT_REQUEST_CANCEL: 'track',
  REPLACEMENT_REQUEST_COMPLETE: 'track',
  AWAITING_BUYER_RESPONSE: 'track',
};

const tiktokId = z.string().regex(/^\d{6,24}$/, 'must be a TikTok Shop numeric id');

/** The envelope of every webhook; `data` is read per type. */
export const TikTokWebhookEnvelopeSchema = z.object({
  type: z.number().int(),
  tts_notification_id: z.string().max(100).nullish(),
  shop_id: z.string().nullish(),
  timestamp: z.number().int().nullish(),
  data: z.unknown(),
});

/** ORDER_STATUS_CHANGE (type 1). */
export const TikTokPushSchema = TikTokWebhookEnvelopeSchema.extend({
  type: z.literal(1),
  data: z.object({
    order_id: tiktokId,
    order_status: z.string().nullish(),
    update_time: z.number().int().nullish(),
    is_on_hold_order: z.boolean().nullish(),
  }),
});

/** CANCELLATION_STATUS_CHANGE (type 11). */
export const TikTokCancellationPushSchema = TikTokWebhookEnvelopeSchema.extend({
  type: z.literal(11),
  data: z.object({
    order_id: tiktokId,
    cancel_id: z.string().max(64).nullish(),
    cancel_status: z.string().nullish(),
    cancellations_role: z.string().nullish(),
    create_time: z.number().int().nullish(),
    update_time: z.number().int().nullish(),
  }),
});

/** RETURN_STATUS_CHANGE (type 12). */
export const TikTokReturnPushSchema = TikTokWebhookEnvelopeSchema.extend({
  type: z.literal(12),
  data: z.object({
    order_id: tiktokId,
    return_id: z.string().max(64).nullish(),
    return_status: z.string().nullish(),
    return_type: z.string().nullish(),
    return_role: z.string().nullish(),
    update_time: z.number().int().nullish(),
  }),
});

export const TIKTOK_PUSH_EXPECTATIONS: Expectations = {
  'data.order_status': { values: TIKTOK_STATUSES },
  'data.update_time': {},
  'data.is_on_hold_order': {},
  'data.cancel_status': { values: Object.keys(TIKTOK_CANCEL_DISPOSITIONS) },
  'data.cancellations_role': { values: ['BUYER', 'SELLER', 'SYSTEM', 'OPERATOR'] },
  'data.return_status': { values: Object.keys(TIKTOK_RETURN_DISPOSITIONS) },
  'data.return_type': { values: ['REFUND', 'RETURN_AND_REFUND', 'REPLACEMENT'] },
  tts_notification_id: {},
  shop_id: {},
  timestamp: {},
};
export const TIKTOK_ORDER_EXPECTATIONS: Expectations = {
  status: { values: TIKTOK_STATUSES },
  'line_items.*.display_status': { values: [...TIKTOK_STATUSES, 'TO_SHIP'] },
  payment_method_name: {},
  'payment.total_amount': {},
  'payment.shipping_fee': {},
  user_id: {},
  paid_time: {},
  buyer_email: {},
  'recipient_address.phone_number': {},
  'recipient_address.postal_code': {},
  'line_items.*.sku_name': {},
  'line_items.*.product_name': {},
};

export const TikTokOrderSchema = z.object({
  id: tiktokId,
  status: z.string().nullish(),
  create_time: z.number().int().positive(),
  paid_time: z.number().int().nullish(),
  update_time: z.number().int().nullish(),
  is_cod: z.boolean().nullish(),
  payment_method_name: z.string().nullish(),
  user_id: z.string().nullish(),
  buyer_email: z.string().nullish(),
  payment: z.object({
    currency: z.string().regex(/^[A-Z]{3}$/),
    // The order's money is rebuilt from its lines; of the totals only the shipping fee is read and the total cross-checks.
    sub_total: nativeMoney.nullish(),
    shipping_fee: nativeMoney.nullish(),
    seller_discount: nativeMoney.nullish(),
    platform_discount: nativeMoney.nullish(),
    total_amount: nativeMoney.nullish(),
    original_total_product_price: nativeMoney.nullish(),
    original_shipping_fee: nativeMoney.nullish(),
    tax: nativeMoney.nullish(),
  }),
  recipient_address: z.object({
    name: z.string().trim().min(1),
    phone_number: z.string().nullish(),
    address_detail: z.string().nullish(),
    address_line1: z.string().nullish(),
    address_line2: z.string().nullish(),
    full_address: z.string().trim().min(1),
    postal_code: z.string().nullish(),
    region_code: z.string().regex(/^[A-Z]{2}$/),
    district_info: z
      .array(
        z.object({ address_level: z.string().nullish(), address_level_name: z.string().nullish(), address_name: z.string().nullish() }),
      )
      .nullish(),
  }),
  line_items: z
    .array(
      z.object({
        id: tiktokId,
        sku_id: z.string().nullish(),
        seller_sku: z.string({ error: 'the seller SKU is required' }).trim().min(1, 'the seller SKU is required'),
        product_name: z.string().nullish(),
        sku_name: z.string().nullish(),
        original_price: nativeMoney,
        sale_price: nativeMoney,
        seller_discount: nativeMoney.optional(),
        platform_discount: nativeMoney.optional(),
        currency: z.string().nullish(),
        display_status: z.string().nullish(),
      }),
    )
    .min(1),
});
export type TikTokOrder = z.infer<typeof TikTokOrderSchema>;

export const TikTokDetailResponseSchema = z.object({
  code: z.number().int(),
  message: z.string(),
  request_id: z.string().optional(),
  data: z.object({ orders: z.array(z.unknown()) }),
});

function toCanonical(o: TikTokOrder): CanonicalOrder {
  const live = o.line_items.filter((l) => l.display_status !== 'CANCELLED' && l.display_status !== 'CANCEL');
  const level = (l: string) => textOf((o.recipient_address.district_info ?? []).find((d) => d.address_level === l)?.address_name);
  const province = level('L1');
  if (!province) throw new MappingError([{ path: 'recipient_address.district_info', message: 'no province (address_level L1)' }]);
  const { lines, extraDiscountMinor } = linesFromUnits(live.map((l) => ({ sku: l.seller_sku, price: l.sale_price })));
  // sale_price is the seller's price; TikTok's own vouchers (platform_discount) are what the buyer did not pay of it.
  const platformMinor = live.reduce((a, l) => a + toMinor(l.platform_discount ?? '0'), 0);
  const someCancelled = live.length !== o.line_items.length;
  // Where TikTok adds tax at checkout (sales tax in the US), its prices exclude it and its own figure goes on top.
  const taxed = toMinor(o.payment.tax ?? '0') > 0;
  const a = o.recipient_address;
  const phone = cleanPhone(a.phone_number);
  const email = o.buyer_email && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(o.buyer_email) ? o.buyer_email : undefined;
  return finishCanonical({
    channel: 'tiktok',
    channelOrderId: o.id,
    currency: o.payment.currency,
    customer: {
      id: (o.user_id ? `tiktok-${o.user_id}` : `tiktok-order-${o.id}`).slice(0, 64),
      name: a.name,
      ...(email ? { email } : {}),
      ...(phone ? { phone } : {}),
    },
    shippingAddress: {
      name: a.name,
      line1: (textOf(a.address_detail) ?? textOf(a.address_line1) ?? a.full_address).slice(0, 300),
      ...(level('L3') ? { ward: level('L3') } : {}),
      ...(level('L2') ? { district: level('L2') } : {}),
      city: province,
      ...(textOf(a.postal_code) ? { postalCode: textOf(a.postal_code) } : {}),
      country: a.region_code,
    },
    lines,
    shippingFee: o.payment.shipping_fee ?? '0.00',
    discount: fromMinor(platformMinor + extraDiscountMinor),
    ...(taxed ? { pricesIncludeTax: false, taxOnTop: o.payment.tax! } : {}),
    // The total cross-checks the mapping; it is only comparable when nothing was cancelled, and
    // not where tax is on top (TikTok's total then also holds fees the OMS does not carry).
    ...(someCancelled || taxed || !o.payment.total_amount ? {} : { total: o.payment.total_amount }),
    payment: o.is_cod ? { method: 'cod' } : { method: 'prepaid', token: `tok_tiktok_${o.id}`, provider: 'tiktok' },
    placedAt: isoFromUnix(o.create_time),
  });
}

export function parseTikTokOrder(body: unknown): Parsed<CanonicalOrder> {
  return parseWith(TikTokOrderSchema, body, toCanonical);
}

/** TikTok Shop's request signature. */
export function tiktokSign(path: string, params: Record<string, string>, body: string, secret: string): string {
  const pairs = Object.keys(params)
    .filter((k) => k !== 'sign' && k !== 'access_token')
    .sort()
    .map((k) => `${k}${params[k]}`)
    .join('');
  return hmacHex(secret, `${secret}${path}${pairs}${body}${secret}`);
}

function tiktokRequest(
  method: 'GET' | 'POST',
  path: string,
  params: Record<string, string>,
  body: unknown,
  creds: ChannelCredentials,
  nowMs: number,
  action: string,
): ChannelRequest {
  const all = { ...params, app_key: creds.appKey, timestamp: String(Math.floor(nowMs / 1000)), shop_cipher: creds.shopId };
  const text = body === undefined ? '' : JSON.stringify(body);
  return {
    method,
    path,
    action,
    query: { ...all, sign: tiktokSign(path, all, text, creds.secret) },
    headers: { 'x-tts-access-token': creds.accessToken, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: text }),
  };
}

/** TikTok Shop error codes a later attempt can get past (internal errors, rate limits). */
const RETRYABLE = new Set([36009003, 36009004, 11000001, 11000002]);

function lineItemIds(native: unknown): string[] {
  const r = TikTokOrderSchema.safeParse(native);
  if (r.success) return r.data.line_items.filter((l) => l.display_status !== 'CANCELLED' && l.display_status !== 'CANCEL').map((l) => l.id);
  // A document the full schema refuses (masked, or cut short) still names its lines.
  const lines = (native as { line_items?: { id?: unknown }[] } | undefined)?.line_items;
  return Array.isArray(lines) ? lines.flatMap((l) => (typeof l?.id === 'string' ? [l.id] : [])) : [];
}

export const tiktokAdapter: ChannelAdapter = {
  channel: 'tiktok',
  delivery: 'thin',
  signature: { header: 'Authorization', scheme: 'hex HMAC-SHA256 of app_key + raw body, keyed with the app secret' },

  verifyWebhook(req: InboundRequest, creds: ChannelCredentials): boolean {
    return sameSignature(hmacHex(creds.secret, creds.appKey + req.rawBody), req.header('authorization'), 'hex');
  },

  parseWebhook(body: unknown): Parsed<Notification> {
    const env = TikTokWebhookEnvelopeSchema.safeParse(body);
    if (!env.success) return { ok: false, issues: zodIssues(env.error) };
    const notes: PayloadNote[] = [];
    const { type } = env.data;
    // The notification id is the dedupe key; a type that carries none is keyed by its content.
    const eventId = (fallback: string) => env.data.tts_notification_id || fallback;
    if (type === TIKTOK_WEBHOOK_TYPES.orderStatus) {
      noteSurprises(body, TIKTOK_PUSH_EXPECTATIONS, notes);
      return parseWith(TikTokPushSchema, body, (p) => {
        const status = p.data.order_status ?? 'null';
        const disposition = dispositionFrom(TIKTOK_DISPOSITIONS, p.data.order_status, 'data.order_status', notes);
        return {
          eventId: eventId(`${p.data.order_id}:${status}:${p.data.update_time ?? p.timestamp ?? ''}`),
          channelOrderId: p.data.order_id,
          nativeStatus: status,
          disposition,
          ...(disposition === 'cancelled' ? { reason: 'cancelled on TikTok Shop' } : {}),
          notes,
        };
      });
    }
    if (type === TIKTOK_WEBHOOK_TYPES.cancellationStatus) {
      noteSurprises(body, TIKTOK_PUSH_EXPECTATIONS, notes);
      return parseWith(TikTokCancellationPushSchema, body, (p) => {
        const status = p.data.cancel_status ?? 'null';
        const disposition = dispositionFrom(TIKTOK_CANCEL_DISPOSITIONS, p.data.cancel_status, 'data.cancel_status', notes);
        const who = p.data.cancellations_role ? p.data.cancellations_role.toLowerCase() : 'someone';
        return {
          eventId: eventId(`cancel:${p.data.cancel_id ?? p.data.order_id}:${status}:${p.data.update_time ?? p.data.create_time ?? ''}`),
          channelOrderId: p.data.order_id,
          nativeStatus: status,
          disposition,
          reason:
            disposition === 'cancel_request'
              ? `the ${who} asked TikTok Shop to cancel the order${p.data.cancel_id ? ` (cancellation ${p.data.cancel_id})` : ''}`
              : `cancellation on TikTok Shop: ${status}`,
          ...(p.data.cancel_id ? { platformRequestId: p.data.cancel_id } : {}),
          notes,
        };
      });
    }
    if (type === TIKTOK_WEBHOOK_TYPES.returnStatus) {
      noteSurprises(body, TIKTOK_PUSH_EXPECTATIONS, notes);
      return parseWith(TikTokReturnPushSchema, body, (p) => {
        const status = p.data.return_status ?? 'null';
        return {
          eventId: eventId(`return:${p.data.return_id ?? p.data.order_id}:${status}:${p.data.update_time ?? ''}`),
          channelOrderId: p.data.order_id,
          nativeStatus: status,
          disposition: dispositionFrom(TIKTOK_RETURN_DISPOSITIONS, p.data.return_status, 'data.return_status', notes),
          reason: `TikTok Shop ${(p.data.return_type ?? 'return').toLowerCase()} request${p.data.return_id ? ` ${p.data.return_id}` : ''}: ${status}`,
          notes,
        };
      });
    }
    // Addresses, packages, authorisation notices, and whatever TikTok subscribes the app to by default.
    if (!KNOWN_TYPES.includes(type))
      notes.push({ path: 'type', value: String(type), note: 'a webhook type the OMS does not act on: acknowledged' });
    const order = tiktokId.safeParse((env.data.data as { order_id?: unknown } | null)?.order_id);
    const ref = order.success ? order.data : 'none';
    return {
      ok: true,
      value: {
        eventId: eventId(`type${type}:${ref}:${env.data.timestamp ?? ''}`),
        channelOrderId: ref,
        nativeStatus: `type_${type}`,
        disposition: 'ignore',
        notes,
      },
    };
  },

  dispositionOf(nativeStatus: string): Disposition {
    return dispositionFrom(TIKTOK_DISPOSITIONS, nativeStatus, 'status', []);
  },

  orderDetailRequests(channelOrderId: string, creds: ChannelCredentials, nowMs: number): ChannelRequest[] {
    return [tiktokRequest('GET', '/order/202309/orders', { ids: channelOrderId }, undefined, creds, nowMs, 'get_order_detail')];
  },

  parseOrderDetail(responses: unknown[], channelOrderId: string): Parsed<PulledOrder> {
    const env = TikTokDetailResponseSchema.safeParse(responses[0]);
    if (!env.success) return { ok: false, issues: zodIssues(env.error) };
    const raw = env.data.data.orders.find((o) => (o as { id?: unknown }).id === channelOrderId);
    if (!raw) return { ok: false, issues: [{ path: 'data.orders', message: `order ${channelOrderId} is not in the answer` }] };
    const notes = noteSurprises(raw, TIKTOK_ORDER_EXPECTATIONS, []);
    const native = (raw as { status?: unknown }).status;
    const status = typeof native === 'string' ? native : null;
    const disposition = dispositionFrom(TIKTOK_DISPOSITIONS, status, 'status', notes);
    const base = { channelOrderId, nativeStatus: status ?? 'null', disposition, native: raw, notes };
    return pulledOrder(base, () => parseTikTokOrder(raw));
  },

  platformError(json: unknown) {
    const j = json as { code?: unknown; message?: unknown } | undefined;
    if (typeof j?.code !== 'number' || j.code === 0) return undefined;
    return { code: String(j.code), message: typeof j.message === 'string' ? j.message : String(j.code), retryable: RETRYABLE.has(j.code) };
  },

  statusPush(input: StatusPushInput, ctx, creds, nowMs): ChannelRequest[] {
    const ids = lineItemIds(ctx.native);
    const orderId = encodeURIComponent(input.channelOrderId);
    if (input.status === 'SHIPPED' || input.status === 'PARTIALLY_SHIPPED') {
      const s = ctx.shipments.find((x) => x.trackingNumber);
      return [
        tiktokRequest(
          'POST',
          `/fulfillment/202309/orders/${orderId}/packages`,
          {},
          {
            tracking_number: s?.trackingNumber ?? '',
            shipping_provider_id: s?.carrier ?? 'seller',
            order_line_item_ids: ids,
          },
          creds,
          nowMs,
          'mark_package_shipped',
        ),
      ];
    }
    if (input.status === 'CANCELLED' && cancelledByChannel(input)) {
      // A buyer's request is approved; an order TikTok Shop cancelled needs no call.
      const cancelId = input.detail?.platformRequestId;
      if (input.detail?.buyerRequest !== true || typeof cancelId !== 'string') return [];
      return [
        tiktokRequest(
          'POST',
          `/return_refund/202309/cancellations/${encodeURIComponent(cancelId)}/approve`,
          {},
          {},
          creds,
          nowMs,
          'approve_cancellation',
        ),
      ];
    }
    if (input.status === 'CANCELLED' || input.status === 'REJECTED') {
      const reason = /stock|backorder/i.test(JSON.stringify(input.detail ?? {}))
        ? 'seller_cancel_reason_out_of_stock'
        : 'seller_cancel_reason_wrong_price';
      return [
        tiktokRequest(
          'POST',
          '/return_refund/202309/cancellations',
          {},
          { order_id: input.channelOrderId, order_line_item_ids: ids, cancel_reason: reason },
          creds,
          nowMs,
          'cancel_order',
        ),
      ];
    }
    return [];
  },

  /**
   * TikTok Shop updates inventory per product and SKU id. The catalog does not keep TikTok's
   * ids yet, so SKUs are named by seller SKU in one batch (the sandbox resolves them); a real
   * shop needs the seller SKU → (product id, SKU id) map and one call per product.
   */
  stockUpdateBody(items: StockLevel[]) {
    return { skus: items.map((i) => ({ seller_sku: i.sku, inventory: [{ quantity: i.available }] })) };
  },

  stockUpdateRequest(items: StockLevel[], creds: ChannelCredentials, nowMs: number): ChannelRequest {
    return tiktokRequest('POST', '/product/202309/inventory/update', {}, this.stockUpdateBody(items), creds, nowMs, 'update_inventory');
  },
};
