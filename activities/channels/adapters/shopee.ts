/**
 * Shopee Open Platform (API v2). Push: a thin order-status notification (push code 3: order
 * sn, status, update time) with an `Authorization` header holding the hex HMAC-SHA256 of
 * `<callback URL>|<raw body>`, keyed with the partner key. Pull: `GET /api/v2/order/get_order_detail`
 * with the shop-level common parameters (partner_id, timestamp, access_token, shop_id) and
 * `sign` = hex HMAC-SHA256 of partner_id + API path + timestamp + access_token + shop_id.
 * Amounts are JSON numbers; errors come back inside a 200 as `error`/`message`.
 */
import { z } from 'zod';
import { fromMinor, toMinor } from '../../../domain/money';
import type { CanonicalOrder } from '../../../domain/order';
import {
  cleanPhone, finishCanonical, hmacHex, isoFromUnix, linesFromItems, MappingError, nativeMoney, parseWith, sameSignature,
  type InboundRequest, type Parsed,
} from './common';
import type { ChannelAdapter, ChannelCredentials, ChannelRequest, Disposition, Notification, PulledOrder, StatusPushInput, StockLevel } from './types';

export const SHOPEE_STATUSES = [
  'UNPAID', 'INVOICE_PENDING', 'READY_TO_SHIP', 'PROCESSED', 'RETRY_SHIP', 'SHIPPED', 'TO_CONFIRM_RECEIVE', 'IN_CANCEL', 'CANCELLED', 'TO_RETURN', 'COMPLETED',
] as const;
export type ShopeeStatus = (typeof SHOPEE_STATUSES)[number];

/** Shopee's order statuses, each decided once. */
export const SHOPEE_DISPOSITIONS: Record<ShopeeStatus, Disposition> = {
  UNPAID: 'wait', // checkout not paid yet: Shopee cancels it if it stays so
  INVOICE_PENDING: 'wait',
  READY_TO_SHIP: 'intake', // paid (or COD confirmed): the seller must ship
  PROCESSED: 'intake', // shipment arranged on Shopee, parcel still to hand over
  RETRY_SHIP: 'intake',
  SHIPPED: 'track',
  TO_CONFIRM_RECEIVE: 'track',
  COMPLETED: 'track',
  TO_RETURN: 'track',
  IN_CANCEL: 'cancel_request', // the buyer asked; the seller accepts or rejects on Shopee
  CANCELLED: 'cancelled',
};

/** Push code 3: order status update. */
export const ShopeePushSchema = z.object({
  shop_id: z.number().int().positive(),
  code: z.literal(3, { error: 'only order status pushes (code 3) are subscribed' }),
  timestamp: z.number().int().positive(),
  data: z.object({
    ordersn: z.string().regex(/^[A-Za-z0-9]{6,32}$/, 'must be a Shopee order sn'),
    status: z.enum(SHOPEE_STATUSES),
    update_time: z.number().int().positive(),
    completed_scenario: z.string().optional(),
  }),
});

export const ShopeeOrderSchema = z.object({
  order_sn: z.string().regex(/^[A-Za-z0-9]{6,32}$/, 'must be a Shopee order sn'),
  order_status: z.enum(SHOPEE_STATUSES),
  region: z.string().length(2),
  currency: z.string().regex(/^[A-Z]{3}$/),
  cod: z.boolean(),
  create_time: z.number().int().positive(),
  update_time: z.number().int().positive(),
  pay_time: z.number().int().optional(),
  buyer_user_id: z.number().int().positive(),
  buyer_username: z.string(),
  payment_method: z.string(),
  total_amount: nativeMoney,
  estimated_shipping_fee: nativeMoney.optional(),
  message_to_seller: z.string().optional(),
  recipient_address: z.object({
    name: z.string().trim().min(1),
    phone: z.string(),
    town: z.string().optional(),
    district: z.string().optional(),
    city: z.string().optional(),
    state: z.string().trim().min(1),
    region: z.string().regex(/^[A-Z]{2}$/),
    zipcode: z.string().optional(),
    full_address: z.string().trim().min(1),
  }),
  item_list: z.array(z.object({
    item_id: z.number().int(),
    item_name: z.string(),
    item_sku: z.string(),
    model_id: z.number().int(),
    model_name: z.string().optional(),
    model_sku: z.string(),
    model_quantity_purchased: z.number().int().positive(),
    model_original_price: nativeMoney,
    model_discounted_price: nativeMoney,
  })).min(1),
});
export type ShopeeOrder = z.infer<typeof ShopeeOrderSchema>;

