/**
 * Returns within the window: label, the parcel's way back, inspection, restock and refund of the
 * lines' share — never more than was paid — or rejection and expiry; and the refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeOrder, one, seedNetwork, stockRow } from '../support/fixtures';
import { startTestStack, stockEventsOf, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
interface Ret {
  returnId: string;
  status: string;
  refundDue: string;
  refunded?: string;
  exchange?: { status: string; shipmentId?: string };
}
interface OrderBody {
  status: string;
  returns: Ret[];
  waitingFor: string | null;
  timeline: { status: string; event: string }[];
}
const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
const until = (id: string, pred: (o: OrderBody) => boolean, what: string) =>
  eventually(
    async () => {
      const o = await getOrder(id);
      return pred(o) ? o : undefined;
    },
    { what: `${id}: ${what}`, timeoutMs: 30_000 },
  );
const openWindow = (id: string) => until(id, (o) => o.waitingFor === 'the return window to close', 'open for returns');
const submit = async (order: ReturnType<typeof makeOrder>, key: string = TEST_KEYS.web) => {
  const res = await stack.api('/v1/orders', { method: 'POST', key, json: order });
  expect(res.status).toBe(201);
  return ((await res.json()) as { orderId: string }).orderId;
};
const requestReturn = (id: string, lines: { lineNo: number; quantity: number }[], reason = 'does not fit') =>
  stack.api(`/v1/orders/${id}/returns`, { method: 'POST', key: TEST_KEYS.cs, json: { lines, reason } });
const inspect = (id: string, returnId: string, result: 'accept' | 'reject', reason?: string) =>
  stack.api(`/v1/orders/${id}/returns/${returnId}/inspection`, {
    method: 'POST',
    key: TEST_KEYS.ops,
    json: { result, ...(reason ? { reason } : {}) },
  });
const received = (id: string, returnId: string) =>
  until(id, (o) => o.returns.find((r) => r.returnId === returnId)?.status === 'received', `${returnId} received`);
const refunds = async (orderId: string) =>
  (
    (await (await fetch(`${stack.sandboxUrl}/sandbox/ledger/payments?orderId=${orderId}`)).json()) as {
      entries: { type: string; amount: string }[];
    }
  ).entries
    .filter((e) => e.type === 'refund')
    .map((e) => e.amount);

beforeAll(async () => {
  stack = await startTestStack({
    returnWindows: { default: 120_000, shopify: 1500 },
    orderSettings: { returnShipByMs: 3000, stepRetry: { initialIntervalMs: 100, maximumIntervalMs: 200, maximumAttempts: 2 } },
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } },
  });
  await seedNetwork(stack.db.sql, { 'SKU-R': { 'WH-HCM': 50 }, 'SKU-S': { 'WH-HCM': 50 } });
});
afterAll(async () => {
  await stack?.close();
});

describe('returns', () => {
  it('a full return: label, parcel back, accepted → restocked and the whole payment refunded', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-R', quantity: 2 }));
    await openWindow(orderId);
    const before = await stockRow(stack.db.sql, 'SKU-R', 'WH-HCM');
    const res = await requestReturn(orderId, [{ lineNo: 1, quantity: 2 }]);
    expect(res.status).toBe(201);
    const { returnId } = (await res.json()) as { returnId: string };
    expect(returnId).toBe(`${orderId}-return-1`);
    await received(orderId, returnId);
    expect((await inspect(orderId, returnId, 'accept')).status).toBe(200);
    const done = await until(orderId, (o) => o.status === 'REFUNDED', 'refunded');
    expect(done.returns[0]).toMatchObject({ status: 'accepted', refundDue: '200000.00', refunded: '200000.00' });
    expect(await refunds(orderId)).toEqual(['200000.00']);
    expect(await stockRow(stack.db.sql, 'SKU-R', 'WH-HCM')).toEqual({ onHand: before.onHand + 2, reserved: before.reserved });
    const statuses = done.timeline.map((t) => t.status);
    for (const s of ['RETURN_REQUESTED', 'RETURNED', 'REFUNDED']) expect(statuses).toContain(s);
  });

  it("partial returns: each refunds its lines' share (discount and shipping spread), together never more than paid", async () => {
    const orderId = await submit(
      makeOrder({
        lines: [
          { sku: 'SKU-R', quantity: 2, unitPrice: '100000.00' },
          { sku: 'SKU-S', quantity: 1, unitPrice: '50000.00' },
        ],
        shippingFee: '30000.00',
        discount: '10000.00',
      }),
    );
    await openWindow(orderId);
    const first = (await (await requestReturn(orderId, [{ lineNo: 1, quantity: 1 }])).json()) as { returnId: string };
    // One of the two units is on its way back: returning two more is a 400 naming what is left.
    const tooMany = await requestReturn(orderId, [{ lineNo: 1, quantity: 2 }]);
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { detail: string }).detail).toMatch(/line 1 has 1 unit\(s\) left/);
    const second = (await (
      await requestReturn(orderId, [
        { lineNo: 2, quantity: 1 },
        { lineNo: 1, quantity: 1 },
      ])
    ).json()) as { returnId: string };
    for (const r of [first, second]) {
      await received(orderId, r.returnId);
      expect((await inspect(orderId, r.returnId, 'accept')).status).toBe(200);
    }
    const done = await until(orderId, (o) => o.returns.every((r) => r.status === 'accepted'), 'both accepted');
    // total 270000: 1 × 100000 of 250000 in goods → 108000; the rest (1 × 100000 + 50000) → 162000.
    expect(done.returns.map((r) => r.refunded)).toEqual(['108000.00', '162000.00']);
    expect((await refunds(orderId)).map(Number).reduce((a, b) => a + b, 0)).toBe(270000);
  });

  it('a rejected inspection refunds nothing and restocks nothing; the reason is kept', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-R', quantity: 1 }));
    await openWindow(orderId);
    const { returnId } = (await (await requestReturn(orderId, [{ lineNo: 1, quantity: 1 }])).json()) as { returnId: string };
    await received(orderId, returnId);
    const before = await stockRow(stack.db.sql, 'SKU-R', 'WH-HCM');
    // Rejecting without a reason is invalid input (the validator's InvalidCommand): a 400 naming the field.
    const noReason = await inspect(orderId, returnId, 'reject');
    expect(noReason.status).toBe(400);
    expect(((await noReason.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['reason']);
    expect((await inspect(orderId, returnId, 'reject', 'item used and damaged')).status).toBe(200);
    const done = await until(orderId, (o) => o.returns[0]?.status === 'rejected', 'rejected');
    expect(done.status).toBe('DELIVERED');
    expect(done.timeline.some((t) => /rejected at inspection: item used and damaged/.test(t.event))).toBe(true);
    expect(await refunds(orderId)).toEqual([]);
    expect(await stockRow(stack.db.sql, 'SKU-R', 'WH-HCM')).toEqual(before);
  });

  it('a return whose parcel never arrives expires; nothing refunded', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-R', quantity: 1 }));
    await openWindow(orderId);
    await fetch(`${stack.sandboxUrl}/sandbox/carriers/hold`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ orderId }),
    });
    const { returnId } = (await (await requestReturn(orderId, [{ lineNo: 1, quantity: 1 }])).json()) as { returnId: string };
    const done = await until(orderId, (o) => o.returns[0]?.status === 'expired', 'expired');
    expect(done.returns[0]!.returnId).toBe(returnId);
    expect(await refunds(orderId)).toEqual([]);
    // The units are returnable again once a return expired.
    expect((await requestReturn(orderId, [{ lineNo: 1, quantity: 1 }])).status).toBe(201);
  });

  it('a refund the gateway keeps refusing needs attention; an ops retry finishes it', async () => {
    const order = makeOrder({ sku: 'SKU-R', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    await submit(order);
    await openWindow(orderId);
    const { returnId } = (await (await requestReturn(orderId, [{ lineNo: 1, quantity: 1 }])).json()) as { returnId: string };
    await received(orderId, returnId);
    await fetch(`${stack.sandboxUrl}/sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ service: 'payments', op: 'refund', match: { orderId }, action: 'error500', times: -1 }),
    });
    await inspect(orderId, returnId, 'accept');
    await until(orderId, (o) => (o as unknown as { needsAttention: boolean }).needsAttention, 'refund parked');
    await fetch(`${stack.sandboxUrl}/sandbox/faults`, { method: 'DELETE' });
    const retry = await stack.api(`/v1/orders/${orderId}/retry`, { method: 'POST', key: TEST_KEYS.ops });
    expect(retry.status).toBe(200);
    expect(((await retry.json()) as { retried: string[] }).retried).toEqual([`return ${returnId}`]);
    await until(orderId, (o) => o.status === 'REFUNDED', 'refunded');
    expect(await refunds(orderId)).toEqual(['100000.00']);
  });

  it('a COD order is refunded through a refund instruction', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-S', quantity: 1, payment: { method: 'cod' } }));
    await openWindow(orderId);
    const { returnId } = (await (await requestReturn(orderId, [{ lineNo: 1, quantity: 1 }])).json()) as { returnId: string };
    await received(orderId, returnId);
    await inspect(orderId, returnId, 'accept');
    await until(orderId, (o) => o.status === 'REFUNDED', 'refunded');
    const instruction = await one(
      stack.db.sql<
        { amount: string; method: string }[]
      >`select amount::text, method from refund_instructions where return_id = ${returnId}`,
    );
    expect(instruction).toEqual({ amount: '100000.00', method: 'bank_transfer' });
  });
});

describe('exchanges', () => {
  it('reserves the replacement at request time and ships it once the parcel is back; no refund', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-S', quantity: 1 }));
    await openWindow(orderId);
    const before = await stockRow(stack.db.sql, 'SKU-S', 'WH-HCM');
    const res = await stack.api(`/v1/orders/${orderId}/returns`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { lines: [{ lineNo: 1, quantity: 1 }], reason: 'wrong size', exchange: true },
    });
    expect(res.status).toBe(201);
    const { returnId } = (await res.json()) as { returnId: string };
    await received(orderId, returnId);
    expect((await inspect(orderId, returnId, 'accept')).status).toBe(200);
    const done = await until(
      orderId,
      (o) =>
        o.returns[0]?.status === 'accepted' &&
        (o as unknown as { shipments: { status: string }[] }).shipments.length === 2 &&
        (o as unknown as { shipments: { status: string }[] }).shipments.every((s) => s.status === 'delivered'),
      'replacement delivered',
    );
    expect(done.returns[0]).toMatchObject({ refundDue: '0.00', exchange: { status: 'shipping', shipmentId: `${orderId}-shipment-2` } });
    expect(await refunds(orderId)).toEqual([]);
    // One unit came back (restocked), one replacement left (committed): on hand unchanged, nothing reserved.
    expect(await stockRow(stack.db.sql, 'SKU-S', 'WH-HCM')).toEqual(before);
    // The event feed tells it under the order, the replacement's stock marked as the return's:
    // the order's unit reserved and handed over, then the replacement's.
    const told = await stockEventsOf(stack, orderId);
    expect(told.map((e) => [e.type, e.reservation ?? null])).toEqual([
      ['stock.reserved', null],
      ['stock.committed', null],
      ['stock.reserved', returnId],
      ['stock.committed', returnId],
    ]);
    expect(told.every((e) => e.lines.length === 1 && e.lines[0]!.sku === 'SKU-S' && e.lines[0]!.quantity === 1)).toBe(true);
  });

  it('releases the reserved replacement when the return expires', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-S', quantity: 1 }));
    await openWindow(orderId);
    await fetch(`${stack.sandboxUrl}/sandbox/carriers/hold`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ orderId }),
    });
    const before = await stockRow(stack.db.sql, 'SKU-S', 'WH-HCM');
    const res = await stack.api(`/v1/orders/${orderId}/returns`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { lines: [{ lineNo: 1, quantity: 1 }], reason: 'wrong colour', exchange: true },
    });
    expect(res.status).toBe(201);
    const { returnId } = (await res.json()) as { returnId: string };
    // The parcel has 3 s to come back: polling for the moment in between races the expiry on a busy
    // machine, so the reservation is proven by what stays — the step that made it and its row.
    const done = await until(orderId, (o) => o.returns[0]?.status === 'expired', 'expired');
    expect(done.returns[0]).toMatchObject({ exchange: { status: 'released' } });
    expect(done.timeline.map((t) => t.event)).toContain(`return ${returnId} requested: wrong colour (exchange: replacement reserved)`);
    const held = await stack.db.sql<
      { sku: string; quantity: number; state: string }[]
    >`select sku, quantity, state from reservations where order_id = ${returnId}`;
    expect(held.map((r) => ({ ...r }))).toEqual([{ sku: 'SKU-S', quantity: 1, state: 'released' }]);
    expect(await stockRow(stack.db.sql, 'SKU-S', 'WH-HCM')).toEqual(before);
  });
});

describe('refusals', () => {
  it('after the return window → 409; the order is COMPLETED', async () => {
    const orderId = await submit(makeOrder({ channel: 'shopify', sku: 'SKU-R', payment: { method: 'cod' } }), TEST_KEYS.shopify);
    await until(orderId, (o) => o.status === 'COMPLETED', 'completed');
    const res = await requestReturn(orderId, [{ lineNo: 1, quantity: 1 }]);
    expect(res.status).toBe(409);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/return window has closed|closed/);
  });

  it('bad input: unknown order 404, a line not in the order or too many units 400, not delivered 409; nothing written', async () => {
    expect((await requestReturn('order-web-nope', [{ lineNo: 1, quantity: 1 }])).status).toBe(404);
    const orderId = await submit(makeOrder({ sku: 'SKU-R', quantity: 1 }));
    await openWindow(orderId);
    const notInOrder = await requestReturn(orderId, [{ lineNo: 2, quantity: 1 }]);
    expect(notInOrder.status).toBe(400);
    expect(((await notInOrder.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe('lines.0.lineNo');
    const tooMany = await requestReturn(orderId, [{ lineNo: 1, quantity: 5 }]);
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe('lines.0.quantity');
    expect((await requestReturn(orderId, [])).status).toBe(400);
    expect((await getOrder(orderId)).returns).toEqual([]);
    const waiting = await submit(makeOrder({ sku: 'SKU-NONE-HERE' }));
    await until(waiting, (o) => o.status === 'REJECTED', 'rejected');
    expect((await requestReturn(waiting, [{ lineNo: 1, quantity: 1 }])).status).toBe(409);
  });
});
