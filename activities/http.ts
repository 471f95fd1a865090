/**
 * JSON over HTTP to outside systems, with the error mapping every activity needs: a 4xx answer
 * is a business refusal (non-retryable, typed by the system's error code); 429, 5xx, timeouts
 * and network errors are transient and left to Temporal's retry policy — after the system's
 * `Retry-After` when it gives one. Inside an activity the call heartbeats while it waits and is
 * aborted when the activity is cancelled, so a slow system never holds a cancelled order's step.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { retryAfterMs } from '../domain/stock-sync';

export interface OutsideSystem {
  baseUrl: string;
  apiKey: string;
  timeoutMs?: number;
}

/**
 * Every outside system the activities call, each at its own base URL with its own key. A
 * carrier's or a channel's base URL is its API host; in dev and tests all are paths of the
 * sandbox (`lib/stack.ts` outsideSystems).
 */
export interface OutsideSystems {
  payments: OutsideSystem;
  wms: OutsideSystem;
  notify: OutsideSystem;
  invoicing: OutsideSystem;
  /** The tax service tax is committed to; none: the local rule set (activities/tax/service.ts). */
  tax?: (OutsideSystem & { companyCode: string }) | undefined;
  carriers: Record<string, OutsideSystem>;
  channels: Record<string, OutsideSystem>;
}

/** The system serving one carrier or channel; one that is not configured is a refusal naming its setting. */
export function systemFor(systems: Record<string, OutsideSystem>, kind: 'carrier' | 'channel', name: string): OutsideSystem {
  const system = Object.hasOwn(systems, name) ? systems[name] : undefined;
  if (!system) {
    throw ApplicationFailure.create({
      type: kind === 'carrier' ? 'CarrierNotConfigured' : 'ChannelNotConfigured',
      message: `no ${kind} ${name} is configured (OMS_${kind.toUpperCase()}_${name.toUpperCase()}_URL)`,
      nonRetryable: true,
    });
  }
  return system;
}

export interface CallOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  /** Required on every mutating call: the system deduplicates on it. */
  idempotencyKey?: string;
  /** Extra headers computed from the request as sent (a signature over method, path and body). */
  sign?: (method: string, path: string, body: string) => Record<string, string>;
  /** The `Authorization` header, for a system that takes another scheme than a Bearer key (the tax service's Basic). */
  authorization?: string;
}

export class TransientHttpError extends Error {
  override name = 'TransientHttpError';
}

/** The longest `Retry-After` honoured: a system asking for more is retried after this (the step's attempts still count). */
export const RETRY_AFTER_CAP_MS = 10 * 60_000;
/** How often a waiting call heartbeats; the SDK throttles what it actually sends to the server. */
const HEARTBEAT_EVERY_MS = 1000;

/** The current activity's context, or undefined when called outside an activity (scripts, tests). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/**
 * An outbound call's lifetime: aborted on timeout or when the activity is cancelled, and
 * heartbeating meanwhile so the server can deliver that cancellation (and notice a dead worker
 * well before the step's start-to-close timeout). `done()` stops the heartbeats.
 */
export interface OutboundCall {
  signal: AbortSignal;
  done(): void;
  failure(err: unknown, what: string): Error;
}

export function beginOutboundCall(timeoutMs: number): OutboundCall {
  const ctx = activityContext();
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = ctx ? AbortSignal.any([timeout, ctx.cancellationSignal]) : timeout;
  let timer: NodeJS.Timeout | undefined;
  if (ctx) {
    const beat = () => {
      try {
        ctx.heartbeat();
      } catch {
        /* the activity has ended */
      }
    };
    beat();
    timer = setInterval(beat, Math.min(HEARTBEAT_EVERY_MS, Math.max(100, (ctx.info.heartbeatTimeoutMs ?? 3 * HEARTBEAT_EVERY_MS) / 3)));
    timer.unref();
  }
  return {
    signal,
    done: () => {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    /** What a failed fetch (or body read) becomes: the activity's cancellation, or a transient error. */
    failure: (err, what) => {
      if (ctx?.cancellationSignal.aborted) {
        const reason: unknown = ctx.cancellationSignal.reason;
        return reason instanceof Error ? reason : new Error(`${what}: cancelled`);
      }
      return new TransientHttpError(
        `${what}: ${timeout.aborted || (err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message}`,
      );
    },
  };
}

/**
 * A transient answer (429, 408, 5xx). With a `Retry-After` (429 and 503 send one), a retryable
 * ApplicationFailure whose `nextRetryDelay` makes Temporal wait that long (capped) instead of
 * its own backoff; else a plain transient error.
 */
export function transientAnswer(what: string, status: number, code: string, retryAfter: string | null): Error {
  const message = `${what}: ${status} ${code}`;
  const delay = status === 429 || status === 503 ? retryAfterMs(retryAfter, Date.now(), RETRY_AFTER_CAP_MS) : undefined;
  if (delay === undefined || delay <= 0) return new TransientHttpError(message);
  return ApplicationFailure.create({
    message,
    type: 'TransientHttpError',
    nonRetryable: false,
    nextRetryDelay: delay,
    details: [{ status, code, retryAfterMs: delay }],
  });
}

export async function callJson<T>(system: OutsideSystem, path: string, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Authorization: opts.authorization ?? `Bearer ${system.apiKey}`, Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
  const method = opts.method ?? (opts.body !== undefined ? 'POST' : 'GET');
  const body = opts.body !== undefined ? JSON.stringify(opts.body) : undefined;
  const url = system.baseUrl + path;
  if (opts.sign) Object.assign(headers, opts.sign(method, new URL(url).pathname, body ?? ''));
  const call = beginOutboundCall(system.timeoutMs ?? 10_000);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), signal: call.signal });
    text = await res.text();
  } catch (err) {
    throw call.failure(err, path);
  } finally {
    call.done();
  }
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (res.ok) return json as T;
  const code = (json as { error?: string } | undefined)?.error ?? `http_${res.status}`;
  if (res.status === 429 || res.status >= 500 || res.status === 408)
    throw transientAnswer(path, res.status, code, res.headers.get('Retry-After'));
  throw ApplicationFailure.nonRetryable(`${path}: ${res.status} ${code}`, code, json);
}
