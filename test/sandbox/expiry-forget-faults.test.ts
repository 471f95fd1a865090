/**
 * The outside world's less friendly answers: authorisations that expire, a carrier that
 * forgot a booking, and faults that hit a share of requests at random.
 */
import { describe, expect, it } from 'vitest';
import { startSandbox } from '../../sandbox/server';
import { call, sleep, useQuietSandbox, waitFor } from './helpers';
import { WebhookReceiver } from './webhook-receiver';

const sandbox = useQuietSandbox();

const authBody = (orderId: string, amount = '100.00', paymentToken = 'tok_visa') => ({ orderId, amount, currency: 'VND', paymentToken });
const ledger = async (orderId: string) =>
  (await call(sandbox(), 'GET', `/sandbox/ledger/payments?orderId=${orderId}`)).body.entries as {
    type: string;
    amount: string;
    authorizationId?: string;
  }[];
const authorize = async (orderId: string, amount = '100.00') => {
  const r = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody(orderId, amount));
  expect(r.status).toBe(201);
  return r.body as { authorizationId: string; expiresAt: string };
};
const shipment = (orderId: string) => ({
  orderId,
  shipmentId: `${orderId}-s1`,
  from: { warehouseId: 'wh-hcm', city: 'HCM' },
  to: { name: 'An', line1: '1 Le Loi', city: 'Hanoi', country: 'VN' },
  weightGrams: 700,
});

describe('authorisation expiry', () => {
  it('answers carry expiresAt: 7 days by default, the configured TTL for new ones', async () => {
    const t0 = Date.now();
    const a = await authorize('o-ttl');
    expect(Date.parse(a.expiresAt) - t0).toBeGreaterThanOrEqual(7 * 86_400_000 - 1000);
    expect(Date.parse(a.expiresAt) - t0).toBeLessThanOrEqual(7 * 86_400_000 + 5000);
    expect(await call(sandbox(), 'POST', '/sandbox/config', { authorizationTtlMs: 3_600_000 })).toMatchObject({
      status: 200,
      body: { authorizationTtlMs: 3_600_000 },
    });
    const b = await authorize('o-ttl');
    expect(Date.parse(b.expiresAt) - Date.now()).toBeLessThanOrEqual(3_600_000);
    expect(Date.parse(b.expiresAt) - Date.now()).toBeGreaterThan(3_500_000);
    expect((await call(sandbox(), 'POST', '/sandbox/config', { authorizationTtlMs: -1 })).status).toBe(400);
  });

  it('an expired authorisation cannot be captured; void says expired, released 0.00; one expire row', async () => {
    await call(sandbox(), 'POST', '/sandbox/config', { authorizationTtlMs: 1 });
    const a = await authorize('o-exp', '80.00');
    await waitFor(() => Date.now() > Date.parse(a.expiresAt));
    const cap = await call(sandbox(), 'POST', `/payments/v1/authorizations/${a.authorizationId}/capture`, {});
    expect(cap).toMatchObject({ status: 409, body: { error: 'authorization_expired', expiredAt: a.expiresAt } });
    expect((await call(sandbox(), 'POST', `/payments/v1/authorizations/${a.authorizationId}/capture`, { amount: '1.00' })).body.error).toBe(
      'authorization_expired',
    );
    for (let i = 0; i < 2; i++) {
      const v = await call(sandbox(), 'POST', `/payments/v1/authorizations/${a.authorizationId}/void`, {});
      expect(v).toMatchObject({ status: 200, body: { status: 'expired', released: '0.00' } });
    }
    expect((await ledger('o-exp')).map((e) => [e.type, e.amount])).toEqual([
      ['authorize', '80.00'],
      ['expire', '80.00'],
    ]);
  });

  it('the gateway notices an expiry when its ledger is read, untouched authorisations included', async () => {
    await call(sandbox(), 'POST', '/sandbox/config', { authorizationTtlMs: 1 });
    const a = await authorize('o-seen');
    await waitFor(() => Date.now() > Date.parse(a.expiresAt));
    expect((await ledger('o-seen')).map((e) => e.type)).toEqual(['authorize', 'expire']);
    expect((await ledger('o-seen')).map((e) => e.type)).toEqual(['authorize', 'expire']);
  });

  it('expire-now releases the uncaptured rest of a partly captured one; its capture stays refundable', async () => {
    const a = await authorize('o-now');
    const cap = await call(sandbox(), 'POST', `/payments/v1/authorizations/${a.authorizationId}/capture`, { amount: '30.00' });
    expect(cap.status).toBe(201);
    const ex = await call(sandbox(), 'POST', `/sandbox/payments/authorizations/${a.authorizationId}/expire`, {});
    expect(ex).toMatchObject({ status: 200, body: { authorizationId: a.authorizationId, status: 'expired' } });
    expect(Date.parse(ex.body.expiresAt as string)).toBeLessThanOrEqual(Date.now());
    expect((await call(sandbox(), 'POST', `/payments/v1/authorizations/${a.authorizationId}/capture`, { amount: '10.00' })).status).toBe(
      409,
    );
    expect(
      await call(sandbox(), 'POST', `/payments/v1/captures/${cap.body.captureId as string}/refunds`, { amount: '30.00' }),
    ).toMatchObject({ status: 201 });
    expect((await call(sandbox(), 'POST', `/sandbox/payments/authorizations/${a.authorizationId}/expire`, {})).status).toBe(200);
    expect((await ledger('o-now')).map((e) => [e.type, e.amount])).toEqual([
      ['authorize', '100.00'],
      ['capture', '30.00'],
      ['expire', '70.00'],
      ['refund', '30.00'],
    ]);
  });

  it('re-authorising with the same token and a new key gives a fresh, capturable authorisation', async () => {
    const old = await authorize('o-reauth');
    await call(sandbox(), 'POST', `/sandbox/payments/authorizations/${old.authorizationId}/expire`, {});
    const fresh = await authorize('o-reauth');
    expect(fresh.authorizationId).not.toBe(old.authorizationId);
    expect(Date.parse(fresh.expiresAt)).toBeGreaterThan(Date.now());
    expect(await call(sandbox(), 'POST', `/payments/v1/authorizations/${fresh.authorizationId}/capture`, {})).toMatchObject({
      status: 201,
      body: { amount: '100.00' },
    });
  });

  it('a voided authorisation stays voided past its expiry; unknown ones are 404', async () => {
    const a = await authorize('o-void');
    await call(sandbox(), 'POST', `/payments/v1/authorizations/${a.authorizationId}/void`, {});
    expect(await call(sandbox(), 'POST', `/sandbox/payments/authorizations/${a.authorizationId}/expire`, {})).toMatchObject({
      status: 200,
      body: { status: 'voided' },
    });
    expect(await call(sandbox(), 'POST', `/payments/v1/authorizations/${a.authorizationId}/void`, {})).toMatchObject({
      status: 200,
      body: { status: 'voided', released: '100.00' },
    });
    expect((await ledger('o-void')).map((e) => e.type)).toEqual(['authorize', 'void']);
    expect(await call(sandbox(), 'POST', '/sandbox/payments/authorizations/auth_nope/expire', {})).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
    expect(await call(sandbox(), 'POST', '/payments/v1/authorizations/auth_nope/capture', {})).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
  });
});

