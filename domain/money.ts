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
 * Splits `total` over `weights` in proportion, exactly: the remainders go to the largest
 * fractional parts, so the shares always add up to the total.
 */
export function splitProportionally(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) return weights.map((_, i) => (i === 0 ? total : 0));
  const raw = weights.map((w) => (total * w) / sum);
  const shares = raw.map(Math.floor);
  let left = total - shares.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => ({ i, frac: r - Math.floor(r) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) shares[order[k]!.i]! += 1;
  return shares;
}
