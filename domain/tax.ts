/**
 * The local tax rule set (the default tax provider of the back office, docs/back-office.md):
 * Vietnamese VAT by product tax category, on prices that include tax or not (per channel), in the
 * OMS's integer minor units (domain/money.ts: 2 decimals) rounded to what the currency can carry —
 * VND has no decimals, so every VND tax amount is a multiple of 100 minor units.
 *
 * Exact by construction: a line's net + tax is its gross to the unit; a tax split over shipments
 * adds up to the tax; the tax refunded over a line's partial refunds adds up to the line's tax and
 * never passes it. Pure: workflows, activities and the API may all use it.
 */
import type { CanonicalOrder } from './order';
import { fromMinor, mulDiv, splitProportionally, toMinor } from './money';
import type { LineUnits } from './refunds';

export const TAX_CATEGORIES = ['standard', 'reduced', 'essential', 'zero', 'exempt'] as const;
export type TaxCategory = (typeof TAX_CATEGORIES)[number];

/**
 * Vietnamese VAT rates in basis points: 10% standard; 8% the reduced rate the National Assembly
 * has extended for most goods; 5% essentials (clean water, food staples, medical equipment,
 * books); 0% exported goods; `exempt` goods are outside VAT (shown as "KCT" on an e-invoice, not
 * as 0%).
 */
export const VN_VAT_RATES: Readonly<Record<TaxCategory, number>> = {
  standard: 1000,
  reduced: 800,
  essential: 500,
  zero: 0,
  exempt: 0,
};

/** ISO 4217 decimals of the currencies that have fewer than the OMS's two; others carry two. */
const CURRENCY_DECIMALS: Readonly<Record<string, number>> = { VND: 0, JPY: 0, KRW: 0, CLP: 0, ISK: 0, UGX: 0, PYG: 0 };

/** The smallest amount a currency can carry, in the OMS's minor units (VND: 100, i.e. 1 đồng). */
export function currencyStep(currency: string): number {
  const decimals = CURRENCY_DECIMALS[currency] ?? 2;
  return 10 ** (2 - Math.min(decimals, 2));
}

/** numerator ÷ denominator rounded half up to a multiple of `step` (all non-negative integers). */
function roundToStep(numerator: bigint, denominator: bigint, step: number): number {
  const units = denominator * BigInt(step);
  return Number(((numerator * 2n + units) / (units * 2n)) * BigInt(step));
}

export interface TaxableLine {
  lineNo: number;
  category: TaxCategory;
  /** What the buyer pays for the line (tax-inclusive prices) or its price before tax, after discounts, minor units. */
  amount: number;
}

export interface TaxLine {
  lineNo: number;
  category: TaxCategory;
  rateBp: number;
  net: number;
  tax: number;
  gross: number;
}

export interface TaxGroup {
  /** A rate, or `exempt` (goods outside VAT are listed apart from 0%). */
  rate: number | 'exempt';
  net: number;
  tax: number;
  gross: number;
}

export interface TaxQuote {
  lines: TaxLine[];
  /** Per rate, as an e-invoice totals them. */
  groups: TaxGroup[];
  net: number;
  tax: number;
  gross: number;
}

export interface TaxOptions {
  /** The channel's prices include VAT (Vietnamese retail) or not (B2B price lists). */
  pricesIncludeTax: boolean;
  currency: string;
  rates?: Readonly<Record<TaxCategory, number>>;
}

/**
 * The tax of each line and of the order. Tax-inclusive: the net is the gross ÷ (1 + rate),
 * rounded, and the tax what is left, so net + tax is the gross the buyer pays. Tax-exclusive: the
 * tax is net × rate, rounded, added on top. Rounded half up to the currency's step, line by line.
 */
export function computeTax(lines: TaxableLine[], o: TaxOptions): TaxQuote {
  const rates = o.rates ?? VN_VAT_RATES;
  const step = currencyStep(o.currency);
  const out = lines.map((l): TaxLine => {
    if (!Number.isSafeInteger(l.amount) || l.amount < 0) throw new Error(`line ${l.lineNo}: not an amount in minor units: ${l.amount}`);
    const rateBp = rates[l.category];
    if (rateBp === undefined) throw new Error(`line ${l.lineNo}: unknown tax category ${String(l.category)}`);
    if (o.pricesIncludeTax) {
      // An amount the currency cannot carry (half a đồng) is split to the minor unit: a net rounded
      // to a whole step could pass it and leave a negative tax.
      const netStep = l.amount % step === 0 ? step : 1;
      const net = rateBp === 0 ? l.amount : roundToStep(BigInt(l.amount) * 10_000n, BigInt(10_000 + rateBp), netStep);
      return { lineNo: l.lineNo, category: l.category, rateBp, net, tax: l.amount - net, gross: l.amount };
    }
    const tax = roundToStep(BigInt(l.amount) * BigInt(rateBp), 10_000n, step);
    return { lineNo: l.lineNo, category: l.category, rateBp, net: l.amount, tax, gross: l.amount + tax };
  });
  const groups = new Map<number | 'exempt', TaxGroup>();
  for (const l of out) {
    const rate = l.category === 'exempt' ? 'exempt' : l.rateBp;
    const g = groups.get(rate) ?? { rate, net: 0, tax: 0, gross: 0 };
    g.net += l.net;
    g.tax += l.tax;
    g.gross += l.gross;
    groups.set(rate, g);
  }
  const sum = (k: 'net' | 'tax' | 'gross') => out.reduce((a, l) => a + l[k], 0);
  return { lines: out, groups: [...groups.values()], net: sum('net'), tax: sum('tax'), gross: sum('gross') };
}

