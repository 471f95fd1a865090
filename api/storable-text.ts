/**
 * Text PostgreSQL cannot keep: a NUL character (refused by `text` and `jsonb`) or an unpaired
 * UTF-16 surrogate (JSON can spell one as `"\ud800"`; `jsonb` refuses it, `text` would silently
 * store U+FFFD instead). No real order, command or webhook carries either, so a request that
 * does is refused as invalid at the edge, before anything is written or started — not a 500
 * from the database halfway through.
 */
import type { FieldError } from './errors';

const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

export const UNSTORABLE_TEXT_MESSAGE = 'contains a NUL character or an unpaired surrogate, which no text field accepts';

interface Visit {
  v: unknown;
  key: string;
  parent: Visit | undefined;
}
const pathOf = (n: Visit | undefined): string => {
  const keys: string[] = [];
  for (let x = n; x?.parent; x = x.parent) keys.push(x.key);
  const path = keys.reverse().join('.') || '(root)';
  return path.length > 300 ? `${path.slice(0, 300)}…` : path;
};

/** Where `value` holds a key or string value that cannot be stored (one such path), if anywhere. */
export function unstorableText(value: unknown): FieldError | undefined {
  // Iterative, with paths built only for a hit: a body of nested arrays up to the body limit is
  // tens of thousands of levels deep.
  const stack: Visit[] = [{ v: value, key: '', parent: undefined }];
  while (stack.length) {
    const node = stack.pop()!;
    const { v } = node;
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return { path: pathOf(node), message: UNSTORABLE_TEXT_MESSAGE };
    } else if (Array.isArray(v)) {
      (v as unknown[]).forEach((x, i) => stack.push({ v: x, key: String(i), parent: node }));
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        const child: Visit = { v: x, key: k.replace(UNSTORABLE_ALL, '?'), parent: node };
        if (UNSTORABLE.test(k)) return { path: pathOf(child), message: UNSTORABLE_TEXT_MESSAGE };
        stack.push(child);
      }
    }
  }
  return undefined;
}
