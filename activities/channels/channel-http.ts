/**
 * Calls to a sales channel's API, built and signed by its adapter. Same error mapping as every
 * outside system (activities/http.ts): 4xx is a refusal (non-retryable), 429/5xx/timeouts are
 * transient and left to Temporal's retries (after the platform's Retry-After). On top of that, errors the platforms wrap inside a
 * 200 answer (Shopee's `error`, Lazada's and TikTok's `code`) are classified by the adapter.
 * A call that got no answer at all is marked ({@link mayStillLand}): the platform may still act on it.
 */
import { ApplicationFailure } from '@temporalio/common';
import { beginOutboundCall, TransientHttpError, transientAnswer, type OutsideSystem } from '../http';
import type { ChannelAdapter, ChannelRequest } from './adapters';

/** The request's path on the channel's API host (in dev and tests the sandbox's `/channels/<channel>`). */
export function channelUrl(system: OutsideSystem, req: ChannelRequest): string {
  const url = new URL(`${system.baseUrl.replace(/\/$/, '')}${req.path}`);
  for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
  return url.toString();
}

/** Failures of calls that may have reached the platform without its answer reaching us. */
const unanswered = new WeakSet<object>();

/** Causes that mean the request never left: no connection was made. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
const neverSent = (err: unknown): boolean => {
  const code = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' && NEVER_SENT.has(code);
};

/**
 * True when `err` is the failure of a call that may have reached the platform but whose answer
 * never came back (our timeout, an abort, a connection reset): the platform may still apply it,
 * up to its own request timeout. An answer of any status, or a connection never made, is definite.
 */
export function mayStillLand(err: unknown): boolean {
  return typeof err === 'object' && err !== null && unanswered.has(err);
}

export async function callChannel(
  system: OutsideSystem,
  adapter: ChannelAdapter,
  req: ChannelRequest,
  idempotencyKey?: string,
): Promise<unknown> {
  const what = `${adapter.channel} ${req.action}`;
  const headers: Record<string, string> = {
    // The sandbox's gate (a real platform ignores it); the platform's own auth is in the request.
    Authorization: `Bearer ${system.apiKey}`,
    Accept: 'application/json',
    ...req.headers,
    ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}),
  };
  // Heartbeats while waiting and aborts when the activity is cancelled (activities/http.ts).
  const call = beginOutboundCall(system.timeoutMs ?? 10_000);
  let res: Response;
  let text: string;
  let answered = false;
  try {
    res = await fetch(channelUrl(system, req), {
      method: req.method,
      headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
      signal: call.signal,
    });
    answered = true;
    text = await res.text();
  } catch (err) {
    const failure = call.failure(err, what);
    if (!answered && !neverSent(err)) unanswered.add(failure);
    throw failure;
  } finally {
    call.done();
  }
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  const platform = adapter.platformError(json);
  if (!res.ok) {
    const code = platform?.code ?? (json as { error?: string } | undefined)?.error ?? `http_${res.status}`;
    if (res.status === 429 || res.status >= 500 || res.status === 408)
      throw transientAnswer(what, res.status, code, res.headers.get('Retry-After'));
    throw ApplicationFailure.nonRetryable(`${what}: ${res.status} ${code}`, 'ChannelRefused', { status: res.status, code });
  }
  if (platform) {
    if (platform.retryable) throw new TransientHttpError(`${what}: ${platform.code} ${platform.message}`);
    throw ApplicationFailure.nonRetryable(`${what}: ${platform.code} ${platform.message}`, 'ChannelRefused', { code: platform.code });
  }
  return json;
}
