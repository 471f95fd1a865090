/**
 * Shopify. The webhook carries the whole order (topics `orders/create`, `orders/paid`,
 * `orders/updated`, `orders/cancelled`, …), signed with `X-Shopify-Hmac-Sha256`: the base64
 * HMAC-SHA256 of the raw body with the app's secret. Deliveries are at least once and may come
 * out of order; `X-Shopify-Webhook-Id` stays the same across retries of one delivery.
 * Prices are decimal strings. Status goes back by updating the order (tags and note attributes)
 * or cancelling it through the Admin REST API; stock by the GraphQL `inventorySetQuantities`.
 */
import { z } from 'zod';
import type { CanonicalOrder } from '../../../domain/order';
import { stringifyJson } from '../../../lib/lossless-json';
import { fromMinor, toMinor } from '../../../domain/money';
import {
  cancelledByChannel,
  cleanId,
  cleanPhone,
  dispositionFrom,
  finishCanonical,
  hmacBase64,
  linesFromItems,
  MappingError,
  nativeMoney,
  noteSurprises,
  parseWith,
  platformId,
  sameSignature,
  sumDecimals,
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
  StatusPushInput,
  StockLevel,
} from './types';

export const SHOPIFY_API_VERSION = '2025-01';
/** The store location whose stock the OMS manages. */
export const SHOPIFY_LOCATION_GID = 'gid://shopify/Location/1';

/** Topics about an order's life, whose body is the order resource. */
export const SHOPIFY_ORDER_TOPICS = [
  'orders/create',
  'orders/paid',
  'orders/updated',
  'orders/cancelled',
  'orders/fulfilled',
  'orders/partially_fulfilled',
  'orders/edited',
] as const;
/** Topics of a buyer's return or refund, whose body names the order (`order_id` or `order.id`). */
export const SHOPIFY_RETURN_TOPICS = ['returns/request', 'refunds/create'] as const;

export const SHOPIFY_FINANCIAL_STATUSES = [
  'pending',
  'authorized',
  'partially_paid',
  'paid',
  'partially_refunded',
  'refunded',
  'voided',
  'expired',
] as const;
export const SHOPIFY_FULFILLMENT_STATUSES = ['fulfilled', 'partial', 'restocked'] as const;
export const SHOPIFY_CANCEL_REASONS = ['customer', 'declined', 'fraud', 'inventory', 'other', 'staff'] as const;

const nullableText = z.string().nullish();
/** Read as given; {@link SHOPIFY_EXPECTATIONS} notes values outside the documented ones. */
const softText = z.string().nullish();

export const ShopifyAddressSchema = z.object({
  first_name: nullableText,
  last_name: nullableText,
  name: nullableText,
  company: nullableText,
  address1: z.string().trim().min(1),
  address2: nullableText,
  city: z.string().trim().min(1),
  province: nullableText,
  province_code: nullableText,
  zip: nullableText,
  country_code: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 alpha-2 code'),
  phone: nullableText,
  latitude: z.number().nullish(),
  longitude: z.number().nullish(),
});

/**
 * What every `orders/*` body must carry for the OMS to know which order it is about and what
 * happened to it. Everything else is read only when the order is taken in ({@link ShopifyOrderSchema}).
 */
export const ShopifyOrderEnvelopeSchema = z.object({
  id: platformId,
  name: nullableText,
  created_at: z.string().nullish(),
  updated_at: z.string().nullish(),
  financial_status: softText,
  fulfillment_status: softText,
  cancelled_at: nullableText,
  cancel_reason: softText,
  payment_gateway_names: z.array(z.string().nullable()).nullish(),
  test: z.boolean().nullish(),
});

/** The order resource as Shopify sends it in `orders/*` webhooks (the fields the OMS reads). */
export const ShopifyOrderSchema = ShopifyOrderEnvelopeSchema.extend({
  email: nullableText,
  phone: nullableText,
  created_at: z.iso.datetime({ offset: true }),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
  taxes_included: z.boolean().nullish(),
  total_price: nativeMoney,
  subtotal_price: nativeMoney.nullish(),
  total_discounts: nativeMoney.nullish(),
  total_tax: nativeMoney.nullish(),
  line_items: z
    .array(
      z.object({
        id: platformId,
        sku: z.string({ error: 'a line without a SKU cannot be fulfilled' }).trim().min(1, 'a line without a SKU cannot be fulfilled'),
        name: nullableText,
        quantity: z.number().int().positive(),
        price: nativeMoney,
        total_discount: nativeMoney.nullish(),
        fulfillment_status: softText,
      }),
    )
    .min(1),
  shipping_lines: z.array(z.object({ title: nullableText, price: nativeMoney })).nullish(),
  shipping_address: ShopifyAddressSchema.nullish(),
  customer: z
    .object({
      id: platformId,
      first_name: nullableText,
      last_name: nullableText,
      email: nullableText,
      phone: nullableText,
    })
    .nullish(),
});
export type ShopifyOrder = z.infer<typeof ShopifyOrderSchema>;
type ShopifyEnvelope = z.infer<typeof ShopifyOrderEnvelopeSchema>;

