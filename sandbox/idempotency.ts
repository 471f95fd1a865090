/**
 * Idempotency keys, the way payment gateways do them: the first request with a key runs and
 * its answer is stored; a retry with the same key and body gets that answer back (marked
 * `Idempotent-Replayed: true`) without a second effect; the same key with another body is
 * refused. Concurrent duplicates wait for the first one instead of racing it.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import { json, parseBody, stableStringify, toResponse, type Outcome, type SandboxEnv } from './common';
import { INTERNAL_ERROR, preEffect, type Fault, type FaultContext, type FaultService } from './faults';
import type { StateStore } from './state';

/** The result of running a request once: what to store (if anything) and what to send now. */
export interface Execution {
  outcome: Outcome;
  /** False for failures that happened before any effect (the retry must run it for real). */
  store: boolean;
  /** What goes on the wire if it differs from the stored outcome (`lose_response`). */
  wire?: Outcome;
}

interface Entry {
  fingerprint: string;
  outcome: Outcome;
}

const replayed = (o: Outcome): Response => toResponse(o, { 'Idempotent-Replayed': 'true' });
const reused = (): Response => json(422, { error: 'idempotency_key_reused' });

/** Stores an answer for the current (scope, key); call it in the same atomic write as the effect. */
export type SaveAnswer = (outcome: Outcome) => void;

/** Stored answers (journaled, so they replay after a restart) and in-flight executions, keyed by scope + Idempotency-Key. */
export class IdempotencyStore {
  private done: Map<string, Entry>;
  private inflight = new Map<string, { fingerprint: string; promise: Promise<Execution> }>();

  constructor(private readonly state: StateStore) {
    this.done = state.map<Entry>('idem');
  }

  clear(): void {
    this.done.clear();
    this.inflight.clear();
  }

  /**
   * Runs `exec` at most once per (scope, key): replays a stored answer, joins an in-flight run
   * with the same fingerprint, or answers 422 when the key was used for a different request.
   * `exec` gets a `save` to store its answer together with its effect; an answer it returns
   * with `store: true` and did not save is stored afterwards.
   */
  async run(scope: string, key: string, fingerprint: string, exec: (save: SaveAnswer) => Promise<Execution>): Promise<Response> {
    const k = `${scope}\u0000${key}`;
    const done = this.done.get(k);
    if (done) return done.fingerprint === fingerprint ? replayed(done.outcome) : reused();
    const flight = this.inflight.get(k);
    if (flight) {
      if (flight.fingerprint !== fingerprint) return reused();
      const ex = await flight.promise;
      return ex.store ? replayed(ex.outcome) : toResponse(ex.wire ?? ex.outcome);
    }
    const save: SaveAnswer = (outcome) => {
      const entry: Entry = { fingerprint, outcome };
      this.done.set(k, entry);
      this.state.put('idem', k, entry);
    };
    const promise = exec(save)
      .then((ex) => {
        if (ex.store && !this.done.has(k)) save(ex.outcome);
        return ex;
      })
      .finally(() => this.inflight.delete(k));
    this.inflight.set(k, { fingerprint, promise });
    const ex = await promise;
    return toResponse(ex.wire ?? ex.outcome);
  }
}

/** Extra facts an effect gets: its key and, for `decline` faults, the forced decline code. */
export interface EffectMeta {
  idempotencyKey: string;
  declineCode?: string | undefined;
}

/** Describes one mutating endpoint for {@link mutation}. */
export interface MutationSpec<S extends z.ZodType> {
  scope: (c: Context) => string;
  service: FaultService;
  op: string;
  schema: S;
  /** What faults match on; usually the body's orderId, or the order of the resource in the path. */
  match: (c: Context, body: z.infer<S>) => FaultContext;
  /** The effect itself: synchronous, so nothing can interleave between check and write. */
  effect: (c: Context, body: z.infer<S>, meta: EffectMeta) => Outcome;
}

/**
 * Wraps an effect with the common POST behaviour: Idempotency-Key required, body validated,
 * faults applied (errors before the effect, `lose_response` after it), answer stored.
 */
export function mutation<S extends z.ZodType>(env: SandboxEnv, spec: MutationSpec<S>) {
  return async (c: Context): Promise<Response> => {
    const key = c.req.header('Idempotency-Key');
    if (!key) return json(400, { error: 'idempotency_key_required' });
    const p = await parseBody(c.req.raw, spec.schema);
    if (!p.ok) return p.response;
    const body = p.value;
    const fingerprint = `${c.req.method} ${c.req.path} ${stableStringify(p.raw)}`;
    return env.idem.run(spec.scope(c), key, fingerprint, async (save): Promise<Execution> => {
      const fault: Fault | undefined = env.faults.take(spec.service, spec.op, spec.match(c, body));
      const pre = await preEffect(fault, env.stopSignal);
      if (pre) return { outcome: pre, store: false };
      // Effect and stored answer reach the journal in one write: a crash keeps both or neither.
      const outcome = env.state.atomic(() => {
        const o = spec.effect(c, body, {
          idempotencyKey: key,
          declineCode: fault?.action === 'decline' ? (fault.declineCode ?? 'do_not_honor') : undefined,
        });
        save(o);
        return o;
      });
      if (fault?.action === 'lose_response') return { outcome, store: true, wire: INTERNAL_ERROR };
      return { outcome, store: true };
    });
  };
}
