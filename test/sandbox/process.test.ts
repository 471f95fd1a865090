/**
 * `sandbox/main.ts` as its own process: it starts from its environment, survives `kill -9` on
 * a state dir (every answer it gave is still true after the restart), and stops cleanly on
 * SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call, waitFor, type Reply } from './helpers';
import { WebhookReceiver } from './webhook-receiver';

interface Proc {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const rx = new WebhookReceiver();
const procs: Proc[] = [];
let dir = '';

beforeAll(async () => {
  await rx.start();
  dir = mkdtempSync(join(tmpdir(), 'sandbox-proc-'));
});
afterAll(async () => {
  await rx.stop();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exited;
  }
});

/** Starts `sandbox/main.ts` and waits for its "listening" line (or its exit). */
async function spawnSandbox(env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'sandbox/main.ts'], {
    cwd: process.cwd(),
    env: { ...process.env, SANDBOX_PORT: '0', SANDBOX_OMS_URL: rx.url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  const p: Proc = { child, url: '', output: () => out, exited };
  procs.push(p);
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  await waitFor(() => gone || /sandbox listening on http:\/\/\S+/.test(out), 30_000);
  const m = /sandbox listening on (http:\/\/[^\s]+)/.exec(out);
  if (m) p.url = m[1]!;
  return p;
}

const authBody = (orderId: string) => ({ orderId, amount: '25.00', currency: 'VND', paymentToken: 'tok_visa' });

describe('sandbox process', () => {
  it('keeps every answer it gave across kill -9, and stops cleanly on SIGTERM', async () => {
    const env = { SANDBOX_STATE_DIR: dir, SANDBOX_STEP_MS: '60000' };
    const a = await spawnSandbox(env);
    expect(a.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const auth = await call(a, 'POST', '/payments/v1/authorizations', authBody('o-k'), { idem: 'k-auth' });
    const authId = auth.body.authorizationId as string;
    const cap = await call(a, 'POST', `/payments/v1/authorizations/${authId}/capture`, { amount: '10.00' }, { idem: 'k-cap' });
    expect(cap.status).toBe(201);
    const bk = await call(
      a,
      'POST',
      '/carriers/ghn/v1/shipments',
      {
        orderId: 'o-k',
        shipmentId: 'o-k-s1',
        from: { warehouseId: 'wh', city: 'HCM' },
        to: { name: 'An', line1: '1 Le Loi', city: 'Hanoi', country: 'VN' },
        weightGrams: 500,
      },
      { idem: 'k-book' },
    );
    expect(bk.status).toBe(201);

    // A burst of authorisations cut off by kill -9 while many are still in flight.
    const answered = new Map<string, Reply>();
    const burst = Array.from({ length: 60 }, (_, i) => `k-burst-${i}`).map((key, i) =>
      call(a, 'POST', '/payments/v1/authorizations', authBody(`o-b${i}`), { idem: key })
        .then((r) => {
          if (r.status === 201) answered.set(key, r);
        })
        .catch(() => undefined),
    );
    await waitFor(() => answered.size >= 15, 20_000, 2);
    a.child.kill('SIGKILL');
    await Promise.all(burst);
    expect((await a.exited).signal).toBe('SIGKILL');

    const b = await spawnSandbox(env);
    const entries = (await call(b, 'GET', '/sandbox/ledger/payments')).body.entries as {
      type: string;
      orderId: string;
      idempotencyKey: string;
    }[];
    // Every answered request is there, byte for byte on replay, and no request counted twice.
    for (const [key, r] of answered) {
      const again = await call(b, 'POST', '/payments/v1/authorizations', authBody(`o-b${key.slice('k-burst-'.length)}`), { idem: key });
      expect(again.text).toBe(r.text);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
    }
    const keys = entries.map((e) => e.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length);
    // The client retries the ones it got no answer for: each lands exactly once in all.
    for (let i = 0; i < 60; i++)
      expect((await call(b, 'POST', '/payments/v1/authorizations', authBody(`o-b${i}`), { idem: `k-burst-${i}` })).status).toBe(201);
    const burstRows = ((await call(b, 'GET', '/sandbox/ledger/payments')).body.entries as { idempotencyKey: string }[]).filter((e) =>
      e.idempotencyKey.startsWith('k-burst-'),
    );
    expect(burstRows).toHaveLength(60);
    expect((await call(b, 'POST', '/payments/v1/authorizations', authBody('o-k'), { idem: 'k-auth' })).text).toBe(auth.text);
    expect((await call(b, 'POST', `/payments/v1/authorizations/${authId}/capture`, { amount: '10.00' }, { idem: 'k-cap' })).text).toBe(
      cap.text,
    );
    expect(entries.filter((e) => e.orderId === 'o-k').map((e) => e.type)).toEqual(['authorize', 'capture']);
    expect(await call(b, 'POST', `/payments/v1/authorizations/${authId}/capture`, {})).toMatchObject({
      status: 201,
      body: { amount: '15.00' },
    });
    expect(await call(b, 'POST', `/payments/v1/captures/${cap.body.captureId as string}/refunds`, { amount: '10.00' })).toMatchObject({
      status: 201,
    });
    expect(await call(b, 'GET', `/carriers/ghn/v1/shipments/${bk.body.bookingId as string}`)).toMatchObject({
      status: 200,
      body: { status: 'booked' },
    });

    // While it runs, a second process on the same dir is refused rather than corrupting it.
    const rival = await spawnSandbox(env);
    expect((await rival.exited).code).toBe(1);
    expect(rival.output()).toMatch(/in use by process/);

    b.child.kill('SIGTERM');
    expect(await b.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(join(dir, 'lock'))).toBe(false);
  });

  it('refuses a bad environment with the reason', async () => {
    const p = await spawnSandbox({ SANDBOX_STEP_MS: 'soon' });
    expect((await p.exited).code).toBe(2);
    expect(p.output()).toMatch(/SANDBOX_STEP_MS/);
  });
});
