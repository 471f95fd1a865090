/**
 * JSON over HTTP to outside systems, with the error mapping every activity needs: a 4xx answer
 * is a business refusal (non-retryable, typed by the system's error code); 429, 5xx, timeouts
 * and network errors are transient and left to Temporal's retry policy.
 */
import { ApplicationFailure } from '@temporalio/common';

export interface OutsideSystem {
  baseUrl: string;
  apiKey: string;
  timeoutMs?: number;
}

export interface CallOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  /** Required on every mutating call: the system deduplicates on it. */
  idempotencyKey?: string;
}

export class TransientHttpError extends Error {
  override name = 'TransientHttpError';
}

export async function callJson<T>(system: OutsideSystem, path: string, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Authorization: `Bearer ${system.apiKey}`, Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
  let res: Response;
  try {
    res = await fetch(system.baseUrl + path, {
      method: opts.method ?? (opts.body !== undefined ? 'POST' : 'GET'),
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.timeout(system.timeoutMs ?? 10_000),
    });
  } catch (err) {
    throw new TransientHttpError(`${path}: ${(err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message}`);
  }
  const text = await res.text();
  let json: unknown;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  if (res.ok) return json as T;
  const code = (json as { error?: string } | undefined)?.error ?? `http_${res.status}`;
  if (res.status === 429 || res.status >= 500 || res.status === 408) {
    throw new TransientHttpError(`${path}: ${res.status} ${code}`);
  }
  throw ApplicationFailure.nonRetryable(`${path}: ${res.status} ${code}`, code, json);
}
