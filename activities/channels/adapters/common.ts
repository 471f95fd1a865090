/**
 * Shared by every channel adapter: exact money conversion, HMAC helpers with constant-time
 * comparison, field-path errors, and the small normalisations native payloads need before they
 * fit the canonical order (phones, per-unit line items, timestamps).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { fromMinor, toMinor } from '../../../domain/money';
import { CanonicalOrderSchema, type CanonicalOrder, type OrderLine } from '../../../domain/order';
import type { Disposition, PayloadNote, PulledOrder } from './types';

/** One failing field of a native payload, by its path in that payload (`item_list.0.model_sku`). */
export interface FieldIssue {
  path: string;
  message: string;
}

/** A native payload that cannot become a canonical order; `issues` name the fields. */
export class MappingError extends Error {
  override name = 'MappingError';
  constructor(readonly issues: FieldIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  }
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

export function zodIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  return error.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)', message: i.message }));
}

/** Runs a schema and a mapping; both kinds of failure come back as field issues. */
export function parseWith<S extends z.ZodType, T>(schema: S, input: unknown, map: (v: z.infer<S>) => T): Parsed<T> {
  const r = schema.safeParse(input);
  if (!r.success) return { ok: false, issues: zodIssues(r.error) };
  try {
    return { ok: true, value: map(r.data) };
  } catch (err) {
    if (err instanceof MappingError) return { ok: false, issues: err.issues };
    throw err;
  }
}

const DECIMAL_TEXT = /^(\d{1,13})(?:\.(\d{1,2}))?$/;

/**
 * A native amount (JSON number or string) as an exact decimal string with 2 places, or undefined
 * when it is not one. Numbers are read through their shortest round-trip text (what the JSON
 * said: 12.9 → "12.9"), never through arithmetic, so no float error can creep in; more than two
 * decimals, exponents, signs and non-finite values are refused rather than rounded. Text may
 * group thousands with commas ("1,152.00", as Lazada writes it).
 */
export function exactDecimal(value: number | string): string | undefined {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return undefined;
    text = String(value);
  } else {
    text = value.trim();
    // Lazada writes thousands with commas ("1,152.00"); only well-formed groups are read so.
    if (/^\d{1,3}(?:,\d{3})+(?:\.\d+)?$/.test(text)) text = text.replace(/,/g, '');
  }
  const m = DECIMAL_TEXT.exec(text);
  if (!m) return undefined;
  return `${m[1]!.replace(/^0+(?=\d)/, '')}.${(m[2] ?? '').padEnd(2, '0')}`;
}