describe('a booking the carrier forgot', () => {
  it('answers 404 to tracking, cancel and the controls, and leaves the carrier ledger', async () => {
    const bk = await call(sandbox(), 'POST', '/carriers/ghn/v1/shipments', shipment('o-forget'));
    const id = bk.body.bookingId as string;
    expect(await call(sandbox(), 'POST', `/sandbox/carriers/vtp/bookings/${id}/forget`, {})).toMatchObject({ status: 404 });
    expect(await call(sandbox(), 'POST', `/sandbox/carriers/ghn/bookings/${id}/forget`, {})).toMatchObject({
      status: 200,
      body: { bookingId: id, forgotten: true },
    });
    expect(await call(sandbox(), 'GET', `/carriers/ghn/v1/shipments/${id}`)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await call(sandbox(), 'POST', `/carriers/ghn/v1/shipments/${id}/cancel`, {})).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
    expect((await call(sandbox(), 'POST', `/sandbox/carriers/${id}/advance`, {})).status).toBe(404);
    expect((await call(sandbox(), 'POST', `/sandbox/carriers/ghn/bookings/${id}/forget`, {})).status).toBe(404);
    const led = (await call(sandbox(), 'GET', '/sandbox/ledger/carriers?orderId=o-forget')).body;
    expect(led.bookings).toEqual([]);
    expect(led.forgotten).toMatchObject([{ bookingId: id, orderId: 'o-forget', status: 'booked' }]);
    // The shipment can be booked again: a new booking, the only one the carrier knows.
    const again = await call(sandbox(), 'POST', '/carriers/ghn/v1/shipments', shipment('o-forget'));
    expect(again.body.bookingId).not.toBe(id);
    expect((await call(sandbox(), 'GET', '/sandbox/ledger/carriers?orderId=o-forget')).body.bookings as unknown[]).toHaveLength(1);
  });

  it('sends no more webhooks for it, retries included', async () => {
    const rx = new WebhookReceiver();
    await rx.start();
    const sb = await startSandbox({ omsBaseUrl: rx.url, autoProgress: { enabled: true, stepMs: 40 } });
    try {
      await call(sb, 'POST', '/sandbox/carriers/hold', { orderId: 'o-quiet' });
      const quiet = (await call(sb, 'POST', '/carriers/ghn/v1/shipments', shipment('o-quiet'))).body as {
        bookingId: string;
        trackingNumber: string;
      };
      const id = quiet.bookingId;
      rx.down = true;
      await call(sb, 'POST', `/sandbox/carriers/${id}/advance`, {});
      await waitFor(() => rx.refused >= 1);
      expect((await call(sb, 'POST', `/sandbox/carriers/ghn/bookings/${id}/forget`, {})).status).toBe(200);
      rx.down = false;
      await call(sb, 'POST', '/sandbox/carriers/release', { orderId: 'o-quiet' });
      // A second parcel, booked after, gets all the way: the first would have by now too.
      const other = (await call(sb, 'POST', '/carriers/ghn/v1/shipments', shipment('o-loud'))).body.trackingNumber as string;
      await waitFor(() => rx.statuses(other).includes('delivered'));
      // Absence can only be shown by waiting: past the event's next two retries (100 + 200 ms backoff).
      await sleep(400);
      expect(rx.statuses(quiet.trackingNumber)).toEqual([]);
      const hooks = (await call(sb, 'GET', '/sandbox/ledger/carriers?orderId=o-quiet')).body.webhooks as { attempt: number }[];
      expect(hooks.length).toBeLessThanOrEqual(2);
    } finally {
      await sb.stop();
      await rx.stop();
    }
  });
});

