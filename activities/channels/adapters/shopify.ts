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
import { fromMinor, toMinor } from '../../../domain/money';
import {
  cleanId, cleanPhone, finishCanonical, hmacBase64, linesFromItems, MappingError, nativeMoney, parseWith, sameSignature, sumDecimals, zodIssues,
  type FieldIssue, type InboundRequest, type Parsed,
} from './common';
import type { ChannelAdapter, ChannelCredentials, ChannelRequest, Disposition, Notification, StatusPushInput, StockLevel } from './types';

export const SHOPIFY_API_VERSION = '2025-01';
/** The store location whose stock the OMS manages. */
export const SHOPIFY_LOCATION_GID = 'gid://shopify/Location/1';

export const SHOPIFY_TOPICS = ['orders/create', 'orders/paid', 'orders/updated', 'orders/cancelled', 'orders/fulfilled', 'orders/partially_fulfilled'] as const;

const nullableText = z.string().nullish();

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

/** The order resource as Shopify sends it in `orders/*` webhooks (the fields the OMS reads). */
export const ShopifyOrderSchema = z.object({
  id: z.number().int().positive(),
  name: z.string(),
  email: nullableText,
  phone: nullableText,
  created_at: z.iso.datetime({ offset: true }),
  updated_at: z.iso.datetime({ offset: true }).optional(),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
  financial_status: z.enum(['pending', 'authorized', 'partially_paid', 'paid', 'partially_refunded', 'refunded', 'voided']),
  fulfillment_status: z.enum(['fulfilled', 'partial', 'restocked']).nullable(),
  cancelled_at: z.string().nullable(),
  payment_gateway_names: z.array(z.string()),
  taxes_included: z.boolean(),
  total_price: nativeMoney,
  subtotal_price: nativeMoney,
  total_discounts: nativeMoney,
  total_tax: nativeMoney,
  line_items: z.array(z.object({
    id: z.number().int(),
    sku: z.string({ error: 'a line without a SKU cannot be fulfilled' }).trim().min(1, 'a line without a SKU cannot be fulfilled'),
    name: z.string(),
    quantity: z.number().int().positive(),
    price: nativeMoney,
    total_discount: nativeMoney,
  })).min(1),
  shipping_lines: z.array(z.object({ title: z.string(), price: nativeMoney })),
  shipping_address: ShopifyAddressSchema.nullable(),
  customer: z.object({
    id: z.number().int(),
    first_name: nullableText,
    last_name: nullableText,
    email: nullableText,
    phone: nullableText,
  }).nullish(),
});
export type ShopifyOrder = z.infer<typeof ShopifyOrderSchema>;

const COD_GATEWAY = /cash on delivery|\bcod\b/i;

/**
 * Shopify has no single order status: it is read from cancellation, fulfilment and payment.
 * A COD order stays `pending` until the courier collects, so pending + COD is an order to fulfil.
 */
export function shopifyNativeStatus(o: Pick<ShopifyOrder, 'cancelled_at' | 'fulfillment_status' | 'financial_status' | 'payment_gateway_names'>): string {
  if (o.cancelled_at) return 'cancelled';
  if (o.fulfillment_status === 'fulfilled') return 'fulfilled';
  if (o.financial_status === 'pending' && o.payment_gateway_names.some((g) => COD_GATEWAY.test(g))) return 'pending_cod';
  return o.financial_status;
}

const DISPOSITIONS: Record<string, Disposition> = {
  pending: 'wait', // e.g. a bank transfer not yet received
  pending_cod: 'intake',
  authorized: 'intake',
  partially_paid: 'intake',
  paid: 'intake',
  partially_refunded: 'track',
  refunded: 'cancelled',
  voided: 'cancelled',
  fulfilled: 'track',
  cancelled: 'cancelled',
};

function toCanonical(o: ShopifyOrder): CanonicalOrder {
  const issues: FieldIssue[] = [];
  const a = o.shipping_address;
  if (!a) throw new MappingError([{ path: 'shipping_address', message: 'required: the order has nothing to ship to' }]);
  if (!o.taxes_included && toMinor(o.total_tax) > 0) {
    issues.push({ path: 'total_tax', message: 'taxes on top of prices are not supported: the canonical order has no tax line' });
  }
  const cod = o.payment_gateway_names.some((g) => COD_GATEWAY.test(g));
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
    shippingFee: sumDecimals(o.shipping_lines.map((s) => s.price)),
    discount: fromMinor(toMinor(o.total_discounts) + extraDiscountMinor),
    total: o.total_price,
    payment: cod ? { method: 'cod' } : { method: 'prepaid', token: `tok_shopify_${o.id}`, provider: (o.payment_gateway_names[0] ?? 'shopify').slice(0, 50) },
    placedAt: o.created_at,
  };
  if (issues.length) throw new MappingError(issues);
  return finishCanonical(order);
}

