/**
 * A carrier booking whose answer never came: the carrier takes the booking but answers too late
 * (past the OMS's 10 s client timeout), and the order is cancelled — while the call is still
 * waiting, or after the step ran out of retries and was parked. The shipment's undo asks the
 * carrier again with the same idempotency key, learns the booking it made and cancels it: at the
 * end the carrier has no live booking for the cancelled shipment. (A booking step parked on the
 * carrier's own error answers books nothing: test/integration/cancellation.test.ts.)
 * Real Temporal, real PostgreSQL, real HTTP to the sandbox's carrier.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
let parkingStack: TestStack;
interface OrderBody {
  status: string;
  needsAttention: boolean;
  attentionReason: string | null;
  shipments: { shipmentId: string; status: string }[];
  timeline: { status: string; event: string; detail: Record<string, unknown> }[];
}
interface Fault {
  faultId: string;
  service: string;
  op: string;
  match: { orderId?: string };
}

let current: () => TestStack = () => stack;
const getOrder = async (id: string) => (await (await current().api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
async function sandbox<T = Record<string, unknown>>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(current().sandboxUrl + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(res.status, `${path} → ${res.status}`).toBeLessThan(300);
  return res.json() as Promise<T>;
}

beforeAll(async () => {
  stack = await startTestStack({
    orderSettings: { stepRetry: { initialIntervalMs: 200, maximumIntervalMs: 1000, maximumAttempts: 10 } },
    // Parcels move only when a test moves them: a live booking stays live.
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
  });
  await seedNetwork(stack.db.sql, { 'SKU-D': { 'WH-HCM': 100 } });
  // One attempt per step: a call that times out is parked at once.
  parkingStack = await startTestStack({
    orderSettings: { stepRetry: { initialIntervalMs: 200, maximumIntervalMs: 1000, maximumAttempts: 1 } },
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
  });
  await seedNetwork(parkingStack.db.sql, { 'SKU-D': { 'WH-HCM': 100 } });
});
afterAll(async () => {
  await stack?.close();
  await parkingStack?.close();
});

/** After the cancellation: the order is CANCELLED, and the booking the lost call made exists at the carrier, cancelled. */
async function expectBookingFoundAndCancelled(orderId: string): Promise<void> {
  const done = await eventually(
    async () => {
      const o = await getOrder(orderId);
      return o.status === 'CANCELLED' ? o : undefined;
    },
    { what: `${orderId} CANCELLED`, timeoutMs: 60_000 },
  );
  expect(done.needsAttention).toBe(false);
  expect(done.shipments.map((s) => s.status)).toEqual(['cancelled']);
  // The lost call did book (its effect lands 12 s after the request), and the carrier holds
  // that booking cancelled: nothing will be picked up for this cancelled order.
  type Ledger = { bookings: { bookingId: string; status: string; idempotencyKey: string }[] };
  const l = await eventually(
    async () => {
      const x = await sandbox<Ledger>(`/sandbox/ledger/carriers?orderId=${orderId}`);
      return x.bookings.length > 0 && x.bookings.every((b) => b.status === 'cancelled') ? x : undefined;
    },
    { what: `${orderId}: the carrier's booking exists and is cancelled`, timeoutMs: 30_000 },
  );
  // The undo learnt of it by asking again (the same request, the same key).
  const settled = done.timeline.find((t) => t.detail.inDoubt === true);
  expect(settled?.event).toMatch(/booking whose answer was cut short/);
  expect(l.bookings.map((b) => [b.bookingId, b.status, b.idempotencyKey])).toEqual([
    [settled!.detail.bookingId, 'cancelled', `${orderId}-shipment-1:book`],
  ]);
  const payments = (await sandbox<{ entries: { type: string }[] }>(`/sandbox/ledger/payments?orderId=${orderId}`)).entries.map(
    (e) => e.type,
  );
  expect(payments).toEqual(['authorize', 'void']);
}

