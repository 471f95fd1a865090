/**
 * Carrier events: signed webhooks (verified, deduplicated, out of order) and a carrier without
 * webhooks that the shipment workflow polls.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_CARRIER_SECRETS } from '../../lib/config';
import { eventually, makeOrder, seedNetwork, stockRow } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

interface OrderBody { status: string; shipments: { bookingId?: string; status: string }[]; timeline: { event: string; detail: { eventId?: string } }[] }

describe('webhook carrier', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } } });
    await seedNetwork(stack.db.sql, { 'SKU-A': { 'WH-HCM': 10 } });
  });
  afterAll(async () => { await stack?.close(); });

  const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.cs })).json()) as OrderBody;
  const send = (event: Record<string, unknown>, opts: { secret?: string; carrier?: string } = {}) => {
    const raw = JSON.stringify(event);
    const signature = createHmac('sha256', opts.secret ?? DEV_CARRIER_SECRETS.ghn!).update(raw).digest('hex');
    return fetch(`${stack.apiUrl}/v1/carriers/${opts.carrier ?? 'ghn'}/webhooks`, { method: 'POST', body: raw, headers: { 'Content-Type': 'application/json', 'X-Carrier-Signature': signature } });
  };

  it('verifies, deduplicates and orders events: delivered before picked up, duplicates 5×, nothing moves backwards', async () => {
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder({ quantity: 2, payment: { method: 'cod' } }) });
    const { orderId } = (await res.json()) as { orderId: string };
    const booked = await eventually(async () => { const o = await getOrder(orderId); return o.shipments[0]?.bookingId ? o : undefined; });
    const bookingId = booked.shipments[0]!.bookingId!;
    const ev = (eventId: string, status: string) => ({ eventId, bookingId, status, occurredAt: new Date().toISOString(), carrier: 'ghn' });

    expect((await send(ev('e-forged', 'delivered'), { secret: 'wrong-secret' })).status).toBe(401);
    expect((await send(ev('e-x', 'delivered'), { carrier: 'pigeon' })).status).toBe(404);
    expect((await send({ ...ev('e-y', 'delivered'), bookingId: 'no-such-booking' })).status).toBe(409);

    const first = await send(ev('e-delivered', 'delivered'));
    expect(await first.json()).toEqual({ accepted: true, duplicate: false });
    for (let i = 0; i < 4; i++) expect(await (await send(ev('e-delivered', 'delivered'))).json()).toEqual({ accepted: true, duplicate: true });
    const done = await eventually(async () => { const o = await getOrder(orderId); return o.status === 'DELIVERED' ? o : undefined; });
    // Late events for a finished shipment are acknowledged and change nothing.
    expect((await send(ev('e-transit', 'in_transit'))).status).toBe(200);
    expect(done.shipments[0]!.status).toBe('delivered');
    expect(done.timeline.filter((t) => t.detail.eventId === 'e-delivered')).toHaveLength(1);
    expect(done.timeline.filter((t) => t.detail.eventId === 'e-forged')).toHaveLength(0);
    // Delivery implies the handover happened: stock was committed.
    expect(await stockRow(stack.db.sql, 'SKU-A', 'WH-HCM')).toEqual({ onHand: 8, reserved: 0 });
    const after = await getOrder(orderId);
    expect(after.status).toBe('DELIVERED');
  });
});

describe('polled carrier', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ orderSettings: { defaultCarrier: 'vtp', trackingPollMs: 200 }, sandboxOptions: { autoProgress: { enabled: true, stepMs: 100 } } });
    await seedNetwork(stack.db.sql, { 'SKU-A': { 'WH-HCM': 10 } });
  });
  afterAll(async () => { await stack?.close(); });

  it('reaches DELIVERED by polling a carrier that sends no webhooks', async () => {
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder({ payment: { method: 'cod' } }) });
    const { orderId } = (await res.json()) as { orderId: string };
    const order = await eventually(async () => {
      const o = (await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.cs })).json()) as OrderBody & { shipments: { carrier?: string }[] };
      return o.status === 'DELIVERED' ? o : undefined;
    }, { timeoutMs: 30_000 });
    expect(order.shipments[0]!.carrier).toBe('vtp');
    const webhooks = (await (await fetch(`${stack.sandboxUrl}/sandbox/ledger/carriers?orderId=${orderId}`)).json()) as { webhooks: unknown[] };
    expect(webhooks.webhooks).toEqual([]);
  });
});