/**
 * Splits an amount over weights (e.g. a line's tax over the shipments that carry its units) in
 * the currency's steps: every share a multiple of the step, all shares adding up to the amount.
 */
export function splitInSteps(amount: number, weights: number[], currency: string): number[] {
  const step = currencyStep(currency);
  if (amount % step !== 0) throw new Error(`${amount} is not a multiple of ${currency}'s step ${step}`);
  return splitProportionally(amount / step, weights).map((units) => units * step);
}

/**
 * The tax in a refund of `refundGross` of a line of which `alreadyRefundedGross` was refunded
 * before: the tax of all refunded so far minus the tax of what was refunded before, each rounded
 * to the currency's step. Refunds of the whole line, however split, give back exactly its tax.
 */
export function taxOfRefund(line: TaxLine, alreadyRefundedGross: number, refundGross: number, currency: string): number {
  const after = alreadyRefundedGross + refundGross;
  if (refundGross < 0 || alreadyRefundedGross < 0 || after > line.gross)
    throw new Error(`line ${line.lineNo}: refund of ${refundGross} after ${alreadyRefundedGross} passes its ${line.gross}`);
  const step = currencyStep(currency);
  // Never past the line's tax (a tax that is not a multiple of the step could round up past it).
  const taxUpTo = (gross: number) =>
    gross === line.gross ? line.tax : Math.min(line.tax, roundToStep(BigInt(line.tax) * BigInt(gross), BigInt(line.gross), step));
  return taxUpTo(after) - taxUpTo(alreadyRefundedGross);
}

/** A quoted line of the order, in decimal strings as the API shows money. */
export interface QuotedLine {
  sku: string;
  category: TaxCategory;
  /** Percent (10, 8, 5, 0). */
  rate: number;
  net: string;
  tax: string;
  gross: string;
}

/** The order's tax as the local rule set quotes it at intake (stored with the order, shown by the API). */
export interface OrderTaxQuote {
  /** `local-vn-vat`: the rule set's tax; `channel`: the tax the channel charged on top, laid over the rule set's lines. */
  provider: 'local-vn-vat' | 'channel';
  pricesIncludeTax: boolean;
  lines: (QuotedLine & { lineNo: number })[];
  shipping?: QuotedLine;
  groups: { rate: number | 'exempt'; net: string; tax: string; gross: string }[];
  net: string;
  tax: string;
  gross: string;
  /**
   * Prices before tax, and the order's shares of its total weigh each unit with its tax
   * (`unitValuesWithTax`): a shipment's or a return's share is its goods' gross, so its VAT is
   * theirs. Absent on orders taken before: their shares are by net value, and their facts keep
   * the order's proportion (domain/journal.ts `namedPart`).
   */
  sharesWeighTax?: true;
}

/**
 * What a unit of each line weighs when an order whose tax is on top shares out its total
 * (domain/order-lines.ts `PricedLines.unitValues`): its gross in the quote (its net after the
 * discount, plus its tax) per unit, to the minor unit. Then a parcel's share is its goods' gross
 * and shipping in proportion to it — what `quoteOfUnits` says that parcel carries — and not its
 * goods' net value with the order's average rate on top. A line that holds anything weighs at
 * least 1.
 */
export function unitValuesWithTax(quote: OrderTaxQuote, ordered: readonly number[]): number[] {
  return ordered.map((q, i) => {
    const gross = toMinor(quote.lines.find((l) => l.lineNo === i + 1)?.gross ?? '0');
    return q > 0 && gross > 0 ? Math.max(1, Math.round(gross / q)) : 0;
  });
}

/**
 * Quotes an order: each line's amount (price × quantity) and the shipping fee, less the order's
 * discount shared over them in proportion (in the currency's steps where it allows), taxed by the
 * line's category (`categoryOf`, from the catalog) and shipping as a `standard` service. With
 * prices that include tax the quote's gross is the order's total to the unit.
 */