/** The body of `returns/request` (a Return) and `refunds/create` (a Refund): the order it is about. */
export const ShopifyReturnSchema = z
  .object({
    id: platformId,
    order_id: platformId.optional(),
    order: z.object({ id: platformId }).nullish(),
    status: softText,
    note: nullableText,
  })
  .refine((r) => r.order_id !== undefined || r.order?.id !== undefined, {
    message: 'names no order (order_id or order.id)',
    path: ['order_id'],
  });

/** Fields read tolerantly: unknown values and nulls are noted, never refused. */
export const SHOPIFY_EXPECTATIONS: Expectations = {
  financial_status: { values: SHOPIFY_FINANCIAL_STATUSES },
  fulfillment_status: { values: SHOPIFY_FULFILLMENT_STATUSES, nullable: true },
  cancel_reason: { values: SHOPIFY_CANCEL_REASONS, nullable: true },
  'line_items.*.fulfillment_status': { values: [...SHOPIFY_FULFILLMENT_STATUSES, 'not_eligible'], nullable: true },
  'line_items.*.name': {},
  payment_gateway_names: {},
  taxes_included: {},
  total_discounts: {},
  total_tax: {},
  shipping_lines: {},
};

const COD_GATEWAY = /cash on delivery|\bcod\b/i;

/**
 * Shopify has no single order status: it is read from cancellation, fulfilment and payment.
 * A COD order stays `pending` until the courier collects, so pending + COD is an order to fulfil.
 */
export function shopifyNativeStatus(
  o: Pick<ShopifyEnvelope, 'cancelled_at' | 'fulfillment_status' | 'financial_status' | 'payment_gateway_names'>,
): string {
  if (o.cancelled_at) return 'cancelled';
  if (o.fulfillment_status === 'fulfilled') return 'fulfilled';
  if (o.financial_status === 'pending' && (o.payment_gateway_names ?? []).some((g) => g && COD_GATEWAY.test(g))) return 'pending_cod';
  return o.financial_status ?? 'unknown';
}

const DISPOSITIONS: Record<string, Disposition> = {
  pending: 'wait', // e.g. a bank transfer not yet received
  pending_cod: 'intake',
  authorized: 'intake',
  partially_paid: 'intake',
  paid: 'intake',
  partially_refunded: 'track',
  expired: 'track', // the authorisation lapsed on Shopify's side: nothing for the OMS to do
  refunded: 'cancelled',
  voided: 'cancelled',
  fulfilled: 'track',
  cancelled: 'cancelled',
};

function toCanonical(o: ShopifyOrder): CanonicalOrder {
  const a = o.shipping_address;
  if (!a) throw new MappingError([{ path: 'shipping_address', message: 'required: the order has nothing to ship to' }]);
  const gateways = (o.payment_gateway_names ?? []).flatMap((g) => (textOf(g) ? [g!.trim()] : []));
  const cod = gateways.some((g) => COD_GATEWAY.test(g));
  const { lines, extraDiscountMinor } = linesFromItems(o.line_items.map((l) => ({ sku: l.sku, quantity: l.quantity, price: l.price })));
  const fullName = (first?: string | null, last?: string | null) => [first, last].filter(Boolean).join(' ').trim();
  const customerName = fullName(o.customer?.first_name, o.customer?.last_name) || a.name || fullName(a.first_name, a.last_name);
  const email = o.customer?.email ?? o.email ?? undefined;
  const phone = cleanPhone(o.customer?.phone ?? o.phone ?? a.phone);
  const order: CanonicalOrder = {
    channel: 'shopify',
    channelOrderId: String(o.id),
    currency: o.currency,
    customer: {
      id: o.customer ? `shopify-${o.customer.id}` : cleanId(`shopify-guest-${o.id}`),
      name: customerName,
      ...(email ? { email } : {}),
      ...(phone ? { phone } : {}),
    },
    shippingAddress: {
      name: a.name || fullName(a.first_name, a.last_name) || customerName,
      line1: a.address1,
      ...(a.address2 ? { line2: a.address2 } : {}),
      // Vietnamese stores put the province in `province` and the district in `city`.
      city: a.province || a.city,
      ...(a.province ? { district: a.city } : {}),
      ...(a.zip ? { postalCode: a.zip } : {}),
      country: a.country_code,
      ...(typeof a.latitude === 'number' && typeof a.longitude === 'number' ? { lat: a.latitude, lng: a.longitude } : {}),
    },
    lines,
    shippingFee: sumDecimals((o.shipping_lines ?? []).map((s) => s.price)),
    discount: fromMinor(toMinor(o.total_discounts ?? '0') + extraDiscountMinor),
    // A store whose prices exclude tax adds it at checkout: Shopify's own figure goes on top.
    ...(o.taxes_included === false ? { pricesIncludeTax: false, taxOnTop: o.total_tax ?? '0.00' } : {}),
    total: o.total_price,
    payment: cod
      ? { method: 'cod' }
      : { method: 'prepaid', token: `tok_shopify_${o.id}`, provider: (gateways[0] ?? 'shopify').slice(0, 50) },
    placedAt: o.created_at,
  };
  return finishCanonical(order);
}

