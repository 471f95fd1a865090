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
  cleanPhone, finishCanonical, hmacHex, isoFromUnix, linesFromUnits, MappingError, nativeMoney, parseWith, sameSignature, zodIssues,
  type InboundRequest, type Parsed,
} from './common';
import type { ChannelAdapter, ChannelCredentials, ChannelRequest, Disposition, Notification, PulledOrder, StatusPushInput, StockLevel } from './types';

export const TIKTOK_STATUSES = [
  'UNPAID', 'ON_HOLD', 'AWAITING_SHIPMENT', 'PARTIALLY_SHIPPING', 'AWAITING_COLLECTION', 'IN_TRANSIT', 'DELIVERED', 'COMPLETED', 'CANCELLED',
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
};

const tiktokId = z.string().regex(/^\d{6,24}$/, 'must be a TikTok Shop numeric id');

/** ORDER_STATUS_CHANGE (type 1). */
export const TikTokPushSchema = z.object({
  type: z.literal(1, { error: 'only ORDER_STATUS_CHANGE (type 1) is subscribed' }),
  tts_notification_id: z.string().min(1).max(100),
  shop_id: z.string().min(1),
  timestamp: z.number().int().positive(),
  data: z.object({
    order_id: tiktokId,
    order_status: z.enum(TIKTOK_STATUSES),
    update_time: z.number().int().positive(),
    is_on_hold_order: z.boolean().optional(),
  }),
});

export const TikTokOrderSchema = z.object({
  id: tiktokId,
  status: z.enum(TIKTOK_STATUSES),
  create_time: z.number().int().positive(),
  paid_time: z.number().int().optional(),
  update_time: z.number().int().positive(),
  is_cod: z.boolean(),
  payment_method_name: z.string(),
  user_id: z.string().min(1),
  buyer_email: z.string().optional(),
  payment: z.object({
    currency: z.string().regex(/^[A-Z]{3}$/),
    sub_total: nativeMoney,
    shipping_fee: nativeMoney,
    seller_discount: nativeMoney,
    platform_discount: nativeMoney,
    total_amount: nativeMoney,
    original_total_product_price: nativeMoney,
    original_shipping_fee: nativeMoney,
    tax: nativeMoney.optional(),
  }),
  recipient_address: z.object({
    name: z.string().trim().min(1),
    phone_number: z.string(),
    address_detail: z.string().optional(),
    address_line1: z.string().optional(),
    address_line2: z.string().optional(),
    full_address: z.string().trim().min(1),
    postal_code: z.string().optional(),
    region_code: z.string().regex(/^[A-Z]{2}$/),
    district_info: z.array(z.object({ address_level: z.string(), address_level_name: z.string(), address_name: z.string() })),
  }),
  line_items: z.array(z.object({
    id: tiktokId,
    sku_id: z.string(),
    seller_sku: z.string({ error: 'the seller SKU is required' }).trim().min(1, 'the seller SKU is required'),
    product_name: z.string(),
    sku_name: z.string().optional(),
    original_price: nativeMoney,
    sale_price: nativeMoney,
    seller_discount: nativeMoney.optional(),
    platform_discount: nativeMoney.optional(),
    currency: z.string(),
    display_status: z.enum(TIKTOK_STATUSES),
  })).min(1),
});
export type TikTokOrder = z.infer<typeof TikTokOrderSchema>;

export const TikTokDetailResponseSchema = z.object({
  code: z.number().int(),
  message: z.string(),
  request_id: z.string().optional(),
  data: z.object({ orders: z.array(z.unknown()) }),
});

function toCanonical(o: TikTokOrder): CanonicalOrder {
  const live = o.line_items.filter((l) => l.display_status !== 'CANCELLED');
  const level = (l: string) => o.recipient_address.district_info.find((d) => d.address_level === l)?.address_name;
  const province = level('L1');
  if (!province) throw new MappingError([{ path: 'recipient_address.district_info', message: 'no province (address_level L1)' }]);
  const { lines, extraDiscountMinor } = linesFromUnits(live.map((l) => ({ sku: l.seller_sku, price: l.sale_price })));
  // sale_price is the seller's price; TikTok's own vouchers (platform_discount) are what the buyer did not pay of it.
  const platformMinor = live.reduce((a, l) => a + toMinor(l.platform_discount ?? '0'), 0);
  const someCancelled = live.length !== o.line_items.length;
  const taxed = toMinor(o.payment.tax ?? '0') > 0;
  const a = o.recipient_address;
  const phone = cleanPhone(a.phone_number);
  const email = o.buyer_email && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(o.buyer_email) ? o.buyer_email : undefined;
  return finishCanonical({
    channel: 'tiktok',
    channelOrderId: o.id,
    currency: o.payment.currency,
    customer: { id: `tiktok-${o.user_id}`.slice(0, 64), name: a.name, ...(email ? { email } : {}), ...(phone ? { phone } : {}) },
    shippingAddress: {
      name: a.name,
      line1: (a.address_detail || a.address_line1 || a.full_address).slice(0, 300),
      ...(level('L3') ? { ward: level('L3') } : {}),
      ...(level('L2') ? { district: level('L2') } : {}),
      city: province,
      ...(a.postal_code ? { postalCode: a.postal_code } : {}),
      country: a.region_code,
    },
    lines,
    shippingFee: o.payment.shipping_fee,
    discount: fromMinor(platformMinor + extraDiscountMinor),
    // The total cross-checks the mapping; it is only comparable when nothing was cancelled or taxed on top.
    ...(someCancelled || taxed ? {} : { total: o.payment.total_amount }),
    payment: o.is_cod ? { method: 'cod' } : { method: 'prepaid', token: `tok_tiktok_${o.id}`, provider: 'tiktok' },
    placedAt: isoFromUnix(o.create_time),
  });
}

