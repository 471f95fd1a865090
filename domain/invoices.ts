/**
 * E-invoices from the order's money facts (docs/back-office.md). A sale is invoiced when the
 * journal earns it — a capture at handover, COD cash at delivery — for exactly that amount; a
 * refund issues adjustment invoices that reduce the sale invoices it undoes, oldest first, never
 * below zero. So what the invoices say the buyer owes (sales − adjustments) is what the journal
 * says the buyer paid, and each invoice's VAT is the journal entry's VAT (domain/journal.ts
 * `vatWithin`, the same proportion of the intake quote, in the currency's steps).
 *
 * Lines: the goods the fact is for — a shipment's, a return's (`quoteOfFact`: their part of the
 * quote, with shipping's share) — in proportion to their gross, the VAT over them in proportion to
 * their tax, both in the currency's steps. A refund adjusts first the sale invoices that carry its
 * goods. A fact that names no goods (told before facts did) takes the whole quote's lines, and its
 * adjustment the lines of the invoice it adjusts. Integer minor units throughout. Pure.
 */
import { namedPart, quoteOfFact, vatInProportion, vatWithin, type MoneyFact } from './journal';
import { toMinor } from './money';
import { splitInWholeSteps } from './order-lines';
import type { LineUnits } from './refunds';
import { currencyStep, quoteOfUnits, type OrderTaxQuote, type QuotedLine } from './tax';

export interface InvoiceLine {
  no: number;
  sku: string;
  /** Percent, or `exempt` (outside VAT, "KCT" on a Vietnamese invoice). */
  rate: number | 'exempt';
  net: number;
  vat: number;
  gross: number;
  /** The order line and how many of its units the invoice line is for, when its fact named them (shipping has none). */
  lineNo?: number;
  units?: number;
}

export interface PlannedInvoice {
  invoiceKey: string;
  factKey: string;
  kind: 'sale' | 'adjustment';
  /** The sale invoice an adjustment reduces (or the invoice that replaced it). */
  originalKey?: string;
  /** An adjustment's sale, through any replacements of it: the sale whose tax document a return refunds against. */
  saleKey?: string;
  /** The shipment whose capture a sale invoice is for (a prepaid sale may wait for its delivery). */
  shipmentId?: string;
  net: number;
  vat: number;
  gross: number;
  lines: InvoiceLine[];
}

/** An invoice of the order already written (any status); a `replacement` stands for the invoice it replaces. */
export type KnownInvoice = Pick<PlannedInvoice, 'invoiceKey' | 'factKey' | 'gross' | 'lines'> & {
  kind: PlannedInvoice['kind'] | 'replacement';
  originalKey?: string | undefined;
  /** `rejected`: a replacement the provider refused does not stand (its original still does). */
  status?: string | undefined;
};

/** What a plan could not invoice: a refund larger than what is left on the order's sale invoices. */
export interface Unmatched {
  factKey: string;
  amount: number;
}

/**
 * The quote's lines (or a part's) as invoice lines (one line at no VAT without a quote); with the
 * units a fact named, each goods line says which order line and how many of its units.
 */
function baseLines(quote: OrderTaxQuote | null | undefined, total: number, units?: readonly LineUnits[]): InvoiceLine[] {
  if (!quote) return [{ no: 1, sku: 'goods', rate: 'exempt', net: total, vat: 0, gross: total }];
  const unitsOf = (lineNo: number) => units?.filter((u) => u.lineNo === lineNo).reduce((a, u) => a + u.quantity, 0) ?? 0;
  const quoted: (QuotedLine & { lineNo?: number })[] = [...quote.lines, ...(quote.shipping ? [quote.shipping] : [])];
  return quoted.map((l, i) => ({
    no: i + 1,
    sku: l.sku,
    rate: l.category === 'exempt' ? 'exempt' : l.rate,
    net: toMinor(l.net),
    vat: toMinor(l.tax),
    gross: toMinor(l.gross),
    ...(units && l.lineNo ? { lineNo: l.lineNo, units: unitsOf(l.lineNo) } : {}),
  }));
}

/**
 * `gross` and `vat` laid over `like` (lines whose proportions to keep): gross by their gross, VAT
 * by their VAT; a line never carries more VAT than its gross (the excess moves to the line with
 * the most room, which exists since the VAT is at most the gross).
 */
