/**
 * Durable timers and waits: risk holds (released, rejected, expired) and backorders (released
 * by a restock, cancelled at the deadline). Two stacks: one with long deadlines (people act in
 * time), one with deadlines of a second or two (nobody acts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeOrder, seedNetwork, stockRow, one } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

interface OrderBody {
  status: string;
  reasons: string[];
  waitingFor: string | null;
  waitingUntil: string | null;
  timeline: { event: string; status: string; actor: string; at: string }[];
}

function helpers(get: () => TestStack) {
  const getOrder = async (orderId: string) =>
    (await (await get().api(`/v1/orders/${orderId}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
  return {
    getOrder,
    waitForStatus: (orderId: string, status: string, timeoutMs = 30_000) =>
      eventually(
        async () => {
          const o = await getOrder(orderId);
          return o.status === status && o.timeline.some((t) => t.status === status) ? o : undefined;
        },
        { timeoutMs, what: `${orderId} → ${status}` },
      ),
    submit: async (order: ReturnType<typeof makeOrder>) => {
      const res = await get().api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
      expect(res.status).toBe(201);
      return ((await res.json()) as { orderId: string }).orderId;
    },
  };
}

describe('people act before the deadline', () => {
  let stack: TestStack;
  const h = helpers(() => stack);
  beforeAll(async () => {
    stack = await startTestStack({
      rules: { riskAmountLimit: '500000.00' },
      sandboxOptions: { autoProgress: { enabled: true, stepMs: 100 } },
    });
    await seedNetwork(stack.db.sql, { 'SKU-A': { 'WH-HCM': 50 }, 'SKU-RESTOCK': { 'WH-HCM': 0 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('holds a large order for review; an ops release lets it continue to DELIVERED', async () => {
    const orderId = await h.submit(makeOrder({ quantity: 6, payment: { method: 'cod' } }));
    const held = await h.waitForStatus(orderId, 'ON_HOLD');
    expect(held.reasons[0]).toMatch(/amount 600000.00 above the review limit 500000.00/);
    expect(held.waitingFor).toMatch(/ops decision/);
    expect((await stack.api(`/v1/orders/${orderId}/release`, { method: 'POST', key: TEST_KEYS.cs, json: {} })).status).toBe(403);
    const res = await stack.api(`/v1/orders/${orderId}/release`, {
      method: 'POST',
      key: TEST_KEYS.ops,
      json: { decision: 'release', reason: 'called the customer' },
    });
    expect(res.status).toBe(200);
    const done = await h.waitForStatus(orderId, 'DELIVERED');
    expect(done.timeline.some((t) => t.event === 'risk hold released' && t.actor.startsWith('ops:'))).toBe(true);
    // The hold is over: a second release is refused with the reason.
    const again = await stack.api(`/v1/orders/${orderId}/release`, { method: 'POST', key: TEST_KEYS.ops, json: {} });
    expect(again.status).toBe(409);
  });

  it('rejects a held order when ops reject it (a reason is required)', async () => {
    const orderId = await h.submit(makeOrder({ quantity: 6, payment: { method: 'cod' } }));
    await h.waitForStatus(orderId, 'ON_HOLD');
    expect(
      (await stack.api(`/v1/orders/${orderId}/release`, { method: 'POST', key: TEST_KEYS.ops, json: { decision: 'reject' } })).status,
    ).toBe(400);
    expect(
      (
        await stack.api(`/v1/orders/${orderId}/release`, {
          method: 'POST',
          key: TEST_KEYS.ops,
          json: { decision: 'reject', reason: 'stolen card reported' },
        })
      ).status,
    ).toBe(200);
    const done = await h.waitForStatus(orderId, 'REJECTED');
    expect(done.reasons).toEqual(['stolen card reported']);
  });

  it('backorders an order without stock and releases it when the SKU is restocked', async () => {
    const orderId = await h.submit(makeOrder({ sku: 'SKU-RESTOCK', quantity: 2 }));
    const waiting = await h.waitForStatus(orderId, 'BACKORDERED');
    expect(waiting.waitingFor).toMatch(/restock of SKU-RESTOCK/);
    const restock = await stack.api('/v1/inventory/SKU-RESTOCK/WH-HCM', {
      method: 'PUT',
      key: TEST_KEYS.admin,
      json: { onHand: 5, reason: 'container arrived' },
    });
    expect(restock.status).toBe(200);
    expect(((await restock.json()) as { wokenOrders: string[] }).wokenOrders).toEqual([orderId]);
    await h.waitForStatus(orderId, 'DELIVERED');
    expect(await stockRow(stack.db.sql, 'SKU-RESTOCK', 'WH-HCM')).toEqual({ onHand: 3, reserved: 0 });
  });
});

describe('nobody acts before the deadline', () => {
  let stack: TestStack;
  const h = helpers(() => stack);
  beforeAll(async () => {
    stack = await startTestStack({
      rules: { riskAmountLimit: '500000.00' },
      orderSettings: { holdTimeoutMs: 1500, backorderTimeoutMs: 1500 },
      returnWindows: { default: 60_000, web: 1500 },
      sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } },
    });
    await seedNetwork(stack.db.sql, { 'SKU-A': { 'WH-HCM': 50 }, 'SKU-NONE': { 'WH-HCM': 0 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('rejects a risk hold nobody decided on when it expires', async () => {
    const orderId = await h.submit(makeOrder({ quantity: 6, payment: { method: 'cod' } }));
    const done = await h.waitForStatus(orderId, 'REJECTED');
    expect(done.reasons).toContain('risk hold expired');
    expect(done.timeline.map((t) => t.status)).toEqual(expect.arrayContaining(['ON_HOLD', 'REJECTED']));
  });

  it("keeps a delivered order open for its channel's return window, then completes it", async () => {
    const orderId = await h.submit(makeOrder({ payment: { method: 'cod' } }));
    // The window is 1.5 s: polling for it to be open races it on a busy machine, so the story
    // is read once it is over. The timeline says when it opened, until when, and when it closed.
    const done = await h.waitForStatus(orderId, 'COMPLETED');
    const opened = done.timeline.find((t) => t.event.startsWith('open for returns until '));
    const closed = done.timeline.find((t) => t.event === 'return window closed');
    expect(opened?.status).toBe('DELIVERED');
    expect(closed?.status).toBe('COMPLETED');
    const until = Date.parse(opened!.event.slice('open for returns until '.length));
    expect(until - Date.parse(opened!.at)).toBe(1500);
    expect(Date.parse(closed!.at)).toBeGreaterThanOrEqual(until);
    // The workflow itself closes once the last channel push is through.
    await eventually(async () => (await stack.client.workflow.getHandle(orderId).describe()).status.name === 'COMPLETED', {
      what: 'workflow closed',
    });
  });

  it('cancels a backorder at its deadline and voids the authorisation', async () => {
    const orderId = await h.submit(makeOrder({ sku: 'SKU-NONE' }));
    const done = await h.waitForStatus(orderId, 'CANCELLED');
    expect(done.reasons[0]).toMatch(/no stock by/);
    const ledger = (await (await fetch(`${stack.sandboxUrl}/sandbox/ledger/payments?orderId=${orderId}`)).json()) as {
      entries: { type: string }[];
    };
    expect(ledger.entries.map((e) => e.type)).toEqual(['authorize', 'void']);
    const { n } = await one(stack.db.sql<{ n: number }[]>`select count(*)::int as n from backorders where order_id = ${orderId}`);
    expect(n).toBe(0);
  });
});