describe('probabilistic faults', () => {
  const pick = (i: number) =>
    call(sandbox(), 'POST', '/wms/v1/pick-orders', {
      orderId: `o-pf-${i}`,
      shipmentId: 's1',
      warehouseId: 'wh',
      lines: [{ sku: 'A', quantity: 1 }],
    });
  const run = async (n: number) => {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) statuses.push((await pick(i)).status);
    return statuses;
  };

  it('hits about p of the matching requests, forever by default, with no effect on those it hits', async () => {
    const f = await call(sandbox(), 'POST', '/sandbox/faults', {
      service: 'wms',
      op: 'pick',
      action: 'error500',
      probability: 0.3,
      seed: 7,
    });
    expect(f.status).toBe(201);
    const statuses = await run(200);
    const failed = statuses.filter((s) => s === 500).length;
    // Binomial(200, 0.3): mean 60, sd 6.5; the seed makes this exact run repeatable anyway.
    expect(failed).toBeGreaterThanOrEqual(35);
    expect(failed).toBeLessThanOrEqual(85);
    expect(statuses.filter((s) => s !== 500).every((s) => s === 201)).toBe(true);
    expect((await call(sandbox(), 'GET', '/sandbox/ledger/wms')).body.pickOrders as unknown[]).toHaveLength(200 - failed);
    const [listed] = (await call(sandbox(), 'GET', '/sandbox/faults')).body.faults as { applied: number; matched: number; times: number }[];
    expect(listed).toMatchObject({ applied: failed, matched: 200, times: -1 });

    // Same seed, same run.
    await call(sandbox(), 'POST', '/sandbox/reset', {});
    await call(sandbox(), 'POST', '/sandbox/faults', { service: 'wms', op: 'pick', action: 'error500', probability: 0.3, seed: 7 });
    expect(await run(200)).toEqual(statuses);
  });

  it('counts down `times` only when applied, and lets a spared request reach later faults', async () => {
    await call(sandbox(), 'POST', '/sandbox/faults', {
      service: 'wms',
      op: 'pick',
      action: 'error500',
      probability: 0.5,
      times: 3,
      seed: 1,
    });
    await call(sandbox(), 'POST', '/sandbox/faults', { service: 'wms', op: 'pick', action: 'error429', times: 1 });
    const statuses = await run(40);
    expect(statuses.filter((s) => s === 500)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
    expect((await call(sandbox(), 'GET', '/sandbox/faults')).body.faults).toEqual([]);
  });

  it('p = 1 hits every request; p outside (0, 1] is refused', async () => {
    await call(sandbox(), 'POST', '/sandbox/faults', {
      service: 'carriers',
      op: 'book',
      action: 'error500',
      probability: 1,
      times: -1,
      match: { carrier: 'vtp' },
    });
    for (let i = 0; i < 5; i++)
      expect((await call(sandbox(), 'POST', '/carriers/vtp/v1/shipments', shipment(`o-p1-${i}`))).status).toBe(500);
    expect((await call(sandbox(), 'POST', '/carriers/ghn/v1/shipments', shipment('o-p1-ghn'))).status).toBe(201);
    for (const probability of [0, -0.1, 1.5]) {
      expect(
        (await call(sandbox(), 'POST', '/sandbox/faults', { service: 'wms', op: 'pick', action: 'error500', probability })).status,
      ).toBe(400);
    }
  });
});
