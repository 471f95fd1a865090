/**
 * The sandbox's carriers: bookings move on a timer or by control, and each step goes out as the
 * carrier's own webhook — GHN's flat body to `?token=` URLs, Viettel Post's DATA/TOKEN body with
 * the secret in Authorization — made from the published samples in test/fixtures/carriers,
 * received here by a stand-in that authenticates and reads them with the OMS's own adapters.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { call, sleep, waitFor } from './helpers';
import { WebhookReceiver } from './webhook-receiver';

const STEP_MS = 40;

const fixture = (carrier: string, file: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/carriers/${carrier}/${file}`, import.meta.url), 'utf8')) as Record<string, unknown>;

const shipment = (orderId: string, extra: Record<string, unknown> = {}) => ({
  orderId,
  shipmentId: `${orderId}-s1`,
  from: { warehouseId: 'wh-hcm', city: 'Ho Chi Minh City' },
  to: { name: 'An', phone: '0900000000', line1: '1 Le Loi', city: 'Hanoi', country: 'VN' },
  weightGrams: 1200,
  ...extra,
});

let sb: Sandbox;
const rx = new WebhookReceiver();
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
  rx.reset();
});

const book = async (carrier: string, orderId: string, extra: Record<string, unknown> = {}) => {
  const r = await call(sb, 'POST', `/carriers/${carrier}/v1/shipments`, shipment(orderId, extra));
  expect(r.status).toBe(201);
  return r.body as { bookingId: string; trackingNumber: string; labelUrl: string };
};
const tracked = async (carrier: string, bookingId: string) =>
  (await call(sb, 'GET', `/carriers/${carrier}/v1/shipments/${bookingId}`)).body as {
    status: string;
    events: { eventId: string; status: string }[];
  };

describe('sandbox carriers', () => {
  it('collects cash on delivery in whole đồng only: half a đồng is refused and nothing is booked', async () => {
    for (const carrier of ['ghn', 'vtp']) {
      const r = await call(sb, 'POST', `/carriers/${carrier}/v1/shipments`, shipment(`o-half-${carrier}`, { codAmount: '56001.10' }));
      expect(r.status, carrier).toBe(400);
      expect(JSON.stringify(r.body)).toMatch(/whole đồng/);
      const { bookings } = (await call(sb, 'GET', `/sandbox/ledger/carriers?orderId=o-half-${carrier}`)).body as { bookings: unknown[] };
      expect(bookings).toEqual([]);
    }
  });

  it("ghn auto-progresses and pushes GHN's own webhooks (the published sample's shape, this parcel's values), COD remitted after delivery", async () => {
    const b = await book('ghn', 'o-ghn', { codAmount: '150000' });
    expect(b.trackingNumber).toMatch(/^GHN\d{10}$/);
    expect((await fetch(b.labelUrl)).status).toBe(200);
    await waitFor(() => rx.statuses(b.trackingNumber).length >= 4);
    expect(rx.statuses(b.trackingNumber)).toEqual(['picked_up', 'in_transit', 'delivered', 'cod_remitted']);
    expect(rx.events.map((e) => e.nativeStatus)).toEqual(['picked', 'transporting', 'delivered', 'cod_transfer']);
    const template = fixture('ghn', 'webhook-switch-status-delivered.json');
    for (const e of rx.events) {
      const body = e.body as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(Object.keys(template).sort());
      expect(body).toMatchObject({
        OrderCode: b.trackingNumber,
        ClientOrderCode: 'o-ghn-s1',
        CODAmount: 150000,
        Weight: 1200,
        ShopID: template.ShopID,
      });
      expect(e.reference).toBe('o-ghn-s1');
    }
    const cod = rx.events.find((e) => e.status === 'cod_remitted')!;
    expect(cod.codAmount).toBe('150000.00');
    expect(cod.body).toMatchObject({ Type: 'update_cod', Status: 'delivered' });
    expect((cod.body as { CODTransferDate: unknown }).CODTransferDate).toEqual(expect.any(String));
    expect(rx.badSignatures).toBe(0);
    expect(rx.unreadable).toEqual([]);
    await sleep(STEP_MS * 3);
    expect(rx.statuses(b.trackingNumber)).toHaveLength(4);
    // The tracking answer (the polling path) names each event by the id its webhook carries.
    const track = await tracked('ghn', b.bookingId);
    expect(track).toMatchObject({ status: 'delivered' });
    expect(track.events).toHaveLength(5);
    expect(track.events.slice(1).map((e) => e.eventId)).toEqual(rx.events.map((e) => e.eventId));
  });

  it('retries a webhook the OMS answered 500', async () => {
    await call(sb, 'POST', '/sandbox/carriers/hold', { orderId: 'o-retry' });
    const b = await book('ghn', 'o-retry');
    rx.failNext = 1;
    const ev = await call(sb, 'POST', `/sandbox/carriers/${b.bookingId}/advance`, {});
    expect(ev.body).toMatchObject({ status: 'picked_up' });
    await waitFor(() => rx.events.length === 1);
    expect(rx.events[0]?.eventId).toBe(ev.body.eventId);
    const hooks = (await call(sb, 'GET', '/sandbox/ledger/carriers?orderId=o-retry')).body.webhooks as {
      attempt: number;
      responseStatus: number;
    }[];
    expect(hooks.map((h) => [h.attempt, h.responseStatus])).toEqual([
      [1, 500],
      [2, 204],
    ]);
  });

  it("vtp pushes Viettel Post's own webhooks (secret in Authorization) and can be polled: the same events under the same ids", async () => {
    const b = await book('vtp', 'o-vtp', { codAmount: '562000' });
    expect(b.trackingNumber).toMatch(/^VTP\d{10}$/);
    const done = await waitFor(async () => {
      const t = await tracked('vtp', b.bookingId);
      return t.status === 'delivered' ? t : undefined;
    });
    expect(done.events.map((e) => e.status)).toEqual(['booked', 'picked_up', 'in_transit', 'delivered']);
    await waitFor(() => rx.statuses(b.trackingNumber).length >= 3);
    expect(rx.statuses(b.trackingNumber)).toEqual(['picked_up', 'in_transit', 'delivered']);
    expect(rx.events.map((e) => e.nativeStatus)).toEqual(['200', '300', '501']);
    expect(done.events.slice(1).map((e) => e.eventId)).toEqual(rx.events.map((e) => e.eventId));
    const template = fixture('vtp', 'webhook-status-501-delivered.json') as { DATA: Record<string, unknown> };
    const last = rx.events.at(-1)!.body as { DATA: Record<string, unknown>; TOKEN: unknown };
    expect(Object.keys(last.DATA).sort()).toEqual(Object.keys(template.DATA).sort());
    expect(last.DATA).toMatchObject({
      ORDER_NUMBER: b.trackingNumber,
      ORDER_REFERENCE: 'o-vtp-s1',
      ORDER_STATUS: 501,
      MONEY_COLLECTION: 562000,
      PRODUCT_WEIGHT: 1200,
    });
    expect(last.DATA.ORDER_STATUSDATE).toMatch(/^\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}:\d{2}$/);
    expect(rx.events.every((e) => e.codAmount === '562000.00')).toBe(true);
    expect(rx.badSignatures).toBe(0);
    // VTP sends no webhook for a COD remittance: only polling shows it.
    await call(sb, 'POST', `/sandbox/carriers/${b.bookingId}/advance`, { status: 'cod_remitted' });
    await sleep(STEP_MS * 3);
    expect(rx.statuses(b.trackingNumber)).toHaveLength(3);
  });

  it('vtp with its webhooks switched off progresses all the same: only polling shows it', async () => {
    expect((await call(sb, 'POST', '/sandbox/carriers/push', { vtp: false })).body).toEqual({ ghn: true, vtp: false });
    const b = await book('vtp', 'o-vtp-quiet');
    const done = await waitFor(async () => {
      const t = await tracked('vtp', b.bookingId);
      return t.status === 'delivered' ? t : undefined;
    });
    expect(done.events.map((e) => e.status)).toEqual(['booked', 'picked_up', 'in_transit', 'delivered']);
    expect(rx.events).toHaveLength(0);
    expect((await call(sb, 'GET', '/sandbox/ledger/carriers?orderId=o-vtp-quiet')).body.webhooks).toEqual([]);
    expect((await call(sb, 'POST', '/sandbox/carriers/push', { dhl: true })).status).toBe(404);
  });

  it('cancels before pickup (twice is fine) but not after', async () => {
    await call(sb, 'POST', '/sandbox/carriers/hold', { orderId: 'o-cancel' });
    const a = await book('ghn', 'o-cancel');
    expect(await call(sb, 'POST', `/carriers/ghn/v1/shipments/${a.bookingId}/cancel`, {})).toMatchObject({
      status: 200,
      body: { bookingId: a.bookingId, status: 'cancelled' },
    });
    expect((await call(sb, 'POST', `/carriers/ghn/v1/shipments/${a.bookingId}/cancel`, {})).status).toBe(200);
    await waitFor(() => rx.statuses(a.trackingNumber).includes('cancelled'));
    expect(rx.events.find((e) => e.trackingCode === a.trackingNumber)?.nativeStatus).toBe('cancel');
    const b = await book('ghn', 'o-cancel');
    await call(sb, 'POST', `/sandbox/carriers/${b.bookingId}/advance`, {});
    expect(await call(sb, 'POST', `/carriers/ghn/v1/shipments/${b.bookingId}/cancel`, {})).toMatchObject({
      status: 409,
      body: { error: 'already_picked_up' },
    });
    await call(sb, 'POST', '/sandbox/carriers/release', { orderId: 'o-cancel' });
    await waitFor(() => rx.statuses(b.trackingNumber).includes('delivered'));
    const led = (await call(sb, 'GET', '/sandbox/ledger/carriers?orderId=o-cancel')).body.bookings as {
      bookingId: string;
      status: string;
    }[];
    expect(led.find((x) => x.bookingId === a.bookingId)?.status).toBe('cancelled');
  });

  it('held orders stay put; replay sends the same webhook again; send posts any body, authenticated or not', async () => {
    await call(sb, 'POST', '/sandbox/carriers/hold', { orderId: 'o-hold' });
    const b = await book('ghn', 'o-hold');
    await sleep(STEP_MS * 4);
    expect((await tracked('ghn', b.bookingId)).status).toBe('booked');
    const ev = await call(sb, 'POST', `/sandbox/carriers/${b.bookingId}/advance`, { status: 'delivery_failed' });
    await call(sb, 'POST', `/sandbox/carriers/${b.bookingId}/replay`, { eventId: ev.body.eventId, times: 2 });
    await waitFor(() => rx.events.length === 3);
    expect(new Set(rx.events.map((e) => e.eventId))).toEqual(new Set([ev.body.eventId]));
    expect(rx.events[0]).toMatchObject({ nativeStatus: 'delivery_fail', status: 'delivery_failed' });
    expect(rx.events[0]!.body).toMatchObject({ ReasonCode: 'GHN-DFC1A4' });

    const body = { ...fixture('ghn', 'webhook-switch-status-transporting.json'), OrderCode: b.trackingNumber };
    const sent = await call(sb, 'POST', '/sandbox/carriers/webhooks/send', { carrier: 'ghn', body });
    expect(sent.body.responseStatus).toBe(204);
    expect(rx.events.at(-1)).toMatchObject({ trackingCode: b.trackingNumber, status: 'in_transit' });
    const bad = await call(sb, 'POST', '/sandbox/carriers/webhooks/send', { carrier: 'ghn', body, secret: 'not-the-secret' });
    expect(bad.body.responseStatus).toBe(401);
    const vtpBad = await call(sb, 'POST', '/sandbox/carriers/webhooks/send', {
      carrier: 'vtp',
      body: fixture('vtp', 'webhook-status-501-delivered.json'),
      secret: 'not-the-secret',
    });
    expect(vtpBad.body.responseStatus).toBe(401);
    const hooks = (await call(sb, 'GET', '/sandbox/ledger/carriers?orderId=o-hold')).body.webhooks as {
      bookingId: string;
      responseStatus: number;
    }[];
    expect(hooks.filter((h) => h.bookingId === b.bookingId).map((h) => h.responseStatus)).toEqual([204, 204, 204, 204, 401]);
  });

  it('books returns, 404s unknown carriers, is idempotent per key', async () => {
    const ret = await call(sb, 'POST', '/carriers/ghn/v1/returns', {
      orderId: 'o-ret',
      returnId: 'r1',
      from: { name: 'An', line1: '1 Le Loi', city: 'Hanoi', country: 'VN' },
      to: { warehouseId: 'wh-hcm', city: 'HCM' },
    });
    expect(ret).toMatchObject({ status: 201, body: { status: 'booked' } });
    // A return parcel's webhooks echo the return id.
    await waitFor(() => rx.statuses(ret.body.trackingNumber as string).includes('delivered'));
    expect(rx.events.filter((e) => e.trackingCode === ret.body.trackingNumber).every((e) => e.reference === 'r1')).toBe(true);
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
      const code = r.body.trackingNumber as string;
      await sleep(STEP_MS * 5);
      expect(rx.events).toHaveLength(0);
      lone.setOmsBaseUrl(rx.url);
      await waitFor(() => rx.statuses(code).length === 3);
      expect(rx.statuses(code)).toEqual(['picked_up', 'in_transit', 'delivered']);
    } finally {
      await lone.stop();
    }
  });
});