export function shareLines(like: readonly InvoiceLine[], gross: number, vat: number, step: number): InvoiceLine[] {
  const grosses = splitInWholeSteps(
    gross,
    like.map((l) => l.gross),
    step,
  );
  const vats = like.some((l) => l.vat > 0)
    ? splitInWholeSteps(
        vat,
        like.map((l) => l.vat),
        step,
      )
    : like.map((_, i) => (i === 0 ? vat : 0));
  for (let i = 0; i < vats.length; i++)
    while (vats[i]! > grosses[i]!) {
      const excess = vats[i]! - grosses[i]!;
      const room = grosses.map((g, j) => g - vats[j]!);
      const j = room.indexOf(Math.max(...room));
      if (j === i || room[j]! <= 0) break;
      const moved = Math.min(excess, room[j]!);
      vats[i]! -= moved;
      vats[j]! += moved;
    }
  return like
    .map((l, i) => ({ ...l, gross: grosses[i]!, vat: vats[i]!, net: grosses[i]! - vats[i]! }))
    .filter((l) => l.gross > 0)
    .map((l, i) => ({ ...l, no: i + 1 }));
}

const sum = (ls: readonly InvoiceLine[], k: 'net' | 'vat' | 'gross') => ls.reduce((a, l) => a + l[k], 0);

/** The VAT within `gross` of goods like `like` (their proportion), rounded down to the step where `gross` is whole steps. */
const vatIn = (like: readonly InvoiceLine[], gross: number, step: number): number =>
  vatInProportion(sum(like, 'vat'), sum(like, 'gross'), step)(gross);

/** The units a fact names, where its VAT is its goods' (domain/journal.ts `namedPart`). */
function goodsNamed(f: MoneyFact, quote: OrderTaxQuote | null | undefined, ordered: readonly number[]): LineUnits[] | undefined {
  return 'lines' in f && namedPart(f, quote, ordered) ? f.lines : undefined;
}

/**
 * The units of `wanted` that a sale invoice sold and no adjustment has given back yet, per order
 * line (from its lines' `units`; none for invoices planned before facts named units).
 */
function unitsStillOn(sale: KnownInvoice, all: readonly KnownInvoice[], wanted: readonly LineUnits[]): LineUnits[] {
  const count = (ls: readonly InvoiceLine[], lineNo: number) => ls.reduce((a, l) => a + (l.lineNo === lineNo ? (l.units ?? 0) : 0), 0);
  const back = all.filter((i) => i.kind === 'adjustment' && i.originalKey === sale.invoiceKey).flatMap((i) => i.lines);
  return wanted
    .map((w) => ({ lineNo: w.lineNo, quantity: Math.min(w.quantity, count(sale.lines, w.lineNo) - count(back, w.lineNo)) }))
    .filter((u) => u.quantity > 0);
}

/**
 * How a refund of `amount` reduces the standing sale invoices. The sales that sold the goods it
 * gives back (`goodsOn`: each sale's own part of them, with its share of shipping) take it in
 * proportion to those goods, each adjustment listing them; what they cannot take (never past what
 * is open on an invoice) goes to the sales oldest first, as a refund that names no goods does, in
 * the lines of the invoice it reduces.
 */
function refundTakes(
  goodsOn: (sale: KnownInvoice) => InvoiceLine[],
  sales: readonly KnownInvoice[],
  openOn: (i: KnownInvoice) => number,
  amount: number,
  step: number,
): { sale: KnownInvoice; take: number; like: InvoiceLine[] }[] {
  const parts = sales.map((sale) => ({ sale, like: goodsOn(sale), open: openOn(sale) }));
  const planned = new Map<KnownInvoice, { sale: KnownInvoice; take: number; like: InvoiceLine[] }>();
  const carrying = parts.filter((p) => p.like.length && p.open > 0);
  const shares = carrying.length
    ? splitInWholeSteps(
        amount,
        carrying.map((p) => sum(p.like, 'gross')),
        step,
      )
    : [];
  carrying.forEach((p, i) => {
    const take = Math.min(shares[i]!, p.open);
    if (take > 0) planned.set(p.sale, { sale: p.sale, take, like: p.like });
  });
  let left = amount - [...planned.values()].reduce((a, t) => a + t.take, 0);
  for (const p of parts) {
    if (left <= 0) break;
    const had = planned.get(p.sale);
    const take = Math.min(p.open - (had?.take ?? 0), left);
    if (take <= 0) continue;
    planned.set(p.sale, { sale: p.sale, take: (had?.take ?? 0) + take, like: had?.like ?? p.sale.lines });
    left -= take;
  }
  return [...planned.values()];
}

/**
 * The invoices an order's new money facts call for, given the invoices it has. A fact already
 * invoiced (its key among `known`) plans nothing, so a step written twice invoices once.
 */
