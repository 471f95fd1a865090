/**
 * The two input rules the fuzzing found missing, checked without a stack: an order's amounts
 * must add up to something an order can hold, and text must be storable in PostgreSQL. Both
 * failed as 500s before (numeric overflow; "unsupported Unicode escape sequence").
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unstorableText } from '../../api/storable-text';
import { CanonicalOrderSchema } from '../../domain/order';

const order = (over: Record<string, unknown>) => ({
  channel: 'web',
  channelOrderId: 'L1',
  // Cents: the bound is one cent above the largest order (a VND order carries whole đồng only).
  currency: 'USD',
  customer: { id: 'c1', name: 'An' },
  shippingAddress: { name: 'An', line1: '1 Lê Lợi', city: 'Hồ Chí Minh', country: 'VN' },
  lines: [{ sku: 'A', quantity: 1, unitPrice: '1.00' }],
  payment: { method: 'cod' },
  placedAt: '2026-11-21T10:00:00+07:00',
  ...over,
});
const issuesOf = (o: unknown) => CanonicalOrderSchema.safeParse(o).error?.issues.map((i) => i.path.join('.')) ?? [];

describe('an order holds at most 9999999999999.99 (lines and shipping together)', () => {
  it('accepts the largest order and refuses one cent more, naming `lines`', () => {
    expect(issuesOf(order({ lines: [{ sku: 'A', quantity: 1, unitPrice: '9999999969999.99' }], shippingFee: '30000.00' }))).toEqual([]);
    expect(issuesOf(order({ lines: [{ sku: 'A', quantity: 1, unitPrice: '9999999970000.00' }], shippingFee: '30000.00' }))).toEqual([
      'lines',
    ]);
    expect(issuesOf(order({ lines: [{ sku: 'A', quantity: 10_000, unitPrice: '999999999999.99' }] }))).toEqual(['lines']);
  });

  it('never throws on whatever the fields hold (the bound is checked even when a field already failed)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), fc.jsonValue(), (lines, unitPrice, shippingFee) => {
        expect(() => CanonicalOrderSchema.safeParse(order({ lines, shippingFee }))).not.toThrow();
        expect(() => CanonicalOrderSchema.safeParse(order({ lines: [{ sku: 'A', quantity: 3, unitPrice }] }))).not.toThrow();
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});

describe('text PostgreSQL can store', () => {
  it('finds NUL and unpaired surrogates in values and keys, and names where', () => {
    expect(unstorableText({ a: [1, { b: 'x\u0000' }] })?.path).toBe('a.1.b');
    expect(unstorableText({ a: 'x\ud800y' })?.path).toBe('a');
    expect(unstorableText({ a: '\udc00' })?.path).toBe('a');
    expect(unstorableText({ ['k\ud800']: 1 })?.path).toBe('k?');
    expect(unstorableText('\u0000')?.path).toBe('(root)');
  });

  it('flags exactly the strings that hold a NUL or are not well-formed UTF-16, emoji kept', () => {
    // An independent judge: encodeURIComponent throws on an unpaired surrogate.
    const bad = (s: string) => {
      if (s.includes('\u0000')) return true;
      try {
        encodeURIComponent(s);
        return false;
      } catch {
        return true;
      }
    };
    const units = fc.string({
      unit: fc.oneof(
        fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n)),
        fc.constantFrom('🛒', 'ễ', 'a'),
      ),
      maxLength: 6,
    });
    fc.assert(
      fc.property(fc.dictionary(units, fc.oneof(units, fc.array(units, { maxLength: 3 })), { maxKeys: 4 }), (v) => {
        const strings = Object.entries(v).flatMap(([k, x]) => [k, ...(Array.isArray(x) ? x : [x])]);
        expect(unstorableText(v) !== undefined).toBe(strings.some(bad));
      }),
      { numRuns: 2000, seed: 7 },
    );
    expect(unstorableText({ name: 'Nguyễn Văn An 🛒🇻🇳', note: '\\u0000 written out' })).toBeUndefined();
  });

  it('walks 30,000 levels of nesting without recursion', () => {
    const deep = JSON.parse(`${'['.repeat(30_000)}"\\u0000"${']'.repeat(30_000)}`) as unknown;
    expect(unstorableText(deep)?.path.length).toBeLessThanOrEqual(301);
  });
});
