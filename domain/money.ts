/**
 * Money as integer minor units (2 decimals) so sums and shares are exact; decimal strings at the
 * edges ("125000.00"). Pure: used by workflows, activities and the API alike.
 */
export const DECIMAL_RE = /^\d{1,13}(\.\d{1,2})?$/;

export function toMinor(amount: string): number {
  if (!DECIMAL_RE.test(amount)) throw new Error(`not a decimal amount: ${amount}`);
  const [whole, frac = ''] = amount.split('.');
  return Number(whole) * 100 + Number(frac.padEnd(2, '0'));
}

export function fromMinor(minor: number): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/**
 * ⌊a × b ÷ c⌋ for non-negative integers, exactly: in minor units a product of two amounts passes
 * 2^53 (a 10 000 000 VND order with a 10 000 000 VND item is 10^18), where a float rounds, and a
 * share that should be the whole total comes out one minor unit short.
 */
export function mulDiv(a: number, b: number, c: number): number {
  return Number((BigInt(a) * BigInt(b)) / BigInt(c));
}

/**
 * Splits `total` over `weights` in proportion, exactly: the remainders go to the largest
 * fractional parts (ties to the first), so the shares always add up to the total.
 */
export function splitProportionally(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) return weights.map((_, i) => (i === 0 ? total : 0));
  const products = weights.map((w) => BigInt(total) * BigInt(w));
  const shares = products.map((p) => Number(p / BigInt(sum)));
  let left = total - shares.reduce((a, b) => a + b, 0);
  const rest = products.map((p, i) => ({ i, rem: p % BigInt(sum) }));
  const order = rest.sort((x, y) => (y.rem > x.rem ? 1 : y.rem < x.rem ? -1 : x.i - y.i));
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) shares[order[k]!.i]! += 1;
  return shares;
}
