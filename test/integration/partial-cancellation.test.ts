/**
 * Partial cancellation: some units of some lines are cancelled before their shipment leaves the
 * warehouse, and the rest of the order carries on. Proven against the real workflow, stock rows,
 * and the sandbox's payment and carrier ledgers: the cut units go back to stock exactly, the
 * old shipment is undone at the carrier and the warehouse, a new shipment carries the rest and
 * captures (or collects) only its share, and the authorisation's remainder is released once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanonicalOrder } from '../../domain/order';
import { eventually, makeOrder, one, seedNetwork, stockRow } from '../support/fixtures';
import { startTestStack, stockEventsOf, stockUnits, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
interface Shipment {
  shipmentId: string;
  bookingId?: string;
  status: string;
  lines: { lineNo: number; quantity: number }[];
}
interface OrderBody {
  status: string;
  cancelledLines: { lineNo: number; quantity: number }[];
  shipments: Shipment[];
  payment: { authorized?: string; remainderReleased?: string };
  timeline: { status: string; event: string; actor: string }[];
}
interface Booking {
  bookingId: string;
  shipmentId?: string;
  status: string;
  codAmount?: string;
}

const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
const waitFor = (id: string, pred: (o: OrderBody) => boolean, what: string) =>
  eventually(
    async () => {
      const o = await getOrder(id);
      return pred(o) ? o : undefined;
    },
    { what: `${id}: ${what}` },
  );
const sandbox = async (path: string, body?: unknown) => {
  const res = await fetch(
    stack.sandboxUrl + path,
    body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
  );
  return res.json() as Promise<Record<string, unknown>>;
};
const payments = async (orderId: string) =>
  ((await sandbox(`/sandbox/ledger/payments?orderId=${orderId}`)).entries as { type: string; amount: string }[]).map((e) => [
    e.type,
    e.amount,
  ]);
const bookings = async (orderId: string) => (await sandbox(`/sandbox/ledger/carriers?orderId=${orderId}`)).bookings as Booking[];
const picks = async (orderId: string) =>
  (await sandbox(`/sandbox/ledger/wms?orderId=${orderId}`)).pickOrders as { shipmentId: string; status: string }[];
const advance = (bookingId: string, status: string) => sandbox(`/sandbox/carriers/${bookingId}/advance`, { status });

const submit = async (order: CanonicalOrder) => {
  const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
  expect(res.status).toBe(201);
  return ((await res.json()) as { orderId: string }).orderId;
};
const cancelLines = (id: string, lines: { lineNo: number; quantity: number }[], key: string = TEST_KEYS.cs) =>
  stack.api(`/v1/orders/${id}/cancel`, { method: 'POST', key, json: { reason: 'customer no longer wants these', lines } });
const twoLines = (p: Partial<CanonicalOrder> = {}, q1 = 3, q2 = 1) =>
  makeOrder({
    lines: [
      { sku: 'SKU-P1', quantity: q1, unitPrice: '100000.00' },
      { sku: 'SKU-P2', quantity: q2, unitPrice: '100000.00' },
    ],
    ...p,
  });
const stock = async () => ({ p1: await stockRow(stack.db.sql, 'SKU-P1', 'WH-HCM'), p2: await stockRow(stack.db.sql, 'SKU-P2', 'WH-HCM') });

/** Delivers every live shipment of the order through the carrier sandbox. */
async function deliverAll(orderId: string): Promise<OrderBody> {
  const live = (x: OrderBody) => x.shipments.filter((s) => s.status !== 'cancelled');
  const o = await waitFor(orderId, (x) => live(x).length > 0 && live(x).every((s) => s.status === 'booked'), 'live shipments booked');
  for (const s of o.shipments.filter((x) => x.status === 'booked')) {
    await advance(s.bookingId!, 'picked_up');
    await advance(s.bookingId!, 'delivered');
  }
  return waitFor(orderId, (x) => x.status === 'DELIVERED', 'delivered');
}

beforeAll(async () => {
  stack = await startTestStack({
    rules: { riskAmountLimit: '1000000.00' },
    orderSettings: { stepRetry: { initialIntervalMs: 100, maximumIntervalMs: 200, maximumAttempts: 2 } },
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
  });
  await seedNetwork(stack.db.sql, { 'SKU-P1': { 'WH-HCM': 200 }, 'SKU-P2': { 'WH-HCM': 200 }, 'SKU-P3': { 'WH-HN': 50 } });
});
afterAll(async () => {
  await stack?.close();
});