export function planInvoices(
  orderId: string,
  facts: readonly MoneyFact[],
  known: readonly KnownInvoice[],
  order: {
    quote: OrderTaxQuote | null | undefined;
    currency: string;
    /** Units ordered per line, by position (line n at n − 1): what a fact's units are a part of. */
    ordered: readonly number[];
  },
): { invoices: PlannedInvoice[]; unmatched: Unmatched[] } {
  const step = currencyStep(order.currency);
  const all: KnownInvoice[] = [...known];
  const invoices: PlannedInvoice[] = [];
  const unmatched: Unmatched[] = [];
  const done = new Set(known.map((i) => i.factKey));
  const add = (p: PlannedInvoice) => {
    invoices.push(p);
    all.push(p);
  };
  for (const f of facts) {
    if (done.has(f.key)) continue;
    done.add(f.key);
    const amount = toMinor(f.amount);
    if (amount <= 0) continue;
    const quote = quoteOfFact(f, order.quote, order.ordered);
    const vatOf = vatWithin(quote, step);
    if (f.kind === 'captured' || f.kind === 'cod_collected') {
      const named = goodsNamed(f, order.quote, order.ordered);
      const lines = shareLines(baseLines(quote, amount, named), amount, vatOf(amount), step);
      add({
        invoiceKey: `${orderId}:${f.key}`,
        factKey: f.key,
        kind: 'sale',
        ...(f.kind === 'captured' ? { shipmentId: f.shipmentId } : {}),
        net: sum(lines, 'net'),
        vat: sum(lines, 'vat'),
        gross: amount,
        lines,
      });
    } else if (f.kind === 'refunded') {
      // The sales still standing: a replaced invoice gives way to its replacement.
      // A rejected replacement does not stand — unless a refund adjusted it while it was pending.
      const adjusted = new Set(all.filter((i) => i.kind === 'adjustment').map((i) => i.originalKey));
      const standing = all.filter((i) => i.kind !== 'replacement' || i.status !== 'rejected' || adjusted.has(i.invoiceKey));
      const replaced = new Set(standing.filter((i) => i.kind === 'replacement').map((i) => i.originalKey));
      const sales = standing.filter((i) => (i.kind === 'sale' || i.kind === 'replacement') && !replaced.has(i.invoiceKey));
      const saleOf = (i: KnownInvoice): string => {
        const original = i.kind === 'replacement' ? all.find((x) => x.invoiceKey === i.originalKey) : undefined;
        return original ? saleOf(original) : i.invoiceKey;
      };
      const openOn = (i: KnownInvoice) =>
        i.gross - all.filter((x) => x.kind === 'adjustment' && x.originalKey === i.invoiceKey).reduce((a, x) => a + x.gross, 0);
      // Goods named (their own part of the quote): the sales that sold them take the refund, each for its own units of them.
      const named = goodsNamed(f, order.quote, order.ordered);
      // Each named unit to the first standing sale that sold it and has not given it back.
      const wanted = named ? named.map((u) => ({ ...u })) : [];
      const goods = new Map<KnownInvoice, InvoiceLine[]>();
      for (const sale of sales) {
        const units = unitsStillOn(sale, all, wanted);
        if (!units.length) continue;
        for (const u of units) wanted.find((w) => w.lineNo === u.lineNo)!.quantity -= u.quantity;
        goods.set(sale, baseLines(quoteOfUnits(order.quote!, order.ordered, units), 0, units));
      }
      const goodsOn = (sale: KnownInvoice) => goods.get(sale) ?? [];
      const takes = refundTakes(goodsOn, sales, openOn, amount, step);
      // The refund's VAT over the originals it reduces, each in its goods' proportion, the last one taking what is left.
      // The refund's VAT (the journal's) over the pieces in proportion to each piece's goods' VAT,
      // so each is within a step of its own; a part no sale could take keeps its VAT out.
      const left = amount - takes.reduce((a, t) => a + t.take, 0);
      const own = takes.map((t) => vatIn(t.like, t.take, step));
      const vats = splitInWholeSteps(left === 0 ? vatOf(amount) : own.reduce((a, v) => a + v, 0), own, step);
      let n = 0;
      for (const [i, { sale, take, like }] of takes.entries()) {
        const vat = vats[i]!;
        const lines = shareLines(like, take, vat, step);
        add({
          invoiceKey: `${orderId}:${f.key}:${++n}`,
          factKey: f.key,
          kind: 'adjustment',
          originalKey: sale.invoiceKey,
          ...(sale.kind === 'replacement' ? { saleKey: saleOf(sale) } : {}),
          net: sum(lines, 'net'),
          vat: sum(lines, 'vat'),
          gross: take,
          lines,
        });
      }
      if (left > 0) unmatched.push({ factKey: f.key, amount: left });
    }
  }
  return { invoices, unmatched };
}

/** What the invoices say the buyer owes in the end: the sales still standing (a replacement for the one it replaced) less adjustments (minor units). */
export function invoicedNet(invoices: readonly Pick<KnownInvoice, 'invoiceKey' | 'kind' | 'gross' | 'originalKey'>[]): number {
  const replaced = new Set(invoices.filter((i) => i.kind === 'replacement').map((i) => i.originalKey));
  return invoices.reduce((a, i) => a + (i.kind === 'adjustment' ? -i.gross : replaced.has(i.invoiceKey) ? 0 : i.gross), 0);
}