export function parseTikTokOrder(body: unknown): Parsed<CanonicalOrder> {
  return parseWith(TikTokOrderSchema, body, toCanonical);
}

/** TikTok Shop's request signature. */
export function tiktokSign(path: string, params: Record<string, string>, body: string, secret: string): string {
  const pairs = Object.keys(params).filter((k) => k !== 'sign' && k !== 'access_token').sort().map((k) => `${k}${params[k]}`).join('');
  return hmacHex(secret, `${secret}${path}${pairs}${body}${secret}`);
}

function tiktokRequest(method: 'GET' | 'POST', path: string, params: Record<string, string>, body: unknown, creds: ChannelCredentials, nowMs: number, action: string): ChannelRequest {
  const all = { ...params, app_key: creds.appKey, timestamp: String(Math.floor(nowMs / 1000)), shop_cipher: creds.shopId };
  const text = body === undefined ? '' : JSON.stringify(body);
  return {
    method, path, action,
    query: { ...all, sign: tiktokSign(path, all, text, creds.secret) },
    headers: { 'x-tts-access-token': creds.accessToken, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: text }),
  };
}

/** TikTok Shop error codes a later attempt can get past (internal errors, rate limits). */
const RETRYABLE = new Set([36009003, 36009004, 11000001, 11000002]);

function lineItemIds(native: unknown): string[] {
  const r = TikTokOrderSchema.safeParse(native);
  return r.success ? r.data.line_items.filter((l) => l.display_status !== 'CANCELLED').map((l) => l.id) : [];
}

export const tiktokAdapter: ChannelAdapter = {
  channel: 'tiktok',
  delivery: 'thin',
  signature: { header: 'Authorization', scheme: 'hex HMAC-SHA256 of app_key + raw body, keyed with the app secret' },

  verifyWebhook(req: InboundRequest, creds: ChannelCredentials): boolean {
    return sameSignature(hmacHex(creds.secret, creds.appKey + req.rawBody), req.header('authorization'), 'hex');
  },

  parseWebhook(body: unknown): Parsed<Notification> {
    return parseWith(TikTokPushSchema, body, (p) => ({
      eventId: p.tts_notification_id,
      channelOrderId: p.data.order_id,
      nativeStatus: p.data.order_status,
      disposition: TIKTOK_DISPOSITIONS[p.data.order_status],
    }));
  },

  dispositionOf(nativeStatus: string): Disposition {
    const d = TIKTOK_DISPOSITIONS[nativeStatus as TikTokStatus];
    if (!d) throw new Error(`unknown TikTok Shop status ${nativeStatus}`);
    return d;
  },

  orderDetailRequests(channelOrderId: string, creds: ChannelCredentials, nowMs: number): ChannelRequest[] {
    return [tiktokRequest('GET', '/order/202309/orders', { ids: channelOrderId }, undefined, creds, nowMs, 'get_order_detail')];
  },

  parseOrderDetail(responses: unknown[], channelOrderId: string): Parsed<PulledOrder> {
    const env = TikTokDetailResponseSchema.safeParse(responses[0]);
    if (!env.success) return { ok: false, issues: zodIssues(env.error) };
    const raw = env.data.data.orders.find((o) => (o as { id?: unknown }).id === channelOrderId);
    if (!raw) return { ok: false, issues: [{ path: 'data.orders', message: `order ${channelOrderId} is not in the answer` }] };
    const status = TikTokOrderSchema.shape.status.safeParse((raw as { status?: unknown }).status);
    if (!status.success) return { ok: false, issues: [{ path: 'status', message: status.error.issues[0]?.message ?? 'invalid' }] };
    const disposition = TIKTOK_DISPOSITIONS[status.data];
    if (disposition !== 'intake') return { ok: true, value: { channelOrderId, nativeStatus: status.data, disposition, native: raw } };
    const mapped = parseTikTokOrder(raw);
    if (!mapped.ok) return mapped;
    return { ok: true, value: { channelOrderId, nativeStatus: status.data, disposition, order: mapped.value, native: raw } };
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
      return [tiktokRequest('POST', `/fulfillment/202309/orders/${orderId}/packages`, {}, {
        tracking_number: s?.trackingNumber ?? '', shipping_provider_id: s?.carrier ?? 'seller', order_line_item_ids: ids,
      }, creds, nowMs, 'mark_package_shipped')];
    }
    if (input.status === 'CANCELLED' || input.status === 'REJECTED') {
      const reason = /stock|backorder/i.test(JSON.stringify(input.detail ?? {})) ? 'seller_cancel_reason_out_of_stock' : 'seller_cancel_reason_wrong_price';
      return [tiktokRequest('POST', '/return_refund/202309/cancellations', {}, { order_id: input.channelOrderId, order_line_item_ids: ids, cancel_reason: reason }, creds, nowMs, 'cancel_order')];
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
