/** Business validation of a canonical order against the catalog and the delivery network. */
import { locate } from './geo';
import { fromMinor, toMinor } from './money';
import type { CanonicalOrder } from './order';

export interface CatalogView {
  sku: string;
  active: boolean;
}

/** The order's total in minor units: lines + shipping − discount, and the tax on top of prices that exclude it. */
export function computeTotalMinor(
  order: Pick<CanonicalOrder, 'lines' | 'shippingFee' | 'discount' | 'pricesIncludeTax' | 'taxOnTop'>,
): number {
  const lines = order.lines.reduce((a, l) => a + toMinor(l.unitPrice) * l.quantity, 0);
  const onTop = order.pricesIncludeTax === false ? toMinor(order.taxOnTop ?? '0') : 0;
  return lines + toMinor(order.shippingFee ?? '0') - toMinor(order.discount ?? '0') + onTop;
}

/** Reasons to reject; empty when the order is valid. */
export function validateOrder(order: CanonicalOrder, catalog: Map<string, CatalogView>, servedRegions: Set<string>): string[] {
  const reasons: string[] = [];
  for (const [i, line] of order.lines.entries()) {
    const p = catalog.get(line.sku);
    if (!p) reasons.push(`lines.${i}: unknown SKU ${line.sku}`);
    else if (!p.active) reasons.push(`lines.${i}: SKU ${line.sku} is not for sale`);
  }
  const skus = order.lines.map((l) => l.sku);
  const dup = skus.find((s, i) => skus.indexOf(s) !== i);
  if (dup) reasons.push(`lines: SKU ${dup} appears twice; send one line with the total quantity`);
  const total = computeTotalMinor(order);
  if (total < 0) reasons.push('discount: larger than the lines and shipping together');
  if (order.total !== undefined && toMinor(order.total) !== total) {
    const parts = order.pricesIncludeTax === false ? 'lines + shipping - discount + tax on top' : 'lines + shipping - discount';
    reasons.push(`total: ${order.total} does not equal ${parts} = ${fromMinor(total)}`);
  }
  const where = locate(order.shippingAddress);
  if (!where.region)
    reasons.push(`shippingAddress: ${order.shippingAddress.city}, ${order.shippingAddress.country} is not an area we deliver to`);
  else if (!servedRegions.has(where.region)) reasons.push(`shippingAddress: no warehouse serves the ${where.region} region`);
  return reasons;
}
