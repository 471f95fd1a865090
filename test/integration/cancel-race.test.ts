/**
 * A cancellation that reaches the order after the carrier has the parcels, but before the order
 * has heard so from its shipments. A CI chaos run left such an order in CANCELLING for good: the
 * cancel was accepted on the order's view (parcels still `booked`: each shipment tells the order
 * of the pickup once it has committed the stock), and the shipments, delivered and paid for by
 * the time they read it, never answered it.
 *
 * Reproduced with the real stack: the stock rows are locked, so the shipments' stock commit at
 * handover waits; meanwhile the carrier reports the parcels picked up, delivered and their cash
 * remitted, and customer service cancels. The cancel must be refused (the carrier has the
 * parcels) and, once the lock goes, the order must go on to its return window.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } } });
  await seedNetwork(stack.db.sql, { 'SKU-R1': { 'WH-HCM': 20 }, 'SKU-R2': { 'WH-HN': 20 } });
});
afterAll(async () => {
  await stack?.close();
});

interface OrderBody {
  status: string;
  waitingFor: string | null;
  shipments: { shipmentId: string; bookingId?: string; status: string }[];
}
const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.cs })).json()) as OrderBody;
const until = (id: string, pred: (o: OrderBody) => boolean, what: string) =>
  eventually(
    async () => {
      const o = await getOrder(id);
      return pred(o) ? o : undefined;
    },
    { what: `${id}: ${what}`, timeoutMs: 60_000 },
  );
const advance = (bookingId: string, body: Record<string, string>) =>
  fetch(`${stack.sandboxUrl}/sandbox/carriers/${bookingId}/advance`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('a cancel that arrives after the carrier has the parcels, before the order knows', () => {
  it('is refused — the carrier has them — and the order goes on to its return window, not stuck in CANCELLING', async () => {
    const res = await stack.api('/v1/orders', {
      method: 'POST',
      key: TEST_KEYS.web,
      json: makeOrder({
        // Central Vietnam: served by both warehouses, one line from each, so two parcels.
        shippingAddress: { name: 'Trần Thị Bình', line1: '5 Bạch Đằng', city: 'Da Nang', country: 'VN' },
        lines: [
          { sku: 'SKU-R1', quantity: 1, unitPrice: '100000.00' },
          { sku: 'SKU-R2', quantity: 1, unitPrice: '100000.00' },
        ],
        payment: { method: 'cod' },
      }),
    });
    expect(res.status).toBe(201);
    const { orderId } = (await res.json()) as { orderId: string };
    const booked = await until(orderId, (o) => o.shipments.length === 2 && o.shipments.every((x) => x.status === 'booked'), 'both booked');

    // The stock rows locked: each shipment's commit at handover waits, and with it its word to the order.
    let unlock!: () => void;
    const held = new Promise<void>((r) => (unlock = r));
    let locked!: () => void;
    const lockTaken = new Promise<void>((r) => (locked = r));
    const lock = stack.db.sql.begin(async (tx) => {
      await tx`select 1 from stock where sku in ('SKU-R1', 'SKU-R2') for update`;
      locked();
      await held;
    });
    await lockTaken;
    try {
      const handle = stack.client.workflow.getHandle(orderId);
      const carrierEvents = async () =>
        ((await handle.fetchHistory()).events ?? []).filter(
          (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'carrierEvent',
        ).length;
      const before = await carrierEvents();
      for (const s of booked.shipments) {
        for (const status of ['picked_up', 'in_transit', 'delivered']) await advance(s.bookingId!, { status });
        await advance(s.bookingId!, { status: 'cod_remitted', codAmount: '100000.00' });
      }
      await eventually(async () => ((await carrierEvents()) >= before + 8 ? true : undefined), {
        what: "the carrier's events with the order",
      });
      // The order has not heard of a pickup: its view still says booked.
      expect((await getOrder(orderId)).shipments.map((x) => x.status)).toEqual(['booked', 'booked']);

      const answer = await stack.api(`/v1/orders/${orderId}/cancel`, {
        method: 'POST',
        key: TEST_KEYS.cs,
        json: { reason: 'changed my mind' },
      });
      expect(answer.status, await answer.clone().text()).toBe(409);
      expect(((await answer.json()) as { detail: string }).detail).toMatch(/handed to the carrier/);
    } finally {
      unlock();
      await lock;
    }
    const after = await until(orderId, (o) => o.waitingFor === 'the return window to close', 'delivered, in its return window');
    expect(after.status).toBe('DELIVERED');
    expect(after.shipments.map((x) => x.status)).toEqual(['delivered', 'delivered']);
  });
});
