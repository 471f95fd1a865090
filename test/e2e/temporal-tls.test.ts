/**
 * mTLS to the Temporal frontend, on a real TLS handshake: a TLS-terminating proxy in front of the
 * suite's Temporal server, with certificates made here by openssl (a CA of its own, a server
 * certificate for `temporal.test`, a client certificate), requires a client certificate from
 * that CA. The real API and worker entry points connect through it with TEMPORAL_TLS_CA,
 * TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY and TEMPORAL_TLS_SERVER_NAME, and an order is delivered.
 * Without a client certificate, or expecting another server name, the worker refuses to start.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../lib/dev-services';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { makeCertificates } from '../support/certificates';
import { deliverThroughEntries, refusedToStart, runEntry } from '../support/entry-points';
import { seedNetwork } from '../support/fixtures';
import { createTestDatabase, TEST_KEYS, uniqueSuffix } from '../support/harness';

let dir: string;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sandbox: Sandbox;
let proxy: Server;
let proxyPort: number;
const children: ChildProcess[] = [];
/** What the proxy saw: each handshake's client certificate subject, or the error that ended it. */
const handshakes: { client?: string; error?: string }[] = [];
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oms-tls-'));
  makeCertificates(dir);
  const [host, port] = inject('temporalAddress').split(':') as [string, string];
  // TLS ends here; the bytes (HTTP/2, gRPC) go on to the Temporal server as they came.
  proxy = createServer(
    {
      key: readFileSync(file('server.key')),
      cert: readFileSync(file('server.crt')),
      ca: readFileSync(file('ca.crt')),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (socket: TLSSocket) => {
      handshakes.push({ client: String(socket.getPeerCertificate().subject?.CN) });
      const upstream = connect(Number(port), host);
      socket.pipe(upstream).pipe(socket);
      const close = () => {
        socket.destroy();
        upstream.destroy();
      };
      socket.on('error', close);
      upstream.on('error', close);
    },
  );
  proxy.on('tlsClientError', (err) => handshakes.push({ error: err.message }));
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyPort = (proxy.address() as AddressInfo).port;
  db = await createTestDatabase();
  await seedNetwork(db.sql, { 'SKU-TLS': { 'WH-HCM': 10 } });
  sandbox = await startSandbox({ autoProgress: { enabled: true, stepMs: 100 } });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  proxy?.close();
  await sandbox?.stop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A development deployment whose Temporal frontend is the TLS proxy. */
function env(port: number, taskQueue: string, tls: Record<string, string>): Record<string, string> {
  return {
    OMS_ENV: 'development',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: `127.0.0.1:${proxyPort}`,
    TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    OMS_TASK_QUEUE: taskQueue,
    OMS_SANDBOX_URL: sandbox.url,
    OMS_API_KEYS: `channel:web=${TEST_KEYS.web},cs=${TEST_KEYS.cs}`,
    OMS_WORKER_METRICS_PORT: 'off',
    ...tls,
  };
}
const fullTls = () => ({
  TEMPORAL_TLS_CA: file('ca.crt'),
  TEMPORAL_TLS_CERT: file('client.crt'),
  TEMPORAL_TLS_KEY: file('client.key'),
  TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
});

describe('Temporal over mTLS', () => {
  it('API and worker connect with a client certificate, and an order is delivered through the TLS frontend', async () => {
    const port = await freePort();
    const { api, worker } = await deliverThroughEntries({
      env: env(port, `tls-${uniqueSuffix()}`, fullTls()),
      port,
      sku: 'SKU-TLS',
      sandbox,
      children,
      keys: { channel: TEST_KEYS.web, cs: TEST_KEYS.cs },
      what: 'over mTLS',
    });
    // Every connection was a handshake with the client certificate of the CA.
    expect(handshakes.length).toBeGreaterThanOrEqual(2);
    expect(handshakes.every((h) => h.client === 'oms-worker')).toBe(true);
    for (const p of [api, worker]) p.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(await api.exited).toBe(0);
    // The key file's content never reaches the output.
    const key = readFileSync(file('client.key'), 'utf8').split('\n')[1]!;
    expect(api.out.text + worker.out.text).not.toContain(key);
  }, 150_000);

  it.each([
    [
      'without a client certificate',
      () => ({ TEMPORAL_TLS_CA: file('ca.crt'), TEMPORAL_TLS_SERVER_NAME: 'temporal.test' }),
      // TLS 1.3: the client finishes its side of the handshake before the server checks for a
      // certificate, so it reads the server's alert, the connection it then closes, or a write into
      // that closed connection (all three seen); the proxy's own reason below is the proof.
      /CertificateRequired|connection closed|broken pipe/,
      /did not return a certificate/,
    ],
    ['expecting another server name', () => ({ ...fullTls(), TEMPORAL_TLS_SERVER_NAME: 'other.test' }), /NotValidForName/, undefined],
  ])(
    'the worker refuses to start %s, saying why in one line',
    async (_what, tls, reason, proxySaw) => {
      const before = handshakes.length;
      const worker = runEntry('worker/main.ts', env(0, `tls-${uniqueSuffix()}`, tls()), children);
      expect(await refusedToStart(worker), worker.out.text).toMatch(reason);
      // The proxy never let it through with a certificate.
      const seen = handshakes.slice(before);
      expect(seen.every((h) => h.client === undefined)).toBe(true);
      // Where the server is the one refusing, it says so for the reason the test intends.
      if (proxySaw) expect(seen.map((h) => h.error).join('\n')).toMatch(proxySaw);
    },
    60_000,
  );
});