export function quoteOrder(
  order: Pick<CanonicalOrder, 'lines' | 'shippingFee' | 'discount' | 'currency'>,
  categoryOf: (sku: string) => TaxCategory,
  o: { pricesIncludeTax: boolean },
): OrderTaxQuote {
  const amounts = order.lines.map((l) => toMinor(l.unitPrice) * l.quantity);
  const shipping = order.shippingFee ? toMinor(order.shippingFee) : 0;
  const items = [...amounts, shipping];
  const whole = items.reduce((a, b) => a + b, 0);
  const discount = Math.min(order.discount ? toMinor(order.discount) : 0, whole);
  const step = currencyStep(order.currency);
  // In whole steps only where every amount is in whole steps: a step-sized share could pass a smaller amount.
  const inSteps = discount % step === 0 && items.every((x) => x % step === 0);
  const shares = inSteps ? splitInSteps(discount, items, order.currency) : splitProportionally(discount, items);
  const taxable: TaxableLine[] = items.map((amount, i) => ({
    lineNo: i < amounts.length ? i + 1 : 0,
    category: i < amounts.length ? categoryOf(order.lines[i]!.sku) : 'standard',
    amount: amount - shares[i]!,
  }));
  const q = computeTax(taxable, { pricesIncludeTax: o.pricesIncludeTax, currency: order.currency });
  const money = (l: { net: number; tax: number; gross: number }) => ({
    net: fromMinor(l.net),
    tax: fromMinor(l.tax),
    gross: fromMinor(l.gross),
  });
  const quoted = (l: TaxLine): QuotedLine => ({
    sku: l.lineNo ? order.lines[l.lineNo - 1]!.sku : 'shipping',
    category: l.category,
    rate: l.rateBp / 100,
    ...money(l),
  });
  const shippingLine = q.lines.find((l) => l.lineNo === 0)!;
  return {
    provider: 'local-vn-vat',
    pricesIncludeTax: o.pricesIncludeTax,
    lines: q.lines.filter((l) => l.lineNo > 0).map((l) => ({ lineNo: l.lineNo, ...quoted(l) })),
    ...(order.shippingFee ? { shipping: quoted(shippingLine) } : {}),
    groups: q.groups.map((g) => ({ rate: g.rate === 'exempt' ? 'exempt' : g.rate / 100, ...money(g) })),
    ...money(q),
  };
}

/** Per rate (exempt apart), as an e-invoice totals them. */
function groupsOf(
  lines: readonly { category: TaxCategory; rate: number; net: string; tax: string; gross: string }[],
): OrderTaxQuote['groups'] {
  const groups = new Map<number | 'exempt', { rate: number | 'exempt'; net: number; tax: number; gross: number }>();
  for (const l of lines) {
    const rate = l.category === 'exempt' ? 'exempt' : l.rate;
    const g = groups.get(rate) ?? { rate, net: 0, tax: 0, gross: 0 };
    g.net += toMinor(l.net);
    g.tax += toMinor(l.tax);
    g.gross += toMinor(l.gross);
    groups.set(rate, g);
  }
  return [...groups.values()].map((g) => ({ rate: g.rate, net: fromMinor(g.net), tax: fromMinor(g.tax), gross: fromMinor(g.gross) }));
}

/**
 * The part of an order's quote that some of its units carry — a shipment's, a return's: each of
 * their lines in proportion to its units of the units ordered (`ordered[n − 1]` of line n), and
 * shipping in proportion to the lines' gross they carry, as the order's shares spread it. So the
 * VAT in a shipment's capture is its own goods' VAT (a parcel of 10% goods carries 10%, whatever
 * the rest of the order is), and its invoice lists its own goods. All the units → the quote itself.
 * The parts are proportions (rounded down to the minor unit), for the share rules to take VAT in.
 */
