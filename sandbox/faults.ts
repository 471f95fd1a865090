/**
 * Fault injection. Tests register faults ("the next capture for order X answers 500") so the
 * OMS's retry, timeout and idempotency handling is exercised against real HTTP failures.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Hono } from 'hono';
import { z } from 'zod';
import { json, newId, parseBody, type Outcome } from './common';

/** Operations each emulated system accepts faults for. */
export const FAULT_OPS = {
  payments: ['authorize', 'capture', 'void', 'refund'],
  wms: ['pick', 'cancel'],
  // `webhook`: the carrier's delivery of a tracking webhook to the OMS (see sandbox/carriers.ts).
  carriers: ['book', 'cancel', 'track', 'return', 'webhook'],
  channels: ['push', 'stock', 'order'],
  notify: ['message'],
  einvoice: ['issue', 'lookup'],
  tax: ['create'],
} as const;

export type FaultService = keyof typeof FAULT_OPS;
/** `refuse`: a 4xx business answer (`status`, `error` code), as when the system forgot or rejects the request. */
export type FaultAction = 'error500' | 'error429' | 'timeout' | 'lose_response' | 'decline' | 'refuse';

/** What a request is about; a fault's `match` must agree with every field it names. */
export interface FaultContext {
  orderId?: string | undefined;
  carrier?: string | undefined;
  channel?: string | undefined;
}

export interface Fault {
  faultId: string;
  service: FaultService;
  op: string;
  match: FaultContext;
  action: FaultAction;
  /** Remaining applications; -1 = forever. */
  times: number;
  declineCode?: string | undefined;
  /** For `refuse`: the HTTP status and error code answered. */
  status?: number | undefined;
  error?: string | undefined;
  delayMs?: number | undefined;
  /** Chance that a matching request gets the fault (0 < p ≤ 1); undefined = every one. */
  probability?: number | undefined;
  /** Seed of this fault's own random stream, so a run can be repeated exactly. */
  seed?: number | undefined;
  applied: number;
  /** Matching requests seen, fault applied or not. */
  matched: number;
}

const faultSchema = z
  .object({
    service: z.enum(Object.keys(FAULT_OPS) as [FaultService, ...FaultService[]]),
    op: z.string(),
    match: z.object({ orderId: z.string().optional(), carrier: z.string().optional(), channel: z.string().optional() }).optional(),
    action: z.enum(['error500', 'error429', 'timeout', 'lose_response', 'decline', 'refuse']),
    status: z.number().int().min(400).max(499).optional(),
    error: z.string().min(1).max(64).optional(),
    times: z
      .number()
      .int()
      .refine((n) => n === -1 || n >= 1, 'times must be >= 1 or -1')
      .optional(),
    declineCode: z.string().min(1).optional(),
    delayMs: z.number().int().min(0).optional(),
    probability: z.number().gt(0).max(1).optional(),
    seed: z.number().int().optional(),
  })
  .refine((f) => (FAULT_OPS[f.service] as readonly string[]).includes(f.op), { message: 'unknown op for service', path: ['op'] })
  .refine((f) => f.action !== 'decline' || (f.service === 'payments' && f.op === 'authorize'), {
    message: 'decline applies to payments authorize only',
    path: ['action'],
  });

/** mulberry32: a tiny seeded PRNG; good enough to decide "does this request fail" (and the chaos run's plan). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Registered faults, consumed in registration order. A fault with a probability is rolled for
 * each matching request; when the roll spares the request, later faults still get their turn.
 */
export class FaultStore {
  private faults: Fault[] = [];
  private rngs = new Map<string, () => number>();

  list(): Fault[] {
    return this.faults;
  }

  clear(): void {
    this.faults = [];
    this.rngs.clear();
  }

  add(f: Omit<Fault, 'faultId' | 'applied' | 'matched'>): Fault {
    const fault: Fault = { ...f, faultId: newId('flt'), applied: 0, matched: 0 };
    this.faults.push(fault);
    if (f.probability !== undefined) this.rngs.set(fault.faultId, f.seed !== undefined ? seededRandom(f.seed) : Math.random);
    return fault;
  }

