import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { call, sleep, waitFor } from './helpers';

const GHN_SECRET = 'dev-ghn-secret';
const STEP_MS = 40;

interface Received {
  eventId: string;
  bookingId: string;
  orderId: string;
  status: string;
  codAmount?: string;
  header: string | undefined;
}

/** A stand-in for the OMS webhook endpoint that checks the HMAC like the real one must. */
class Receiver {
  events: Received[] = [];
  badSignatures = 0;
  /** Answer 500 to this many (validly signed) requests before accepting. */
  failNext = 0;
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const expected = createHmac('sha256', GHN_SECRET).update(raw).digest();
        const given = Buffer.from(String(req.headers['x-carrier-signature'] ?? ''), 'hex');
        if (req.url !== '/v1/carriers/ghn/webhooks' || given.length !== expected.length || !timingSafeEqual(given, expected)) {
          this.badSignatures += 1;
          res.writeHead(401).end();
          return;
        }
        if (this.failNext > 0) {
          this.failNext -= 1;
          res.writeHead(500).end();
          return;
        }
        const ev = JSON.parse(raw.toString('utf8')) as Received;
        this.events.push({ ...ev, header: req.headers['x-carrier-event-id'] as string | undefined });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  statuses(bookingId: string): string[] {
    return this.events.filter((e) => e.bookingId === bookingId).map((e) => e.status);
  }
}

const shipment = (orderId: string, extra: Record<string, unknown> = {}) => ({
  orderId,
  shipmentId: `${orderId}-s1`,
  from: { warehouseId: 'wh-hcm', city: 'Ho Chi Minh City' },
  to: { name: 'An', phone: '0900000000', line1: '1 Le Loi', city: 'Hanoi', country: 'VN' },
  weightGrams: 1200,
  ...extra,
});

let sb: Sandbox;
const rx = new Receiver();
beforeAll(async () => {
  await rx.start();
  sb = await startSandbox({ omsBaseUrl: rx.url, autoProgress: { enabled: true, stepMs: STEP_MS } });
});
afterAll(async () => {
  await sb.stop();
  await rx.stop();
});
beforeEach(async () => {
  await call(sb, 'POST', '/sandbox/reset', {});
  rx.events = [];
  rx.failNext = 0;
  rx.badSignatures = 0;
});

const book = async (carrier: string, orderId: string, extra: Record<string, unknown> = {}) => {
  const r = await call(sb, 'POST', `/carriers/${carrier}/v1/shipments`, shipment(orderId, extra));
  expect(r.status).toBe(201);
  return r.body as { bookingId: string; trackingNumber: string; labelUrl: string };
};