export function quoteOfUnits(quote: OrderTaxQuote, ordered: readonly number[], units: readonly LineUnits[]): OrderTaxQuote {
  const unitsOf = (lineNo: number) =>
    Math.min(
      ordered[lineNo - 1] ?? 0,
      units.reduce((a, u) => a + (u.lineNo === lineNo ? u.quantity : 0), 0),
    );
  if (quote.lines.every((l) => unitsOf(l.lineNo) === ordered[l.lineNo - 1])) return quote;
  const scale = <L extends { net: string; tax: string; gross: string }>(l: L, part: number, whole: number): L => ({
    ...l,
    net: fromMinor(mulDiv(toMinor(l.net), part, whole)),
    tax: fromMinor(mulDiv(toMinor(l.tax), part, whole)),
    gross: fromMinor(mulDiv(toMinor(l.gross), part, whole)),
  });
  const lines = quote.lines.filter((l) => unitsOf(l.lineNo) > 0).map((l) => scale(l, unitsOf(l.lineNo), ordered[l.lineNo - 1]!));
  // Shipping by the lines' gross the units carry, exactly (a line's part is not rounded first: a
  // cent's worth split over two units would carry no shipping at all).
  const allGross = quote.lines.reduce((a, l) => a + toMinor(l.gross), 0);
  const gcd = (a: bigint, b: bigint): bigint => (b ? gcd(b, a % b) : a);
  const denominator = ordered.reduce((d, q) => (q > 0 ? (d / gcd(d, BigInt(q))) * BigInt(q) : d), 1n);
  const carried = quote.lines.reduce(
    (a, l) => a + (BigInt(toMinor(l.gross)) * BigInt(unitsOf(l.lineNo)) * denominator) / BigInt(ordered[l.lineNo - 1] || 1),
    0n,
  );
  const shipping =
    quote.shipping && allGross > 0
      ? (() => {
          const part = (x: string) => fromMinor(Number((BigInt(toMinor(x)) * carried) / (BigInt(allGross) * denominator)));
          return { ...quote.shipping, net: part(quote.shipping.net), tax: part(quote.shipping.tax), gross: part(quote.shipping.gross) };
        })()
      : undefined;
  const all = [...lines, ...(shipping ? [shipping] : [])];
  const sum = (k: 'net' | 'tax' | 'gross') => fromMinor(all.reduce((a, l) => a + toMinor(l[k]), 0));
  return {
    provider: quote.provider,
    pricesIncludeTax: quote.pricesIncludeTax,
    lines,
    ...(shipping ? { shipping } : {}),
    groups: groupsOf(all),
    net: sum('net'),
    tax: sum('tax'),
    gross: sum('gross'),
  };
}

/**
 * How far a line's VAT may be from the tax a provider calculates on its gross and still be
 * rounding, in the currency's steps: the VAT in proportion to a share's amount is rounded down to
 * a step (up to 1), a refund's VAT shared over the sale invoices it reduces (up to 1), the quote's
 * own rounding carried in that proportion (up to ½), the split over lines (up to 1), and the
 * provider's rounding (½).
 */
export const VARIANCE_STEPS = 4;

/**
 * The lines of a committed tax document whose tax the provider calculates otherwise by more than
 * rounding (`VARIANCE_STEPS`): a difference for finance to look at.
 */
export function linesAtVariance(
  lines: readonly { no: number; tax: string; taxCalculated: string }[],
  currency: string,
): { no: number; tax: string; taxCalculated: string }[] {
  const step = currencyStep(currency);
  return lines.filter((l) => Math.abs(toMinor(l.tax) - toMinor(l.taxCalculated)) > VARIANCE_STEPS * step);
}

/**
 * A tax-exclusive order's quote carrying the tax the channel charged on top (a platform computes
 * its own: Shopify's `total_tax`, TikTok's `payment.tax`) instead of the rule set's: the charged
 * tax laid over the quote's lines (shipping included) in proportion to the rule set's tax, or to
 * their net where the rule set has none, in the currency's steps where it allows; each line's
 * gross is its net plus that tax. So the quote's gross is the order's total to the unit, and what
 * the journal and the invoices split out as tax is what the buyer was charged.
 */
export function withChargedTax(quote: OrderTaxQuote, charged: string, currency: string): OrderTaxQuote {
  if (quote.pricesIncludeTax) throw new Error('tax on top belongs to an order whose prices exclude tax');
  const all = [...quote.lines, ...(quote.shipping ? [quote.shipping] : [])];
  const amount = toMinor(charged);
  const weights = all.some((l) => toMinor(l.tax) > 0) ? all.map((l) => toMinor(l.tax)) : all.map((l) => toMinor(l.net));
  const step = currencyStep(currency);
  const shares =
    amount % step === 0 && weights.some((w) => w > 0)
      ? splitInSteps(amount, weights, currency)
      : splitProportionally(amount, weights.some((w) => w > 0) ? weights : all.map(() => 1));
  const laid = all.map((l, i) => {
    const net = toMinor(l.net);
    return { ...l, tax: fromMinor(shares[i]!), gross: fromMinor(net + shares[i]!) };
  });
  const net = toMinor(quote.net);
  return {
    ...quote,
    provider: 'channel',
    lines: laid.slice(0, quote.lines.length) as OrderTaxQuote['lines'],
    ...(quote.shipping ? { shipping: laid.at(-1)! } : {}),
    groups: groupsOf(laid),
    net: fromMinor(net),
    tax: fromMinor(amount),
    gross: fromMinor(net + amount),
  };
}
