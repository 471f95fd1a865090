/**
 * The lossless JSON readers: 64-bit ids keep every digit (JSON.parse rounds them), strings that
 * look like numbers are never touched, and everything else reads exactly as JSON.parse reads it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonKeepingBigIds, parseJsonWithBigInts, stringifyJson } from '../../lib/lossless-json';

describe('lossless JSON', () => {
  it('keeps the digits JSON.parse rounds away', () => {
    const text = '{"id":820982911946154508,"line_items":[{"id":866550311766439020}],"small":1024,"price":"199.00"}';
    expect((JSON.parse(text) as { id: number }).id).toBe(820982911946154500); // what a plain reader gets
    expect(parseJsonKeepingBigIds(text)).toEqual({
      id: '820982911946154508',
      line_items: [{ id: '866550311766439020' }],
      small: 1024,
      price: '199.00',
    });
    expect(parseJsonWithBigInts(text)).toEqual({
      id: 820982911946154508n,
      line_items: [{ id: 866550311766439020n }],
      small: 1024,
      price: '199.00',
    });
  });

  it('writes bigints back as the bare numbers they were', () => {
    const text = '{"id":820982911946154508,"n":-9223372036854775808,"s":"a \\"quoted\\" 12345678901234567890","f":0.1,"e":1e+300}';
    expect(stringifyJson(parseJsonWithBigInts(text))).toBe(text);
    expect(stringifyJson({ a: [1n, 2] }, 2)).toBe('{\n  "a": [\n    1,\n    2\n  ]\n}');
  });

  it('leaves digits inside strings, fractions and safe integers alone', () => {
    const text = '["9007199254740993", 9007199254740991, 12345678901234567.5, "\\\\", 90071992547409930e-1]';
    expect(parseJsonKeepingBigIds(text)).toEqual(JSON.parse(text));
    expect(parseJsonKeepingBigIds('9007199254740992')).toBe('9007199254740992');
  });

  it('refuses what JSON.parse refuses', () => {
    for (const bad of ['{"id":820982911946154508', '{id:1}', '', '[1,]', '0123']) {
      expect(() => parseJsonKeepingBigIds(bad)).toThrow(SyntaxError);
      expect(() => parseJsonWithBigInts(bad)).toThrow(SyntaxError);
    }
  });

  it('reads any JSON document as JSON.parse does, except that every big integer keeps its digits', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.array(fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }), { maxLength: 4 }), (doc, bigs) => {
        const text = `{"doc":${JSON.stringify(doc)},"bigs":[${bigs.join(',')}]}`;
        // Integers beyond 2^53 that a double happens to hold (2^53 itself, 1.2e20) come back as text too.
        const plain = JSON.parse(JSON.stringify(doc), (_k, v: unknown) =>
          typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v) && !/e/.test(String(v)) ? String(v) : v,
        ) as unknown;
        const kept = parseJsonKeepingBigIds(text) as { doc: unknown; bigs: unknown[] };
        expect(kept.doc).toEqual(plain);
        expect(kept.bigs).toEqual(bigs.map((b) => (Number.isSafeInteger(Number(b)) ? Number(b) : b.toString())));
        const withBig = parseJsonWithBigInts(text) as { bigs: unknown[] };
        expect(withBig.bigs).toEqual(bigs.map((b) => (Number.isSafeInteger(Number(b)) ? Number(b) : b)));
        expect(stringifyJson(withBig)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});