export const ShopeeDetailResponseSchema = z.object({
  request_id: z.string().optional(),
  error: z.string().optional(),
  message: z.string().optional(),
  response: z.object({ order_list: z.array(z.unknown()) }),
});

/**
 * The detail API gives what the buyer paid (`total_amount`) but not how it splits into shipping
 * and vouchers (that lives in the escrow API). So the difference between it and the items is
 * booked as shipping when positive and as discount when negative: the canonical total is then
 * exactly what the buyer paid, which is what a COD courier collects.
 */
function toCanonical(o: ShopeeOrder): CanonicalOrder {
  const items = o.item_list.map((it, i) => {
    const sku = (it.model_sku || it.item_sku).trim();
    if (!sku) throw new MappingError([{ path: `item_list.${i}.model_sku`, message: 'neither model_sku nor item_sku is set: the item cannot be fulfilled' }]);
    return { sku, quantity: it.model_quantity_purchased, price: it.model_discounted_price };
  });
  const { lines, extraDiscountMinor } = linesFromItems(items);
  const linesMinor = lines.reduce((a, l) => a + toMinor(l.unitPrice) * l.quantity, 0);
  const rest = toMinor(o.total_amount) - (linesMinor - extraDiscountMinor);
  const a = o.recipient_address;
  const phone = cleanPhone(a.phone);
  return finishCanonical({
    channel: 'shopee',
    channelOrderId: o.order_sn,
    currency: o.currency,
    customer: { id: `shopee-${o.buyer_user_id}`, name: a.name, ...(phone ? { phone } : {}) },
    shippingAddress: {
      name: a.name,
      line1: a.full_address.slice(0, 300),
      // Shopee VN: state = province, city = district, district = ward.
      ...(a.district ? { ward: a.district } : {}),
      ...(a.city ? { district: a.city } : {}),
      city: a.state,
      ...(a.zipcode ? { postalCode: a.zipcode } : {}),
      country: a.region,
    },
    lines,
    shippingFee: fromMinor(Math.max(rest, 0)),
    discount: fromMinor(extraDiscountMinor + Math.max(-rest, 0)),
    total: o.total_amount,
    payment: o.cod ? { method: 'cod' } : { method: 'prepaid', token: `tok_shopee_${o.order_sn}`, provider: 'shopee' },
    placedAt: isoFromUnix(o.create_time),
  });
}

export function parseShopeeOrder(body: unknown): Parsed<CanonicalOrder> {
  return parseWith(ShopeeOrderSchema, body, toCanonical);
}

export const SHOPEE_DETAIL_PATH = '/api/v2/order/get_order_detail';
const DETAIL_FIELDS = 'buyer_user_id,buyer_username,recipient_address,item_list,pay_time,payment_method,total_amount,estimated_shipping_fee,message_to_seller';

/** Shop-level common parameters, signed: partner_id + path + timestamp + access_token + shop_id. */
export function shopeeCommonParams(path: string, creds: ChannelCredentials, nowMs: number): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const sign = hmacHex(creds.secret, `${creds.appKey}${path}${timestamp}${creds.accessToken}${creds.shopId}`);
  return { partner_id: creds.appKey, timestamp, access_token: creds.accessToken, shop_id: creds.shopId, sign };
}

const post = (path: string, body: unknown, creds: ChannelCredentials, nowMs: number, action: string): ChannelRequest => ({
  method: 'POST', path, query: shopeeCommonParams(path, creds, nowMs), headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), action,
});

/** Which of Shopee's seller cancel reasons fits why the OMS cancelled. */
function cancelReason(input: StatusPushInput): string {
  const why = JSON.stringify(input.detail ?? {});
  if (/stock|backorder/i.test(why)) return 'OUT_OF_STOCK';
  if (/deliver|address|region/i.test(why)) return 'UNDELIVERABLE_AREA';
  return 'CUSTOMER_REQUEST';
}

/** Shopee errors that a later attempt can get past. */
const RETRYABLE = new Set(['error_server', 'error_busy', 'error_inner', 'error_network', 'error_system_busy']);

