/**
 * activities/http.ts against a slow local HTTP server, inside the SDK's own activity context
 * (MockActivityEnvironment): a waiting call heartbeats, a cancelled activity aborts its request
 * (the server sees the connection go), Retry-After on 429/503 becomes the next retry's delay, and
 * outside an activity the same call works without any of it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure, CancelledFailure, type Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callJson, RETRY_AFTER_CAP_MS, TransientHttpError, type OutsideSystem } from '../../activities/http';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let server: Server;
let system: OutsideSystem;
const routes = new Map<string, Handler>();
/** Requests whose connection closed before an answer was sent, by path. */
const abandoned: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    res.on('close', () => {
      if (!res.writableFinished) abandoned.push(req.url ?? '');
    });
    const h = routes.get(req.url ?? '');
    if (h) h(req, res);
    else {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"error":"not_found"}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  system = { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: 'k', timeoutMs: 10_000 };
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const answerAfter =
  (ms: number, status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    const t = setTimeout(() => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    }, ms);
    res.on('close', () => clearTimeout(t));
  };
/** The activity environment, with the SDK's logging of the failures these tests provoke kept quiet. */
const quiet: Logger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
const activityEnv = (info: { heartbeatTimeoutMs?: number } = {}) => new MockActivityEnvironment(info, { logger: quiet });
const failureOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
};

describe('callJson inside an activity', () => {
  it('heartbeats while the outside system takes its time, then returns its answer', async () => {
    routes.set('/slow', answerAfter(1200, 200, { ok: true }));
    const env = activityEnv({ heartbeatTimeoutMs: 600 });
    let beats = 0;
    env.on('heartbeat', () => {
      beats++;
    });
    expect(await env.run(() => callJson(system, '/slow'))).toEqual({ ok: true });
    // One at the start, then every heartbeatTimeout/3 (200 ms) while waiting: about 6 in 1.2 s on a
    // quiet machine. A busy one delays timers, so only "beats during the wait, not just at the start".
    expect(beats).toBeGreaterThanOrEqual(2);
    const after = beats;
    await new Promise((r) => setTimeout(r, 500));
    expect(beats, 'no heartbeats once the call is over').toBe(after);
  });

  it('aborts the request when the activity is cancelled, and fails with the cancellation', async () => {
    let reached!: () => void;
    const atServer = new Promise<void>((r) => {
      reached = r;
    });
    // Never answers. The cancellation comes once the request is at the server (Node 22+'s fetch
    // aborts a request still connecting before it is sent, and there would be nothing to see).
    routes.set('/never', () => reached());
    const env = activityEnv({ heartbeatTimeoutMs: 3000 });
    let beats = 0;
    env.on('heartbeat', () => beats++);
    const started = Date.now();
    const call = env.run(() => callJson(system, '/never'));
    await atServer;
    expect(beats).toBeGreaterThanOrEqual(1);
    env.cancel('CANCELLED');
    const err = await failureOf(call);
    expect(err).toBeInstanceOf(CancelledFailure);
    expect(Date.now() - started).toBeLessThan(5000);
    // The server saw the connection go: the request was aborted, not left running.
    await expect.poll(() => abandoned.includes('/never')).toBe(true);
  });

  it("turns Retry-After on 429 and 503 into the next retry's delay (capped); other transient answers keep the default backoff", async () => {
    routes.set('/limited', answerAfter(0, 429, { error: 'rate_limited' }, { 'Retry-After': '3' }));
    routes.set('/down', answerAfter(0, 503, { error: 'maintenance' }, { 'Retry-After': new Date(Date.now() + 3_600_000).toUTCString() }));
    routes.set('/broken', answerAfter(0, 500, { error: 'boom' }));
    routes.set('/refused', answerAfter(0, 409, { error: 'authorization_expired' }));
    const env = activityEnv();

    const limited = await failureOf(env.run(() => callJson(system, '/limited')));
    expect(limited).toBeInstanceOf(ApplicationFailure);
    expect(limited).toMatchObject({
      type: 'TransientHttpError',
      nonRetryable: false,
      nextRetryDelay: 3000,
      message: '/limited: 429 rate_limited',
    });
    const down = await failureOf(env.run(() => callJson(system, '/down')));
    expect(down).toMatchObject({ nonRetryable: false, nextRetryDelay: RETRY_AFTER_CAP_MS });

    const broken = await failureOf(env.run(() => callJson(system, '/broken')));
    expect(broken).toBeInstanceOf(TransientHttpError);
    // A business refusal stays non-retryable, typed by the system's error code.
    const refused = await failureOf(env.run(() => callJson(system, '/refused', { body: {} })));
    expect(refused).toMatchObject({ type: 'authorization_expired', nonRetryable: true });
  });
});

describe('callJson outside an activity', () => {
  it('works as a plain call: no context needed, and its own timeout still applies', async () => {
    routes.set('/plain', answerAfter(50, 200, { n: 1 }));
    expect(await callJson(system, '/plain')).toEqual({ n: 1 });
    routes.set('/hang', () => {
      /* never answers */
    });
    const err = await failureOf(callJson({ ...system, timeoutMs: 200 }, '/hang'));
    expect(err).toBeInstanceOf(TransientHttpError);
    expect((err as Error).message).toBe('/hang: timed out');
  });
});