describe('partial cancellation before shipping starts', () => {
  it('on hold: the cancelled line is never reserved nor charged', async () => {
    const before = await stock();
    const orderId = await submit(twoLines({}, 8, 5)); // 1,300,000 VND: above the risk limit
    await waitFor(orderId, (o) => o.status === 'ON_HOLD', 'on hold');
    const res = await cancelLines(orderId, [{ lineNo: 2, quantity: 5 }]);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      orderId,
      status: 'ON_HOLD',
      cancelledLines: [{ lineNo: 2, quantity: 5 }],
      refusedLines: [],
      pending: false,
    });
    expect(
      (await stack.api(`/v1/orders/${orderId}/release`, { method: 'POST', key: TEST_KEYS.ops, json: { decision: 'release' } })).status,
    ).toBe(200);
    const delivered = await deliverAll(orderId);
    expect(delivered.cancelledLines).toEqual([{ lineNo: 2, quantity: 5 }]);
    expect(delivered.shipments.map((s) => s.lines)).toEqual([[{ lineNo: 1, sku: 'SKU-P1', quantity: 8 }]]);
    expect(await stock()).toEqual({ p1: { onHand: before.p1.onHand - 8, reserved: before.p1.reserved }, p2: before.p2 });
    expect(await payments(orderId)).toEqual([
      ['authorize', '800000.00'],
      ['capture', '800000.00'],
    ]);
    const entry = delivered.timeline.find((t) => t.event.startsWith('cancelled 5 unit(s) of line 2'))!;
    expect(entry).toMatchObject({ status: 'ON_HOLD' });
    expect(entry.actor).toMatch(/^cs:/);
  });
});

