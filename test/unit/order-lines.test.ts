/**
 * The order's line arithmetic (domain/order-lines) as properties over random orders: shares never
 * add up to more than the total and all units carry all of it; a chain of partial cancellations
 * never lets the shipments capture more than was authorised; cuts take only what shipments hold;
 * the units given back leave exactly what is still ordered.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Allocation } from '../../domain/allocation';
import { splitProportionally } from '../../domain/money';
import {
  excessUnits,
  groupByWarehouse,
  mergeLines,
  planCuts,
  qtyOf,
  reduceAllocations,
  shareAfterCut,
  splitInWholeSteps,
  uncapturedRemainder,
  unitsShare,
  valueOf,
  type PricedLines,
} from '../../domain/order-lines';
import { returnRefundDue, type LineUnits } from '../../domain/refunds';

const pricedArb = fc
  .array(fc.record({ price: fc.integer({ min: 0, max: 5_000_000_00 }), ordered: fc.integer({ min: 1, max: 6 }) }), {
    minLength: 1,
    maxLength: 5,
  })
  .map((ls): PricedLines => ({ unitValues: ls.map((l) => l.price), ordered: ls.map((l) => l.ordered) }));

const allUnits = (p: PricedLines): LineUnits[] => p.ordered.map((q, i) => ({ lineNo: i + 1, quantity: q }));

/** Every unit of the order, one entry per unit, in a random order. */
const unitsShuffled = (p: PricedLines, seed: number): number[] => {
  let s = seed >>> 0;
  const rnd = () => (s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32;
  return allUnits(p)
    .flatMap((l) => Array.from({ length: l.quantity }, () => l.lineNo))
    .sort(() => rnd() - 0.5);
};

describe('order lines and shares (domain/order-lines)', () => {
  it("disjoint units' shares never add up to more than the total, and all the units carry all of it", () => {
    fc.assert(
      fc.property(
        pricedArb,
        fc.integer({ min: 0, max: 1e11 }),
        fc.integer(),
        fc.integer({ min: 1, max: 4 }),
        (priced, total, seed, parts) => {
          const units = unitsShuffled(priced, seed);
          const groups = Array.from({ length: parts }, (_, k) =>
            mergeLines(units.filter((_, i) => i % parts === k).map((lineNo) => ({ lineNo, quantity: 1 }))),
          );
          const shares = groups.map((g) => unitsShare(priced, total, g));
          expect(shares.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
          expect(shares.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(total);
          const orderValue = valueOf(priced, allUnits(priced));
          expect(unitsShare(priced, total, allUnits(priced))).toBe(orderValue > 0 ? total : 0);
        },
      ),
    );
  });

  it('in a currency without a minor unit (VND) every share, split, cut and refund is whole đồng, and they still add up', () => {
    const STEP = 100; // one đồng in minor units
    fc.assert(
      fc.property(pricedArb, fc.integer({ min: 0, max: 1e9 }), fc.integer(), fc.integer({ min: 1, max: 4 }), (p, dong, seed, parts) => {
        const priced = { ...p, step: STEP };
        const total = dong * STEP;
        const whole = (x: number) => x % STEP === 0;
        const units = unitsShuffled(priced, seed);
        const groups = Array.from({ length: parts }, (_, k) =>
          mergeLines(units.filter((_, i) => i % parts === k).map((lineNo) => ({ lineNo, quantity: 1 }))),
        );
        // Parcels: the total split by value, in whole đồng, to the unit.
        const split = splitInWholeSteps(
          total,
          groups.map((g) => valueOf(priced, g)),
          STEP,
        );
        expect(split.every(whole)).toBe(true);
        expect(split.reduce((a, b) => a + b, 0)).toBe(total);
        // Shares of units: whole đồng, never more than the total together; all the units carry all of it.
        const shares = groups.map((g) => unitsShare(priced, total, g));
        expect(shares.every(whole)).toBe(true);
        expect(shares.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(total);
        if (valueOf(priced, allUnits(priced)) > 0) expect(unitsShare(priced, total, allUnits(priced))).toBe(total);
        // A cut parcel's replacement: whole đồng.
        const cut = groups[0]!.slice(0, 1).map((l) => ({ lineNo: l.lineNo, quantity: 1 }));
        expect(whole(shareAfterCut(split[0]!, 0, unitsShare(priced, total, cut)))).toBe(true);
        // Returns one group at a time: each refund whole đồng, the last one all that is left.
        const promised: { lines: LineUnits[]; refundDue: number }[] = [];
        for (const g of groups.filter((x) => x.length)) {
          const due = returnRefundDue({ unitValues: priced.unitValues, keptUnits: priced.ordered, paid: total, step: STEP }, g, promised);
          expect(whole(due), `refund ${due}`).toBe(true);
          promised.push({ lines: g, refundDue: due });
        }
        if (valueOf(priced, allUnits(priced)) > 0) expect(promised.reduce((a, r) => a + r.refundDue, 0)).toBe(total);
      }),
    );
  });

  it('partial cancellations one after another: the parcels never capture more than was authorised, and never go negative', () => {
    fc.assert(
      fc.property(pricedArb, fc.integer({ min: 0, max: 1e11 }), fc.integer(), (priced, total, seed) => {
        // Authorised: the whole total, split between two parcels by value (as at shipping).
        const units = unitsShuffled(priced, seed);
        const parcels = [units.filter((_, i) => i % 2 === 0), units.filter((_, i) => i % 2 === 1)].map((us) =>
          mergeLines(us.map((lineNo) => ({ lineNo, quantity: 1 }))),
        );
        let shares = splitProportionally(
          total,
          parcels.map((p) => valueOf(priced, p)),
        );
        const authorised = total;
        let cancelled: LineUnits[] = [];
        // Cut the parcels one unit at a time (the first parcel first), until one unit is left.
        for (const k of units.slice(0, -1).keys()) {
          const which = parcels[0]!.some((l) => l.quantity > 0) ? 0 : 1;
          const parcel = parcels[which]!;
          const line = parcel.find((l) => l.quantity > 0)!;
          const lineNo = line.lineNo;
          const before = unitsShare(priced, total, cancelled);
          cancelled = mergeLines([...cancelled, { lineNo, quantity: 1 }]);
          line.quantity -= 1;
          const next = shareAfterCut(shares[which]!, before, unitsShare(priced, total, cancelled));
          expect(next).toBeGreaterThanOrEqual(0);
          expect(next).toBeLessThanOrEqual(shares[which]!);
          shares = shares.map((s, i) => (i === which ? next : s));
          expect(
            shares.reduce((a, b) => a + b, 0),
            `after ${k + 1} cut(s)`,
          ).toBeLessThanOrEqual(authorised);
          // What the parcels still capture and what the cancellation took never exceed the authorisation.
          expect(uncapturedRemainder(authorised, shares)).toBeGreaterThanOrEqual(0);
        }
      }),
    );
  });

  it('a cut takes from the latest shipments first, only what they hold, and all of it when they hold enough', () => {
    const shipmentsArb = fc.array(
      fc.array(fc.record({ lineNo: fc.integer({ min: 1, max: 3 }), quantity: fc.integer({ min: 1, max: 4 }) }), {
        minLength: 1,
        maxLength: 3,
      }),
      { minLength: 1, maxLength: 4 },
    );
    const askArb = fc.array(fc.record({ lineNo: fc.integer({ min: 1, max: 3 }), quantity: fc.integer({ min: 1, max: 8 }) }), {
      minLength: 1,
      maxLength: 3,
    });
    fc.assert(
      fc.property(shipmentsArb, askArb, (shipments, asked) => {
        const candidates = shipments.map((lines, i) => ({ id: `s${i + 1}`, lines: mergeLines(lines) }));
        const lines = mergeLines(asked);
        const cuts = planCuts(candidates, lines);
        for (const c of candidates) {
          for (const l of cuts.get(c.id) ?? []) expect(l.quantity).toBeLessThanOrEqual(qtyOf(c.lines, l.lineNo));
        }
        for (const l of lines) {
          const held = candidates.reduce((a, c) => a + qtyOf(c.lines, l.lineNo), 0);
          const cut = [...cuts.values()].reduce((a, ls) => a + qtyOf(ls, l.lineNo), 0);
          expect(cut).toBe(Math.min(l.quantity, held));
          // The latest shipment holding the line gives first.
          const latest = [...candidates].reverse().find((c) => qtyOf(c.lines, l.lineNo) > 0);
          if (latest) expect(qtyOf(cuts.get(latest.id) ?? [], l.lineNo)).toBe(Math.min(l.quantity, qtyOf(latest.lines, l.lineNo)));
        }
      }),
    );
  });

  it('units reserved for cancelled lines go back, leaving exactly what is still ordered', () => {
    const allocArb = fc.array(
      fc.record({
        lineNo: fc.integer({ min: 1, max: 3 }),
        warehouseId: fc.constantFrom('WH-A', 'WH-B', 'WH-C'),
        quantity: fc.integer({ min: 1, max: 5 }),
      }),
      { minLength: 1, maxLength: 6 },
    );
    fc.assert(
      fc.property(allocArb, fc.tuple(fc.nat(8), fc.nat(8), fc.nat(8)), (rows, wanted) => {
        const allocations: Allocation[] = rows.map((r) => ({ ...r, sku: `SKU-${r.lineNo}` }));
        const excess = excessUnits(allocations, wanted);
        let left = allocations;
        for (const [warehouseId, lines] of excess) left = reduceAllocations(left, warehouseId, lines);
        for (const lineNo of [1, 2, 3]) {
          const had = qtyOf(allocations, lineNo);
          expect(qtyOf(left, lineNo)).toBe(Math.min(had, wanted[lineNo - 1]!));
        }
        expect(left.every((a) => a.quantity > 0)).toBe(true);
        expect(excessUnits(left, wanted).size).toBe(0);
      }),
    );
  });

  it('examples: a share rounds down; a cut replacement carries its share less the cut units; groups by warehouse', () => {
    const priced = { unitValues: [100_000_00, 50_000_00], ordered: [2, 1] };
    // 270000 over 250000 of goods: one unit of line 1 carries 108000.
    expect(unitsShare(priced, 270_000_00, [{ lineNo: 1, quantity: 1 }])).toBe(108_000_00);
    expect(shareAfterCut(162_000_00, 0, 54_000_00)).toBe(108_000_00);
    expect(shareAfterCut(10_00, 0, 54_000_00)).toBe(0);
    expect(uncapturedRemainder(270_000_00, [108_000_00, 54_000_00])).toBe(108_000_00);
    const a = (warehouseId: string, lineNo: number): Allocation => ({ warehouseId, lineNo, sku: 'X', quantity: 1 });
    expect(groupByWarehouse([a('WH-B', 1), a('WH-A', 2), a('WH-B', 3)]).map(([w, xs]) => [w, xs.length])).toEqual([
      ['WH-A', 1],
      ['WH-B', 2],
    ]);
  });
});
