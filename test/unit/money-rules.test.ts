/**
 * The order's money rules as properties over random orders: shares add up to what is split, and
 * returns never refund more than was paid — and, once every kept unit is back, exactly that.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mulDiv, splitProportionally } from '../../domain/money';
import { returnRefundDue, type LineUnits, type PromisedReturn } from '../../domain/refunds';

const orderArb = fc
  .array(fc.record({ price: fc.integer({ min: 0, max: 5_000_000_00 }), ordered: fc.integer({ min: 1, max: 6 }) }), {
    minLength: 1,
    maxLength: 5,
  })
  .chain((lines) =>
    fc.record({
      lines: fc.constant(lines),
      cancelled: fc.tuple(...lines.map((l) => fc.integer({ min: 0, max: l.ordered }))),
      // What was paid relative to the goods: discounts, shipping, a capture still missing (0).
      paidFactor: fc.oneof(fc.constant(0), fc.double({ min: 0.5, max: 1.5, noNaN: true })),
      seed: fc.integer(),
    }),
  );

/** Splits every kept unit into a random sequence of returns (each one or more units of some lines). */
function returnsOf(kept: number[], seed: number): LineUnits[][] {
  let s = seed >>> 0;
  const rnd = () => (s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32;
  const units = kept.flatMap((q, i) => Array.from({ length: q }, () => i + 1)).sort(() => rnd() - 0.5);
  const out: LineUnits[][] = [];
  while (units.length) {
    const take = units.splice(0, 1 + Math.floor(rnd() * 3));
    const lines = new Map<number, number>();
    for (const n of take) lines.set(n, (lines.get(n) ?? 0) + 1);
    out.push([...lines].map(([lineNo, quantity]) => ({ lineNo, quantity })));
  }
  return out;
}

describe('money rules (domain/)', () => {
  it('proportional shares always add up to the total and never go negative', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e12 }),
        fc.array(fc.integer({ min: 0, max: 1e9 }), { minLength: 1, maxLength: 12 }),
        (total, weights) => {
          const shares = splitProportionally(total, weights);
          expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
          expect(shares.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
        },
      ),
    );
  });

  it('a share is exact where a float product would round: the whole order carries the whole total', () => {
    // 654 922 338.83 VND × one 1 594 507.89 VND unit of 1: the float product (~1e19) passes 2^53.
    expect(Math.floor((65_492_233_883 * 159_450_789) / 159_450_789)).toBe(65_492_233_882);
    expect(mulDiv(65_492_233_883, 159_450_789, 159_450_789)).toBe(65_492_233_883);
    // As the share rules use it: a part (b) of a whole (c) of an amount (a), so the result is at most a.
    const partArb = fc
      .integer({ min: 1, max: 1e13 })
      .chain((c) => fc.tuple(fc.integer({ min: 0, max: 1e13 }), fc.integer({ min: 0, max: c }), fc.constant(c)));
    fc.assert(
      fc.property(partArb, ([a, b, c]) => {
        const q = mulDiv(a, b, c);
        // q = ⌊a·b/c⌋ exactly: q·c ≤ a·b < (q+1)·c.
        expect(BigInt(q) * BigInt(c) <= BigInt(a) * BigInt(b)).toBe(true);
        expect((BigInt(q) + 1n) * BigInt(c) > BigInt(a) * BigInt(b)).toBe(true);
      }),
    );
    expect(splitProportionally(65_492_233_883, [159_450_789, 0])).toEqual([65_492_233_883, 0]);
  });

  it('returns refund never more than was paid, and exactly that once every kept unit is back', () => {
    fc.assert(
      fc.property(orderArb, ({ lines, cancelled, paidFactor, seed }) => {
        const kept = lines.map((l, i) => l.ordered - cancelled[i]!);
        const goods = lines.reduce((a, l, i) => a + l.price * kept[i]!, 0);
        const basis = { unitValues: lines.map((l) => l.price), keptUnits: kept, paid: Math.floor(goods * paidFactor) };
        const promised: PromisedReturn[] = [];
        for (const r of returnsOf(kept, seed)) {
          const due = returnRefundDue(basis, r, promised);
          expect(Number.isInteger(due) && due >= 0).toBe(true);
          promised.push({ lines: r, refundDue: due });
          expect(promised.reduce((a, x) => a + x.refundDue, 0)).toBeLessThanOrEqual(basis.paid);
        }
        const refunded = promised.reduce((a, x) => a + x.refundDue, 0);
        // Every kept unit came back: nothing of the payment is kept (a 0-value order has nothing to give).
        expect(refunded).toBe(goods > 0 ? basis.paid : 0);
      }),
    );
  });

  it("a return that is not the last gets its lines' share, rounded down", () => {
    const basis = { unitValues: [100_000_00, 50_000_00], keptUnits: [2, 1], paid: 270_000_00 };
    // 1 × 100000 of 250000 in goods → 108000 (shipping and discount spread in proportion).
    expect(returnRefundDue(basis, [{ lineNo: 1, quantity: 1 }], [])).toBe(108_000_00);
    const first = { lines: [{ lineNo: 1, quantity: 1 }], refundDue: 108_000_00 };
    // The rest comes back: it refunds the rest, 162000.
    expect(
      returnRefundDue(
        basis,
        [
          { lineNo: 1, quantity: 1 },
          { lineNo: 2, quantity: 1 },
        ],
        [first],
      ),
    ).toBe(162_000_00);
    // Three equal units at a total of 100.00: 33.33, 33.33, and the last one 33.34.
    const thirds = { unitValues: [1], keptUnits: [3], paid: 100_00 };
    const one = [{ lineNo: 1, quantity: 1 }];
    expect(returnRefundDue(thirds, one, [])).toBe(33_33);
    expect(returnRefundDue(thirds, one, [{ lines: one, refundDue: 33_33 }])).toBe(33_33);
    expect(
      returnRefundDue(thirds, one, [
        { lines: one, refundDue: 33_33 },
        { lines: one, refundDue: 33_33 },
      ]),
    ).toBe(33_34);
  });

  it('nothing paid yet, nothing refunded: the order must know its captures before a return is priced', () => {
    // The chaos run's order: 3 × 149000 + 15000 shipping; with the capture unknown the rule gives 0.
    const lines = [{ lineNo: 1, quantity: 3 }];
    expect(returnRefundDue({ unitValues: [149_000_00], keptUnits: [3], paid: 0 }, lines, [])).toBe(0);
    expect(returnRefundDue({ unitValues: [149_000_00], keptUnits: [3], paid: 462_000_00 }, lines, [])).toBe(462_000_00);
  });
});