/** zod: a native amount (number or string) → exact decimal string, with an issue on its path otherwise. */
export const nativeMoney = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const d = exactDecimal(v);
  if (d === undefined) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not an amount with at most 2 decimals` });
    return z.NEVER;
  }
  return d;
});

export const sumDecimals = (values: string[]): string => fromMinor(values.reduce((a, v) => a + toMinor(v), 0));

export function hmacHex(secret: string, message: string): string {
  return createHmac('sha256', secret).update(message, 'utf8').digest('hex');
}

export function hmacBase64(secret: string, message: string): string {
  return createHmac('sha256', secret).update(message, 'utf8').digest('base64');
}

/** Constant-time comparison of two signatures (case-insensitive for hex). */
export function sameSignature(expected: string, given: string | undefined, encoding: 'hex' | 'base64'): boolean {
  if (!given) return false;
  const g = encoding === 'hex' ? given.trim().toLowerCase() : given.trim();
  if (encoding === 'hex' && !/^[0-9a-f]+$/.test(g)) return false;
  const a = Buffer.from(encoding === 'hex' ? expected.toLowerCase() : expected, encoding);
  const b = Buffer.from(g, encoding);
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

/**
 * A phone number the canonical order accepts, or undefined: marketplaces mask buyers' phones
 * for some orders ("84*****678"), and a masked number is no number at all.
 */
export function cleanPhone(raw: string | null | undefined): string | undefined {
  if (!raw) return undefined;
  if (/[*xX]/.test(raw)) return undefined;
  // "+84 90…" and "(+84)90…" keep their country prefix.
  const plus = /^\s*\(?\+/.test(raw) ? '+' : '';
  const digits = raw.replace(/\D/g, '');
  const phone = plus + digits;
  return /^\+?[0-9]{8,20}$/.test(phone) ? phone : undefined;
}

/** An id the canonical order accepts (letters, digits, dot, underscore, dash; 1-64). */
export function cleanId(raw: string): string {
  return raw.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
}

/** Unix seconds (or milliseconds when `ms`) → ISO 8601 in UTC. */
export function isoFromUnix(value: number, ms = false): string {
  return new Date(ms ? value : value * 1000).toISOString();
}

/**
 * Lines from per-unit items (Lazada and TikTok Shop list one item per unit sold). Units of one
 * SKU become one line, because the canonical order allows a SKU once. If the units were sold at
 * different prices (a flash sale on the first unit), the line takes the highest price and the
 * difference goes to the order's discount, so lines − discount is still exactly what was sold.
 */
export function linesFromUnits(units: { sku: string; price: string }[]): { lines: OrderLine[]; extraDiscountMinor: number } {
  const bySku = new Map<string, number[]>();
  for (const u of units) bySku.set(u.sku, [...(bySku.get(u.sku) ?? []), toMinor(u.price)]);
  let extraDiscountMinor = 0;
  const lines = [...bySku].map(([sku, prices]) => {
    const top = Math.max(...prices);
    extraDiscountMinor += prices.reduce((a, p) => a + (top - p), 0);
    return { sku, quantity: prices.length, unitPrice: fromMinor(top) };
  });
  return { lines, extraDiscountMinor };
}

/** Lines with a quantity each; repeated SKUs merge the same way as {@link linesFromUnits}. */
export function linesFromItems(items: { sku: string; quantity: number; price: string }[]): {
  lines: OrderLine[];
  extraDiscountMinor: number;
} {
  return linesFromUnits(items.flatMap((i) => Array.from({ length: i.quantity }, () => ({ sku: i.sku, price: i.price }))));
}

/** Headers of an inbound request, looked up case-insensitively. */
export interface InboundRequest {
  /** The body exactly as received: every signature covers these bytes. */
  rawBody: string;
  header(name: string): string | undefined;
  /** The URL the platform called (Shopee signs it). */
  url: string;
}

/** The mapped order must be a valid canonical order; failures name the canonical field. */
export function finishCanonical(order: CanonicalOrder): CanonicalOrder {
  const r = CanonicalOrderSchema.safeParse(order);
  if (!r.success)
    throw new MappingError(r.error.issues.map((i) => ({ path: `canonical.${i.path.map(String).join('.')}`, message: i.message })));
  return r.data;
}

/**
 * A platform id as a string: the digits of a JSON number (64-bit ids reach the adapters as text,
 * read by the lossless JSON reader, so no digit is lost) or the platform's string id.
 */
export const platformId = z
  .union([
    z
      .string()
      .trim()
      .regex(/^\d{1,24}$/, 'must be a numeric id'),
    z.number().int('must be a numeric id').nonnegative(),
  ])
  .transform(String);

/**
 * What an adapter expects of a field it reads but can do without: `values` when it is an enum
 * (a value outside them is noted), `nullable` when the platform documents it may be null. A field
 * listed here is read tolerantly by the adapter's schema; what the OMS cannot act on without (a
 * line's SKU, the address of a physical order, the currency) is not listed and stays strict.
 */
export interface FieldExpectation {
  values?: readonly string[];
  nullable?: boolean;
  note?: string;
}

/** Paths with `*` for every index of an array, e.g. `line_items.*.fulfillment_status`. */
export type Expectations = Record<string, FieldExpectation>;

function valuesAt(doc: unknown, parts: string[], prefix: string[], out: { path: string; value: unknown }[]): void {
  if (!parts.length) {
    out.push({ path: prefix.join('.'), value: doc });
    return;
  }
  if (doc === null || typeof doc !== 'object') return;
  const [head, ...rest] = parts as [string, ...string[]];
  if (head === '*') {
    if (Array.isArray(doc)) doc.forEach((v, i) => valuesAt(v, rest, [...prefix, String(i)], out));
    return;
  }
  if (Object.hasOwn(doc, head)) valuesAt((doc as Record<string, unknown>)[head], rest, [...prefix, head], out);
}

/**
 * Notes what a native document carries outside an adapter's expectations: an enum value it does
 * not know, a null where the platform documents a value. Nothing is refused here.
 */
export function noteSurprises(doc: unknown, expectations: Expectations, notes: PayloadNote[], base = ''): PayloadNote[] {
  for (const [pattern, e] of Object.entries(expectations)) {
    const found: { path: string; value: unknown }[] = [];
    valuesAt(doc, pattern.split('.'), base ? [base] : [], found);
    for (const { path, value } of found) {
      if (value === null) {
        if (!e.nullable) notes.push({ path, value: 'null', note: e.note ?? 'null where the platform documents a value: read as absent' });
      } else if (e.values && (typeof value !== 'string' || !e.values.includes(value))) {
        notes.push({
          path,
          value: shortText(value),
          note: e.note ?? `not one of the documented values (${e.values.join(', ')}): accepted and recorded`,
        });
      }
    }
  }
  return notes;
}

/** A value as short text for a note (objects as JSON). */
function shortText(value: unknown): string {
  const t =
    typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
        ? String(value)
        : (JSON.stringify(value) ?? 'undefined');
  return t.slice(0, 64);
}

/** A pulled order: mapped to the canonical order only when it is to be taken in (`intake`). */
export function pulledOrder(base: Omit<PulledOrder, 'order'>, map: () => Parsed<CanonicalOrder>): Parsed<PulledOrder> {
  if (base.disposition !== 'intake') return { ok: true, value: base };
  const mapped = map();
  return mapped.ok ? { ok: true, value: { ...base, order: mapped.value } } : mapped;
}

/** A status read against an adapter's table: a known one maps, an unknown one is `track` and noted. */
export function dispositionFrom(
  table: Readonly<Record<string, Disposition>>,
  status: string | null | undefined,
  path: string,
  notes: PayloadNote[],
): Disposition {
  if (typeof status === 'string' && Object.hasOwn(table, status)) return table[status]!;
  if (!notes.some((n) => n.path === path))
    notes.push({
      path,
      value: status === null || status === undefined ? 'null' : status.slice(0, 64),
      note: 'unknown status: acknowledged and recorded, nothing done',
    });
  return 'track';
}

/** A text field that may be null, absent or empty: a trimmed non-empty string or undefined. */
export const textOf = (v: string | null | undefined): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

/** True for the push of a cancellation the platform itself made or asked for (the order workflow says so). */
export const cancelledByChannel = (input: { detail?: Record<string, unknown> | undefined }): boolean =>
  input.detail?.cancelledBy === 'channel';
