import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { invoicedNet, planInvoices, type KnownInvoice, type PlannedInvoice } from '../../domain/invoices';
import { vatWithin, type MoneyFact } from '../../domain/journal';
import { fromMinor, toMinor } from '../../domain/money';
import { splitInWholeSteps, unitsShare, valueOf } from '../../domain/order-lines';
import { currencyStep, quoteOfUnits, quoteOrder, unitValuesWithTax, type TaxCategory } from '../../domain/tax';

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
const vnd = { quote, currency: 'VND', ordered: [2, 1] };
const captured = (key: string, amount: string) => ({ kind: 'captured' as const, key, amount, captureId: key, shipmentId: 's' });
const refunded = (key: string, amount: string) => ({
  kind: 'refunded' as const,
  key,
  amount,
  via: 'gateway' as const,
  ref: key,
  why: 'return',
});

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

  it("a shipment's capture invoices its own goods at their own rates; a return adjusts the sale that carried them", () => {
    // TEA (10%) ships from one warehouse, BOOK (5%) from another: each capture is its units' share of the total.
    const priced = { unitValues: [5_500_000, 10_500_000], ordered: [2, 1] };
    const total = 23_700_000;
    const teaShare = unitsShare(priced, total, [{ lineNo: 1, quantity: 2 }]);
    const bookShare = total - teaShare;
    const tea: MoneyFact = { ...captured('capture:tea', fromMinor(teaShare)), lines: [{ lineNo: 1, quantity: 2 }] };
    const book: MoneyFact = { ...captured('capture:book', fromMinor(bookShare)), lines: [{ lineNo: 2, quantity: 1 }] };
    const sales = planInvoices('o1', [tea, book], [], vnd).invoices;
    expect(sales.map((i) => i.lines.map((l) => [l.sku, l.rate]))).toEqual([
      [
        ['TEA', 10],
        ['shipping', 10],
      ],
      [
        ['BOOK', 5],
        ['shipping', 10],
      ],
    ]);
    // All 10% goods: the VAT within the tea parcel is a tenth of its net, to the đồng — not the order's average rate.
    const [teaSale, bookSale] = sales as [PlannedInvoice, PlannedInvoice];
    expect(Math.abs(teaSale.vat - Math.round(teaShare / 11 / 100) * 100)).toBeLessThanOrEqual(100);
    const average = vatWithin(quote, 100)(teaShare);
    expect(teaSale.vat - average).toBeGreaterThan(100_000);
    // Together they are still the order's VAT, within a đồng per capture.
    expect(Math.abs(teaSale.vat + bookSale.vat - toMinor(quote.tax))).toBeLessThanOrEqual(200);
    // The book comes back: its refund adjusts the book's invoice (not the oldest), listing the book.
    const back: MoneyFact = { ...refunded('refund:book', fromMinor(bookShare)), lines: [{ lineNo: 2, quantity: 1 }] };
    const { invoices: adj } = planInvoices('o1', [back], sales, vnd);
    expect(adj.map((a) => [a.originalKey, a.gross, a.vat])).toEqual([['o1:capture:book', bookShare, bookSale.vat]]);
    expect(adj[0]!.lines.map((l) => l.sku)).toEqual(['BOOK', 'shipping']);
  });

  it('a return of goods from two parcels adjusts each sale for its own goods, at their own rates', () => {
    const priced = { unitValues: [5_500_000, 10_500_000], ordered: [2, 1], step: 100 };
    const total = 23_700_000;
    const teaShare = unitsShare(priced, total, [{ lineNo: 1, quantity: 2 }]);
    const sales = planInvoices(
      'o1',
      [
        { ...captured('capture:tea', fromMinor(teaShare)), lines: [{ lineNo: 1, quantity: 2 }] },
        { ...captured('capture:book', fromMinor(total - teaShare)), lines: [{ lineNo: 2, quantity: 1 }] },
      ],
      [],
      vnd,
    ).invoices;
    // Everything comes back, refunded in one piece against the first capture (the gateway's choice).
    const back = planInvoices(
      'o1',
      [
        {
          ...refunded('refund:all', fromMinor(total)),
          lines: [
            { lineNo: 1, quantity: 2 },
            { lineNo: 2, quantity: 1 },
          ],
        },
      ],
      sales,
      vnd,
    ).invoices;
    expect(back.map((a) => [a.originalKey, a.gross, a.lines.map((l) => l.sku)])).toEqual(
      sales.map((s) => [s.invoiceKey, s.gross, s.lines.map((l) => l.sku)]),
    );
    // Each takes back its own sale's VAT, to the đồng (each sale's VAT and the refund's are rounded down apart).
    back.forEach((a, i) => expect(Math.abs(a.vat - sales[i]!.vat)).toBeLessThanOrEqual(100));
  });

  it('prices before tax, mixed rates, two parcels: taken before, shares by net value and the order’s proportion; now, shares weigh the tax and each parcel’s VAT is its own goods’', () => {
    const before = quoteOrder(
      { lines: [order.lines[0]!, order.lines[1]!], shippingFee: '22000', currency: 'VND' },
      (sku) => categories[sku]!,
      { pricesIncludeTax: false },
    );
    const now = { ...before, sharesWeighTax: true as const };
    const total = toMinor(before.gross);
    const parcels = (q: typeof before, unitValues: number[]) => {
      const teaShare = unitsShare({ unitValues, ordered: [2, 1], step: 100 }, total, [{ lineNo: 1, quantity: 2 }]);
      return planInvoices(
        'o1',
        [
          { ...captured('capture:tea', fromMinor(teaShare)), lines: [{ lineNo: 1, quantity: 2 }] },
          { ...captured('capture:book', fromMinor(total - teaShare)), lines: [{ lineNo: 2, quantity: 1 }] },
        ],
        [],
        { quote: q, currency: 'VND', ordered: [2, 1] },
      ).invoices;
    };
    // Taken before: the tea (10%) and the book (5%) parcels split the total by net value, and each
    // carries the order's average rate; only their sum is the tax on top.
    const old = parcels(before, [5_500_000, 10_500_000]);
    expect(Math.abs(old.reduce((a, i) => a + i.vat, 0) - toMinor(before.tax))).toBeLessThanOrEqual(200);
    // Now: each parcel's share is its goods' gross and its shipping part, and its VAT is theirs —
    // the tea's 10% (and shipping's) and the book's 5%, to the đồng; the sum is still the tax on top.
    const weights = unitValuesWithTax(now, [2, 1]);
    expect(weights).toEqual([6_050_000, 11_025_000]);
    const [tea, book] = parcels(now, weights);
    const part = (lineNo: number, q: number) => quoteOfUnits(now, [2, 1], [{ lineNo, quantity: q }]);
    expect(Math.abs(tea!.gross - toMinor(part(1, 2).gross))).toBeLessThanOrEqual(100);
    expect(Math.abs(tea!.vat - toMinor(part(1, 2).tax))).toBeLessThanOrEqual(100);
    expect(Math.abs(book!.vat - toMinor(part(2, 1).tax))).toBeLessThanOrEqual(100);
    expect(tea!.lines.filter((l) => l.sku !== 'shipping').map((l) => [l.sku, l.rate])).toEqual([['TEA', 10]]);
    expect(book!.lines.filter((l) => l.sku !== 'shipping').map((l) => [l.sku, l.rate])).toEqual([['BOOK', 5]]);
    expect(Math.abs(tea!.vat + book!.vat - toMinor(now.tax))).toBeLessThanOrEqual(200);
    // By net value the book's parcel would have carried the order's average rate: more than its 5%.
    expect(old[1]!.vat - book!.vat).toBeGreaterThan(100);
  });

  it('prices before tax: parcels of any split carry their own goods’ VAT, and together the tax on top (property)', () => {
    const cats = ['standard', 'reduced', 'essential', 'zero', 'exempt'] as const;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ q: fc.integer({ min: 1, max: 6 }), price: fc.integer({ min: 1, max: 500_000 }), cat: fc.constantFrom(...cats) }),
          { minLength: 1, maxLength: 5 },
        ),
        fc.integer({ min: 0, max: 50_000 }),
        fc.integer({ min: 0, max: 20 }),
        // Which parcel (of up to three) each unit travels in.
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 30, maxLength: 30 }),
        (ls, shipping, discountPct, parcelOf) => {
          const lines = ls.map((l, i) => ({ sku: `S${i}`, quantity: l.q, unitPrice: fromMinor(l.price * 100) }));
          const whole = ls.reduce((a, l) => a + l.price * 100 * l.q, 0) + shipping * 100;
          const discount = Math.floor((whole * discountPct) / 100 / 100) * 100;
          const q = {
            ...quoteOrder(
              { lines, shippingFee: fromMinor(shipping * 100), discount: fromMinor(discount), currency: 'VND' },
              (sku) => ls[Number(sku.slice(1))]!.cat,
              { pricesIncludeTax: false },
            ),
            sharesWeighTax: true as const,
          };
          const ordered = ls.map((l) => l.q);
          const groups: { lineNo: number; quantity: number }[][] = [[], [], []];
          let u = 0;
          ls.forEach((l, i) => {
            for (let k = 0; k < l.q; k++) {
              const g = groups[parcelOf[u++ % parcelOf.length]!]!;
              const at = g.find((x) => x.lineNo === i + 1);
              if (at) at.quantity++;
              else g.push({ lineNo: i + 1, quantity: 1 });
            }
          });
          const used = groups.filter((g) => g.length);
          const priced = { unitValues: unitValuesWithTax(q, ordered), ordered, step: 100 };
          const shares = splitInWholeSteps(
            toMinor(q.gross),
            used.map((g) => valueOf(priced, g)),
            100,
          );
          const facts = used.map((g, i) => ({ ...captured(`capture:${i}`, fromMinor(shares[i]!)), lines: g }));
          const { invoices } = planInvoices('o', facts, [], { quote: q, currency: 'VND', ordered });
          // Together: the tax on top, but for a đồng per parcel rounded down (and one more per parcel
          // where a share is a đồng from its goods' gross).
          expect(Math.abs(invoices.reduce((a, i) => a + i.vat, 0) - toMinor(q.tax))).toBeLessThanOrEqual(200 * used.length);
          // Each: its own goods' VAT, to rounding.
          invoices.forEach((inv, i) => {
            const own = quoteOfUnits(q, ordered, used[i]!);
            expect(Math.abs(inv.vat - toMinor(own.tax)), JSON.stringify({ inv: inv.vat, own: own.tax })).toBeLessThanOrEqual(200);
          });
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a part of the quote: its lines by units, shipping by their gross; all the units are the quote itself (property)', () => {
    const cats = ['standard', 'reduced', 'essential', 'zero', 'exempt'] as const;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ q: fc.integer({ min: 1, max: 6 }), price: fc.integer({ min: 1, max: 500_000 }), cat: fc.constantFrom(...cats) }),
          {
            minLength: 1,
            maxLength: 5,
          },
        ),
        fc.integer({ min: 0, max: 50_000 }),
        fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 30, maxLength: 30 }),
        (ls, ship, coin) => {
          const o = {
            lines: ls.map((l, i) => ({ sku: `S${i}`, quantity: l.q, unitPrice: `${l.price}` })),
            shippingFee: `${ship}`,
            currency: 'VND',
          };
          const q = quoteOrder(o, (sku) => ls[Number(sku.slice(1))]!.cat, { pricesIncludeTax: true });
          const ordered = ls.map((l) => l.q);
          expect(
            quoteOfUnits(
              q,
              ordered,
              ordered.map((n, i) => ({ lineNo: i + 1, quantity: n })),
            ),
          ).toBe(q);
          // Two parcels: each unit goes to one of them.
          let k = 0;
          const a: { lineNo: number; quantity: number }[] = [];
          const b: { lineNo: number; quantity: number }[] = [];
          ordered.forEach((n, i) => {
            let toA = 0;
            for (let u = 0; u < n; u++) toA += coin[k++ % coin.length]!;
            if (toA) a.push({ lineNo: i + 1, quantity: toA });
            if (n - toA) b.push({ lineNo: i + 1, quantity: n - toA });
          });
          const parts = [a, b].filter((p) => p.length).map((p) => quoteOfUnits(q, ordered, p));
          for (const [p, units] of parts.map((x, i) => [x, [a, b].filter((y) => y.length)[i]!] as const)) {
            // A part lists only its own lines, each a net + tax = gross, never more than the whole line.
            expect(p.lines.map((l) => l.lineNo)).toEqual(units.map((u) => u.lineNo));
            for (const l of p.lines) expect(toMinor(l.net) + toMinor(l.tax)).toBeLessThanOrEqual(toMinor(l.gross));
            expect(p.groups.reduce((x, g) => x + toMinor(g.tax), 0)).toBe(toMinor(p.tax));
          }
          // The parts add up to the whole, less what rounding down left (a minor unit per line and part).
          for (const key of ['net', 'tax', 'gross'] as const) {
            const sum = parts.reduce((x, p) => x + toMinor(p[key]), 0);
            expect(sum).toBeLessThanOrEqual(toMinor(q[key]));
            expect(sum).toBeGreaterThanOrEqual(toMinor(q[key]) - parts.length * (ls.length + 1) * currencyStep('USD'));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a replaced invoice gives way to its replacement: refunds adjust the replacement, their tax goes against the sale; counted once', () => {
    const [sale] = planInvoices('o1', [captured('capture:a', '237000.00')], [], vnd).invoices as [PlannedInvoice];
    const r1: KnownInvoice = { ...sale, invoiceKey: `${sale.invoiceKey}:r1`, kind: 'replacement', originalKey: sale.invoiceKey };
    const r2: KnownInvoice = { ...sale, invoiceKey: `${sale.invoiceKey}:r2`, kind: 'replacement', originalKey: r1.invoiceKey };
    expect(invoicedNet([sale, r1, r2])).toBe(sale.gross);
    const { invoices: adj } = planInvoices('o1', [refunded('refund:r', '37000.00')], [sale, r1, r2], vnd);
    expect(adj.map((a) => [a.originalKey, a.saleKey, a.gross])).toEqual([[r2.invoiceKey, sale.invoiceKey, 3_700_000]]);
    expect(invoicedNet([sale, r1, r2, ...adj])).toBe(20_000_000);
  });

  it('a rejected replacement does not stand: refunds adjust its original — unless one adjusted it while it was pending', () => {
    const [sale] = planInvoices('o1', [captured('capture:a', '237000.00')], [], vnd).invoices as [PlannedInvoice];
    const rejected: KnownInvoice = {
      ...sale,
      invoiceKey: `${sale.invoiceKey}:r1`,
      kind: 'replacement',
      originalKey: sale.invoiceKey,
      status: 'rejected',
    };
    const first = planInvoices('o1', [refunded('refund:r', '105000.00')], [sale, rejected], vnd);
    expect(first.unmatched).toEqual([]);
    expect(first.invoices.map((a) => [a.originalKey, a.gross])).toEqual([[sale.invoiceKey, 10_500_000]]);
    // Adjusted while it was pending, the replacement keeps standing (that adjustment waits for it).
    const pendingAdjustment: KnownInvoice = { ...first.invoices[0]!, invoiceKey: 'o1:refund:early:1', originalKey: rejected.invoiceKey };
    const later = planInvoices('o1', [refunded('refund:s', '10000.00')], [sale, rejected, pendingAdjustment], vnd);
    expect(later.invoices.map((a) => a.originalKey)).toEqual([rejected.invoiceKey]);
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
