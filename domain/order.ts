/**
 * The canonical order: what every channel's payload is normalised into, and the body of
 * `POST /v1/orders`. Structural rules live here (→ 400 with field paths); rules that need the
 * catalog or stock (unknown SKU, undeliverable address) are the workflow's (→ REJECTED).
 */
import { z } from 'zod';
import { DECIMAL_RE } from './money';
import { currencyStep } from './tax';

export const CHANNELS = ['web', 'pos', 'shopify', 'shopee', 'lazada', 'tiktok'] as const;
export type Channel = (typeof CHANNELS)[number];

const decimal = z.string().regex(DECIMAL_RE, 'must be a decimal string with at most 2 decimals, e.g. "125000.00"');
const id = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, dot, underscore or dash');
/** The largest amount any money field takes (13 digits, 2 decimals), in minor units: exact as a JS number. */
const MAX_ORDER_MINOR = 999_999_999_999_999n;

export const AddressSchema = z.object({
  name: z.string().trim().min(1).max(200),
  line1: z.string().trim().min(1).max(300),
  line2: z.string().trim().max(300).optional(),
  ward: z.string().trim().max(100).optional(),
  district: z.string().trim().max(100).optional(),
  city: z.string().trim().min(1).max(100),
  region: z.string().trim().max(100).optional(),
  postalCode: z.string().trim().max(20).optional(),
  country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 alpha-2 code, e.g. "VN"'),
  lat: z.number().min(-90).max(90).optional(),
  lng: z.number().min(-180).max(180).optional(),
});

export const OrderLineSchema = z.object({
  sku: id,
  quantity: z.number().int().positive().max(10_000),
  unitPrice: decimal,
});

export const PaymentSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('prepaid'), token: z.string().min(1).max(200), provider: z.string().max(50).optional() }),
  z.object({ method: z.literal('cod') }),
]);

export const CanonicalOrderSchema = z
  .object({
    channel: z.enum(CHANNELS),
    channelOrderId: id,
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code, e.g. "VND"'),
    customer: z.object({
      id: id,
      name: z.string().trim().min(1).max(200),
      email: z.email().optional(),
      phone: z
        .string()
        .regex(/^\+?[0-9 ]{8,20}$/, 'must be a phone number')
        .optional(),
      /** A business buyer's tax code (Vietnam: 10 digits, a branch adds -3): printed on its e-invoices. */
      taxCode: z
        .string()
        .regex(/^\d{10}(-\d{3})?$/, 'must be a tax code: 10 digits, or 10-3 for a branch')
        .optional(),
    }),
    shippingAddress: AddressSchema,
    lines: z.array(OrderLineSchema).min(1).max(200),
    shippingFee: decimal.optional(),
    discount: decimal.optional(),
    /**
     * False: the lines, shipping and discount are prices before tax (a B2B price list, a store
     * that adds sales tax at checkout) and `taxOnTop` is added to the total. Absent or true: they
     * include VAT, as Vietnamese retail prices do.
     */
    pricesIncludeTax: z.boolean().optional(),
    /**
     * The tax charged on top of tax-exclusive prices, as the channel computed it. Absent on a
     * tax-exclusive order: the OMS computes it by its rule set when it takes the order in.
     */
    taxOnTop: decimal.optional(),
    /** When given, must equal lines + shipping − discount (+ tax on top) (checked by the workflow's validation). */
    total: decimal.optional(),
    payment: PaymentSchema,
    placedAt: z.iso.datetime({ offset: true }),
  })
  .strict()
  .superRefine((order, ctx) => {
    // Each amount fits, but their sum may not: 200 lines × 10,000 units × 13-digit prices would pass
    // every field yet overflow the stored total (numeric(16,2)) and the exact integer range that
    // money arithmetic relies on. Summed with BigInt so the check itself cannot lose precision.
    // zod runs this even when a field failed already, so it reads only the fields that passed.
    const minor = (d: unknown) => {
      if (typeof d !== 'string' || !DECIMAL_RE.test(d)) return 0n;
      const [w, f = ''] = d.split('.');
      return BigInt(w!) * 100n + BigInt(f.padEnd(2, '0'));
    };
    const lines: unknown[] = Array.isArray(order.lines) ? order.lines : [];
    const gross = lines.reduce<bigint>(
      (a, l) => {
        const { unitPrice, quantity } = (l ?? {}) as { unitPrice?: unknown; quantity?: unknown };
        return a + (Number.isSafeInteger(quantity) ? minor(unitPrice) * BigInt(quantity as number) : 0n);
      },
      minor(order.shippingFee) + minor(order.taxOnTop),
    );
    // A currency without a minor unit (VND: no half đồng) carries no fraction: a gateway would refuse to charge it.
    const step = typeof order.currency === 'string' ? BigInt(currencyStep(order.currency)) : 1n;
    const amounts: [(string | number)[], unknown][] = [
      ...lines.map((l, i): [(string | number)[], unknown] => [['lines', i, 'unitPrice'], (l as { unitPrice?: unknown } | null)?.unitPrice]),
      ...(['shippingFee', 'discount', 'taxOnTop', 'total'] as const).map((k): [(string | number)[], unknown] => [[k], order[k]]),
    ];
    for (const [path, d] of amounts)
      if (step > 1n && minor(d) % step !== 0n)
        ctx.addIssue({ code: 'custom', path, message: `${order.currency} has no minor unit: ${String(d)} is not an amount in it` });
    if (order.taxOnTop !== undefined && order.pricesIncludeTax !== false)
      ctx.addIssue({
        code: 'custom',
        path: ['taxOnTop'],
        message: 'tax on top of the prices needs prices without tax: set pricesIncludeTax to false',
      });
    if (gross > MAX_ORDER_MINOR) {
      ctx.addIssue({
        code: 'custom',
        path: ['lines'],
        message: 'the lines and shipping add up to more than 9999999999999.99, the most an order can hold',
      });
    }
  });

export type CanonicalOrder = z.infer<typeof CanonicalOrderSchema>;
export type OrderLine = z.infer<typeof OrderLineSchema>;
export type Address = z.infer<typeof AddressSchema>;

export const ORDER_STATUSES = [
  'RECEIVED',
  'REJECTED',
  'ON_HOLD',
  'PAYMENT_PENDING',
  'BACKORDERED',
  'ALLOCATED',
  'FULFILLING',
  'PARTIALLY_SHIPPED',
  'SHIPPED',
  'DELIVERED',
  'COMPLETED',
  'CANCELLING',
  'CANCELLED',
  'RETURN_REQUESTED',
  'RETURNED',
  'REFUNDED',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** The business id: one workflow per channel order. */
export const orderIdFor = (channel: string, channelOrderId: string) => `order-${channel}-${channelOrderId}`;
