import { describe, expect, it } from 'vitest';
import { locate, normalizePlace } from '../../domain/geo';
import { fromMinor, splitProportionally, toMinor } from '../../domain/money';
import { CanonicalOrderSchema, type CanonicalOrder } from '../../domain/order';
import { computeTotalMinor, validateOrder } from '../../domain/validate';

describe('money', () => {
  it('converts decimal strings exactly', () => {
    expect(toMinor('0.1') + toMinor('0.2')).toBe(toMinor('0.3'));
    expect(toMinor('125000')).toBe(12_500_000);
    expect(fromMinor(12_500_005)).toBe('125000.05');
    expect(() => toMinor('1.234')).toThrow();
    expect(() => toMinor('-1')).toThrow();
  });

  it('splits proportionally and always adds up to the total', () => {
    for (const [total, weights] of [
      [100, [1, 1, 1]],
      [1001, [3, 7]],
      [5, [0, 0]],
      [99_999, [13, 17, 19, 23]],
    ] as [number, number[]][]) {
      const shares = splitProportionally(total, weights);
      expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
      expect(shares.every((s) => s >= 0)).toBe(true);
    }
    expect(splitProportionally(100, [1, 3])).toEqual([25, 75]);
  });
});

describe('geo', () => {
  it('recognises provinces with or without diacritics and prefixes', () => {
    expect(normalizePlace('Thành phố Hồ Chí Minh')).toBe('ho chi minh');
    expect(locate({ city: 'Hà Nội', country: 'VN' }).region).toBe('north');
    expect(locate({ city: 'Quận 1', region: 'TP. Hồ Chí Minh', country: 'VN' }).region).toBe('south');
    expect(locate({ city: 'Atlantis', country: 'VN' }).region).toBeUndefined();
  });
});

const order = (over: Partial<CanonicalOrder> = {}): CanonicalOrder => ({
  channel: 'web',
  channelOrderId: 'X1',
  currency: 'VND',
  customer: { id: 'c1', name: 'An' },
  shippingAddress: { name: 'An', line1: '1 Le Loi', city: 'Ho Chi Minh', country: 'VN' },
  lines: [{ sku: 'A', quantity: 2, unitPrice: '100.50' }],
  payment: { method: 'cod' },
  placedAt: '2026-11-21T10:00:00Z',
  ...over,
});
const catalog = new Map([
  ['A', { sku: 'A', active: true }],
  ['OLD', { sku: 'OLD', active: false }],
]);
const served = new Set(['south']);

describe('validateOrder', () => {
  it('accepts a valid order and computes its total', () => {
    expect(validateOrder(order({ shippingFee: '10', discount: '1.00', total: '210.00' }), catalog, served)).toEqual([]);
    expect(computeTotalMinor(order({ shippingFee: '10', discount: '1.00' }))).toBe(21_000);
  });

  it.each([
    [{ lines: [{ sku: 'NOPE', quantity: 1, unitPrice: '1' }] }, /unknown SKU NOPE/],
    [{ lines: [{ sku: 'OLD', quantity: 1, unitPrice: '1' }] }, /not for sale/],
    [
      {
        lines: [
          { sku: 'A', quantity: 1, unitPrice: '1' },
          { sku: 'A', quantity: 1, unitPrice: '1' },
        ],
      },
      /appears twice/,
    ],
    [{ total: '999.00' }, /total: 999.00 does not equal .* = 201.00/],
    [{ discount: '500' }, /discount: larger/],
    [{ shippingAddress: { name: 'An', line1: '1', city: 'Ha Noi', country: 'VN' } }, /no warehouse serves the north region/],
    [{ shippingAddress: { name: 'An', line1: '1', city: 'Paris', country: 'FR' } }, /not an area we deliver to/],
  ] as [Partial<CanonicalOrder>, RegExp][])('rejects %o', (over, reason) => {
    const reasons = validateOrder(order(over), catalog, served);
    expect(reasons.some((r) => reason.test(r))).toBe(true);
  });
});

describe('amounts a currency can carry', () => {
  it('a VND order with a fraction of a đồng is refused, field by field; cents in USD are fine', () => {
    const half = CanonicalOrderSchema.safeParse(order({ lines: [{ sku: 'A', quantity: 1, unitPrice: '50000.50' }], shippingFee: '1.5' }));
    expect(half.success).toBe(false);
    expect(half.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['lines.0.unitPrice', 'VND has no minor unit: 50000.50 is not an amount in it'],
      ['shippingFee', 'VND has no minor unit: 1.5 is not an amount in it'],
    ]);
    expect(CanonicalOrderSchema.safeParse(order({ lines: [{ sku: 'A', quantity: 1, unitPrice: '50000.00' }] })).success).toBe(true);
    expect(CanonicalOrderSchema.safeParse(order({ currency: 'USD', lines: [{ sku: 'A', quantity: 1, unitPrice: '19.99' }] })).success).toBe(
      true,
    );
  });
});
