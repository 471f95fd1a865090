/**
 * Shopee Open Platform (API v2). Push: a thin order-status notification (push code 3: order
 * sn, status, update time) with an `Authorization` header holding the hex HMAC-SHA256 of
 * `<callback URL>|<raw body>`, keyed with the partner key. Pull: `GET /api/v2/order/get_order_detail`
 * with the shop-level common parameters (partner_id, timestamp, access_token, shop_id) and
 * `sign` = hex HMAC-SHA256 of partner_id + API path + timestamp + access_token + shop_id.
 * Amounts are JSON numbers; errors come back inside a 200 as `error`/`message`.
 */
import { createHash } from 'node:crypto';
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
  linesFromItems,
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

export const SHOPEE_STATUSES = [
  'UNPAID',
  'INVOICE_PENDING',
  'READY_TO_SHIP',
  'PROCESSED',
  'RETRY_SHIP',
  'SHIPPED',
  'TO_CONFIRM_RECEIVE',
  'IN_CANCEL',
  'CANCELLED',
  'TO_RETURN',
  'COMPLETED',
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
  TO_RETURN: 'return_request', // the buyer asked for a return or refund
  IN_CANCEL: 'cancel_request', // the buyer asked; the seller accepts or rejects on Shopee
  CANCELLED: 'cancelled',
};

/** Push codes the OMS reads; any other is acknowledged (and noted when it is not one Shopee documents). */
export const SHOPEE_PUSH_CODES = { verify: 0, orderStatus: 3, trackingNumber: 4, returnUpdate: 29 } as const;
const KNOWN_CODES: number[] = Object.values(SHOPEE_PUSH_CODES);

const orderSn = z.string().regex(/^[A-Za-z0-9]{6,32}$/, 'must be a Shopee order sn');

/** The envelope every push shares; `data` is read per code. */
export const ShopeePushEnvelopeSchema = z.object({
  code: z.number().int(),
  shop_id: z.number().int().nonnegative().nullish(),
  timestamp: z.number().int().nullish(),
  msg_id: z.string().max(100).nullish(),
  data: z.unknown(),
});

/** Push code 3: order status update. */
export const ShopeePushSchema = ShopeePushEnvelopeSchema.extend({
  code: z.literal(3),
  data: z.object({
    ordersn: orderSn,
    status: z.string().nullish(),
    update_time: z.number().int().nullish(),
    completed_scenario: z.string().nullish(),
  }),
});

/** Push code 29: a return's values changed (status, logistics…). */
export const ShopeeReturnPushSchema = ShopeePushEnvelopeSchema.extend({
  code: z.literal(29),
  data: z.object({
    order_sn: orderSn,
    return_sn: z.string().min(1).max(64),
    updated_values: z
      .array(z.object({ update_field: z.string().nullish(), new_value: z.unknown(), update_time: z.number().nullish() }))
      .nullish(),
  }),
});

export const SHOPEE_COMPLETED_SCENARIOS = ['NORMAL', 'RRAOC'] as const;

/** Fields read tolerantly (push and order detail). */
export const SHOPEE_PUSH_EXPECTATIONS: Expectations = {
  'data.status': { values: SHOPEE_STATUSES },
  'data.update_time': {},
  'data.completed_scenario': { values: ['', ...SHOPEE_COMPLETED_SCENARIOS], nullable: true },
  shop_id: {},
  timestamp: {},
};
export const SHOPEE_ORDER_EXPECTATIONS: Expectations = {
  order_status: { values: SHOPEE_STATUSES },
  pay_time: { nullable: true },
  estimated_shipping_fee: {},
  message_to_seller: { nullable: true },
  buyer_username: {},
  payment_method: {},
  cod: {},
  'recipient_address.phone': {},
  'recipient_address.town': {},
  'recipient_address.district': {},
  'recipient_address.city': {},
  'recipient_address.zipcode': {},
  'item_list.*.model_name': {},
  'item_list.*.item_name': {},
};

