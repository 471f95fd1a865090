/**
 * Commands that land while the order is in the middle of a step, as the chaos runner sent them:
 * - a line cancellation in the order's very first workflow task, while the main body writes its
 *   first status (two local activities at once used to replay in another order than they ran:
 *   a nondeterminism error and an order stuck for ever);
 * - a line cut while the order is still starting its shipments (the replacement used to be
 *   started twice, once with no share: "already started", a NaN amount);
 * - a cancellation while the authorisation call is under way (the authorisation it made was
 *   never voided);
 * - a cancellation the carrier refuses for a parcel it has (the order used to end at DELIVERED
 *   with no return window, then to complete with the undone parcel's line neither shipped nor
 *   cancelled — a chaos run's stock invariant caught it).
 * Each order's histories (order and children) are replayed against the code at the end.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CanonicalOrder } from '../../domain/order';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { orderWorkflowIds, startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
interface Shipment {
  shipmentId: string;
  status: string;
  needsAttention: boolean;
  attentionReason?: string;
  captured?: string;
  bookingId?: string;
  lines: { lineNo: number; quantity: number }[];
}
interface OrderBody {
  status: string;
  needsAttention: boolean;
  attentionReason?: string | null;
  cancelledLines: { lineNo: number; quantity: number }[];
  shipments: Shipment[];
  payment: { authorized?: string; authorizationId?: string; voided?: boolean; captures: { shipmentId: string; amount: string }[] };
  timeline: { status: string; event: string }[];
}

const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
const seen = new Map<string, OrderBody>();
const lastSeen = (id: string) => {
  const o = seen.get(id);
  return o
    ? JSON.stringify({
        status: o.status,
        needsAttention: o.needsAttention,
        attentionReason: o.attentionReason,
        shipments: o.shipments,
        timeline: o.timeline.slice(-4),
      })
    : 'never read';
};
const waitFor = (id: string, pred: (o: OrderBody) => boolean, what: string, timeoutMs = 90_000) =>
  eventually(
    async () => {
      const o = await getOrder(id);
      seen.set(id, o);
      return pred(o) ? o : undefined;
    },
    { what: `${id}: ${what}`, timeoutMs, intervalMs: 100 },
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; last seen: ${lastSeen(id)}`);
  });
const sandbox = async (path: string, body?: unknown) => {
  const res = await fetch(
    stack.sandboxUrl + path,
    body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
  );
  return res.json() as Promise<Record<string, unknown>>;
};
const payments = async (orderId: string) =>
  (await sandbox(`/sandbox/ledger/payments?orderId=${orderId}`)).entries as { type: string; amount: string; authorizationId?: string }[];
const submit = async (order: CanonicalOrder) => {
  const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
  expect(res.status).toBe(201);
  return ((await res.json()) as { orderId: string }).orderId;
};
const cancelLines = (id: string, lines: { lineNo: number; quantity: number }[]) =>
  stack.api(`/v1/orders/${id}/cancel`, { method: 'POST', key: TEST_KEYS.cs, json: { reason: 'changed my mind', lines } });
const cancelOrder = (id: string) =>
  stack.api(`/v1/orders/${id}/cancel`, { method: 'POST', key: TEST_KEYS.cs, json: { reason: 'changed my mind' } });
const closed = async (client: Client, id: string) => (await client.workflow.getHandle(id).describe()).status.name;
const minor = (s: string) => Math.round(Number(s) * 100);
const advance = (bookingId: string, status: string) => sandbox(`/sandbox/carriers/${bookingId}/advance`, { status });

/** Hands over and delivers every live shipment as it gets booked (replacements included), until the order completes. */
async function deliverAll(orderId: string): Promise<OrderBody> {
  const done = new Set<string>();
  return eventually(
    async () => {
      const o = await getOrder(orderId);
      seen.set(orderId, o);
      for (const s of o.shipments.filter((x) => x.status === 'booked' && x.bookingId && !done.has(x.bookingId))) {
        done.add(s.bookingId!);
        await advance(s.bookingId!, 'picked_up');
        await advance(s.bookingId!, 'delivered');
      }
      return o.status === 'COMPLETED' ? o : undefined;
    },
    { what: `${orderId}: completed`, timeoutMs: 120_000, intervalMs: 200 },
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; last seen: ${lastSeen(orderId)}`);
  });
}

/** Every workflow of the order closed as COMPLETED; each history replays against today's code; none had a failed task. */
async function replaysCleanly(orderId: string, o: OrderBody): Promise<void> {
  const ids = await orderWorkflowIds(
    stack,
    orderId,
    o.shipments.map((s) => s.shipmentId),
  );
  for (const id of ids) {
    await eventually(async () => (await closed(stack.client, id)) === 'COMPLETED', { what: `${id} closed`, timeoutMs: 60_000 });
    const history = await stack.client.workflow.getHandle(id).fetchHistory();
    // Not a failure of ours: the server refuses a task that would close the workflow while a new
    // message (a late carrier webhook) waits, and the next task reads it first (UNHANDLED_COMMAND).
    const failedTasks = (history.events ?? []).filter(
      (e) => e.workflowTaskFailedEventAttributes && e.workflowTaskFailedEventAttributes.failure?.message !== 'UnhandledCommand',
    );
    expect(
      failedTasks.map((e) => e.workflowTaskFailedEventAttributes?.failure?.message),
      id,
    ).toEqual([]);
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, id).catch((err: unknown) => {
      // Kept for whoever studies the failure: `temporal workflow show`-like JSON of what did not replay.
      const file = join(tmpdir(), `not-replayed-${id}.json`);
      writeFileSync(
        file,
        JSON.stringify(history, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 1),
      );
      process.stderr.write(`history that did not replay: ${file}\n`);
      throw err;
    });
  }
}

beforeAll(async () => {
  stack = await startTestStack({
    rules: { riskAmountLimit: '100000000.00' },
    returnWindows: { default: 0 },
    orderSettings: { stepRetry: { initialIntervalMs: 100, maximumIntervalMs: 500, maximumAttempts: 3 } },
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
  });
  await seedNetwork(stack.db.sql, {
    'SKU-C1': { 'WH-HCM': 500 },
    'SKU-C2': { 'WH-HN': 500 },
    'SKU-C3': { 'WH-DN': 500 },
  });
});
afterAll(async () => {
  await stack?.close();
});

// Da Nang is served by all three warehouses; each product is stocked in one only.
const CENTRAL = { name: 'Trần Thị Bình', line1: '5 Bạch Đằng', city: 'Da Nang', country: 'VN' };
const threeWarehouses = (p: Partial<CanonicalOrder> = {}) =>
  makeOrder({
    shippingAddress: CENTRAL,
    lines: [
      { sku: 'SKU-C1', quantity: 3, unitPrice: '100000.00' },
      { sku: 'SKU-C2', quantity: 2, unitPrice: '50000.00' },
      { sku: 'SKU-C3', quantity: 2, unitPrice: '25000.00' },
    ],
    ...p,
  });

describe('commands that land mid-step', () => {
  it('a line cancellation in the first workflow task: the order carries on, and every history replays', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, () => submit(threeWarehouses())));
    // Sent the moment the order is accepted: it lands while the order writes its first status.
    const answers = await Promise.all(ids.map((id) => cancelLines(id, [{ lineNo: 2, quantity: 1 }])));
    expect(answers.map((a) => a.status)).toEqual(ids.map(() => 200));
    for (const id of ids) {
      const o = await deliverAll(id);
      expect(o.needsAttention).toBe(false);
      expect(o.cancelledLines).toEqual([{ lineNo: 2, quantity: 1 }]);
      await replaysCleanly(id, o);
    }
  }, 300_000);

  it('a line cut while the shipments are being started: the replacement starts once, with its share', async () => {
    const results: OrderBody[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const orderId = await submit(threeWarehouses(i % 2 ? { payment: { method: 'cod' } } : {}));
      ids.push(orderId);
      // The moment the first shipment is under way (its pick order asked for), cut a unit of the first line.
      await eventually(
        async () => {
          const h = await stack.client.workflow.getHandle(orderId).fetchHistory();
          return (h.events ?? []).some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'createPickOrder');
        },
        { what: `${orderId}: first shipment starting`, intervalMs: 10, timeoutMs: 60_000 },
      );
      const res = await cancelLines(orderId, [{ lineNo: 1, quantity: 1 }]);
      expect(res.status).toBe(200);
    }
    for (const orderId of ids) {
      const o = await deliverAll(orderId);
      results.push(o);
      expect(o.needsAttention, JSON.stringify(o.shipments)).toBe(false);
      expect(o.shipments.filter((s) => s.needsAttention)).toEqual([]);
      const live = o.shipments.filter((s) => s.status !== 'cancelled');
      expect(live.flatMap((s) => s.lines).reduce((a, l) => a + l.quantity, 0)).toBe(6);
      await replaysCleanly(orderId, o);
    }
    // Prepaid: what was captured is the order less the cut unit, and the rest of the authorisation is released.
    for (const [i, o] of results.entries()) {
      if (i % 2) continue;
      const ledger = await eventually(
        async () => {
          const l = await payments(ids[i]!);
          return l.some((e) => e.type === 'void') ? l : undefined;
        },
        { what: 'remainder released' },
      );
      const sum = (t: string) => ledger.filter((e) => e.type === t).reduce((a, e) => a + minor(e.amount), 0);
      expect(
        ledger.every((e) => /^\d+\.\d{2}$/.test(e.amount)),
        JSON.stringify(ledger),
      ).toBe(true);
      expect(sum('capture')).toBe(minor('350000.00'));
      expect(sum('capture') + sum('void')).toBe(sum('authorize'));
      expect(o.cancelledLines).toEqual([{ lineNo: 1, quantity: 1 }]);
    }
  }, 300_000);

  it('a cancellation while the authorisation call is under way: what the gateway authorised is voided', async () => {
    // The gateway takes the authorisation but answers slowly; the cancellation lands meanwhile.
    const order = makeOrder({ sku: 'SKU-C1', quantity: 1 });
    const fault = await sandbox('/sandbox/faults', {
      service: 'payments',
      op: 'authorize',
      match: { orderId: `order-web-${order.channelOrderId}` },
      action: 'timeout',
      delayMs: 3000,
      times: 1,
    });
    expect(fault.faultId).toBeDefined();
    const orderId = await submit(order);
    expect(orderId).toBe(`order-web-${order.channelOrderId}`);
    await waitFor(orderId, (x) => x.status === 'PAYMENT_PENDING', 'authorising', 30_000);
    expect([200, 202]).toContain((await cancelOrder(orderId)).status);
    const o = await waitFor(orderId, (x) => x.status === 'CANCELLED', 'cancelled');
    expect(o.needsAttention).toBe(false);
    const ledger = await eventually(
      async () => {
        const l = await payments(orderId);
        return l.length >= 2 ? l : undefined;
      },
      { what: 'authorised and voided', timeoutMs: 30_000 },
    );
    expect(ledger.map((e) => e.type)).toEqual(['authorize', 'void']);
    expect(o.payment.voided).toBe(true);
    await replaysCleanly(orderId, o);
  }, 120_000);

  it('a cancellation refused because the carrier has one parcel: the other is undone, the first delivered, and the order completes', async () => {
    const orderId = await submit(
      makeOrder({
        shippingAddress: CENTRAL,
        lines: [
          { sku: 'SKU-C1', quantity: 1, unitPrice: '100000.00' },
          { sku: 'SKU-C2', quantity: 1, unitPrice: '50000.00' },
        ],
      }),
    );
    const booked = await waitFor(
      orderId,
      (x) => x.shipments.length === 2 && x.shipments.every((s) => s.status === 'booked'),
      'both booked',
    );
    const [first, second] = booked.shipments;
    await advance(first!.bookingId!, 'picked_up');
    await waitFor(orderId, (x) => x.shipments.some((s) => s.status === 'picked_up'), 'one handed over');
    expect((await cancelOrder(orderId)).status).toBe(200);
    const refused = await waitFor(
      orderId,
      (x) => x.timeline.some((t) => t.event.startsWith('cancellation refused')),
      'cancellation refused',
    );
    expect(refused.shipments.find((s) => s.shipmentId === second!.shipmentId)?.status).toBe('cancelled');
    await advance(first!.bookingId!, 'delivered');
    // Delivered, so it may be returned: the order goes through its return window and completes.
    const o = await waitFor(orderId, (x) => x.status === 'COMPLETED', 'completed');
    expect(o.needsAttention).toBe(false);
    expect(o.timeline.map((t) => t.status)).toContain('DELIVERED');
    // The undone parcel's line is cancelled: the order holds, commits and charges only what was delivered
    // (it used to complete with line 2 neither shipped nor cancelled: committed 0 of 1).
    expect(o.cancelledLines).toEqual([{ lineNo: 2, quantity: 1 }]);
    const held = await stack.db.sql<{ line_no: number; state: string; quantity: number }[]>`
      select line_no, state, quantity from reservations where order_id = ${orderId} and state <> 'released' order by line_no`;
    expect(held.map((r) => ({ ...r }))).toEqual([{ line_no: 1, state: 'committed', quantity: 1 }]);
    expect(o.payment.captures.map((c) => minor(c.amount))).toEqual([10_000_000]);
    const ledger = await payments(orderId);
    expect(ledger.filter((e) => e.type === 'void').map((e) => minor(e.amount))).toEqual([5_000_000]);
    await replaysCleanly(orderId, o);
  }, 120_000);
});
