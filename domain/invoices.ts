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
import { quoteOfFact, vatWithin, type MoneyFact } from './journal';
import { splitProportionally } from './money';
import { currencyStep, type OrderTaxQuote } from './tax';
import { toMinor } from './money';

export interface InvoiceLine {
  no: number;
  sku: string;
  /** Percent, or `exempt` (outside VAT, "KCT" on a Vietnamese invoice). */
  rate: number | 'exempt';
  net: number;
  vat: number;
  gross: number;
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
};

/** What a plan could not invoice: a refund larger than what is left on the order's sale invoices. */
export interface Unmatched {
  factKey: string;
  amount: number;
}

/** The quote's lines as invoice lines of the whole order (one line at no VAT without a quote). */
function baseLines(quote: OrderTaxQuote | null | undefined, total: number): InvoiceLine[] {
  if (!quote) return [{ no: 1, sku: 'goods', rate: 'exempt', net: total, vat: 0, gross: total }];
  const quoted = [...quote.lines, ...(quote.shipping ? [quote.shipping] : [])];
  return quoted.map((l, i) => ({
    no: i + 1,
    sku: l.sku,
    rate: l.category === 'exempt' ? 'exempt' : l.rate,
    net: toMinor(l.net),
    vat: toMinor(l.tax),
    gross: toMinor(l.gross),
  }));
}

/** `total` over `weights` in the currency's steps where it is a whole number of them, else to the minor unit. */
function split(total: number, weights: number[], step: number): number[] {
  if (step > 1 && total % step === 0) return splitProportionally(total / step, weights).map((u) => u * step);
  return splitProportionally(total, weights);
}

/**
 * `gross` and `vat` laid over `like` (lines whose proportions to keep): gross by their gross, VAT
 * by their VAT; a line never carries more VAT than its gross (the excess moves to the line with
 * the most room, which exists since the VAT is at most the gross).
 */
export function shareLines(like: readonly InvoiceLine[], gross: number, vat: number, step: number): InvoiceLine[] {
  const grosses = split(
    gross,
    like.map((l) => l.gross),
    step,
  );
  const vats = like.some((l) => l.vat > 0)
    ? split(
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
      const lines = shareLines(baseLines(quote, amount), amount, vatOf(amount), step);
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
      let left = amount;
      const vatLeft = vatOf(amount);
      let vatGiven = 0;
      let n = 0;
      // The goods refunded, when the fact names them: the sales that carry them are adjusted first.
      const goods = f.lines?.length ? baseLines(quote, amount) : undefined;
      const skus = new Set(goods?.map((l) => l.sku).filter((sku) => sku !== 'shipping'));
      // The sales still standing: a replaced invoice gives way to its replacement.
      const replaced = new Set(all.filter((i) => i.kind === 'replacement').map((i) => i.originalKey));
      const sales = all.filter((i) => (i.kind === 'sale' || i.kind === 'replacement') && !replaced.has(i.invoiceKey));
      const saleOf = (i: KnownInvoice): string => {
        const original = i.kind === 'replacement' ? all.find((x) => x.invoiceKey === i.originalKey) : undefined;
        return original ? saleOf(original) : i.invoiceKey;
      };
      const carries = (i: KnownInvoice) => i.lines.some((l) => skus.has(l.sku));
      for (const sale of [...sales.filter(carries), ...sales.filter((i) => !carries(i))]) {
        if (left <= 0) break;
        const open = sale.gross - all.filter((i) => i.originalKey === sale.invoiceKey).reduce((a, i) => a + i.gross, 0);
        const take = Math.min(open, left);
        if (take <= 0) continue;
        left -= take;
        // The refund's VAT over the originals it reduces, the last one taking what is left.
        const vat = left === 0 ? vatLeft - vatGiven : Math.min(vatLeft - vatGiven, vatOf(take));
        vatGiven += vat;
        const lines = shareLines(goods ?? sale.lines, take, vat, step);
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
