/**
 * A shipment that re-authorises because the order's authorisation is about to lapse captures
 * from the new authorisation and releases exactly its own share of the original, once: the
 * customer's money is never held twice, and the order's other shipments still capture their
 * shares from the original. The gateway (sandbox) supports partial reversals like real ones.
 * Real Temporal, real PostgreSQL, real HTTP to the sandbox's gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AUTHORIZATION_TTL_MS } from '../../sandbox/payments';
import { DEV_SANDBOX_KEY } from '../../sandbox/server';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { journalHolds, startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
interface OrderBody {
  status: string;
  needsAttention: boolean;
  attentionReason: string | null;
  payment: { authorizationId?: string; expiresAt?: string; captures: { shipmentId: string; captureId: string; amount: string }[] };
  shipments: { shipmentId: string; bookingId?: string; status: string; needsAttention: boolean }[];
}
interface Entry {
  type: string;
  id: string;
  authorizationId?: string;
  amount: string;
  idempotencyKey: string;
  partial?: boolean;
}

/** The re-authorisation margin of workflows/shipment.ts: closer than this to the expiry, a capture authorises again. */
const MARGIN_MS = 3_600_000;
const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
const until = (id: string, pred: (o: OrderBody) => boolean, what: string, timeoutMs = 45_000) =>
  eventually(
    async () => {
      const o = await getOrder(id);
      return pred(o) ? o : undefined;
    },
    { what: `${id}: ${what}`, timeoutMs },
  );
