import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { invoicedNet, planInvoices, type KnownInvoice, type PlannedInvoice } from '../../domain/invoices';
import { vatWithin, type MoneyFact } from '../../domain/journal';
import { fromMinor } from '../../domain/money';
import { quoteOrder, type TaxCategory } from '../../domain/tax';

const order = {
  lines: [
    { sku: 'TEA', quantity: 2, unitPrice: '55000' },
    { sku: 'BOOK', quantity: 1, unitPrice: '105000' },
  ],
  shippingFee: '22000',
  currency: 'VND',
};
const categories: Record<string, TaxCategory> = { TEA: 'standard', BOOK: 'essential' };
const quote = quoteOrder(order, (sku) => categories[sku]!, { pricesIncludeTax: true });
const vnd = { quote, currency: 'VND' };
const captured = (key: string, amount: string): MoneyFact => ({ kind: 'captured', key, amount, captureId: key, shipmentId: 's' });
const refunded = (key: string, amount: string): MoneyFact => ({ kind: 'refunded', key, amount, via: 'gateway', ref: key, why: 'return' });

describe('e-invoices from money facts', () => {
  it('a capture is one sale invoice: the quote lines in proportion, VAT by line rate, whole đồng', () => {
    const { invoices } = planInvoices('o1', [captured('capture:c1', '237000.00')], [], vnd);
    expect(invoices).toHaveLength(1);
    const [sale] = invoices as [PlannedInvoice];
    expect(sale).toMatchObject({ invoiceKey: 'o1:capture:c1', kind: 'sale', gross: 23_700_000 });
    // The whole order captured at once: the invoice lines are the quote's to the unit.
    expect(sale.lines.map((l) => [l.sku, l.rate, l.gross, l.vat])).toEqual(
      quote.lines
        .map((l) => [l.sku, l.rate, Number(l.gross) * 100, Number(l.tax) * 100])
        .concat([['shipping', 10, 2_200_000, Number(quote.shipping!.tax) * 100]]),
    );
    expect(sale.vat).toBe(Number(quote.tax) * 100);
    for (const l of sale.lines) expect(l.gross % 100).toBe(0);
  });

  it('a refund adjusts the oldest sale first and spills to the next; a step written twice plans nothing new', () => {
    const first = planInvoices('o1', [captured('capture:a', '100000.00'), captured('capture:b', '137000.00')], [], vnd).invoices;
    const { invoices: adj, unmatched } = planInvoices('o1', [refunded('refund:r1', '120000.00')], first, vnd);
    expect(unmatched).toEqual([]);
    expect(adj.map((a) => [a.kind, a.originalKey, a.gross])).toEqual([
      ['adjustment', 'o1:capture:a', 10_000_000],
      ['adjustment', 'o1:capture:b', 2_000_000],
    ]);
    // The refund's VAT is the journal's VAT of the refund, split over the two adjustments.
    expect(adj.reduce((a, i) => a + i.vat, 0)).toBe(vatWithin(quote, 100)(12_000_000));
    const again = planInvoices('o1', [refunded('refund:r1', '120000.00'), captured('capture:a', '100000.00')], [...first, ...adj], vnd);
    expect(again.invoices).toEqual([]);
  });

  it('a refund past what is left on the sale invoices is reported, never invoiced below zero', () => {
    const first = planInvoices('o1', [captured('capture:a', '100000.00')], [], vnd).invoices;
    const { invoices, unmatched } = planInvoices('o1', [refunded('refund:r', '150000.00')], first, vnd);
    expect(invoices.map((i) => i.gross)).toEqual([10_000_000]);
    expect(unmatched).toEqual([{ factKey: 'refund:r', amount: 5_000_000 }]);
  });

  it('sales less adjustments are what was captured less refunded; every invoice adds up line by line (property)', () => {
    const step = fc.oneof(
      fc.integer({ min: 1, max: 300_000 }).map((n) => ({ kind: 'captured' as const, amount: n * 100 })),
      fc.integer({ min: 1, max: 300_000 }).map((n) => ({ kind: 'refunded' as const, amount: n * 100 })),
      fc.integer({ min: 1, max: 300_000 }).map((n) => ({ kind: 'cod_collected' as const, amount: n * 100 })),
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
        let known: KnownInvoice[] = [];
        let paid = 0;
        steps.forEach((s, i) => {
          const key = `${s.kind}:${i}`;
          const fact: MoneyFact =
            s.kind === 'captured'
              ? captured(key, fromMinor(s.amount))
              : s.kind === 'refunded'
                ? refunded(key, fromMinor(s.amount))
                : { kind: 'cod_collected', key, amount: fromMinor(s.amount), shipmentId: 's' };
          const { invoices, unmatched } = planInvoices('o', [fact], known, vnd);
          const refusedPart = unmatched.reduce((a, u) => a + u.amount, 0);
          paid += s.kind === 'refunded' ? -(s.amount - refusedPart) : s.amount;
          for (const inv of invoices) {
            expect(inv.lines.reduce((a, l) => a + l.gross, 0)).toBe(inv.gross);
            expect(inv.lines.reduce((a, l) => a + l.vat, 0)).toBe(inv.vat);
            expect(inv.net + inv.vat).toBe(inv.gross);
            for (const l of inv.lines) expect(l.vat).toBeLessThanOrEqual(l.gross);
            for (const l of inv.lines) expect(l.vat % 100).toBe(0);
          }
          known = [...known, ...invoices];
        });
        expect(invoicedNet(known)).toBe(paid);
        expect(paid).toBeGreaterThanOrEqual(0);
        // No sale is adjusted below zero.
        for (const sale of known.filter((k) => k.kind === 'sale'))
          expect(known.filter((k) => k.originalKey === sale.invoiceKey).reduce((a, k) => a + k.gross, 0)).toBeLessThanOrEqual(sale.gross);
      }),
      { numRuns: 300 },
    );
  });
});