describe('partial cancellation after shipping started', () => {
  it('booked: the shipment is undone and re-shipped without the cut units; capture and remainder add up to the authorisation', async () => {
    const before = await stock();
    // 400,000 of goods less a 10,000 discount: the cut unit's share is 97,500 (discount spread in proportion).
    const orderId = await submit(twoLines({ discount: '10000.00' }));
    const booked = await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const res = await cancelLines(orderId, [{ lineNo: 1, quantity: 1 }]);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ cancelledLines: [{ lineNo: 1, quantity: 1 }], refusedLines: [], pending: false });
    // The cut unit is back in stock at once; the rest stays reserved for the new shipment.
    expect(await stock()).toEqual({
      p1: { onHand: before.p1.onHand, reserved: before.p1.reserved + 2 },
      p2: { onHand: before.p2.onHand, reserved: before.p2.reserved + 1 },
    });

    const delivered = await deliverAll(orderId);
    const [old, next] = delivered.shipments;
    expect(old).toMatchObject({ shipmentId: booked.shipments[0]!.shipmentId, status: 'cancelled' });
    expect(next).toMatchObject({
      status: 'delivered',
      lines: [
        { lineNo: 1, sku: 'SKU-P1', quantity: 2 },
        { lineNo: 2, sku: 'SKU-P2', quantity: 1 },
      ],
    });
    expect((await bookings(orderId)).map((b) => [b.shipmentId, b.status])).toEqual([
      [old!.shipmentId, 'cancelled'],
      [next!.shipmentId, 'delivered'],
    ]);
    expect((await picks(orderId)).map((p) => [p.shipmentId, p.status])).toEqual([
      [old!.shipmentId, 'cancelled'],
      [next!.shipmentId, expect.not.stringMatching(/cancelled/)],
    ]);
    expect(await stock()).toEqual({
      p1: { onHand: before.p1.onHand - 2, reserved: before.p1.reserved },
      p2: { onHand: before.p2.onHand - 1, reserved: before.p2.reserved },
    });
    const ledger = await eventually(
      async () => {
        const l = await payments(orderId);
        return l.length === 3 ? l : undefined;
      },
      { what: 'remainder released' },
    );
    expect(ledger).toEqual([
      ['authorize', '390000.00'],
      ['capture', '292500.00'],
      ['void', '97500.00'],
    ]);
    const final = await waitFor(orderId, (o) => o.payment.remainderReleased !== undefined, 'remainder recorded');
    expect(final.payment.remainderReleased).toBe('97500.00');
    expect(final.cancelledLines).toEqual([{ lineNo: 1, quantity: 1 }]);
    expect(final.timeline.filter((t) => t.event.startsWith('cancelled 1 unit(s) of line 1 from'))).toHaveLength(1);
    const { cuts } = await one(
      stack.db.sql<{ cuts: number }[]>`select count(*)::int as cuts from reservation_cuts where order_id = ${orderId}`,
    );
    expect(cuts).toBe(1);
    // The event feed tells an ERP the same: reserved 3 + 1, the cut unit released once, 2 + 1 handed over — in that order.
    const told = await stockEventsOf(stack, orderId);
    expect(told.map((e) => e.type)).toEqual(['stock.reserved', 'stock.released', 'stock.committed']);
    expect(told[1]!.lines).toEqual([{ lineNo: 1, sku: 'SKU-P1', warehouseId: 'WH-HCM', quantity: 1 }]);
    expect(stockUnits(told)).toEqual({
      'stock.reserved SKU-P1@WH-HCM': 3,
      'stock.reserved SKU-P2@WH-HCM': 1,
      'stock.released SKU-P1@WH-HCM': 1,
      'stock.committed SKU-P1@WH-HCM': before.p1.onHand - (await stock()).p1.onHand,
      'stock.committed SKU-P2@WH-HCM': before.p2.onHand - (await stock()).p2.onHand,
    });
  });

  it('COD: the new shipment collects only what is left to pay', async () => {
    const orderId = await submit(twoLines({ payment: { method: 'cod' } }, 2, 1));
    await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    expect((await cancelLines(orderId, [{ lineNo: 2, quantity: 1 }])).status).toBe(200);
    await deliverAll(orderId);
    expect((await bookings(orderId)).map((b) => [b.status, b.codAmount])).toEqual([
      ['cancelled', '300000.00'],
      ['delivered', '200000.00'],
    ]);
    expect(await payments(orderId)).toEqual([]);
  });

  it('after the pickup: refused with 409, nothing undone, the full share captured', async () => {
    const orderId = await submit(twoLines({}, 2, 1));
    const booked = await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    await advance(booked.shipments[0]!.bookingId!, 'picked_up');
    await waitFor(orderId, (o) => o.status === 'SHIPPED', 'shipped');
    const res = await cancelLines(orderId, [{ lineNo: 1, quantity: 1 }]);
    expect(res.status).toBe(409);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/only 0 of its 2 unit\(s\) can still be cancelled.*open a return/);
    const ledger = await eventually(async () => {
      const l = await payments(orderId);
      return l.length === 2 ? l : undefined;
    });
    expect(ledger).toEqual([
      ['authorize', '300000.00'],
      ['capture', '300000.00'],
    ]);
    expect((await getOrder(orderId)).cancelledLines).toEqual([]);
  });

  it('cut racing the carrier pickup: either cut and re-shipped, or refused and shipped whole — never both', async () => {
    // Three ways the race ends: the cut wins (200); the shipment hears of the pickup first and the
    // carrier's refusal comes back (409 naming the refused lines); or the order already knew of the
    // pickup when the request came (409 from the check, nothing attempted). The last two ship whole.
    for (let round = 0; round < 3; round++) {
      const before = await stock();
      const orderId = await submit(twoLines({}, 2, 1));
      const booked = await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
      const [res] = await Promise.all([
        cancelLines(orderId, [{ lineNo: 1, quantity: 1 }]),
        advance(booked.shipments[0]!.bookingId!, 'picked_up'),
      ]);
      if (res.status === 200) {
        expect(await res.json()).toMatchObject({ cancelledLines: [{ lineNo: 1, quantity: 1 }], refusedLines: [] });
        await deliverAll(orderId);
        expect((await bookings(orderId)).map((b) => b.status)).toEqual(['cancelled', 'delivered']);
        const ledger = await eventually(async () => {
          const l = await payments(orderId);
          return l.length === 3 ? l : undefined;
        });
        expect(ledger).toEqual([
          ['authorize', '300000.00'],
          ['capture', '200000.00'],
          ['void', '100000.00'],
        ]);
        expect(await stock()).toEqual({
          p1: { onHand: before.p1.onHand - 1, reserved: before.p1.reserved },
          p2: { onHand: before.p2.onHand - 1, reserved: before.p2.reserved },
        });
      } else {
        expect(res.status).toBe(409);
        const body = (await res.json()) as { status: number; orderStatus: string; refused?: unknown[]; detail: string };
        const attempted = body.refused !== undefined;
        if (attempted) expect(body).toMatchObject({ status: 409, refused: [{ lineNo: 1, quantity: 1 }] });
        else expect(body.detail).toMatch(/line 1: only 0 of its 2 unit\(s\) can still be cancelled; the rest has left the warehouse/);
        const shipped = await waitFor(orderId, (o) => o.status === 'SHIPPED', 'shipped');
        expect(shipped.timeline.some((t) => /cancellation of 1 unit\(s\) of line 1 refused/.test(t.event))).toBe(attempted);
        expect(shipped.shipments).toHaveLength(1);
        expect(shipped.cancelledLines).toEqual([]);
        expect((await bookings(orderId)).map((b) => b.status)).toEqual(['picked_up']);
        const ledger = await eventually(async () => {
          const l = await payments(orderId);
          return l.length === 2 ? l : undefined;
        });
        expect(ledger).toEqual([
          ['authorize', '300000.00'],
          ['capture', '300000.00'],
        ]);
        expect(await stock()).toEqual({
          p1: { onHand: before.p1.onHand - 2, reserved: before.p1.reserved },
          p2: { onHand: before.p2.onHand - 1, reserved: before.p2.reserved },
        });
      }
    }
  });
});

