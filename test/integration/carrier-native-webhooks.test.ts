/**
 * Orders carried end to end on the carriers' own webhook formats: the sandbox's GHN posts GHN's
 * flat body to `?token=` (its Viettel Post posts DATA/TOKEN with the secret in Authorization),
 * made from the published samples; the OMS authenticates, maps and applies them. A GHN COD order
 * goes picked → in transit → delivered → cash transferred; another fails delivery and comes back
 * to the sender; a VTP order is delivered by webhooks alone while polling waits far away.
 * Real Temporal, real PostgreSQL, real HTTP between OMS and sandbox.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SLA } from '../../domain/settings';
import { DEV_SANDBOX_KEY } from '../../sandbox/server';
import { eventually, makeOrder, seedNetwork, stockRow } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

interface OrderBody {
  status: string;
  shipments: {
    shipmentId: string;
    bookingId?: string;
    trackingNumber?: string;
    status: string;
    rts?: string;
    cod?: { due: string; remitted: string; settled: boolean };
  }[];
  timeline: { event: string; detail: { eventId?: string } }[];
}
interface Ledger {
  bookings: { bookingId: string; events: { eventId: string; status: string }[] }[];
  webhooks: { bookingId: string; eventId: string; status: string; responseStatus: number | null }[];
}

function helpers(get: () => TestStack) {
  const getOrder = async (id: string) => (await (await get().api(`/v1/orders/${id}`, { key: TEST_KEYS.cs })).json()) as OrderBody;
  const until = (id: string, pred: (o: OrderBody) => boolean, what: string) =>
    eventually(
      async () => {
        const o = await getOrder(id);
        return pred(o) ? o : undefined;
      },
      { what: `${id}: ${what}`, timeoutMs: 30_000 },
    );
  const sandbox = async <T = Record<string, unknown>>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(
      get().sandboxUrl + path,
      body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
    );
    expect(res.status, path).toBeLessThan(300);
    return res.json() as Promise<T>;
  };
  const submit = async (order: ReturnType<typeof makeOrder>) => {
    const res = await get().api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
    expect(res.status).toBe(201);
    return ((await res.json()) as { orderId: string }).orderId;
  };
  /** The carrier moves the parcel (and sends its webhook); waits until the OMS has taken it. */
  const advance = async (orderId: string, bookingId: string, status: string) => {
    const ev = await sandbox<{ eventId: string }>(`/sandbox/carriers/${bookingId}/advance`, { status });
    await eventually(
      async () => {
        const l = await sandbox<Ledger>(`/sandbox/ledger/carriers?orderId=${orderId}`);
        return l.webhooks.some((w) => w.eventId === ev.eventId && w.responseStatus === 200);
      },
      { what: `${status} webhook taken` },
    );
    return ev.eventId;
  };
  const carrierEvents = (code: string) => get().db.sql<{ eventId: string; status: string }[]>`
    select event_id as "eventId", status from carrier_events where booking_id = ${code} order by received_at, event_id`;
  return { getOrder, until, sandbox, submit, advance, carrierEvents };
}

