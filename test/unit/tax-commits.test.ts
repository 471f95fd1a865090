/**
 * What the tax relay judges by: the VAT each invoice line carries (a share of the order's quote,
 * or of the part its units carry, domain/invoices.ts) stays within rounding (`VARIANCE_STEPS`) of
 * the tax calculated afresh on that line's gross at its rate — over random orders, categories,
 * discounts, prices with tax or before it, partial captures and refunds of some of the units or of all — so an honest order never shows as a variance; and the local provider flags a line
 * that is off by more.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { localTaxService } from '../../activities/tax/service';
import { planInvoices, type KnownInvoice } from '../../domain/invoices';
import type { MoneyFact } from '../../domain/journal';
import { fromMinor, toMinor } from '../../domain/money';
import { unitsShare } from '../../domain/order-lines';
import { TAX_CATEGORIES, currencyStep, linesAtVariance, quoteOrder, unitValuesWithTax, type TaxCategory } from '../../domain/tax';

const doc = (currency: string, lines: { no: number; sku: string; rate: number | 'exempt'; gross: string; tax: string }[]) => ({
  code: 'c',
  orderId: 'o',
  kind: 'sale' as const,
  currency,
  date: '2026-12-03',
  customerCode: 'RETAIL',
  lines,
});

describe('tax documents against a fresh calculation', () => {
  it('every invoice line of random orders is within rounding of its tax calculated afresh (property)', async () => {
    const local = localTaxService();
    const line = fc.record({
      category: fc.constantFrom<TaxCategory>(...TAX_CATEGORIES),
      quantity: fc.integer({ min: 1, max: 5 }),
      units: fc.integer({ min: 1, max: 2_000_000 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('VND', 'USD'),
        fc.array(line, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 50_000 }),
        fc.integer({ min: 0, max: 30 }),
        fc.array(
          fc.tuple(
            fc.constantFrom('captured', 'refunded'),
            fc.integer({ min: 1, max: 100 }),
            // The units the fact is for (a shipment's, a return's): some of each line.
            fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 4, maxLength: 4 }),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        // Facts name their units (as the workflow tells them now), or none does (facts told before).
        fc.boolean(),
        // Prices with tax, or before tax (the tax on top, shares weighing it).
        fc.boolean(),
        async (currency, ls, shipping, discountPct, steps, named, inclusive) => {
          const unit = currencyStep(currency);
          const order = {
            lines: ls.map((l, i) => ({ sku: `S${i}`, quantity: l.quantity, unitPrice: fromMinor(l.units * unit) })),
            shippingFee: fromMinor(shipping * unit),
            currency,
          };
          const whole = ls.reduce((a, l) => a + l.units * unit * l.quantity, 0) + shipping * unit;
          const discount = Math.floor((whole * discountPct) / 100 / unit) * unit;
          const quoted = quoteOrder({ ...order, discount: fromMinor(discount) }, (sku) => ls[Number(sku.slice(1))]!.category, {
            pricesIncludeTax: inclusive,
          });
          const quote = inclusive ? quoted : { ...quoted, sharesWeighTax: true as const };
          let known: KnownInvoice[] = [];
          const total = toMinor(quote.gross);
          const ordered = ls.map((l) => l.quantity);
          const unitValues = inclusive ? ls.map((l) => l.units * unit) : unitValuesWithTax(quote, ordered);
          const priced = { unitValues, ordered, step: unit };
          // When facts name their units, they are as an order's are: a capture is a parcel of units not
          // captured yet, for their share of the total; a refund (a return, a parcel back, a
          // cancellation) gives back units sold and not given back yet, for some or all of their share.
          const unsold = [...ordered];
          const kept = ordered.map(() => 0);
          for (const [i, [kind, pct, picked]] of steps.entries()) {
            const pool = kind === 'captured' ? unsold : kept;
            const some = picked
              .slice(0, ls.length)
              .map((q, n) => ({ lineNo: n + 1, quantity: Math.min(q, pool[n]!) }))
              .filter((u) => u.quantity > 0);
            const units = named
              ? some.length
                ? some
                : pool.map((quantity, n) => ({ lineNo: n + 1, quantity })).filter((u) => u.quantity > 0)
              : [];
            if (named && !units.length) continue;
            for (const u of units) {
              pool[u.lineNo - 1]! -= u.quantity;
              if (kind === 'captured') kept[u.lineNo - 1]! += u.quantity;
            }
            const share = unitsShare(priced, total, units);
            const amount = units.length
              ? kind === 'captured'
                ? share
                : Math.floor((share * pct) / 100 / unit) * unit
              : Math.max(unit, Math.floor((total * pct) / 100 / unit) * unit);
            if (amount <= 0) continue;
            const key = `${kind}:${i}`;
            const lines = units.length ? { lines: units } : {};
            const fact: MoneyFact =
              kind === 'captured'
                ? { kind, key, amount: fromMinor(amount), captureId: key, shipmentId: 's', ...lines }
                : { kind: 'refunded', key, amount: fromMinor(amount), via: 'gateway', ref: key, why: 'return', ...lines };
            const { invoices } = planInvoices('o', [fact], known, { quote, currency, ordered });
            for (const inv of invoices) {
              const lines = inv.lines.map((l) => ({
                no: l.no,
                sku: l.sku,
                rate: l.rate,
                gross: fromMinor(l.gross),
                tax: fromMinor(l.vat),
              }));
              const committed = await local.commit(doc(currency, lines));
              expect(linesAtVariance(committed.lines, currency)).toEqual([]);
            }
            known = [...known, ...invoices];
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a line whose VAT was figured at another rate is a variance; one step off is rounding', async () => {
    const local = localTaxService();
    // 108,000 đ of 10% goods hold 9,818 đ; VAT figured at 8% (8,000 đ) is 1,818 đ short.
    const wrong = await local.commit(doc('VND', [{ no: 1, sku: 'TEA', rate: 10, gross: '108000.00', tax: '8000.00' }]));
    expect(wrong).toMatchObject({ tax: '8000.00', taxCalculated: '9818.00' });
    expect(linesAtVariance(wrong.lines, 'VND')).toEqual([{ no: 1, tax: '8000.00', taxCalculated: '9818.00' }]);
    const close = await local.commit(doc('VND', [{ no: 1, sku: 'TEA', rate: 10, gross: '108000.00', tax: '9817.00' }]));
    expect(linesAtVariance(close.lines, 'VND')).toEqual([]);
    // Five cents off on a USD line is past rounding (the step there is one cent); four are within it.
    expect(linesAtVariance([{ no: 1, tax: '0.91', taxCalculated: '0.96' }], 'USD')).toHaveLength(1);
    expect(linesAtVariance([{ no: 1, tax: '0.91', taxCalculated: '0.95' }], 'USD')).toEqual([]);
  });
});