export const ShopeeOrderSchema = z.object({
  order_sn: orderSn,
  order_status: z.string().nullish(),
  region: z.string().nullish(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  cod: z.boolean().nullish(),
  create_time: z.number().int().positive(),
  update_time: z.number().int().nullish(),
  pay_time: z.number().int().nullish(),
  buyer_user_id: platformId,
  buyer_username: z.string().nullish(),
  payment_method: z.string().nullish(),
  total_amount: nativeMoney,
  estimated_shipping_fee: nativeMoney.nullish(),
  message_to_seller: z.string().nullish(),
  recipient_address: z.object({
    name: z.string().trim().min(1),
    phone: z.string().nullish(),
    town: z.string().nullish(),
    district: z.string().nullish(),
    city: z.string().nullish(),
    state: z.string().nullish(),
    region: z.string().regex(/^[A-Z]{2}$/),
    zipcode: z.string().nullish(),
    full_address: z.string().trim().min(1),
  }),
  item_list: z
    .array(
      z.object({
        item_id: platformId,
        item_name: z.string().nullish(),
        item_sku: z.string().nullish(),
        model_id: platformId,
        model_name: z.string().nullish(),
        model_sku: z.string().nullish(),
        model_quantity_purchased: z.number().int().positive(),
        model_original_price: nativeMoney.nullish(),
        model_discounted_price: nativeMoney,
      }),
    )
    .min(1),
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
    const sku = textOf(it.model_sku) ?? textOf(it.item_sku);
    if (!sku)
      throw new MappingError([
        { path: `item_list.${i}.model_sku`, message: 'neither model_sku nor item_sku is set: the item cannot be fulfilled' },
      ]);
    return { sku, quantity: it.model_quantity_purchased, price: it.model_discounted_price };
  });
  const { lines, extraDiscountMinor } = linesFromItems(items);
  const linesMinor = lines.reduce((a, l) => a + toMinor(l.unitPrice) * l.quantity, 0);
  const rest = toMinor(o.total_amount) - (linesMinor - extraDiscountMinor);
  const a = o.recipient_address;
  const phone = cleanPhone(a.phone);
  // Shopee VN: state = province, city = district, district = ward; other regions may leave state empty.
  const province = textOf(a.state) ?? textOf(a.city);
  if (!province)
    throw new MappingError([{ path: 'recipient_address.state', message: 'neither state nor city is set: no province to ship to' }]);
  return finishCanonical({
    channel: 'shopee',
    channelOrderId: o.order_sn,
    currency: o.currency,
    customer: { id: `shopee-${o.buyer_user_id}`, name: a.name, ...(phone ? { phone } : {}) },
    shippingAddress: {
      name: a.name,
      line1: a.full_address.slice(0, 300),
      ...(textOf(a.district) ? { ward: textOf(a.district) } : {}),
      ...(textOf(a.state) && textOf(a.city) ? { district: textOf(a.city) } : {}),
      city: province,
      ...(textOf(a.zipcode) ? { postalCode: textOf(a.zipcode) } : {}),
      country: a.region,
    },
    lines,
    shippingFee: fromMinor(Math.max(rest, 0)),
    discount: fromMinor(extraDiscountMinor + Math.max(-rest, 0)),
    total: o.total_amount,
    // `cod` missing: the payment method's name says it.
    payment:
      (o.cod ?? /cash on delivery|\bcod\b/i.test(o.payment_method ?? ''))
        ? { method: 'cod' }
        : { method: 'prepaid', token: `tok_shopee_${o.order_sn}`, provider: 'shopee' },
    placedAt: isoFromUnix(o.create_time),
  });
}

export function parseShopeeOrder(body: unknown): Parsed<CanonicalOrder> {
  return parseWith(ShopeeOrderSchema, body, toCanonical);
}

