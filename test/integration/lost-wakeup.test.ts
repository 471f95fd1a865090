/**
 * The tracking loop must not sleep through the end of what it waits for (`progressOrDone` in
 * workflows/order/fulfilment.ts). A chaos run once caught an order reading DELIVERED with its
 * workflow waiting for ever: a line cut refused because the carrier had the parcel, and the
 * parcel's delivery, were applied in one workflow task; the loop looked whether every parcel was
 * delivered while the cut's placeholder for a replacement was still there, and slept on the
 * shipments' messages — none came after the placeholder went.
 *
 * Made to happen here on a real worker, dev server and PostgreSQL: with the order's worker
 * stopped, the carrier picks the parcel up, customer service cuts a unit (the projection still
 * shows the parcel at the warehouse, so the API asks the workflow) and the carrier delivers; the
 * worker comes back and finds all three in one workflow task.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrderState } from '../../workflows/messages';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { memoryLogger, ownWorkers, startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
let workers: Awaited<ReturnType<typeof ownWorkers>>;

beforeAll(async () => {
  // Carriers move only when told; a delivered order completes (no return window).
  stack = await startTestStack({
    runWorker: false,
    returnWindows: { default: 0 },
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
  });
  await seedNetwork(stack.db.sql, { 'SKU-LW': { 'WH-HCM': 10 } });
  workers = await ownWorkers(stack, memoryLogger());
});
afterAll(async () => {
  await workers?.close();
  await stack?.close();
});

interface OrderBody {
  status: string;
  shipments: { status: string; bookingId?: string }[];
  timeline: { event: string }[];
}
const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
const advance = (bookingId: string, status: string) =>
  fetch(`${stack.sandboxUrl}/sandbox/carriers/${bookingId}/advance`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ status }),
  });

describe('an order whose cut is refused as its parcel is delivered, in one workflow task', () => {
  it('completes: the tracking loop wakes when the last parcel counts as delivered', async () => {
    const first = await workers.start();
    const order = makeOrder({ sku: 'SKU-LW', quantity: 2 });
    const orderId = `order-web-${order.channelOrderId}`;
    expect((await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order })).status).toBe(201);
    const booked = await eventually(
      async () => {
        const o = await getOrder(orderId);
        return o.shipments[0]?.status === 'booked' ? o : undefined;
      },
      { what: `${orderId} booked` },
    );
    const bookingId = booked.shipments[0]!.bookingId!;
    const handle = stack.client.workflow.getHandle(orderId);
    const signals = async () =>
      ((await handle.fetchHistory()).events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
    const signalled = await signals();

    // The order's worker away: what happens now waits for it in the order's history.
    await first.stop();
    expect((await advance(bookingId, 'picked_up')).ok).toBe(true);
    await eventually(async () => (await signals()) === signalled + 1, { what: 'the pickup signalled' });
    // The API still reads the parcel at the warehouse, so it asks the workflow (which answers later).
    const cut = stack.api(`/v1/orders/${orderId}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { reason: 'customer wants one unit only', lines: [{ lineNo: 1, quantity: 1 }] },
    });
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await advance(bookingId, 'delivered')).ok).toBe(true);
    await eventually(async () => (await signals()) === signalled + 2, { what: 'the delivery signalled' });

    // Back: the pickup, the cut and the delivery come in one workflow task.
    await workers.start();
    const answer = await cut;
    expect(answer.status).toBe(409);
    const state = await Promise.race([
      handle.result() as Promise<OrderState>,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`${orderId} did not complete in 30 s: its workflow sleeps after the delivery`)), 30_000),
      ),
    ]);
    expect(state.status).toBe('COMPLETED');
    const final = await getOrder(orderId);
    expect(final.timeline.some((t) => /cancellation of 1 unit\(s\) of line 1 refused/.test(t.event))).toBe(true);
    expect(final.shipments.map((s) => s.status)).toEqual(['delivered']);
  }, 120_000);
});
