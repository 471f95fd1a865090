/**
 * Lost carrier webhooks: a push carrier (ghn) whose every webhook for an order is dropped on the
 * way (a `carriers`/`webhook` fault: the OMS never hears a thing) still gets the order delivered
 * and its return received — the shipment and return workflows poll a booking that has been quiet
 * for `trackingQuietMs` and apply what the carrier says as if the webhooks had come. Without the
 * reconciliation both would wait for ever (the return until its deadline, set far away here).
 * Real Temporal, real PostgreSQL, real HTTP to the sandbox.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
interface OrderBody {
  status: string;
  needsAttention: boolean;
  payment: { captures: { captureId: string; amount: string }[] };
  shipments: { shipmentId: string; bookingId?: string; status: string }[];
  returns: { returnId: string; status: string; refunded?: string }[];
  timeline: { status: string; event: string; detail: Record<string, unknown> }[];
}
interface CarrierLedger {
  bookings: { bookingId: string; kind: string; status: string }[];
  webhooks: { bookingId: string; status: string; responseStatus: number | null; error?: string }[];
}

const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
const until = (id: string, pred: (o: OrderBody) => boolean, what: string) =>
  eventually(
    async () => {
      const o = await getOrder(id);
      return pred(o) ? o : undefined;
    },
    { what: `${id}: ${what}`, timeoutMs: 60_000 },
  );
async function sandbox<T = Record<string, unknown>>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(stack.sandboxUrl + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(res.status, `${path} → ${res.status}`).toBeLessThan(300);
  return res.json() as Promise<T>;
}
const carriers = (orderId: string) => sandbox<CarrierLedger>(`/sandbox/ledger/carriers?orderId=${orderId}`);
/** Every webhook the carrier sends for this order is dropped on its way to the OMS. */
const dropWebhooks = (orderId: string) =>
  sandbox('/sandbox/faults', { service: 'carriers', op: 'webhook', match: { orderId }, action: 'error500', times: -1 });
const submit = async (order: ReturnType<typeof makeOrder>) => {
  const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
  expect(res.status).toBe(201);
  return ((await res.json()) as { orderId: string }).orderId;
};

beforeAll(async () => {
  stack = await startTestStack({
    // ghn pushes webhooks; a booking quiet for 1.5 s is polled. The return's deadline is far away.
    orderSettings: {
      defaultCarrier: 'ghn',
      trackingQuietMs: 1500,
      returnShipByMs: 3_600_000,
      stepRetry: { initialIntervalMs: 100, maximumIntervalMs: 500, maximumAttempts: 5 },
    },
    returnWindows: { default: 3_600_000 },
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 300 } },
  });
  await seedNetwork(stack.db.sql, { 'SKU-Q': { 'WH-HCM': 100 } });
});
afterAll(async () => {
  await stack?.close();
});

/** The carrier tried, and not one webhook for these bookings reached the OMS. */
async function expectNoWebhookArrived(orderId: string, kind: 'shipment' | 'return'): Promise<void> {
  const l = await carriers(orderId);
  const ids = new Set(l.bookings.filter((b) => b.kind === kind).map((b) => b.bookingId));
  const hooks = l.webhooks.filter((w) => ids.has(w.bookingId));
  expect(hooks.length).toBeGreaterThan(0);
  expect(hooks.filter((w) => w.responseStatus !== null)).toEqual([]);
  expect(hooks.every((w) => /not delivered \(fault/.test(w.error ?? ''))).toBe(true);
}

describe('push carrier whose webhooks never arrive', () => {
  it('the shipment reconciles by polling the quiet booking and the order is delivered and captured', async () => {
    const order = makeOrder({ sku: 'SKU-Q', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    await dropWebhooks(orderId);
    await submit(order);

    const delivered = await until(orderId, (o) => o.status === 'DELIVERED', 'DELIVERED');
    expect(delivered.needsAttention).toBe(false);
    expect(delivered.shipments.map((s) => s.status)).toEqual(['delivered']);
    expect(delivered.payment.captures.map((c) => c.amount)).toEqual(['100000.00']);
    // Each step the carrier reported came from a reconciliation poll, not from a webhook.
    // (The capture travels with the pickup that caused it: "picked up; captured 100000.00".)
    const steps = delivered.timeline.filter((t) => /^shipment \S+: (picked up|in transit|delivered)(; captured [\d.]+)?$/.test(t.event));
    expect(steps.map((t) => t.event.split(': ').at(-1))).toEqual(['picked up; captured 100000.00', 'in transit', 'delivered']);
    expect(steps.every((t) => t.detail.reconciled === true)).toBe(true);
    const l = await carriers(orderId);
    expect(l.bookings.filter((b) => b.kind === 'shipment').map((b) => b.status)).toEqual(['delivered']);
    await expectNoWebhookArrived(orderId, 'shipment');
  });

  it('the return reconciles too: its parcel is received without a webhook, long before its deadline', async () => {
    const order = makeOrder({ sku: 'SKU-Q', quantity: 2 });
    const orderId = `order-web-${order.channelOrderId}`;
    await dropWebhooks(orderId);
    await submit(order);
    await until(orderId, (o) => o.status === 'DELIVERED', 'DELIVERED');

    const res = await stack.api(`/v1/orders/${orderId}/returns`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { lines: [{ lineNo: 1, quantity: 1 }], reason: 'too small' },
    });
    expect(res.status).toBe(201);
    const { returnId } = (await res.json()) as { returnId: string };
    const received = await until(
      orderId,
      (o) => o.returns.find((r) => r.returnId === returnId)?.status === 'received',
      `${returnId} received`,
    );
    expect(
      received.timeline.some(
        (t) => t.event.includes(`return ${returnId}: parcel received`) && t.event.includes('found by asking the carrier'),
      ),
    ).toBe(true);
    await expectNoWebhookArrived(orderId, 'return');

    const inspected = await stack.api(`/v1/orders/${orderId}/returns/${returnId}/inspection`, {
      method: 'POST',
      key: TEST_KEYS.ops,
      json: { result: 'accept' },
    });
    expect(inspected.status).toBe(200);
    const done = await until(orderId, (o) => o.returns.find((r) => r.returnId === returnId)?.status === 'accepted', `${returnId} accepted`);
    expect(done.returns.find((r) => r.returnId === returnId)!.refunded).toBe('100000.00');
  });
});