export const SHOPEE_DETAIL_PATH = '/api/v2/order/get_order_detail';
const DETAIL_FIELDS =
  'buyer_user_id,buyer_username,recipient_address,item_list,pay_time,payment_method,total_amount,estimated_shipping_fee,message_to_seller';

/** Shop-level common parameters, signed: partner_id + path + timestamp + access_token + shop_id. */
export function shopeeCommonParams(path: string, creds: ChannelCredentials, nowMs: number): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const sign = hmacHex(creds.secret, `${creds.appKey}${path}${timestamp}${creds.accessToken}${creds.shopId}`);
  return { partner_id: creds.appKey, timestamp, access_token: creds.accessToken, shop_id: creds.shopId, sign };
}

const post = (path: string, body: unknown, creds: ChannelCredentials, nowMs: number, action: string): ChannelRequest => ({
  method: 'POST',
  path,
  query: shopeeCommonParams(path, creds, nowMs),
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
  action,
});

/** What a status says, for the order's timeline when the OMS acts on it. */
const REASONS: Partial<Record<string, string>> = {
  IN_CANCEL: 'the buyer asked Shopee to cancel the order',
  CANCELLED: 'cancelled on Shopee',
  TO_RETURN: 'the buyer asked Shopee for a return or refund',
};

/** A short stable digest of a document (an event id where the platform gives none). */
function stableHash(doc: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(doc) ?? '')
    .digest('hex')
    .slice(0, 16);
}

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
    const env = ShopeePushEnvelopeSchema.safeParse(body);
    if (!env.success) return { ok: false, issues: zodIssues(env.error) };
    const notes: PayloadNote[] = [];
    const { code, msg_id: msgId } = env.data;
    if (code === SHOPEE_PUSH_CODES.orderStatus) {
      noteSurprises(body, SHOPEE_PUSH_EXPECTATIONS, notes);
      return parseWith(ShopeePushSchema, body, (p) => {
        const status = p.data.status ?? 'null';
        const disposition = dispositionFrom(SHOPEE_DISPOSITIONS, p.data.status, 'data.status', notes);
        return {
          // Live pushes carry a message id; older ones only order + status + time, which identify one change.
          eventId:
            msgId ||
            `${p.data.ordersn}:${status}:${p.data.update_time ?? p.timestamp ?? ''}${p.data.completed_scenario ? `:${p.data.completed_scenario}` : ''}`,
          channelOrderId: p.data.ordersn,
          nativeStatus: status,
          disposition,
          ...(REASONS[status] ? { reason: REASONS[status] } : {}),
          notes,
        };
      });
    }
    if (code === SHOPEE_PUSH_CODES.returnUpdate) {
      return parseWith(ShopeeReturnPushSchema, body, (p) => {
        const returnStatus = p.data.updated_values?.find((v) => v.update_field === 'return_status')?.new_value;
        const last = Math.max(0, ...(p.data.updated_values ?? []).map((v) => v.update_time ?? 0));
        return {
          eventId:
            msgId || `return:${p.data.return_sn}:${typeof returnStatus === 'string' ? returnStatus : ''}:${last || (p.timestamp ?? '')}`,
          channelOrderId: p.data.order_sn,
          nativeStatus: `RETURN_${typeof returnStatus === 'string' ? returnStatus : 'UPDATED'}`.slice(0, 64),
          disposition: 'return_request' as const,
          reason: `Shopee return ${p.data.return_sn}${typeof returnStatus === 'string' ? ` is ${returnStatus}` : ' was updated'}`,
          notes,
        };
      });
    }
    // The URL check (code 0), tracking numbers (4: the OMS books its own carriers) and any code
    // the shop was subscribed to without the OMS acting on it: acknowledged.
    if (!KNOWN_CODES.includes(code))
      notes.push({ path: 'code', value: String(code), note: 'a push code the OMS does not act on: acknowledged' });
    const sn = orderSn.safeParse((env.data.data as { ordersn?: unknown } | null)?.ordersn);
    const ref = sn.success ? sn.data : 'none';
    return {
      ok: true,
      value: {
        eventId: msgId || `code${code}:${ref}:${env.data.timestamp ?? stableHash(body)}`,
        channelOrderId: ref,
        nativeStatus: `code_${code}`,
        disposition: 'ignore',
        notes,
      },
    };
  },

  dispositionOf(nativeStatus: string): Disposition {
    return dispositionFrom(SHOPEE_DISPOSITIONS, nativeStatus, 'order_status', []);
  },

  orderDetailRequests(channelOrderId: string, creds: ChannelCredentials, nowMs: number): ChannelRequest[] {
    return [
      {
        method: 'GET',
        path: SHOPEE_DETAIL_PATH,
        action: 'get_order_detail',
        query: {
          ...shopeeCommonParams(SHOPEE_DETAIL_PATH, creds, nowMs),
          order_sn_list: channelOrderId,
          response_optional_fields: DETAIL_FIELDS,
        },
      },
    ];
  },

  parseOrderDetail(responses: unknown[], channelOrderId: string): Parsed<PulledOrder> {
    const env = ShopeeDetailResponseSchema.safeParse(responses[0]);
    if (!env.success) return { ok: false, issues: zodIssues(env.error) };
    const raw = env.data.response.order_list.find((o) => (o as { order_sn?: unknown }).order_sn === channelOrderId);
    if (!raw) return { ok: false, issues: [{ path: 'response.order_list', message: `order ${channelOrderId} is not in the answer` }] };
    const notes = noteSurprises(raw, SHOPEE_ORDER_EXPECTATIONS, []);
    const nativeStatus = (raw as { order_status?: unknown }).order_status;
    const status = typeof nativeStatus === 'string' ? nativeStatus : null;
    const disposition = dispositionFrom(SHOPEE_DISPOSITIONS, status, 'order_status', notes);
    const base = { channelOrderId, nativeStatus: status ?? 'null', disposition, native: raw, notes };
    return pulledOrder(base, () => parseShopeeOrder(raw));
  },

  platformError(json: unknown) {
    const j = json as { error?: unknown; message?: unknown } | undefined;
    // Success is an empty error, or "-" in some of Shopee's APIs.
    if (typeof j?.error !== 'string' || j.error === '' || j.error === '-') return undefined;
    return { code: j.error, message: typeof j.message === 'string' ? j.message : j.error, retryable: RETRYABLE.has(j.error) };
  },

  statusPush(input: StatusPushInput, ctx, creds, nowMs): ChannelRequest[] {
    // Shopee follows delivery through its own logistics; the seller tells it two things: the
    // parcel is handed over (ship_order) or the order is cancelled.
    if (input.status === 'SHIPPED' || input.status === 'PARTIALLY_SHIPPED') {
      const tracking = ctx.shipments.find((s) => s.trackingNumber)?.trackingNumber;
      const body = tracking
        ? { order_sn: input.channelOrderId, non_integrated: { tracking_number: tracking } }
        : { order_sn: input.channelOrderId, dropoff: {} };
      return [post('/api/v2/logistics/ship_order', body, creds, nowMs, 'ship_order')];
    }
    if (input.status === 'CANCELLED' && cancelledByChannel(input)) {
      // The buyer's request is answered (accepted); an order Shopee cancelled needs no call.
      if (input.detail?.buyerRequest !== true) return [];
      return [
        post(
          '/api/v2/order/handle_buyer_cancellation',
          { order_sn: input.channelOrderId, operation: 'ACCEPT' },
          creds,
          nowMs,
          'accept_buyer_cancellation',
        ),
      ];
    }
    if (input.status === 'CANCELLED' || input.status === 'REJECTED') {
      return [
        post(
          '/api/v2/order/cancel_order',
          { order_sn: input.channelOrderId, cancel_reason: cancelReason(input) },
          creds,
          nowMs,
          'cancel_order',
        ),
      ];
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