describe('a whole-order cancel of a partly shipped order', () => {
  it('cancels what is still at the warehouse, and releases its uncaptured share once the rest is delivered', async () => {
    // Two warehouses, two shipments: 300,000 from WH-HCM and 100,000 from WH-HN.
    const orderId = await submit(
      makeOrder({
        lines: [
          { sku: 'SKU-P1', quantity: 3, unitPrice: '100000.00' },
          { sku: 'SKU-P3', quantity: 1, unitPrice: '100000.00' },
        ],
        shippingAddress: { name: 'C', line1: '1 Tran Phu', city: 'Da Nang', country: 'VN' },
      }),
    );
    const booked = await waitFor(
      orderId,
      (o) => o.shipments.length === 2 && o.shipments.every((s) => s.status === 'booked'),
      'both booked',
    );
    const hcm = booked.shipments.find((s) => s.lines.some((l) => l.lineNo === 1))!;
    const hn = booked.shipments.find((s) => s.shipmentId !== hcm.shipmentId)!;
    await advance(hcm.bookingId!, 'picked_up');
    await waitFor(orderId, (o) => o.status === 'PARTIALLY_SHIPPED', 'one shipment with the carrier');
    // Allowed until the last shipment is handed over: the rest is cancelled, what left carries on.
    const res = await stack.api(`/v1/orders/${orderId}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { reason: 'customer changed their mind' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ orderId, status: 'SHIPPED', cancelledShipments: [hn.shipmentId] });
    await waitFor(
      orderId,
      (o) => o.shipments.find((s) => s.shipmentId === hn.shipmentId)?.status === 'cancelled',
      'the other shipment cancelled',
    );
    await advance(hcm.bookingId!, 'delivered');
    await waitFor(orderId, (o) => o.status === 'DELIVERED' && o.payment.remainderReleased !== undefined, 'delivered, remainder released');
    expect(
      await eventually(async () => {
        const l = await payments(orderId);
        return l.length === 3 ? l : undefined;
      }),
    ).toEqual([
      ['authorize', '400000.00'],
      ['capture', '300000.00'],
      ['void', '100000.00'],
    ]);
  });
});

describe('bad input and edges', () => {
  it('unknown order → 404; a line not in the order or too many units → 400 naming the field; nothing changes', async () => {
    expect((await cancelLines('order-web-nope', [{ lineNo: 1, quantity: 1 }])).status).toBe(404);
    const before = await stock();
    const orderId = await submit(twoLines({}, 8, 5));
    await waitFor(orderId, (o) => o.status === 'ON_HOLD', 'on hold');
    const notInOrder = await cancelLines(orderId, [{ lineNo: 3, quantity: 1 }]);
    expect(notInOrder.status).toBe(400);
    expect(((await notInOrder.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe('lines.0.lineNo');
    const tooMany = await cancelLines(orderId, [{ lineNo: 2, quantity: 6 }]);
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe('lines.0.quantity');
    const zero = await cancelLines(orderId, [{ lineNo: 2, quantity: 0 }]);
    expect(zero.status).toBe(400);
    expect((await cancelLines(orderId, [{ lineNo: 2, quantity: 3 }])).status).toBe(200);
    // Only 2 of line 2's units are left: a second cut of 3 is the same mistake as units never bought.
    const again = await cancelLines(orderId, [{ lineNo: 2, quantity: 3 }]);
    expect(again.status).toBe(400);
    expect(((await again.json()) as { detail: string }).detail).toMatch(/line 2 has 2 unit\(s\) left to cancel/);
    const o = await getOrder(orderId);
    expect(o.cancelledLines).toEqual([{ lineNo: 2, quantity: 3 }]);
    expect(o.timeline.filter((t) => t.event.startsWith('cancelled'))).toHaveLength(1);
    expect(await stock()).toEqual(before);
  });

  it('cancelling every unit left is cancelling the order, with its full compensation', async () => {
    const before = await stock();
    const orderId = await submit(twoLines({}, 2, 1));
    await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const res = await cancelLines(orderId, [
      { lineNo: 1, quantity: 2 },
      { lineNo: 2, quantity: 1 },
    ]);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'CANCELLED',
      cancelledLines: [
        { lineNo: 1, quantity: 2 },
        { lineNo: 2, quantity: 1 },
      ],
    });
    expect(await stock()).toEqual(before);
    expect(await payments(orderId)).toEqual([
      ['authorize', '300000.00'],
      ['void', '300000.00'],
    ]);
    expect((await bookings(orderId)).map((b) => b.status)).toEqual(['cancelled']);
  });
});