  /** Finds the first fault that applies to this request and consumes one application of it. */
  take(service: FaultService, op: string, ctx: FaultContext): Fault | undefined {
    const f = this.faults.find((x) => {
      const matches =
        x.service === service &&
        x.op === op &&
        (x.times === -1 || x.times > 0) &&
        (Object.keys(x.match) as (keyof FaultContext)[]).every((k) => x.match[k] === undefined || x.match[k] === ctx[k]);
      if (!matches) return false;
      x.matched += 1;
      const roll = this.rngs.get(x.faultId);
      return x.probability === undefined || !roll || roll() < x.probability;
    });
    if (!f) return undefined;
    f.applied += 1;
    if (f.times > 0) f.times -= 1;
    if (f.times === 0) {
      this.faults = this.faults.filter((x) => x !== f);
      this.rngs.delete(f.faultId);
    }
    return f;
  }
}

export const INTERNAL_ERROR: Outcome = { status: 500, body: { error: 'internal' } };

/**
 * Applies the "before the effect" part of a fault: an error answer (returned) or a sleep
 * (`timeout`, cut short by stop()). Returns undefined when the request should go on — after a
 * `timeout`, late: the caller has usually given up by then, yet the effect still happens.
 * `requestTimeoutMs` is the emulated server's own request timeout: a `timeout` longer than that
 * ends there, as a real server gives up on a request, with a 504 and nothing done.
 */
export async function preEffect(
  f: Fault | undefined,
  stopSignal: AbortSignal,
  opts: { requestTimeoutMs?: number } = {},
): Promise<Outcome | undefined> {
  if (!f) return undefined;
  if (f.action === 'error500') return INTERNAL_ERROR;
  if (f.action === 'refuse') return { status: f.status ?? 409, body: { error: f.error ?? 'refused' } };
  if (f.action === 'error429') return { status: 429, body: { error: 'rate_limited' }, headers: { 'Retry-After': '1' } };
  if (f.action === 'timeout') {
    const delayMs = f.delayMs ?? 30_000;
    const givesUp = opts.requestTimeoutMs !== undefined && delayMs > opts.requestTimeoutMs;
    try {
      await sleep(givesUp ? opts.requestTimeoutMs : delayMs, undefined, { signal: stopSignal });
    } catch {
      return { status: 503, body: { error: 'shutting_down' } };
    }
    if (givesUp) return { status: 504, body: { error: 'request_timeout' } };
  }
  return undefined;
}

/** For reads (no idempotency): the fault's answer, or undefined to proceed. */
export async function readFault(
  store: FaultStore,
  service: FaultService,
  op: string,
  ctx: FaultContext,
  stopSignal: AbortSignal,
): Promise<Outcome | undefined> {
  const f = store.take(service, op, ctx);
  const pre = await preEffect(f, stopSignal);
  if (pre) return pre;
  // A lost response on a read is indistinguishable from a plain failure.
  if (f?.action === 'lose_response') return INTERNAL_ERROR;
  return undefined;
}

/** `/sandbox/faults`: register, list and clear faults. */
export function faultControl(store: FaultStore): Hono {
  const app = new Hono();
  app.post('/faults', async (c) => {
    const p = await parseBody(c.req.raw, faultSchema);
    if (!p.ok) return p.response;
    const v = p.value;
    const f = store.add({
      service: v.service,
      op: v.op,
      match: v.match ?? {},
      action: v.action,
      // "30% of calls" means every call from now on, unless a count is given.
      times: v.times ?? (v.probability !== undefined ? -1 : 1),
      declineCode: v.declineCode,
      status: v.status,
      error: v.error,
      delayMs: v.delayMs,
      probability: v.probability,
      seed: v.seed,
    });
    return json(201, { faultId: f.faultId });
  });
  app.get('/faults', () => json(200, { faults: store.list() }));
  app.delete('/faults', () => {
    store.clear();
    return json(200, { cleared: true });
  });
  return app;
}