describe('a booking call whose answer was lost, then a cancellation', () => {
  it('the undo repeats the call with the same key, learns the booking the carrier made, and cancels it', async () => {
    current = () => stack;
    const order = makeOrder({ sku: 'SKU-D', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    // The carrier books, but only 12 s later, past the client's 10 s timeout: the answer is lost.
    await sandbox('/sandbox/faults', { service: 'carriers', op: 'book', match: { orderId }, action: 'timeout', delayMs: 12_000, times: 1 });
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
    expect(res.status).toBe(201);
    // The booking request has reached the carrier (the fault was taken): cancel now.
    await eventually(async () => !(await sandbox<{ faults: Fault[] }>('/sandbox/faults')).faults.some((f) => f.match.orderId === orderId), {
      what: 'booking call at the carrier',
      timeoutMs: 45_000,
    });
    expect((await sandbox<{ bookings: unknown[] }>(`/sandbox/ledger/carriers?orderId=${orderId}`)).bookings).toEqual([]);
    const cancel = await stack.api(`/v1/orders/${orderId}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { reason: 'customer changed their mind' },
    });
    expect(cancel.status, await cancel.clone().text()).toBe(200);

    await expectBookingFoundAndCancelled(orderId);
  }, 120_000);

  it('parked after its last attempt timed out, then cancelled: the undo still finds the booking and cancels it', async () => {
    current = () => parkingStack;
    const order = makeOrder({ sku: 'SKU-D', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    await sandbox('/sandbox/faults', { service: 'carriers', op: 'book', match: { orderId }, action: 'timeout', delayMs: 12_000, times: 1 });
    const res = await parkingStack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
    expect(res.status).toBe(201);
    // Its only attempt timed out on the client: the step is parked for ops, the booking still to land.
    const parked = await eventually(
      async () => {
        const o = await getOrder(orderId);
        return o.needsAttention ? o : undefined;
      },
      { what: `${orderId} parked`, timeoutMs: 45_000 },
    );
    expect(parked.attentionReason).toMatch(/book carrier.*timed out/);
    const cancel = await parkingStack.api(`/v1/orders/${orderId}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { reason: 'customer changed their mind' },
    });
    expect(cancel.status, await cancel.clone().text()).toBe(200);
    await expectBookingFoundAndCancelled(orderId);
  }, 120_000);

  it('a pick order whose answer was lost, parked, then cancelled: the undo finds the pick order the warehouse made and cancels it', async () => {
    current = () => parkingStack;
    const order = makeOrder({ sku: 'SKU-D', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    // The warehouse takes the pick order 12 s late, past the client's timeout: parked, answer lost.
    await sandbox('/sandbox/faults', { service: 'wms', op: 'pick', match: { orderId }, action: 'timeout', delayMs: 12_000, times: 1 });
    const res = await parkingStack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
    expect(res.status).toBe(201);
    const parked = await eventually(
      async () => {
        const o = await getOrder(orderId);
        return o.needsAttention ? o : undefined;
      },
      { what: `${orderId} parked`, timeoutMs: 45_000 },
    );
    expect(parked.attentionReason).toMatch(/pick and pack.*timed out/);
    const cancel = await parkingStack.api(`/v1/orders/${orderId}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { reason: 'customer changed their mind' },
    });
    expect(cancel.status, await cancel.clone().text()).toBe(200);
    const done = await eventually(
      async () => {
        const o = await getOrder(orderId);
        return o.status === 'CANCELLED' ? o : undefined;
      },
      { what: `${orderId} CANCELLED`, timeoutMs: 60_000 },
    );
    expect(done.needsAttention).toBe(false);
    // The warehouse made the pick order (the late request landed, or the undo's repeat made it) and holds it cancelled.
    type Picks = { pickOrders: { pickOrderId: string; status: string }[] };
    const picks = await eventually(
      async () => {
        const x = await sandbox<Picks>(`/sandbox/ledger/wms?orderId=${orderId}`);
        return x.pickOrders.length > 0 && x.pickOrders.every((p) => p.status === 'cancelled') ? x : undefined;
      },
      { what: `${orderId}: the warehouse's pick order exists and is cancelled`, timeoutMs: 30_000 },
    );
    expect(picks.pickOrders).toHaveLength(1);
    expect((await sandbox<{ bookings: unknown[] }>(`/sandbox/ledger/carriers?orderId=${orderId}`)).bookings).toEqual([]);
  }, 120_000);
});
