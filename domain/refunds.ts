/**
 * What a return refunds. Pure and in integer minor units, so the order workflow and its tests
 * share one rule: a return's lines get their share of what the buyer paid (discounts and shipping
 * spread in proportion to value), never more than is left unpromised, and the return that brings
 * back the last kept unit refunds all that is left, so rounding never keeps a cent.
 */
import { mulDiv } from './money';
import { downToStep } from './order-lines';

export interface LineUnits {
  lineNo: number;
  quantity: number;
}

export interface RefundBasis {
  /** What a unit of each order line is worth in the share rules (domain/order-lines.ts `PricedLines`), by position. */
  unitValues: readonly number[];
  /** Units of each line the buyer keeps: ordered − cancelled, by position. */
  keptUnits: readonly number[];
  /** What the buyer paid (minor units): the captures of a prepaid order, the amount due of a COD one. */
  paid: number;
  /** The currency's smallest amount in minor units (VND: 100): a refund is whole steps of it. 1 for orders taken before. */
  step?: number;
}

/** A return that still holds a refund (neither rejected nor expired, not an exchange). */
export interface PromisedReturn {
  lines: readonly LineUnits[];
  refundDue: number;
}

const unitsOf = (lines: readonly LineUnits[], lineNo: number) => lines.reduce((a, l) => a + (l.lineNo === lineNo ? l.quantity : 0), 0);

/** The refund due for `lines` coming back, given the returns already promised a refund. */
export function returnRefundDue(basis: RefundBasis, lines: readonly LineUnits[], promised: readonly PromisedReturn[]): number {
  const value = (ls: readonly LineUnits[]) => ls.reduce((a, l) => a + (basis.unitValues[l.lineNo - 1] ?? 0) * l.quantity, 0);
  const keptValue = basis.keptUnits.reduce((a, q, i) => a + (basis.unitValues[i] ?? 0) * q, 0);
  const left = basis.paid - promised.reduce((a, r) => a + r.refundDue, 0);
  if (left <= 0 || keptValue <= 0) return 0;
  const back = [...promised.flatMap((r) => r.lines), ...lines];
  const everything = basis.keptUnits.every((q, i) => unitsOf(back, i + 1) >= q);
  if (everything) return left;
  return Math.max(0, Math.min(downToStep(mulDiv(basis.paid, value(lines), keptValue), basis.step), left));
}
