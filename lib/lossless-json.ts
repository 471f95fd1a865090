/**
 * JSON without rounding. The platforms' ids are 64-bit integers (Shopify's order
 * 820982911946154508, TikTok Shop's and Lazada's order and line ids) and `JSON.parse` turns every
 * integer beyond 2^53 into the nearest double: 820982911946154508 becomes 820982911946154500, a
 * different order. These readers find such integers in the text before it is parsed and keep
 * their digits: as strings for the OMS (every platform id is a string inside it), or as `bigint`
 * for a writer that must send them back as the bare numbers they were (the sandbox's platforms).
 *
 * Only integers outside the safe range are touched; everything else, fractions included, reads
 * exactly as `JSON.parse` reads it. Invalid JSON throws `SyntaxError` like `JSON.parse`.
 */

/** An integer token that a double cannot hold exactly. */
function unsafeInteger(token: string): boolean {
  const digits = token.startsWith('-') ? token.slice(1) : token;
  if (digits.length < 16) return false;
  return !Number.isSafeInteger(Number(token));
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * The JSON text with each unsafe integer token replaced by `wrap(token)` (a JSON string literal).
 * Strings are skipped whole (escapes included), so digits inside them are never touched.
 */
function rewriteUnsafeIntegers(text: string, wrap: (token: string) => string): string {
  let out = '';
  let from = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      i++;
      while (i < n) {
        const c = text.charCodeAt(i);
        if (c === 0x5c /* \ */) i += 2;
        else if (c === 0x22) {
          i++;
          break;
        } else i++;
      }
      continue;
    }
    if (ch === 0x2d /* - */ || (ch >= 0x30 && ch <= 0x39)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m) {
        i++;
        continue;
      }
      const token = m[0];
      if (!/[.eE]/.test(token) && unsafeInteger(token)) {
        out += text.slice(from, i) + wrap(token);
        from = i + token.length;
      }
      i += token.length;
      continue;
    }
    i++;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** Parses JSON; integers beyond ±2^53 come back as their exact digits, as strings. */
export function parseJsonKeepingBigIds(text: string): unknown {
  return JSON.parse(rewriteUnsafeIntegers(text, (t) => `"${t}"`));
}

/** Parses JSON; integers beyond ±2^53 come back as `bigint`, so {@link stringifyJson} writes them back as numbers. */
export function parseJsonWithBigInts(text: string): unknown {
  // The marker carries a fresh nonce: no string of the document can match it by chance.
  const nonce = Math.random().toString(36).slice(2, 10);
  const marker = `\u0000big${nonce}:`;
  const rewritten = rewriteUnsafeIntegers(text, (t) => `"\\u0000big${nonce}:${t}"`);
  if (rewritten === text) return JSON.parse(text);
  return JSON.parse(rewritten, (_k, v: unknown) => (typeof v === 'string' && v.startsWith(marker) ? BigInt(v.slice(marker.length)) : v));
}

/** `JSON.stringify`, with `bigint` values written as bare integers (exact digits). */
export function stringifyJson(value: unknown, space?: number): string {
  let tag: string | undefined;
  const text = JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (typeof v !== 'bigint') return v;
      tag ??= `bigint-${Math.random().toString(36).slice(2, 12)}:`;
      return `${tag}${v.toString()}`;
    },
    space,
  );
  return tag === undefined ? text : text.replace(new RegExp(`"${tag}(-?\\d+)"`, 'g'), '$1');
}