export function parseShopifyOrder(body: unknown): Parsed<CanonicalOrder> {
  return parseWith(ShopifyOrderSchema, body, toCanonical);
}

const shopifyRequest = (creds: ChannelCredentials, r: Omit<ChannelRequest, 'headers'>): ChannelRequest => ({
  ...r,
  headers: { 'X-Shopify-Access-Token': creds.accessToken, 'Content-Type': 'application/json' },
});

const INVENTORY_MUTATION = 'mutation SetStock($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { userErrors { field message } } }';

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
    return sameSignature(hmacBase64(creds.secret, req.rawBody), req.header('x-shopify-hmac-sha256'), 'base64');
  },

  parseWebhook(body: unknown, req: InboundRequest): Parsed<Notification> {
    const topic = req.header('x-shopify-topic');
    if (!topic || !(SHOPIFY_TOPICS as readonly string[]).includes(topic)) {
      return { ok: false, issues: [{ path: 'headers.x-shopify-topic', message: `must be one of ${SHOPIFY_TOPICS.join(', ')}` }] };
    }
    const shape = ShopifyOrderSchema.safeParse(body);
    if (!shape.success) return { ok: false, issues: zodIssues(shape.error) };
    const o = shape.data;
    const nativeStatus = topic === 'orders/cancelled' ? 'cancelled' : shopifyNativeStatus(o);
    const disposition = DISPOSITIONS[nativeStatus]!;
    const eventId = req.header('x-shopify-webhook-id')?.slice(0, 200) || `${topic}:${o.id}:${o.updated_at ?? o.created_at}`;
    if (disposition !== 'intake') return { ok: true, value: { eventId, channelOrderId: String(o.id), nativeStatus, disposition } };
    const mapped = parseShopifyOrder(body);
    if (!mapped.ok) return mapped;
    return { ok: true, value: { eventId, channelOrderId: String(o.id), nativeStatus, disposition, order: mapped.value } };
  },

  dispositionOf(nativeStatus: string): Disposition {
    const d = DISPOSITIONS[nativeStatus];
    if (!d) throw new Error(`unknown Shopify status ${nativeStatus}`);
    return d;
  },

  platformError(json: unknown) {
    // REST errors are HTTP 4xx/5xx; GraphQL answers 200 with `errors` or `userErrors`.
    const j = json as { errors?: { message?: string; extensions?: { code?: string } }[]; data?: { inventorySetQuantities?: { userErrors?: { message: string }[] } } } | undefined;
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
    if (input.status === 'CANCELLED' || input.status === 'REJECTED') {
      const reason = input.status === 'REJECTED' ? 'declined' : /stock|backorder/i.test(JSON.stringify(input.detail ?? {})) ? 'inventory' : 'other';
      return [shopifyRequest(creds, { method: 'POST', path: `${base}/cancel.json`, body: JSON.stringify({ reason, email: false }), action: 'cancel_order' })];
    }
    const tracking = ctx.shipments.map((s) => s.trackingNumber).filter(Boolean).join(',');
    const numericId = /^\d{1,15}$/.test(input.channelOrderId) ? Number(input.channelOrderId) : input.channelOrderId;
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
    return [shopifyRequest(creds, { method: 'PUT', path: `${base}.json`, body: JSON.stringify(body), action: 'update_order' })];
  },

  stockUpdateBody(items: StockLevel[]) {
    return {
      query: INVENTORY_MUTATION,
      variables: {
        input: {
          name: 'available',
          reason: 'correction',
          ignoreCompareQuantity: true,
          quantities: items.map((i) => ({ inventoryItemId: shopifyInventoryItem(i.sku), locationId: SHOPIFY_LOCATION_GID, quantity: i.available })),
        },
      },
    };
  },

  stockUpdateRequest(items: StockLevel[], creds: ChannelCredentials): ChannelRequest {
    return shopifyRequest(creds, { method: 'POST', path: `/admin/api/${SHOPIFY_API_VERSION}/graphql.json`, body: JSON.stringify(this.stockUpdateBody(items)), action: 'inventory_set_quantities' });
  },
};
