/**
 * Shared by the carrier adapters: constant-time secret comparison, exact money, derived event
 * ids, and the tolerant readers native payloads need (keys in any case, ids as text or numbers).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { PayloadNote } from './types';

/**
 * True when `given` is exactly `secret`. Both are hashed first, so the comparison takes the same
 * time whatever their lengths and wherever they differ.
 */
export function secretMatches(given: string | undefined, secret: string): boolean {
  if (given === undefined || secret === '') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}

const DECIMAL = /^(\d{1,13})(?:\.(\d{1,2}))?$/;

/**
 * A carrier's amount (whole VND, as a JSON number or text) as an exact decimal string with two
 * places ("3000000.00"), or undefined when it is not one. Numbers are read through their shortest
 * round-trip text, never through arithmetic; signs, exponents and more than two decimals are not
 * amounts.
 */
export function exactAmount(value: unknown): string | undefined {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return undefined;
    text = String(value);
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    return undefined;
  }
  const m = DECIMAL.exec(text);
  if (!m) return undefined;
  return `${m[1]!.replace(/^0+(?=\d)/, '')}.${(m[2] ?? '').padEnd(2, '0')}`;
}

/** Longest event id kept as written; longer ones (absurd codes or times) are kept as a hash. */
const MAX_EVENT_ID = 200;

/** `carrier:part:part…`, or the carrier and a hash of the parts when that would be too long. */
export function eventIdOf(carrier: string, parts: string[]): string {
  const id = [carrier, ...parts].join(':');
  if (id.length <= MAX_EVENT_ID) return id;
  return `${carrier}:sha256:${createHash('sha256').update(id).digest('hex')}`;
}

/**
 * The object's own properties with keys matched without regard to case: `{ orderCode: … }` reads
 * as `OrderCode`. Carriers (or a proxy in between) are not always consistent about case, and a
 * webhook should not be refused for it. The first key in the body wins when two differ only in case.
 */
export function caseless(value: unknown): ((name: string) => unknown) | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const byLower = new Map<string, unknown>();
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const lower = k.toLowerCase();
    if (!byLower.has(lower)) byLower.set(lower, v);
  }
  return (name) => byLower.get(name.toLowerCase());
}

/** What kind of JSON value this is, for a note (never the value itself: it may be personal data). */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * A code or id given as text or as a number: trimmed text, or the number's digits when it is an
 * integer JSON could carry exactly. Undefined otherwise (the caller says why).
 */
export function codeText(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() || undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/** Adds a note when `value` was sent but could not be read; returns what could be read. */
export function readOptional<T>(
  notes: PayloadNote[],
  path: string,
  value: unknown,
  read: (v: unknown) => T | undefined,
  note: string,
): T | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const v = read(value);
  if (v === undefined) notes.push({ path, value: kindOf(value), note });
  return v;
}

/**
 * Text PostgreSQL cannot keep (a NUL, an unpaired UTF-16 surrogate): the same rule as
 * api/storable-text.ts, applied here to the few fields an adapter reads and the OMS stores.
 */
export function unstorable(text: string): boolean {
  return /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

/** Text of a field we only pass on (a reason, a name): strings and numbers as text, else nothing. */
export function looseText(value: unknown, max = 300): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string') return undefined;
  const t = value.trim();
  return t ? t.slice(0, max) : undefined;
}

/** Zod issues → field issues named by their path in the native payload. */
export function zodIssues(error: {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
}