export const shopeeAdapter: ChannelAdapter = {
  channel: 'shopee',
  delivery: 'thin',
  signature: { header: 'Authorization', scheme: 'hex HMAC-SHA256 of `<callback URL>|<raw body>`, keyed with the partner key' },

  verifyWebhook(req: InboundRequest, creds: ChannelCredentials): boolean {
    return sameSignature(hmacHex(creds.secret, `${req.url}|${req.rawBody}`), req.header('authorization'), 'hex');
  },

  parseWebhook(body: unknown): Parsed<Notification> {
    return parseWith(ShopeePushSchema, body, (p) => ({
      // Shopee has no event id: order + status + time identify one status change.
      eventId: `${p.data.ordersn}:${p.data.status}:${p.data.update_time}`,
      channelOrderId: p.data.ordersn,
      nativeStatus: p.data.status,
      disposition: SHOPEE_DISPOSITIONS[p.data.status],
    }));
  },

  dispositionOf(nativeStatus: string): Disposition {
    const d = SHOPEE_DISPOSITIONS[nativeStatus as ShopeeStatus];
    if (!d) throw new Error(`unknown Shopee status ${nativeStatus}`);
    return d;
  },

  orderDetailRequests(channelOrderId: string, creds: ChannelCredentials, nowMs: number): ChannelRequest[] {
    return [{
      method: 'GET', path: SHOPEE_DETAIL_PATH, action: 'get_order_detail',
      query: { ...shopeeCommonParams(SHOPEE_DETAIL_PATH, creds, nowMs), order_sn_list: channelOrderId, response_optional_fields: DETAIL_FIELDS },
    }];
  },

  parseOrderDetail(responses: unknown[], channelOrderId: string): Parsed<PulledOrder> {
    const env = ShopeeDetailResponseSchema.safeParse(responses[0]);
    if (!env.success) return { ok: false, issues: env.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })) };
    const raw = env.data.response.order_list.find((o) => (o as { order_sn?: unknown }).order_sn === channelOrderId);
    if (!raw) return { ok: false, issues: [{ path: 'response.order_list', message: `order ${channelOrderId} is not in the answer` }] };
    const status = ShopeeOrderSchema.shape.order_status.safeParse((raw as { order_status?: unknown }).order_status);
    if (!status.success) return { ok: false, issues: [{ path: 'order_status', message: status.error.issues[0]?.message ?? 'invalid' }] };
    const disposition = SHOPEE_DISPOSITIONS[status.data];
    if (disposition !== 'intake') return { ok: true, value: { channelOrderId, nativeStatus: status.data, disposition, native: raw } };
    const mapped = parseShopeeOrder(raw);
    if (!mapped.ok) return mapped;
    return { ok: true, value: { channelOrderId, nativeStatus: status.data, disposition, order: mapped.value, native: raw } };
  },

  platformError(json: unknown) {
    const j = json as { error?: unknown; message?: unknown } | undefined;
    if (typeof j?.error !== 'string' || j.error === '') return undefined;
    return { code: j.error, message: typeof j.message === 'string' ? j.message : j.error, retryable: RETRYABLE.has(j.error) };
  },

  statusPush(input: StatusPushInput, ctx, creds, nowMs): ChannelRequest[] {
    // Shopee follows delivery through its own logistics; the seller tells it two things: the
    // parcel is handed over (ship_order) or the order is cancelled.
    if (input.status === 'SHIPPED' || input.status === 'PARTIALLY_SHIPPED') {
      const tracking = ctx.shipments.find((s) => s.trackingNumber)?.trackingNumber;
      const body = tracking ? { order_sn: input.channelOrderId, non_integrated: { tracking_number: tracking } } : { order_sn: input.channelOrderId, dropoff: {} };
      return [post('/api/v2/logistics/ship_order', body, creds, nowMs, 'ship_order')];
    }
    if (input.status === 'CANCELLED' || input.status === 'REJECTED') {
      return [post('/api/v2/order/cancel_order', { order_sn: input.channelOrderId, cancel_reason: cancelReason(input) }, creds, nowMs, 'cancel_order')];
    }
    return [];
  },

  /**
   * Shopee's `update_stock` keys stock by item_id/model_id. The catalog does not keep Shopee's
   * listing ids yet, so the model is named by its seller SKU (`model_sku`), which the sandbox
   * resolves; a real shop needs the SKU → (item_id, model_id) map.
   */
  stockUpdateBody(items: StockLevel[]) {
    return { stock_list: items.map((i) => ({ model_sku: i.sku, seller_stock: [{ stock: i.available }] })) };
  },

  stockUpdateRequest(items: StockLevel[], creds: ChannelCredentials, nowMs: number): ChannelRequest {
    return post('/api/v2/product/update_stock', this.stockUpdateBody(items), creds, nowMs, 'update_stock');
  },
};
