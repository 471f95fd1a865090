import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitProportionally } from '../../domain/money';
import {
  computeTax,
  currencyStep,
  quoteOrder,
  splitInSteps,
  TAX_CATEGORIES,
  taxOfRefund,
  VN_VAT_RATES,
  withChargedTax,
  type TaxableLine,
} from '../../domain/tax';
import { computeTotalMinor } from '../../domain/validate';
import { fromMinor, toMinor } from '../../domain/money';

const line = fc.record({
  lineNo: fc.integer({ min: 1, max: 99 }),
  category: fc.constantFrom(...TAX_CATEGORIES),
  // Up to 10,000,000,000 VND / 100,000,000.00 USD in minor units.
  amount: fc.integer({ min: 0, max: 1_000_000_000_000 }),
});
const currency = fc.constantFrom('VND', 'USD', 'JPY', 'SGD');
const mode = fc.boolean();

describe('Vietnamese VAT, the local rule set', () => {
  it('worked examples: 10% on 110,000 VND inclusive, 8% on 99,999 VND exclusive, 5% on 19.99 USD', () => {
    const vnd = computeTax([{ lineNo: 1, category: 'standard', amount: 11_000_000 }], { pricesIncludeTax: true, currency: 'VND' });
    expect(vnd.lines[0]).toMatchObject({ net: 10_000_000, tax: 1_000_000, gross: 11_000_000, rateBp: 1000 });
    // 99,999 × 8% = 7,999.92 đồng → 8,000 đồng: VND carries no decimals.
    const ex = computeTax([{ lineNo: 1, category: 'reduced', amount: 9_999_900 }], { pricesIncludeTax: false, currency: 'VND' });
    expect(ex.lines[0]).toMatchObject({ net: 9_999_900, tax: 800_000, gross: 10_799_900 });
    // 19.99 × 5% = 0.9995 → 1.00 (half up).
    const usd = computeTax([{ lineNo: 1, category: 'essential', amount: 1999 }], { pricesIncludeTax: false, currency: 'USD' });
    expect(usd.lines[0]).toMatchObject({ tax: 100, gross: 2099 });
  });

  it('groups by rate as an e-invoice totals them, exempt apart from 0%', () => {
    const q = computeTax(
      [
        { lineNo: 1, category: 'standard', amount: 1_100_000 },
        { lineNo: 2, category: 'standard', amount: 2_200_000 },
        { lineNo: 3, category: 'zero', amount: 500_000 },
        { lineNo: 4, category: 'exempt', amount: 300_000 },
      ],
      { pricesIncludeTax: true, currency: 'VND' },
    );
    expect(q.groups).toEqual([
      { rate: 1000, net: 3_000_000, tax: 300_000, gross: 3_300_000 },
      { rate: 0, net: 500_000, tax: 0, gross: 500_000 },
      { rate: 'exempt', net: 300_000, tax: 0, gross: 300_000 },
    ]);
    expect([q.net, q.tax, q.gross]).toEqual([3_800_000, 300_000, 4_100_000]);
  });

  it('refuses what is not an amount or not a category', () => {
    expect(() => computeTax([{ lineNo: 1, category: 'standard', amount: -1 }], { pricesIncludeTax: true, currency: 'VND' })).toThrow(
      /line 1: not an amount/,
    );
    expect(() => computeTax([{ lineNo: 2, category: 'luxury' as never, amount: 1 }], { pricesIncludeTax: true, currency: 'VND' })).toThrow(
      /line 2: unknown tax category luxury/,
    );
    expect(() => splitInSteps(150, [1, 1], 'VND')).toThrow(/not a multiple of VND's step 100/);
  });

  it('property: net + tax is the gross of every line; tax is in the currency steps, within half a step of the rate', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), mode, currency, (lines: TaxableLine[], inclusive, cur) => {
        const step = currencyStep(cur);
        const q = computeTax(
          lines.map((l) => ({ ...l, amount: l.amount - (l.amount % step) })),
          { pricesIncludeTax: inclusive, currency: cur },
        );
        for (const l of q.lines) {
          expect(l.net + l.tax).toBe(l.gross);
          expect(l.tax % step).toBe(0);
          expect(l.tax).toBeGreaterThanOrEqual(0);
          // |tax − net × rate| ≤ half a step (inclusive: the net is the rounded one).
          const exact = (l.net * VN_VAT_RATES[l.category]) / 10_000;
          expect(Math.abs(l.tax - exact)).toBeLessThanOrEqual((step / 2) * (inclusive ? 1 + VN_VAT_RATES[l.category] / 10_000 : 1) + 1e-6);
        }
        expect(q.net + q.tax).toBe(q.gross);
        expect(q.groups.reduce((a, g) => a + g.tax, 0)).toBe(q.tax);
      }),
    );
  });

  it('property: a tax split over shipments adds up to it, every share in the currency steps', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000_000 }),
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 6 }),
        currency,
        (units, weights, cur) => {
          const step = currencyStep(cur);
          const shares = splitInSteps(units * step, weights, cur);
          expect(shares.reduce((a, b) => a + b, 0)).toBe(units * step);
          for (const s of shares) expect(s % step).toBe(0);
        },
      ),
    );
  });

  it('property: refunds of a line, however split, give back exactly its tax and never more', () => {
    fc.assert(
      fc.property(
        line,
        mode,
        currency,
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 6 }),
        (l, inclusive, cur, parts) => {
          const [t] = computeTax([l], { pricesIncludeTax: inclusive, currency: cur }).lines;
          const cuts = splitProportionally(t!.gross, parts);
          let refunded = 0;
          let taxBack = 0;
          for (const c of cuts) {
            const x = taxOfRefund(t!, refunded, c, cur);
            expect(x).toBeGreaterThanOrEqual(0);
            taxBack += x;
            refunded += c;
            expect(taxBack).toBeLessThanOrEqual(t!.tax);
          }
          expect(taxBack).toBe(t!.tax);
        },
      ),
    );
    const [t] = computeTax([{ lineNo: 1, category: 'standard', amount: 1_100_000 }], { pricesIncludeTax: true, currency: 'VND' }).lines;
    expect(() => taxOfRefund(t!, 1_000_000, 200_000, 'VND')).toThrow(/passes its 1100000/);
  });

  it('quotes an order: a 10% and a 5% line, shipping taxed as a service, the discount shared over them', () => {
    const q = quoteOrder(
      {
        currency: 'VND',
        lines: [
          { sku: 'TSHIRT-M', quantity: 2, unitPrice: '110000.00' },
          { sku: 'RICE-5KG', quantity: 1, unitPrice: '105000.00' },
        ],
        shippingFee: '33000.00',
        discount: '34800.00',
      },
      (sku) => (sku.startsWith('RICE') ? 'essential' : 'standard'),
      { pricesIncludeTax: true },
    );
    // 220,000 + 105,000 + 33,000 = 358,000; the 34,800 discount shared 21,385 / 10,207 / 3,208 (whole đồng,
    // the two đồng left over to the largest fractions); net = gross ÷ 1.1 or ÷ 1.05, rounded.
    expect(q.lines).toEqual([
      { lineNo: 1, sku: 'TSHIRT-M', category: 'standard', rate: 10, net: '180559.00', tax: '18056.00', gross: '198615.00' },
      { lineNo: 2, sku: 'RICE-5KG', category: 'essential', rate: 5, net: '90279.00', tax: '4514.00', gross: '94793.00' },
    ]);
    expect(q.shipping).toEqual({ sku: 'shipping', category: 'standard', rate: 10, net: '27084.00', tax: '2708.00', gross: '29792.00' });
    expect(q.gross).toBe('323200.00');
    expect(q.groups.map((g) => g.rate)).toEqual([10, 5]);
  });

  it('a discount in whole đồng over lines that are not never takes a line below zero', () => {
    // Two half-đồng lines and a 1-đồng discount: shared in whole đồng, one line would get all of it.
    const q = quoteOrder(
      {
        currency: 'VND',
        lines: [
          { sku: 'A', quantity: 1, unitPrice: '0.50' },
          { sku: 'B', quantity: 1, unitPrice: '0.50' },
        ],
        discount: '1.00',
      },
      () => 'standard',
      { pricesIncludeTax: true },
    );
    expect(q.lines.map((l) => l.gross)).toEqual(['0.00', '0.00']);
    expect(q.gross).toBe('0.00');
  });

  it('property: with prices that include tax, the quote adds up to the order total to the unit', () => {
    const price = fc.oneof(
      fc.integer({ min: 0, max: 5_000_000 }).map((d) => fromMinor(d * 100)),
      fc.integer({ min: 0, max: 500_000_000 }).map(fromMinor),
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ sku: fc.constantFrom('A', 'B', 'C', 'D', 'E'), quantity: fc.integer({ min: 1, max: 50 }), unitPrice: price }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        fc.option(price, { nil: undefined }),
        fc.option(price, { nil: undefined }),
        fc.constantFrom(...TAX_CATEGORIES),
        (lines, shippingFee, discount, category) => {
          const order = { currency: 'VND', lines, ...(shippingFee ? { shippingFee } : {}), ...(discount ? { discount } : {}) };
          const q = quoteOrder(order, (sku) => (sku === 'A' ? category : 'standard'), { pricesIncludeTax: true });
          expect(toMinor(q.gross)).toBe(Math.max(computeTotalMinor(order), 0));
          expect(toMinor(q.net) + toMinor(q.tax)).toBe(toMinor(q.gross));
          for (const l of [...q.lines, ...(q.shipping ? [q.shipping] : [])]) {
            expect(toMinor(l.net) + toMinor(l.tax)).toBe(toMinor(l.gross));
            expect(toMinor(l.gross)).toBeGreaterThanOrEqual(0);
          }
        },
      ),
    );
  });

  it("property: with prices that exclude tax, the tax goes on top — the rule set's or the channel's — and the quote adds up to the total", () => {
    const price = fc.oneof(
      fc.integer({ min: 0, max: 5_000_000 }).map((d) => fromMinor(d * 100)),
      fc.integer({ min: 0, max: 500_000_000 }).map(fromMinor),
    );
    fc.assert(
      fc.property(
        fc.array(fc.record({ sku: fc.constantFrom('A', 'B', 'C'), quantity: fc.integer({ min: 1, max: 50 }), unitPrice: price }), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.option(price, { nil: undefined }),
        fc.option(price, { nil: undefined }),
        fc.constantFrom(...TAX_CATEGORIES),
        fc.constantFrom('VND', 'USD'),
        fc.option(price, { nil: undefined }),
        (lines, shippingFee, discount, category, cur, charged) => {
          const order = { currency: cur, lines, ...(shippingFee ? { shippingFee } : {}), ...(discount ? { discount } : {}) };
          const whole = computeTotalMinor(order);
          fc.pre(whole >= 0);
          const q = quoteOrder(order, (sku) => (sku === 'A' ? category : 'standard'), { pricesIncludeTax: false });
          // The rule set's tax on top: the total with it is the quote's gross.
          expect(toMinor(q.net)).toBe(whole);
          expect(toMinor(q.gross)).toBe(computeTotalMinor({ ...order, pricesIncludeTax: false, taxOnTop: q.tax }));
          if (charged === undefined) return;
          // The channel's tax instead: laid over the same lines, each line's net kept, the quote's gross the total with it.
          const c = withChargedTax(q, charged, cur);
          const all = [...c.lines, ...(c.shipping ? [c.shipping] : [])];
          expect(c.provider).toBe('channel');
          expect(all.reduce((a, l) => a + toMinor(l.tax), 0)).toBe(toMinor(charged));
          expect(all.map((l) => l.net)).toEqual([...q.lines, ...(q.shipping ? [q.shipping] : [])].map((l) => l.net));
          for (const l of all) expect(toMinor(l.net) + toMinor(l.tax)).toBe(toMinor(l.gross));
          expect(c.groups.reduce((a, g) => a + toMinor(g.tax), 0)).toBe(toMinor(charged));
          expect(toMinor(c.gross)).toBe(computeTotalMinor({ ...order, pricesIncludeTax: false, taxOnTop: charged }));
        },
      ),
      { numRuns: 300 },
    );
  });
});
