/**
 * A return requested in the gap between an order hearing of its delivery and hearing of the
 * capture for it (the chaos run found it: a return of every unit was accepted and 0 refunded).
 * The order's workers run a workflow bundle with a test interceptor that takes the shipment's
 * capture message in late (test/support/late-capture-tell.ts); everything else is the real stack.
 * The gap is one of orders from orderWorkflowV2, whose shipments are child workflows and tell the
 * order by signals (orders in flight from before); from orderWorkflowV3 on a shipment runs in the
 * order's workflow and its capture reaches the order with the pickup that caused it.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleWorkflows } from '../../worker/create-worker';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
interface OrderBody {
  status: string;
  total: string;
  waitingFor: string | null;
  returns: { returnId: string; status: string; refundDue: string; refunded?: string }[];
  timeline: { event: string }[];
}
const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
const until = (id: string, pred: (o: OrderBody) => boolean, what: string) =>
  eventually(
    async () => {
      const o = await getOrder(id);
      return pred(o) ? o : undefined;
    },
    { what: `${id}: ${what}`, timeoutMs: 40_000, intervalMs: 50 },
  );
const ledger = async (orderId: string) =>
  (
    (await (await fetch(`${stack.sandboxUrl}/sandbox/ledger/payments?orderId=${orderId}`)).json()) as {
      entries: { type: string; amount: string }[];
    }
  ).entries;

beforeAll(async () => {
  const bundle = await bundleWorkflows([fileURLToPath(new URL('../support/late-capture-tell.ts', import.meta.url))]);
  stack = await startTestStack({
    workflowBundle: { code: bundle.code },
    startRelay: { orderWorkflowType: 'orderWorkflowV2' },
    returnWindows: { default: 120_000 },
    orderSettings: { returnShipByMs: 5000 },
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } },
  });
  await seedNetwork(stack.db.sql, { 'SKU-LATE': { 'WH-HCM': 50 } });
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

describe('a return requested before the order has heard of its capture', () => {
  it('refunds every unit of what was paid once the capture is known, not the 0 known at the request', async () => {
    const order = makeOrder({ lines: [{ sku: 'SKU-LATE', quantity: 3, unitPrice: '149000.00' }], shippingFee: '15000.00' });
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
    expect(res.status).toBe(201);
    const { orderId } = (await res.json()) as { orderId: string };

    // The moment the window opens, the capture has not reached the order yet (the interceptor).
    const open = await until(orderId, (o) => o.waitingFor === 'the return window to close', 'open for returns');
    expect(open.timeline.some((t) => /captured/.test(t.event))).toBe(false);
    const ask = await stack.api(`/v1/orders/${orderId}/returns`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { lines: [{ lineNo: 1, quantity: 3 }], reason: 'changed my mind' },
    });
    expect(ask.status).toBe(201);
    const { returnId } = (await ask.json()) as { returnId: string };

    await until(orderId, (o) => o.returns.find((r) => r.returnId === returnId)?.status === 'received', 'parcel back');
    const inspect = await stack.api(`/v1/orders/${orderId}/returns/${returnId}/inspection`, {
      method: 'POST',
      key: TEST_KEYS.ops,
      json: { result: 'accept' },
    });
    expect(inspect.status).toBe(200);
    const done = await until(orderId, (o) => o.status === 'REFUNDED', 'refunded');

    // 3 × 149000 + 15000 shipping, all captured at handover and all refunded.
    expect(done.total).toBe('462000.00');
    expect(done.returns[0]).toMatchObject({ status: 'accepted', refundDue: '462000.00', refunded: '462000.00' });
    const entries = await ledger(orderId);
    expect(entries.filter((e) => e.type === 'capture').map((e) => e.amount)).toEqual(['462000.00']);
    expect(entries.filter((e) => e.type === 'refund').map((e) => e.amount)).toEqual(['462000.00']);
  });
});
