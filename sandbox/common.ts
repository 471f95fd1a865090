/**
 * Shared plumbing for the sandbox's emulated systems: the environment every sub-app gets,
 * JSON responses built by hand (so stored idempotent answers replay byte-for-byte), body
 * parsing with zod, money in integer minor units, and ids.
 */
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { FaultStore } from './faults';
import type { IdempotencyStore } from './idempotency';
import type { StateStore } from './state';
import { parseJsonWithBigInts, stringifyJson } from '../lib/lossless-json';

/** Runtime-tunable knobs (`POST /sandbox/config`); read on every use so changes apply at once. */
export interface SandboxConfig {
  latencyMs: number;
  autoProgress: { enabled: boolean; stepMs: number };
  /** Lifetime of new payment authorisations. */
  authorizationTtlMs: number;
}

/** What every emulated system shares: config, faults, idempotency store and the stop signal. */
export interface SandboxEnv {
  config: SandboxConfig;
  faults: FaultStore;
  idem: IdempotencyStore;
  /** Where state changes are journaled (a no-op without a state dir). */
  state: StateStore;
  /** Aborted by stop(): long fault sleeps and webhook fetches end with it. */
  stopSignal: AbortSignal;
  carrierSecrets: Record<string, string>;
  omsBaseUrl(): string | undefined;
  /** The sandbox's own base URL, for label links. */
  baseUrl(): string;
}

/** A response that can be stored and replayed: status, JSON body and extra headers. */
export interface Outcome {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** Builds a JSON Response; used instead of c.json so stored outcomes replay identically. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  // The platforms' 64-bit ids (bigint here) go out as the bare numbers they are.
  return new Response(stringifyJson(body), {
    status,
    headers: { 'Content-Type': 'application/json; charset=UTF-8', ...headers },
  });
}

export function toResponse(o: Outcome, extra: Record<string, string> = {}): Response {
  return json(o.status, o.body, { ...o.headers, ...extra });
}

export type Parsed<T> = { ok: true; value: T; raw: unknown } | { ok: false; response: Response };

/** Reads the body as JSON (empty body = `{}`) and validates it; failures become 400 invalid_request. */
export async function parseBody<S extends z.ZodType>(req: Request, schema: S): Promise<Parsed<z.infer<S>>> {
  const text = await req.text();
  let raw: unknown = {};
  if (text.trim() !== '') {
    try {
      raw = parseJsonWithBigInts(text);
    } catch {
      return { ok: false, response: json(400, { error: 'invalid_request', detail: 'body is not valid JSON' }) };
    }
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const detail = r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    return { ok: false, response: json(400, { error: 'invalid_request', detail }) };
  }
  return { ok: true, value: r.data, raw };
}

/** Key-order-independent JSON, so `{a,b}` and `{b,a}` count as the same idempotent request. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
      .join(',')}}`;
  }
  return stringifyJson(v) ?? 'null';
}

/** Random, prefixed ids like real gateways hand out. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}

/** Decimal string with at most two places (no sign, no exponent). */
export const DECIMAL_RE = /^\d{1,15}(\.\d{1,2})?$/;

/** "12.5" → 1250. Integer maths only: floats would drift on sums of captures and refunds. */
export function toMinor(decimal: string): number {
  const [whole = '0', frac = ''] = decimal.split('.');
  return Number(whole) * 100 + Number(frac.padEnd(2, '0'));
}

/** 1250 → "12.50". */
export function fromMinor(minor: number): string {
  return `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, '0')}`;
}

export const nowIso = (): string => new Date().toISOString();