async function control<T = Record<string, unknown>>(
  path: string,
  body?: unknown,
  method = body === undefined ? 'GET' : 'POST',
): Promise<T> {
  const res = await fetch(stack.sandboxUrl + path, {
    method,
    headers: { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(res.status, `${path} → ${res.status}`).toBeLessThan(300);
  return res.json() as Promise<T>;
}
/** A merchant call to the gateway, as the OMS's activities make it. */
async function gateway(path: string, body: unknown, key: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${stack.sandboxUrl}/payments/v1${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${DEV_SANDBOX_KEY}`, 'Idempotency-Key': key },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const ledger = async (orderId: string) => (await control<{ entries: Entry[] }>(`/sandbox/ledger/payments?orderId=${orderId}`)).entries;
const minor = (s: string) => Math.round(Number(s) * 100);
/** Per authorisation: what it still holds (authorised − captured − released by voids and expiry). */
function held(entries: Entry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of entries.filter((e) => e.type === 'authorize')) {
    const on = entries.filter((e) => e.authorizationId === a.id && ['capture', 'void', 'expire'].includes(e.type));
    out[a.id] = minor(a.amount) - on.reduce((s, e) => s + minor(e.amount), 0);
  }
  return out;
}
/**
 * The journal's holds per authorisation equal the gateway's (`held`), and are `expected`; every
 * authorisation the gateway made is journalled, for its amount. Waits for the journal to catch up.
 */
async function expectJournalHolds(orderId: string, entries: Entry[], expected: Record<string, number>): Promise<void> {
  const captures = entries.filter((e) => e.type === 'capture');
  const books = await eventually(
    async () => {
      const h = await journalHolds(stack, orderId, captures);
      const same = Object.keys(h).length === Object.keys(expected).length && Object.entries(expected).every(([k, v]) => h[k] === v);
      return same ? h : undefined;
    },
    { what: 'the journal holding what the gateway holds', timeoutMs: 30_000 },
  ).catch(async (err: unknown) => {
    throw new Error(`${String(err)}; journal: ${JSON.stringify(await journalHolds(stack, orderId, captures))}`);
  });
  expect(books).toEqual(held(entries));
  expect(books).toEqual(expected);
}
const submit = async (order: ReturnType<typeof makeOrder>) => {
  const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
  expect(res.status).toBe(201);
  return ((await res.json()) as { orderId: string }).orderId;
};
const advance = (bookingId: string, status: string) => control(`/sandbox/carriers/${bookingId}/advance`, { status });
const setAuthTtl = (ms: number) => control('/sandbox/config', { authorizationTtlMs: ms });

beforeAll(async () => {
  stack = await startTestStack({
    orderSettings: { stepRetry: { initialIntervalMs: 100, maximumIntervalMs: 200, maximumAttempts: 2 } },
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
  });
  // SKU-A only in Ho Chi Minh, SKU-B only in Ha Noi: an order of both to Da Nang ships in two parcels.
  await seedNetwork(stack.db.sql, { 'SKU-A': { 'WH-HCM': 100 }, 'SKU-B': { 'WH-HN': 100 } });
});
afterAll(async () => {
  await stack?.close();
});

describe('the gateway: partial reversal of an authorisation', () => {
  it('releases part of the uncaptured rest, once per key; the rest stays capturable; a void then releases what is left', async () => {
    const orderId = `o-partial-${Date.now()}`;
    const auth = await gateway('/authorizations', { orderId, amount: '300.00', currency: 'VND', paymentToken: 'tok_visa' }, `${orderId}:a`);
    const id = auth.body.authorizationId as string;
    const part = await gateway(`/authorizations/${id}/void`, { amount: '100.00' }, `${orderId}:r1`);
    expect(part.body).toMatchObject({ status: 'authorized', released: '100.00', held: '200.00' });
    // The same request again (a retry) is answered the same and releases nothing more.
    expect((await gateway(`/authorizations/${id}/void`, { amount: '100.00' }, `${orderId}:r1`)).body).toEqual(part.body);
    expect((await gateway(`/authorizations/${id}/capture`, { amount: '250.00' }, `${orderId}:c0`)).body).toMatchObject({
      error: 'amount_exceeds_authorization',
      remaining: '200.00',
    });
    expect((await gateway(`/authorizations/${id}/capture`, { amount: '150.00' }, `${orderId}:c1`)).status).toBe(201);
    // A full void releases only what is left; a partial reversal after it finds nothing.
    expect((await gateway(`/authorizations/${id}/void`, {}, `${orderId}:v`)).body).toMatchObject({ status: 'voided', released: '50.00' });
    expect((await gateway(`/authorizations/${id}/void`, { amount: '100.00' }, `${orderId}:r2`)).body).toMatchObject({
      status: 'voided',
      released: '0.00',
    });
    const entries = await ledger(orderId);
    expect(entries.filter((e) => e.type === 'void').map((e) => [e.amount, e.partial === true])).toEqual([
      ['100.00', true],
      ['50.00', false],
    ]);
    expect(held(entries)).toEqual({ [id]: 0 });
  });
});

describe('a capture that re-authorises releases its share of the original authorisation', () => {
  it('one shipment: captured from the new authorisation; the original releases the share; nothing is held twice', async () => {
    // Authorisations now live 30 minutes: less than the margin, so the capture authorises again.
    await setAuthTtl(30 * 60_000);
    try {
      const orderId = await submit(makeOrder({ sku: 'SKU-A', quantity: 1 }));
      const booked = await until(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
      const original = booked.payment.authorizationId!;
      await advance(booked.shipments[0]!.bookingId!, 'picked_up');
      await advance(booked.shipments[0]!.bookingId!, 'delivered');
      const done = await until(orderId, (o) => o.status === 'DELIVERED' && o.payment.captures.length === 1, 'delivered and captured');
      expect(done.needsAttention).toBe(false);

      const entries = await ledger(orderId);
      const auths = entries.filter((e) => e.type === 'authorize');
      expect(auths.map((a) => a.amount)).toEqual(['100000.00', '100000.00']);
      const renewed = auths.find((a) => a.id !== original)!.id;
      const captures = entries.filter((e) => e.type === 'capture');
      expect(captures.map((c) => [c.authorizationId, c.amount])).toEqual([[renewed, '100000.00']]);
      expect(done.payment.captures.map((c) => c.captureId)).toEqual([captures[0]!.id]);
      // The original released exactly the share, once, as a partial reversal keyed by the shipment.
      const voids = entries.filter((e) => e.type === 'void');
      expect(voids.map((v) => [v.authorizationId, v.amount, v.partial, v.idempotencyKey])).toEqual([
        [original, '100000.00', true, `${orderId}-shipment-1:release-share`],
      ]);
      expect(held(entries)).toEqual({ [original]: 0, [renewed]: 0 });
      // The books hold what the gateway holds: both authorisations journalled, the share released on
      // the original and captured from the new one — nothing left held on either.
      await expectJournalHolds(orderId, entries, { [original]: 0, [renewed]: 0 });
    } finally {
      await setAuthTtl(DEFAULT_AUTHORIZATION_TTL_MS);
    }
  });

  it('a lapse after a cut: the rest authorised again and captured; the cut share lapsed with the original — the books hold nothing, as the gateway', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-A', quantity: 3 }));
    const booked = await until(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const original = booked.payment.authorizationId!;
    const first = booked.shipments[0]!.shipmentId;
    const cut = await stack.api(`/v1/orders/${orderId}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { reason: 'one fewer', lines: [{ lineNo: 1, quantity: 1 }] },
    });
    expect(cut.status).toBe(200);
    const rebooked = await until(
      orderId,
      (o) => o.shipments.some((s) => s.shipmentId !== first && s.status === 'booked'),
      'the rest booked again',
    );
    // The authorisation lapses at the gateway before the parcel leaves.
    await control(`/sandbox/payments/authorizations/${original}/expire`, {});
    const rest = rebooked.shipments.find((s) => s.shipmentId !== first)!;
    await advance(rest.bookingId!, 'picked_up');
    await advance(rest.bookingId!, 'delivered');
    await until(orderId, (o) => o.status === 'DELIVERED' && o.payment.captures.length === 1 && !o.needsAttention, 'delivered');
    const entries = await ledger(orderId);
    const renewed = entries.find((e) => e.type === 'authorize' && e.id !== original)!.id;
    expect(entries.filter((e) => e.type === 'capture').map((c) => [c.authorizationId, c.amount])).toEqual([[renewed, '200000.00']]);
    expect(entries.filter((e) => e.type === 'expire').map((e) => [e.authorizationId, e.amount])).toEqual([[original, '300000.00']]);
    expect(held(entries)).toEqual({ [original]: 0, [renewed]: 0 });
    // The journal: the rest's share lapsed when it was authorised again, and the cut unit's share
    // (the remainder the void found already let go) lapsed with it.
    await expectJournalHolds(orderId, entries, { [original]: 0, [renewed]: 0 });
  });

  it('two shipments on one authorisation: one re-authorises and releases its share; the other still captures its own from the original', async () => {
    // The original lapses in an hour and 45 s: the first parcel is captured before the
    // re-authorisation margin, the second after it.
    const slackMs = 45_000;
    await setAuthTtl(MARGIN_MS + slackMs);
    try {
      const order = makeOrder({
        lines: [
          { sku: 'SKU-A', quantity: 1, unitPrice: '100000.00' },
          { sku: 'SKU-B', quantity: 1, unitPrice: '20000.00' },
        ],
        shippingAddress: { name: 'C', line1: '1 Tran Phu', city: 'Da Nang', country: 'VN' },
      });
      const orderId = `order-web-${order.channelOrderId}`;
      // The first capture (the Ha Noi parcel's) is refused once: it waits, parked, for an ops retry.
      await control('/sandbox/faults', {
        service: 'payments',
        op: 'capture',
        match: { orderId },
        action: 'refuse',
        status: 409,
        error: 'gateway_busy',
        times: 1,
      });
      await submit(order);
      const booked = await until(
        orderId,
        (o) => o.shipments.length === 2 && o.shipments.every((s) => s.status === 'booked'),
        'both booked',
      );
      const original = booked.payment.authorizationId!;
      const marginAt = Date.parse(booked.payment.expiresAt!) - MARGIN_MS;
      const [hcm, hn] = [
        booked.shipments.find((s) => s.shipmentId.endsWith('-shipment-1'))!,
        booked.shipments.find((s) => s.shipmentId.endsWith('-shipment-2'))!,
      ];

      await advance(hn.bookingId!, 'picked_up');
      const parked = await until(orderId, (o) => o.needsAttention, 'Ha Noi capture parked');
      expect(parked.attentionReason).toContain('gateway_busy');
      // The precondition of this scenario: the Ha Noi parcel tried the original before the margin.
      expect(
        (await ledger(orderId)).filter((e) => e.type === 'authorize'),
        'the machine was too slow: the first capture came after the margin',
      ).toHaveLength(1);
      expect(Date.now()).toBeLessThan(marginAt);

      // Past the margin the Ho Chi Minh parcel leaves: it authorises its share again, captures it
      // and releases that share of the original.
      await eventually(() => Promise.resolve(Date.now() > marginAt + 1000), {
        what: 'the re-authorisation margin reached',
        timeoutMs: slackMs + 30_000,
        intervalMs: 500,
      });
      await advance(hcm.bookingId!, 'picked_up');
      await eventually(async () => (await ledger(orderId)).some((e) => e.type === 'void' && e.authorizationId === original), {
        what: 'share released',
        timeoutMs: 45_000,
      });

      // Ops retry the Ha Noi capture: it still captures its share from the original.
      const retried = await stack.api(`/v1/orders/${orderId}/retry`, { method: 'POST', key: TEST_KEYS.ops, json: {} });
      expect(retried.status, await retried.clone().text()).toBe(200);
      await until(orderId, (o) => o.payment.captures.length === 2 && !o.needsAttention, 'both captured');
      await advance(hn.bookingId!, 'delivered');
      await advance(hcm.bookingId!, 'delivered');
      const done = await until(orderId, (o) => o.status === 'DELIVERED', 'delivered');
      expect(done.needsAttention).toBe(false);

      const entries = await ledger(orderId);
      const auths = entries.filter((e) => e.type === 'authorize');
      expect(auths.map((a) => a.amount).sort()).toEqual(['100000.00', '120000.00']);
      const renewed = auths.find((a) => a.id !== original)!.id;
      const captures = entries.filter((e) => e.type === 'capture');
      expect(captures.map((c) => [c.authorizationId, c.amount]).sort()).toEqual(
        [
          [original, '20000.00'],
          [renewed, '100000.00'],
        ].sort(),
      );
      expect(done.payment.captures.map((c) => c.captureId).sort()).toEqual(captures.map((c) => c.id).sort());
      expect(entries.filter((e) => e.type === 'void').map((v) => [v.authorizationId, v.amount, v.partial])).toEqual([
        [original, '100000.00', true],
      ]);
      expect(held(entries)).toEqual({ [original]: 0, [renewed]: 0 });
      await expectJournalHolds(orderId, entries, { [original]: 0, [renewed]: 0 });
    } finally {
      await setAuthTtl(DEFAULT_AUTHORIZATION_TTL_MS);
    }
  }, 240_000);
});
