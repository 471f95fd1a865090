/**
 * Temporal Cloud's API-key authentication, on a real wire: a gRPC frontend over TLS (node:http2,
 * certificate `temporal.test` of an openssl-made CA) that checks `authorization: Bearer <key>` on
 * every call, as Temporal Cloud does, answers UNAUTHENTICATED (gRPC status 16) without it, and
 * passes authorised calls on, stream by stream, to the suite's Temporal server. The real API and
 * worker entry points, given TEMPORAL_API_KEY (and the CA), deliver an order through it; with a
 * wrong key the worker refuses to start, saying why in one line; the key is never printed.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import {
  connect,
  constants,
  createSecureServer,
  type ClientHttp2Session,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../lib/dev-services';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { makeCertificates } from '../support/certificates';
import { deliverThroughEntries, refusedToStart, runEntry } from '../support/entry-points';
import { seedNetwork } from '../support/fixtures';
import { createTestDatabase, TEST_KEYS, uniqueSuffix } from '../support/harness';

const API_KEY = `oms-test-${randomBytes(24).toString('base64url')}`;
let dir: string;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sandbox: Sandbox;
let frontend: Http2SecureServer;
let upstream: ClientHttp2Session;
let frontendPort: number;
const children: ChildProcess[] = [];
/** Every call the frontend saw: its gRPC method and whether it carried the key. */
const calls: { path: string; authorised: boolean }[] = [];

/** The request's headers, less those of this hop (HTTP/2 connection-specific ones). */
function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && k !== ':scheme' && k !== ':authority') out[k] = v;
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oms-apikey-'));
  makeCertificates(dir);
  upstream = connect(`http://${inject('temporalAddress')}`);
  frontend = createSecureServer({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.crt')) });
  frontend.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    const authorised = headers.authorization === `Bearer ${API_KEY}`;
    calls.push({ path, authorised });
    if (!authorised) {
      // A trailers-only answer, as a gRPC server gives for a refused call.
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'Request unauthorized.' },
        { endStream: true },
      );
      return;
    }
    const onward = upstream.request(forwardable(headers));
    stream.pipe(onward);
    onward.on('response', (head, flags) => {
      if (stream.destroyed) return;
      const trailersOnly = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      stream.respond(head, trailersOnly ? { endStream: true } : { waitForTrailers: true });
      if (trailersOnly) return;
      let trailers: OutgoingHttpHeaders = {};
      onward.on('trailers', (t: IncomingHttpHeaders) => (trailers = { ...t }));
      stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      onward.pipe(stream);
    });
    const close = () => {
      if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
      if (!onward.destroyed) onward.close(constants.NGHTTP2_CANCEL);
    };
    onward.on('error', close);
    stream.on('error', close);
    stream.on('close', () => !onward.destroyed && onward.close(constants.NGHTTP2_CANCEL));
  });
  await new Promise<void>((resolve) => frontend.listen(0, '127.0.0.1', resolve));
  frontendPort = (frontend.address() as AddressInfo).port;
  db = await createTestDatabase();
  await seedNetwork(db.sql, { 'SKU-KEY': { 'WH-HCM': 10 } });
  sandbox = await startSandbox({ autoProgress: { enabled: true, stepMs: 100 } });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  frontend?.close();
  upstream?.close();
  await sandbox?.stop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A development deployment whose Temporal frontend is the key-checking one. */
function env(port: number, taskQueue: string, apiKey: string): Record<string, string> {
  return {
    OMS_ENV: 'development',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: `127.0.0.1:${frontendPort}`,
    TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    TEMPORAL_API_KEY: apiKey,
    TEMPORAL_TLS_CA: join(dir, 'ca.crt'),
    TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
    OMS_TASK_QUEUE: taskQueue,
    OMS_SANDBOX_URL: sandbox.url,
    OMS_API_KEYS: `channel:web=${TEST_KEYS.web},cs=${TEST_KEYS.cs}`,
    OMS_WORKER_METRICS_PORT: 'off',
  };
}

describe('Temporal with an API key', () => {
  it('API and worker send the key on every call, and an order is delivered through the frontend that checks it', async () => {
    const port = await freePort();
    const { api, worker } = await deliverThroughEntries({
      env: env(port, `apikey-${uniqueSuffix()}`, API_KEY),
      port,
      sku: 'SKU-KEY',
      sandbox,
      children,
      keys: { channel: TEST_KEYS.web, cs: TEST_KEYS.cs },
      what: 'with an API key',
    });
    // The order's work went through this frontend, every call with the key.
    const paths = calls.map((c) => c.path);
    for (const method of ['StartWorkflowExecution', 'PollWorkflowTaskQueue', 'RespondWorkflowTaskCompleted', 'PollActivityTaskQueue'])
      expect(paths.some((p) => p.endsWith(`/${method}`))).toBe(true);
    expect(calls.every((c) => c.authorised)).toBe(true);
    for (const p of [api, worker]) p.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(await api.exited).toBe(0);
    expect(api.out.text + worker.out.text).not.toContain(API_KEY);
  }, 150_000);

  it('with a wrong key the worker refuses to start, saying why in one line, and prints no key', async () => {
    const wrong = `oms-wrong-${randomBytes(24).toString('base64url')}`;
    const before = calls.length;
    const worker = runEntry('worker/main.ts', env(0, `apikey-${uniqueSuffix()}`, wrong), children);
    expect(await refusedToStart(worker), worker.out.text).toMatch(/unauthori[sz]ed|Unauthenticated/i);
    expect(worker.out.text).not.toContain(wrong);
    // It did reach the frontend, and was refused there.
    expect(calls.slice(before).length).toBeGreaterThan(0);
    expect(calls.slice(before).every((c) => !c.authorised)).toBe(true);
  }, 60_000);
});
