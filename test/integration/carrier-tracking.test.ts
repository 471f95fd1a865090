/**
 * Carrier events: webhooks in the carrier's own format (authenticated, deduplicated, out of
 * order), and a carrier whose webhooks are off that the shipment workflow polls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeOrder, seedNetwork, stockRow } from '../support/fixtures';
import { ghnWebhook, postCarrierWebhook } from '../support/carrier-webhooks';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

interface OrderBody {
  status: string;
  shipments: { bookingId?: string; trackingNumber?: string; status: string }[];
  timeline: { event: string; detail: { eventId?: string } }[];
}

describe('webhook carrier', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } } });
    await seedNetwork(stack.db.sql, { 'SKU-A': { 'WH-HCM': 10 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.cs })).json()) as OrderBody;
  const send = (body: Record<string, unknown>, opts: { secret?: string; carrier?: string } = {}) =>
    postCarrierWebhook(stack.apiUrl, opts.carrier ?? 'ghn', body, opts);

  it('authenticates, deduplicates and orders GHN webhooks: delivered before picked up, duplicates 5×, nothing moves backwards', async () => {
    const res = await stack.api('/v1/orders', {
      method: 'POST',
      key: TEST_KEYS.web,
      json: makeOrder({ quantity: 2, payment: { method: 'cod' } }),
    });
    const { orderId } = (await res.json()) as { orderId: string };
    const booked = await eventually(async () => {
      const o = await getOrder(orderId);
      return o.shipments[0]?.trackingNumber ? o : undefined;
    });
    const orderCode = booked.shipments[0]!.trackingNumber!;
    const at = '2026-11-22T04:02:58.774Z';
    // No ClientOrderCode: found by the tracking code, as when the reference was not sent at booking.
    const delivered = ghnWebhook({ orderCode, status: 'delivered', time: at, codAmount: 298000 });

    expect((await send(delivered, { secret: 'wrong-secret' })).status).toBe(401);
    expect((await send(delivered, { carrier: 'pigeon' })).status).toBe(404);
    expect((await send({ ...delivered, OrderCode: 'GHN-NO-SUCH-PARCEL' })).status).toBe(409);

    const first = await send(delivered);
    expect(await first.json()).toMatchObject({
      accepted: true,
      duplicate: false,
      trackingCode: orderCode,
      events: [{ status: 'delivered', outcome: 'applied' }],
    });
    for (let i = 0; i < 4; i++) expect(await (await send(delivered)).json()).toMatchObject({ accepted: true, duplicate: true });
    const done = await eventually(async () => {
      const o = await getOrder(orderId);
      return o.status === 'DELIVERED' ? o : undefined;
    });
    // Late events for a finished shipment are acknowledged and change nothing.
    expect((await send(ghnWebhook({ orderCode, status: 'transporting', time: '2026-11-21T10:00:00.000Z' }))).status).toBe(200);
    // A status GHN adds one day is taken and recorded, not refused.
    const odd = await send(ghnWebhook({ orderCode, status: 'teleported', time: '2026-11-22T05:00:00.000Z' }));
    expect(await odd.json()).toMatchObject({ events: [{ status: null, outcome: 'no_effect' }] });
    expect(done.shipments[0]!.status).toBe('delivered');
    const eventId = `ghn:${orderCode}:switch_status:delivered:${at}`;
    expect(done.timeline.filter((t) => t.detail.eventId === eventId)).toHaveLength(1);
    // Delivery implies the handover happened: stock was committed.
    expect(await stockRow(stack.db.sql, 'SKU-A', 'WH-HCM')).toEqual({ onHand: 8, reserved: 0 });
    const after = await getOrder(orderId);
    expect(after.status).toBe('DELIVERED');
    const rows = await stack.db.sql<
      { eventId: string; status: string }[]
    >`select event_id as "eventId", status from carrier_events where booking_id = ${orderCode} order by received_at`;
    expect(rows.map((r) => r.status)).toEqual(['delivered', 'in_transit', 'unknown:teleported']);
    expect(rows[0]!.eventId).toBe(eventId);
  });
});

describe('polled carrier', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({
      orderSettings: { defaultCarrier: 'vtp', trackingPollMs: 200 },
      sandboxOptions: { autoProgress: { enabled: true, stepMs: 100 } },
    });
    await seedNetwork(stack.db.sql, { 'SKU-A': { 'WH-HCM': 10 } });
    // The real VTP pushes webhooks too (the sandbox's does by default): off, polling alone must do.
    const off = await fetch(`${stack.sandboxUrl}/sandbox/carriers/push`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ vtp: false }),
    });
    expect(await off.json()).toMatchObject({ vtp: false });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('reaches DELIVERED by polling a carrier that sends no webhooks', async () => {
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder({ payment: { method: 'cod' } }) });
    const { orderId } = (await res.json()) as { orderId: string };
    const order = await eventually(
      async () => {
        const o = (await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.cs })).json()) as OrderBody & {
          shipments: { carrier?: string }[];
        };
        return o.status === 'DELIVERED' ? o : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(order.shipments[0]!.carrier).toBe('vtp');
    const webhooks = (await (await fetch(`${stack.sandboxUrl}/sandbox/ledger/carriers?orderId=${orderId}`)).json()) as {
      webhooks: unknown[];
    };
    expect(webhooks.webhooks).toEqual([]);
  });
});