export function parseShopifyOrder(body: unknown): Parsed<CanonicalOrder> {
  return parseWith(ShopifyOrderSchema, body, toCanonical);
}

const shopifyRequest = (creds: ChannelCredentials, r: Omit<ChannelRequest, 'headers'>): ChannelRequest => ({
  ...r,
  headers: { 'X-Shopify-Access-Token': creds.accessToken, 'Content-Type': 'application/json' },
});

const INVENTORY_MUTATION =
  'mutation SetStock($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { userErrors { field message } } }';

/**
 * Shopify keys inventory by inventory item, not SKU. The catalog does not keep Shopify's ids
 * yet, so the item is named by SKU here (the sandbox's convention); a real store needs the
 * SKU → inventory item map (`productVariants(query: "sku:…")`).
 */
export const shopifyInventoryItem = (sku: string) => `gid://shopify/InventoryItem/sku:${sku}`;

export const shopifyAdapter: ChannelAdapter = {
  channel: 'shopify',
  delivery: 'full',
  signature: { header: 'X-Shopify-Hmac-Sha256', scheme: 'base64 HMAC-SHA256 of the raw body, keyed with the app secret' },

  verifyWebhook(req: InboundRequest, creds: ChannelCredentials): boolean {
    // Shopify's newer Events deliveries drop the X- prefix of their headers.
    return sameSignature(
      hmacBase64(creds.secret, req.rawBody),
      req.header('x-shopify-hmac-sha256') ?? req.header('shopify-hmac-sha256'),
      'base64',
    );
  },

  parseWebhook(body: unknown, req: InboundRequest): Parsed<Notification> {
    const notes: PayloadNote[] = [];
    const topic = req.header('x-shopify-topic') ?? req.header('shopify-topic');
    const eventKey = (id: string, at: string | null | undefined) =>
      (req.header('x-shopify-webhook-id') ?? req.header('shopify-webhook-id'))?.slice(0, 200) || `${topic}:${id}:${at ?? ''}`;
    if ((SHOPIFY_RETURN_TOPICS as readonly string[]).includes(topic ?? '')) {
      return parseWith(ShopifyReturnSchema, body, (r) => {
        const orderId = r.order_id ?? r.order!.id;
        return {
          eventId: eventKey(r.id, r.status),
          channelOrderId: orderId,
          nativeStatus: topic!,
          disposition: 'return_request' as const,
          reason: `${topic} ${r.id}${r.status ? ` (${r.status})` : ''}`,
          notes,
        };
      });
    }
    if (!(SHOPIFY_ORDER_TOPICS as readonly string[]).includes(topic ?? '')) {
      // Shopify subscribes apps to what they ask for; a topic the OMS does not read is acknowledged.
      notes.push({
        path: 'headers.x-shopify-topic',
        value: (topic ?? 'none').slice(0, 64),
        note: 'a topic the OMS does not act on: acknowledged',
      });
      const id = z.object({ id: platformId }).safeParse(body);
      const ref = id.success ? id.data.id : 'none';
      return {
        ok: true,
        value: { eventId: eventKey(ref, null), channelOrderId: ref, nativeStatus: topic ?? 'none', disposition: 'ignore', notes },
      };
    }
    const shape = ShopifyOrderEnvelopeSchema.safeParse(body);
    if (!shape.success) return { ok: false, issues: zodIssues(shape.error) };
    const o = shape.data;
    noteSurprises(body, SHOPIFY_EXPECTATIONS, notes);
    const nativeStatus = topic === 'orders/cancelled' ? 'cancelled' : shopifyNativeStatus(o);
    const disposition = dispositionFrom(DISPOSITIONS, nativeStatus, 'financial_status', notes);
    const eventId = eventKey(o.id, o.updated_at ?? o.created_at);
    const base = { eventId, channelOrderId: o.id, nativeStatus, disposition, notes };
    if (disposition === 'cancelled')
      return { ok: true, value: { ...base, reason: `cancelled on Shopify${o.cancel_reason ? ` (reason: ${o.cancel_reason})` : ''}` } };
    if (disposition !== 'intake') return { ok: true, value: base };
    const mapped = parseShopifyOrder(body);
    if (!mapped.ok) return mapped;
    return { ok: true, value: { ...base, order: mapped.value } };
  },

  dispositionOf(nativeStatus: string): Disposition {
    return dispositionFrom(DISPOSITIONS, nativeStatus, 'financial_status', []);
  },

  platformError(json: unknown) {
    // REST errors are HTTP 4xx/5xx; GraphQL answers 200 with `errors` or `userErrors`.
    const j = json as
      | {
          errors?: { message?: string; extensions?: { code?: string } }[];
          data?: { inventorySetQuantities?: { userErrors?: { message: string }[] } };
        }
      | undefined;
    if (Array.isArray(j?.errors) && j.errors.length) {
      const code = j.errors[0]?.extensions?.code ?? 'graphql_error';
      return { code, message: j.errors.map((e) => e.message ?? code).join('; '), retryable: code === 'THROTTLED' };
    }
    const user = j?.data?.inventorySetQuantities?.userErrors;
    if (user?.length) return { code: 'user_error', message: user.map((e) => e.message).join('; '), retryable: false };
    return undefined;
  },

  statusPush(input: StatusPushInput, ctx, creds): ChannelRequest[] {
    const id = encodeURIComponent(input.channelOrderId);
    const base = `/admin/api/${SHOPIFY_API_VERSION}/orders/${id}`;
    // An order Shopify cancelled itself is only tagged: cancelling it again would be refused.
    if ((input.status === 'CANCELLED' && !cancelledByChannel(input)) || input.status === 'REJECTED') {
      const reason =
        input.status === 'REJECTED' ? 'declined' : /stock|backorder/i.test(JSON.stringify(input.detail ?? {})) ? 'inventory' : 'other';
      return [
        shopifyRequest(creds, {
          method: 'POST',
          path: `${base}/cancel.json`,
          body: JSON.stringify({ reason, email: false }),
          action: 'cancel_order',
        }),
      ];
    }
    const tracking = ctx.shipments
      .map((s) => s.trackingNumber)
      .filter(Boolean)
      .join(',');
    // Shopify's ids are JSON numbers, some beyond 2^53: written back digit for digit.
    const numericId = /^\d{1,24}$/.test(input.channelOrderId) ? BigInt(input.channelOrderId) : input.channelOrderId;
    const body = {
      order: {
        id: numericId,
        tags: `oms:${input.status}`,
        note_attributes: [
          { name: 'oms_status', value: input.status },
          { name: 'oms_status_at', value: input.occurredAt },
          ...(tracking ? [{ name: 'oms_tracking', value: tracking }] : []),
        ],
      },
    };
    return [shopifyRequest(creds, { method: 'PUT', path: `${base}.json`, body: stringifyJson(body), action: 'update_order' })];
  },

  stockUpdateBody(items: StockLevel[]) {
    return {
      query: INVENTORY_MUTATION,
      variables: {
        input: {
          name: 'available',
          reason: 'correction',
          ignoreCompareQuantity: true,
          quantities: items.map((i) => ({
            inventoryItemId: shopifyInventoryItem(i.sku),
            locationId: SHOPIFY_LOCATION_GID,
            quantity: i.available,
          })),
        },
      },
    };
  },

  stockUpdateRequest(items: StockLevel[], creds: ChannelCredentials): ChannelRequest {
    return shopifyRequest(creds, {
      method: 'POST',
      path: `/admin/api/${SHOPIFY_API_VERSION}/graphql.json`,
      body: JSON.stringify(this.stockUpdateBody(items)),
      action: 'inventory_set_quantities',
    });
  },
};