describe('GHN, its own webhooks end to end', () => {
  let stack: TestStack;
  const h = helpers(() => stack);
  beforeAll(async () => {
    stack = await startTestStack({
      // The SLA keeps a COD shipment open until the carrier has transferred the cash; deadlines far away.
      orderSettings: { defaultCarrier: 'ghn', sla: DEFAULT_SLA, rtsPolicy: 'refund' },
      returnWindows: { default: 0 },
      sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
    });
    await seedNetwork(stack.db.sql, { 'SKU-N': { 'WH-HCM': 50 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('a COD order: picked, in transit, delivered, cash transferred — each a GHN webhook, applied once, the money exact', async () => {
    const orderId = await h.submit(makeOrder({ sku: 'SKU-N', quantity: 3, payment: { method: 'cod' } }));
    const booked = await h.until(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const {
      bookingId,
      trackingNumber: code,
      shipmentId,
    } = booked.shipments[0]! as { bookingId: string; trackingNumber: string; shipmentId: string };
    expect(code).toMatch(/^GHN\d{10}$/);

    const picked = await h.advance(orderId, bookingId, 'picked_up');
    expect(picked).toMatch(new RegExp(`^ghn:${code}:switch_status:picked:\\d{4}-`));
    await h.advance(orderId, bookingId, 'in_transit');
    const delivered = await h.advance(orderId, bookingId, 'delivered');
    const owed = await h.until(orderId, (o) => o.status === 'DELIVERED' && o.shipments[0]?.cod !== undefined, 'delivered, COD owed');
    expect(owed.shipments[0]!.cod).toEqual({ due: '300000.00', remitted: '0.00', settled: false });
    const transfer = await h.advance(orderId, bookingId, 'cod_remitted');
    expect(transfer).toMatch(new RegExp(`^ghn:${code}:cod_transfer:`));
    const done = await h.until(orderId, (o) => o.status === 'COMPLETED', 'cash transferred, completed');
    expect(done.shipments[0]).toMatchObject({
      shipmentId,
      status: 'delivered',
      cod: { due: '300000.00', remitted: '300000.00', settled: true },
    });

    // A duplicate delivery of GHN's delivered webhook (carriers send at least once) changes nothing.
    await h.sandbox(`/sandbox/carriers/${bookingId}/replay`, { eventId: delivered, times: 2 });
    await eventually(
      async () => {
        const l = await h.sandbox<Ledger>(`/sandbox/ledger/carriers?orderId=${orderId}`);
        return l.webhooks.filter((w) => w.eventId === delivered && w.responseStatus === 200).length === 3;
      },
      { what: 'replays answered 200' },
    );

    const rows = await h.carrierEvents(code);
    expect(rows.map((r) => r.status).sort()).toEqual(['cod_remitted', 'delivered', 'in_transit', 'none:update_cod:delivered', 'picked_up']);
    expect(rows.every((r) => r.eventId.startsWith(`ghn:${code}:`))).toBe(true);
    const after = await h.getOrder(orderId);
    for (const id of [picked, delivered, transfer])
      expect(
        after.timeline.filter((t) => t.detail.eventId === id),
        id,
      ).toHaveLength(1);
    // Every webhook the sandbox sent for the order was taken (200), none refused.
    const ledger = await h.sandbox<Ledger>(`/sandbox/ledger/carriers?orderId=${orderId}`);
    expect(ledger.webhooks.length).toBe(6);
    expect(ledger.webhooks.every((w) => w.responseStatus === 200)).toBe(true);
    expect(stack.logs.filter((l) => /carrier webhook taken with notes|carrier status not known/.test(l))).toEqual([]);
  });

  it("a parcel whose delivery fails comes back to the sender: GHN's delivery_fail and returned, the units restocked, the capture refunded", async () => {
    const before = await stockRow(stack.db.sql, 'SKU-N', 'WH-HCM');
    const orderId = await h.submit(makeOrder({ sku: 'SKU-N', quantity: 2 }));
    const booked = await h.until(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const { bookingId, trackingNumber: code } = booked.shipments[0]! as { bookingId: string; trackingNumber: string };
    await h.advance(orderId, bookingId, 'picked_up');
    await h.advance(orderId, bookingId, 'in_transit');
    const failed = await h.advance(orderId, bookingId, 'delivery_failed');
    expect(failed).toMatch(new RegExp(`^ghn:${code}:switch_status:delivery_fail:`));
    await h.until(orderId, (o) => o.shipments[0]?.status === 'delivery_failed', 'delivery failed');
    const returned = await h.advance(orderId, bookingId, 'returned_to_sender');
    expect(returned).toMatch(new RegExp(`^ghn:${code}:switch_status:returned:`));
    const o = await h.until(orderId, (x) => x.status === 'CANCELLED', 'cancelled after the return to sender');
    expect(o.shipments[0]).toMatchObject({ status: 'returned_to_sender', rts: 'refunded' });
    expect(o.timeline.filter((t) => t.detail.eventId === failed).map((t) => t.event)).toEqual([expect.stringMatching(/delivery failed/)]);
    expect(o.timeline.filter((t) => t.detail.eventId === returned).map((t) => t.event)).toEqual([
      expect.stringMatching(/returned to sender/),
    ]);
    expect(await stockRow(stack.db.sql, 'SKU-N', 'WH-HCM')).toEqual(before);
    expect((await h.carrierEvents(code)).map((r) => r.status).sort()).toEqual([
      'delivery_failed',
      'in_transit',
      'picked_up',
      'returned_to_sender',
    ]);
    const payments = await eventually(
      async () => {
        const p = (
          await h.sandbox<{ entries: { type: string; amount: string }[] }>(`/sandbox/ledger/payments?orderId=${orderId}`)
        ).entries.map((e) => [e.type, e.amount]);
        return p.length === 3 ? p : undefined;
      },
      { what: 'refund' },
    );
    expect(payments).toEqual([
      ['authorize', '200000.00'],
      ['capture', '200000.00'],
      ['refund', '200000.00'],
    ]);
  });
});

describe('Viettel Post, its own webhooks end to end', () => {
  let stack: TestStack;
  const h = helpers(() => stack);
  beforeAll(async () => {
    // The OMS polls VTP; the first poll is ten minutes away, so only webhooks can move this parcel.
    stack = await startTestStack({
      orderSettings: { defaultCarrier: 'vtp', trackingPollMs: 600_000 },
      sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
    });
    await seedNetwork(stack.db.sql, { 'SKU-V': { 'WH-HCM': 10 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("an order is delivered by VTP's webhooks (Authorization secret), each step under the id the poll would find it by", async () => {
    const orderId = await h.submit(makeOrder({ sku: 'SKU-V' }));
    const booked = await h.until(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const { bookingId, trackingNumber: code } = booked.shipments[0]! as { bookingId: string; trackingNumber: string };
    expect(code).toMatch(/^VTP\d{10}$/);
    const ids = [];
    for (const status of ['picked_up', 'in_transit', 'delivered']) ids.push(await h.advance(orderId, bookingId, status));
    expect(ids.map((id) => id.split(':')[2])).toEqual(['200', '300', '501']);
    const done = await h.until(orderId, (o) => o.status === 'DELIVERED', 'delivered');
    for (const id of ids)
      expect(
        done.timeline.filter((t) => t.detail.eventId === id),
        id,
      ).toHaveLength(1);
    expect((await h.carrierEvents(code)).map((r) => r.status).sort()).toEqual(['delivered', 'in_transit', 'picked_up']);
    // The tracking answer (what a poll reads) names the same events by the same ids.
    const tracked = (await (
      await fetch(`${stack.sandboxUrl}/carriers/vtp/v1/shipments/${bookingId}`, { headers: { Authorization: `Bearer ${DEV_SANDBOX_KEY}` } })
    ).json()) as { events: { eventId: string }[] };
    expect(tracked.events.slice(1).map((e) => e.eventId)).toEqual(ids);
  });
});
