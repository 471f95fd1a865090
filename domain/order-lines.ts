/**
 * The order's line arithmetic: units per line, what a cancellation takes from which shipment,
 * what reserved stock goes back, and the share of the order's total a set of units carries.
 * Pure and in integer minor units, so the order workflow and its tests share one rule.
 */
import type { Allocation } from './allocation';
import { mulDiv, splitProportionally } from './money';
import type { LineUnits } from './refunds';

/** Units of `lineNo` in `lines`. */
export const qtyOf = (lines: readonly LineUnits[], lineNo: number) =>
  lines.filter((l) => l.lineNo === lineNo).reduce((a, l) => a + l.quantity, 0);

/** One entry per line, quantities added, in line order. */
export function mergeLines(lines: readonly LineUnits[]): LineUnits[] {
  const m = new Map<number, number>();
  for (const l of lines) m.set(l.lineNo, (m.get(l.lineNo) ?? 0) + l.quantity);
  return [...m.entries()].sort(([a], [b]) => a - b).map(([lineNo, quantity]) => ({ lineNo, quantity }));
}

export const describeLines = (lines: readonly LineUnits[]) => lines.map((l) => `${l.quantity} unit(s) of line ${l.lineNo}`).join(', ');

/** Allocations less the units cut at one warehouse (rows cut to zero disappear). */
export function reduceAllocations(allocations: readonly Allocation[], warehouseId: string, cut: readonly LineUnits[]): Allocation[] {
  const left = new Map(mergeLines(cut).map((l) => [l.lineNo, l.quantity]));
  return allocations
    .map((a) => {
      if (a.warehouseId !== warehouseId) return a;
      const take = Math.min(left.get(a.lineNo) ?? 0, a.quantity);
      left.set(a.lineNo, (left.get(a.lineNo) ?? 0) - take);
      return { ...a, quantity: a.quantity - take };
    })
    .filter((a) => a.quantity > 0);
}

/** Allocations per warehouse, warehouses in id order. */
export function groupByWarehouse(allocations: readonly Allocation[]): [string, Allocation[]][] {
  const m = new Map<string, Allocation[]>();
  for (const a of allocations) m.set(a.warehouseId, [...(m.get(a.warehouseId) ?? []), a]);
  return [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
}

/**
 * Units reserved beyond what is still ordered (`wanted[n − 1]` units of line n), per warehouse:
 * a line's latest allocations give back first. Empty when the reservation matches the order.
 */
export function excessUnits(allocations: readonly Allocation[], wanted: readonly number[]): Map<string, LineUnits[]> {
  const excess = new Map<string, LineUnits[]>();
  for (const l of wanted.map((_, i) => i + 1)) {
    let over = allocations.filter((a) => a.lineNo === l).reduce((a, x) => a + x.quantity, 0) - wanted[l - 1]!;
    for (const a of [...allocations].reverse().filter((x) => x.lineNo === l)) {
      if (over <= 0) break;
      const take = Math.min(over, a.quantity);
      excess.set(a.warehouseId, [...(excess.get(a.warehouseId) ?? []), { lineNo: l, quantity: take }]);
      over -= take;
    }
  }
  return excess;
}

/**
 * Which shipments give up which units for a cancellation of `lines`: of the shipments that can
 * still be cut (in the order's order), the latest holding the line first. Units no candidate
 * holds are not planned.
 */
export function planCuts(candidates: readonly { id: string; lines: readonly LineUnits[] }[], lines: readonly LineUnits[]) {
  const cuts = new Map<string, LineUnits[]>();
  for (const l of lines) {
    let want = l.quantity;
    for (const x of [...candidates].reverse()) {
      const take = Math.min(want, qtyOf(x.lines, l.lineNo));
      if (take <= 0) continue;
      cuts.set(x.id, [...(cuts.get(x.id) ?? []), { lineNo: l.lineNo, quantity: take }]);
      want -= take;
      if (!want) break;
    }
  }
  return cuts;
}

/** An order's prices as the share rules need them (minor units). */
export interface PricedLines {
  /**
   * What a unit of each line is worth when the order's total is shared out, by position: line n
   * is at n − 1. Its unit price; for an order whose tax is on top (taken from `unitValuesWithTax`
   * on, domain/tax.ts), its gross — so a parcel of 10% goods carries their tax, not the order's
   * average.
   */
  unitValues: readonly number[];
  /** Units ordered per line, by position. */
  ordered: readonly number[];
  /**
   * The smallest amount the order's currency carries, in minor units (domain/tax.ts
   * `currencyStep`: 100 for VND, which has no decimals): shares are whole steps of it, as a
   * gateway charges and a carrier collects them. 1 (the minor unit) for orders taken before.
   */
  step?: number;
}

/** `amount` rounded down to a whole number of `step`s (an amount that is one already stays). */
export const downToStep = (amount: number, step = 1) => amount - (amount % step);

/**
 * Splits `amount` over `weights` (e.g. an order's total over its shipments by value): in whole
 * steps where the amount is a whole number of them, the shares adding up to it.
 */
export function splitInWholeSteps(amount: number, weights: number[], step = 1): number[] {
  if (step > 1 && amount % step === 0) return splitProportionally(amount / step, weights).map((u) => u * step);
  return splitProportionally(amount, weights);
}

/** The value of `lines` at their unit prices. */
export const valueOf = (priced: PricedLines, lines: readonly LineUnits[]) =>
  lines.reduce((a, l) => a + (priced.unitValues[l.lineNo - 1] ?? 0) * l.quantity, 0);

/**
 * The units' share of the order's `total`: discounts and shipping spread in proportion to value,
 * rounded down (to the currency's step), so the shares of disjoint sets of units never add up to
 * more than the total, and every unit ordered carries all of it.
 */
export function unitsShare(priced: PricedLines, total: number, lines: readonly LineUnits[]): number {
  const orderValue = priced.ordered.reduce((a, q, i) => a + (priced.unitValues[i] ?? 0) * q, 0);
  const value = valueOf(priced, lines);
  if (orderValue <= 0) return 0;
  return value >= orderValue ? mulDiv(total, value, orderValue) : downToStep(mulDiv(total, value, orderValue), priced.step);
}

/**
 * What the shipment replacing a cut one captures (or collects): the cut shipment's share less
 * what the cancellation took off the order (the cancelled units' share after, less before).
 * Never negative and never more than the cut shipment's share, so the order's captures never
 * outgrow its authorisation.
 */
export const shareAfterCut = (shipmentShare: number, cancelledShareBefore: number, cancelledShareAfter: number) =>
  Math.max(0, Math.min(shipmentShare, shipmentShare - (cancelledShareAfter - cancelledShareBefore)));

/** The authorisation left over once every capture is made: released rather than left to lapse. */
export const uncapturedRemainder = (authorized: number, captures: readonly number[]) => authorized - captures.reduce((a, c) => a + c, 0);