describe('sandbox carriers', () => {
  it('ghn auto-progresses and pushes signed webhooks, COD remitted after delivery', async () => {
    const b = await book('ghn', 'o-ghn', { codAmount: '150000' });
    expect(b.trackingNumber).toMatch(/^GHN\d{10}$/);
    expect((await fetch(b.labelUrl)).status).toBe(200);
    await waitFor(() => rx.statuses(b.bookingId).length >= 4);
    expect(rx.statuses(b.bookingId)).toEqual(['picked_up', 'in_transit', 'delivered', 'cod_remitted']);
    const cod = rx.events.find((e) => e.status === 'cod_remitted');
    expect(cod).toMatchObject({ codAmount: '150000.00', orderId: 'o-ghn', bookingId: b.bookingId });
    for (const e of rx.events) expect(e.header).toBe(e.eventId);
    expect(rx.badSignatures).toBe(0);
    await sleep(STEP_MS * 3);
    expect(rx.statuses(b.bookingId)).toHaveLength(4);
    const track = await call(sb, 'GET', `/carriers/ghn/v1/shipments/${b.bookingId}`);
    expect(track.body).toMatchObject({ bookingId: b.bookingId, status: 'delivered' });
    expect((track.body.events as unknown[]).length).toBe(5);
  });

  it('retries a webhook the OMS answered 500', async () => {
    await call(sb, 'POST', '/sandbox/carriers/hold', { orderId: 'o-retry' });
    const b = await book('ghn', 'o-retry');
    rx.failNext = 1;
    const ev = await call(sb, 'POST', `/sandbox/carriers/${b.bookingId}/advance`, {});
    expect(ev.body).toMatchObject({ status: 'picked_up' });
    await waitFor(() => rx.events.length === 1);
    expect(rx.events[0]?.eventId).toBe(ev.body.eventId);
    const hooks = (await call(sb, 'GET', '/sandbox/ledger/carriers?orderId=o-retry')).body.webhooks as { attempt: number; responseStatus: number }[];
    expect(hooks.map((h) => [h.attempt, h.responseStatus])).toEqual([[1, 500], [2, 204]]);
  });

  it('vtp progresses but pushes nothing: only polling shows it', async () => {
    const b = await book('vtp', 'o-vtp');
    expect(b.trackingNumber).toMatch(/^VTP\d{10}$/);
    const done = await waitFor(async () => {
      const r = await call(sb, 'GET', `/carriers/vtp/v1/shipments/${b.bookingId}`);
      return r.body.status === 'delivered' ? r : undefined;
    });
    expect((done.body.events as { status: string }[]).map((e) => e.status)).toEqual(['booked', 'picked_up', 'in_transit', 'delivered']);
    expect(rx.events).toHaveLength(0);
    expect((await call(sb, 'GET', '/sandbox/ledger/carriers?orderId=o-vtp')).body.webhooks).toEqual([]);
  });

  it('cancels before pickup (twice is fine) but not after', async () => {
    await call(sb, 'POST', '/sandbox/carriers/hold', { orderId: 'o-cancel' });
    const a = await book('ghn', 'o-cancel');
    expect(await call(sb, 'POST', `/carriers/ghn/v1/shipments/${a.bookingId}/cancel`, {})).toMatchObject({ status: 200, body: { bookingId: a.bookingId, status: 'cancelled' } });
    expect((await call(sb, 'POST', `/carriers/ghn/v1/shipments/${a.bookingId}/cancel`, {})).status).toBe(200);
    const b = await book('ghn', 'o-cancel');
    await call(sb, 'POST', `/sandbox/carriers/${b.bookingId}/advance`, {});
    expect(await call(sb, 'POST', `/carriers/ghn/v1/shipments/${b.bookingId}/cancel`, {})).toMatchObject({ status: 409, body: { error: 'already_picked_up' } });
    await call(sb, 'POST', '/sandbox/carriers/release', { orderId: 'o-cancel' });
    await waitFor(() => rx.statuses(b.bookingId).includes('delivered'));
    const led = (await call(sb, 'GET', '/sandbox/ledger/carriers?orderId=o-cancel')).body.bookings as { bookingId: string; status: string }[];
    expect(led.find((x) => x.bookingId === a.bookingId)?.status).toBe('cancelled');
  });

  it('held orders stay put; replay and send produce duplicate and arbitrary events', async () => {
    await call(sb, 'POST', '/sandbox/carriers/hold', { orderId: 'o-hold' });
    const b = await book('ghn', 'o-hold');
    await sleep(STEP_MS * 4);
    expect((await call(sb, 'GET', `/carriers/ghn/v1/shipments/${b.bookingId}`)).body.status).toBe('booked');
    const ev = await call(sb, 'POST', `/sandbox/carriers/${b.bookingId}/advance`, { status: 'delivery_failed' });
    await call(sb, 'POST', `/sandbox/carriers/${b.bookingId}/replay`, { eventId: ev.body.eventId, times: 2 });
    await waitFor(() => rx.events.length === 3);
    expect(new Set(rx.events.map((e) => e.eventId)).size).toBe(1);
    const sent = await call(sb, 'POST', '/sandbox/carriers/webhooks/send', { carrier: 'ghn', event: { eventId: 'evt_custom', bookingId: b.bookingId, status: 'in_transit' } });
    expect(sent.body.responseStatus).toBe(204);
    const bad = await call(sb, 'POST', '/sandbox/carriers/webhooks/send', { carrier: 'ghn', event: { eventId: 'evt_bad' }, signature: 'deadbeef' });
    expect(bad.body.responseStatus).toBe(401);
  });

  it('books returns, 404s unknown carriers, is idempotent per key', async () => {
    const ret = await call(sb, 'POST', '/carriers/ghn/v1/returns', {
      orderId: 'o-ret', returnId: 'r1', from: { name: 'An', line1: '1 Le Loi', city: 'Hanoi', country: 'VN' }, to: { warehouseId: 'wh-hcm', city: 'HCM' },
    });
    expect(ret).toMatchObject({ status: 201, body: { status: 'booked' } });
    expect((await call(sb, 'POST', '/carriers/dhl/v1/shipments', shipment('o-x'))).status).toBe(404);
    const one = await call(sb, 'POST', '/carriers/vtp/v1/shipments', shipment('o-idem'), { idem: 'bk-1' });
    const two = await call(sb, 'POST', '/carriers/vtp/v1/shipments', shipment('o-idem'), { idem: 'bk-1' });
    expect(two.body.bookingId).toBe(one.body.bookingId);
    expect(((await call(sb, 'GET', '/sandbox/ledger/carriers?orderId=o-idem')).body.bookings as unknown[]).length).toBe(1);
  });

  it('keeps webhooks pending until the OMS URL is known', async () => {
    const lone = await startSandbox({ autoProgress: { enabled: true, stepMs: STEP_MS } });
    try {
      const r = await call(lone, 'POST', '/carriers/ghn/v1/shipments', shipment('o-pending'));
      await sleep(STEP_MS * 5);
      expect(rx.events).toHaveLength(0);
      lone.setOmsBaseUrl(rx.url);
      await waitFor(() => rx.statuses(r.body.bookingId as string).length === 3);
      expect(rx.statuses(r.body.bookingId as string)).toEqual(['picked_up', 'in_transit', 'delivered']);
    } finally {
      await lone.stop();
    }
  });
});
