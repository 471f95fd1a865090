/**
 * The sandbox remembers: with a state dir, a sandbox stopped and started again on the same dir
 * answers as if it had never gone away — same ledgers, same stored idempotent answers, parcels
 * carrying on where they were and webhooks not yet delivered sent again (still authenticated).
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../sandbox/server';
import { call, waitFor } from './helpers';
import { WebhookReceiver } from './webhook-receiver';

const STEP_MS = 40;
const rx = new WebhookReceiver();
let dirs: string[] = [];
let running: Sandbox[] = [];

beforeAll(() => rx.start());
afterAll(() => rx.stop());
afterEach(async () => {
  for (const sb of running) await sb.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  running = [];
  dirs = [];
  rx.events = [];
  rx.down = false;
  rx.badSignatures = 0;
});

const newDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'sandbox-state-'));
  dirs.push(d);
  return d;
};
const start = async (stateDir: string, o: SandboxOptions = {}): Promise<Sandbox> => {
  const sb = await startSandbox({ stateDir, omsBaseUrl: rx.url, autoProgress: { enabled: false, stepMs: STEP_MS }, ...o });
  running.push(sb);
  return sb;
};
const stop = async (sb: Sandbox): Promise<void> => {
  await sb.stop();
  running = running.filter((x) => x !== sb);
};

const shipment = (orderId: string, extra: Record<string, unknown> = {}) => ({
  orderId,
  shipmentId: `${orderId}-s1`,
  from: { warehouseId: 'wh-hcm', city: 'Ho Chi Minh City' },
  to: { name: 'An', line1: '1 Le Loi', city: 'Hanoi', country: 'VN' },
  weightGrams: 900,
  ...extra,
});
const authBody = (orderId: string, amount = '100.00') => ({ orderId, amount, currency: 'USD', paymentToken: 'tok_visa' });
const ledgers = async (sb: Sandbox) =>
  Promise.all(
    ['payments', 'wms', 'channels', 'notifications', 'carriers'].map(async (l) => (await call(sb, 'GET', `/sandbox/ledger/${l}`)).text),
  );

describe('sandbox state across restarts', () => {
  it('keeps payments, idempotent answers, picks, bookings, channel state and messages', async () => {
    const dir = newDir();
    const a = await start(dir);
    const auth = await call(a, 'POST', '/payments/v1/authorizations', authBody('o-p'), { idem: 'auth-1' });
    expect(auth.status).toBe(201);
    const toVoid = await call(a, 'POST', '/payments/v1/authorizations', authBody('o-p', '40.00'));
    const authId = auth.body.authorizationId as string;
    const cap = await call(a, 'POST', `/payments/v1/authorizations/${authId}/capture`, { amount: '60.00' }, { idem: 'cap-1' });
    expect(cap.status).toBe(201);
    const bk = await call(a, 'POST', '/carriers/vtp/v1/shipments', shipment('o-p'), { idem: 'book-1' });
    expect(bk.status).toBe(201);
    const pick = await call(a, 'POST', '/wms/v1/pick-orders', {
      orderId: 'o-p',
      shipmentId: 's1',
      warehouseId: 'wh-hcm',
      lines: [{ sku: 'A', quantity: 1 }],
    });
    expect(pick.status).toBe(201);
    expect(
      (
        await call(a, 'POST', '/channels/web/v1/order-status', {
          orderId: 'o-p',
          channelOrderId: 'w-1',
          status: 'paid',
          seq: 2,
          occurredAt: new Date().toISOString(),
        })
      ).status,
    ).toBe(200);
    expect((await call(a, 'POST', '/channels/shopee/v1/stock', { items: [{ sku: 'A', available: 4 }] })).status).toBe(200);
    expect((await call(a, 'POST', '/sandbox/channels/tiktok/orders', { id: 'tt-1', status: 'AWAITING_SHIPMENT' })).status).toBe(201);
    expect((await call(a, 'POST', '/notify/v1/messages', { orderId: 'o-p', kind: 'stuck', level: 1, text: 'look at me' })).status).toBe(
      201,
    );
    const before = await ledgers(a);
    await stop(a);

    const b = await start(dir);
    expect(await ledgers(b)).toEqual(before);

    // A retry of a pre-restart request gets the stored answer, byte for byte, and no second effect.
    const again = await call(b, 'POST', '/payments/v1/authorizations', authBody('o-p'), { idem: 'auth-1' });
    expect(again.status).toBe(201);
    expect(again.text).toBe(auth.text);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const capAgain = await call(b, 'POST', `/payments/v1/authorizations/${authId}/capture`, { amount: '60.00' }, { idem: 'cap-1' });
    expect(capAgain.text).toBe(cap.text);
    expect((await call(b, 'POST', '/carriers/vtp/v1/shipments', shipment('o-p'), { idem: 'book-1' })).text).toBe(bk.text);
    expect((await ledgers(b))[0]).toBe(before[0]);

    // And everything can still be acted on.
    expect(await call(b, 'POST', `/payments/v1/authorizations/${authId}/capture`, { amount: '40.00' })).toMatchObject({ status: 201 });
    expect(await call(b, 'POST', `/payments/v1/authorizations/${authId}/capture`, { amount: '0.01' })).toMatchObject({ status: 409 });
    expect(await call(b, 'POST', `/payments/v1/authorizations/${toVoid.body.authorizationId as string}/void`, {})).toMatchObject({
      status: 200,
      body: { status: 'voided', released: '40.00' },
    });
    expect(await call(b, 'POST', `/payments/v1/captures/${cap.body.captureId as string}/refunds`, { amount: '60.00' })).toMatchObject({
      status: 201,
    });
    expect(await call(b, 'POST', `/payments/v1/captures/${cap.body.captureId as string}/refunds`, { amount: '0.01' })).toMatchObject({
      status: 409,
      body: { error: 'refund_exceeds_capture' },
    });
    const bookingId = bk.body.bookingId as string;
    expect(await call(b, 'GET', `/carriers/vtp/v1/shipments/${bookingId}`)).toMatchObject({
      status: 200,
      body: { status: 'booked', trackingNumber: bk.body.trackingNumber },
    });
    expect(await call(b, 'POST', `/carriers/vtp/v1/shipments/${bookingId}/cancel`, {})).toMatchObject({
      status: 200,
      body: { status: 'cancelled' },
    });
    expect(await call(b, 'POST', `/wms/v1/pick-orders/${pick.body.pickOrderId as string}/cancel`, {})).toMatchObject({ status: 200 });
    const types = ((await call(b, 'GET', '/sandbox/ledger/payments?orderId=o-p')).body.entries as { type: string }[]).map((e) => e.type);
    expect(types).toEqual(['authorize', 'authorize', 'capture', 'capture', 'void', 'refund']);
    const after = await ledgers(b);
    await stop(b);

    // The post-restart changes are as durable as the first ones.
    const c = await start(dir);
    expect(await ledgers(c)).toEqual(after);
  });

  it('forgets everything on reset, on disk too', async () => {
    const dir = newDir();
    const a = await start(dir);
    await call(a, 'POST', '/payments/v1/authorizations', authBody('o-r'), { idem: 'r-1' });
    await call(a, 'POST', '/sandbox/reset', {});
    await stop(a);
    const b = await start(dir);
    expect((await call(b, 'GET', '/sandbox/ledger/payments')).body.entries).toEqual([]);
    // The key is free again: a new authorisation, not a replay.
    const r = await call(b, 'POST', '/payments/v1/authorizations', authBody('o-r'), { idem: 'r-1' });
    expect(r.headers.get('idempotent-replayed')).toBeNull();
  });

  it('a parcel mid-way carries on to delivered after a restart, each status once', async () => {
    const dir = newDir();
    const a = await start(dir);
    const bk = await call(a, 'POST', '/carriers/ghn/v1/shipments', shipment('o-mid', { codAmount: '50000' }));
    const id = bk.body.bookingId as string;
    const code = bk.body.trackingNumber as string;
    await call(a, 'POST', `/sandbox/carriers/${id}/advance`, {});
    await call(a, 'POST', `/sandbox/carriers/${id}/advance`, {});
    // Wait for the sandbox to have recorded both as taken (else they are re-sent: at-least-once).
    await waitFor(
      async () =>
        ((await call(a, 'GET', '/sandbox/ledger/carriers?orderId=o-mid')).body.webhooks as { responseStatus: number }[]).filter(
          (w) => w.responseStatus === 204,
        ).length === 2,
    );
    await stop(a);

    // The restarted sandbox re-arms the parcel's timer from its stored status: no call needed.
    const b = await start(dir, { autoProgress: { enabled: true, stepMs: STEP_MS } });
    await waitFor(() => rx.statuses(code).includes('cod_remitted'));
    expect(rx.statuses(code)).toEqual(['picked_up', 'in_transit', 'delivered', 'cod_remitted']);
    expect(rx.monotonic(code)).toBe(true);
    const track = await call(b, 'GET', `/carriers/ghn/v1/shipments/${id}`);
    expect((track.body.events as { status: string }[]).map((e) => e.status)).toEqual([
      'booked',
      'picked_up',
      'in_transit',
      'delivered',
      'cod_remitted',
    ]);
    expect(rx.badSignatures).toBe(0);
  });

  it('re-sends, authenticated, a webhook the OMS had not taken when the sandbox stopped', async () => {
    const dir = newDir();
    const a = await start(dir);
    await call(a, 'POST', '/sandbox/carriers/hold', { orderId: 'o-out' });
    const out = (await call(a, 'POST', '/carriers/ghn/v1/shipments', shipment('o-out'))).body as {
      bookingId: string;
      trackingNumber: string;
    };
    const id = out.bookingId;
    rx.down = true;
    await call(a, 'POST', `/sandbox/carriers/${id}/advance`, {});
    await waitFor(async () =>
      ((await call(a, 'GET', '/sandbox/ledger/carriers?orderId=o-out')).body.webhooks as { responseStatus: number }[]).some(
        (w) => w.responseStatus === 503,
      ),
    );
    await stop(a);
    rx.down = false;

    // Still held after the restart (the hold is state too), yet the undelivered event goes out.
    const b = await start(dir, { autoProgress: { enabled: true, stepMs: STEP_MS } });
    await waitFor(() => rx.statuses(out.trackingNumber).includes('picked_up'));
    expect((await call(b, 'GET', '/sandbox/ledger/carriers?orderId=o-out')).body.bookings).toMatchObject([
      { held: true, status: 'picked_up' },
    ]);
    await call(b, 'POST', '/sandbox/carriers/release', { orderId: 'o-out' });
    await waitFor(() => rx.statuses(out.trackingNumber).includes('delivered'));
    expect(rx.monotonic(out.trackingNumber)).toBe(true);
    expect(new Set(rx.statuses(out.trackingNumber))).toEqual(new Set(['picked_up', 'in_transit', 'delivered']));
    expect(rx.badSignatures).toBe(0);
    const hooks = (await call(b, 'GET', '/sandbox/ledger/carriers?orderId=o-out')).body.webhooks as {
      status: string;
      responseStatus: number | null;
    }[];
    expect(hooks.filter((h) => h.status === 'picked_up').map((h) => h.responseStatus)).toContain(503);
    expect(hooks.filter((h) => h.status === 'picked_up').at(-1)?.responseStatus).toBe(204);
  });

  it('skips a torn last journal line with a warning instead of failing to start', async () => {
    const dir = newDir();
    const a = await start(dir);
    const auth = await call(a, 'POST', '/payments/v1/authorizations', authBody('o-torn'), { idem: 'torn-1' });
    await stop(a);
    // What a write cut short by a crash leaves behind: half a line, no newline.
    appendFileSync(join(dir, 'journal.jsonl'), '{"t":"add","k":"payments.ledger","v":{"type":"half-writ');

    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const b = await start(dir);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/last line is not valid JSON/));
      expect((await call(b, 'GET', '/sandbox/ledger/payments')).body.entries as unknown[]).toHaveLength(1);
      expect((await call(b, 'POST', '/payments/v1/authorizations', authBody('o-torn'), { idem: 'torn-1' })).text).toBe(auth.text);
      await call(b, 'POST', '/payments/v1/authorizations', authBody('o-torn2'));
      await stop(b);
      // Compaction at start dropped the torn piece, so later lines were not glued to it.
      expect(readFileSync(join(dir, 'journal.jsonl'), 'utf8')).not.toContain('half-writ');
      warn.mockClear();
      const c = await start(dir);
      expect(warn).not.toHaveBeenCalled();
      expect((await call(c, 'GET', '/sandbox/ledger/payments')).body.entries as unknown[]).toHaveLength(2);
    } finally {
      warn.mockRestore();
    }
  });

  it('refuses a second sandbox on a state dir that is in use', async () => {
    const dir = newDir();
    await start(dir);
    await expect(startSandbox({ stateDir: dir })).rejects.toThrow(/already open/);
  });
});
