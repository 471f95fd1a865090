/**
 * No order workflow ever fails: each step driven into a failure that retries cannot fix — an
 * outside system's unexpected 4xx at the gateway, the warehouse and the carrier, a shipment
 * workflow that cannot start or is terminated — parks the order with needsAttention, a reason and
 * the failing step, visible in the API and the Web UI's search attributes; an ops retry then
 * finishes it. Authorisations that lapse are authorised again before the capture; a booking the
 * carrier forgot is not an obstacle to cancelling. Real HTTP, real Temporal, real PostgreSQL.
 */
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanonicalOrder } from '../../domain/order';
import { NeedsAttentionKey } from '../../workflows/search-attributes';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { journalHolds, orderWorkflowIds, startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
interface OrderBody {
  status: string;
  needsAttention: boolean;
  attentionReason: string | null;
  payment: { authorizationId?: string; captures: { captureId: string; amount: string }[] };
  shipments: { shipmentId: string; bookingId?: string; status: string; needsAttention: boolean; attentionReason?: string }[];
  timeline: { status: string; event: string; actor: string }[];
}
interface LedgerEntry {
  type: string;
  /** The capture's, the void's... */
  id?: string;
  orderId: string;
  authorizationId?: string;
  amount: string;
}

const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
const waitFor = (id: string, pred: (o: OrderBody) => boolean, what: string) =>
  eventually(
    async () => {
      const o = await getOrder(id);
      return pred(o) ? o : undefined;
    },
    { what: `${id}: ${what}`, timeoutMs: 45_000 },
  );
async function sandbox(path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(stack.sandboxUrl + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(res.status, `${path} → ${res.status}`).toBeLessThan(300);
  return res.json() as Promise<Record<string, unknown>>;
}
const payments = async (orderId: string) =>
  ((await sandbox(`/sandbox/ledger/payments?orderId=${orderId}`)) as unknown as { entries: LedgerEntry[] }).entries;
const submit = async (order: CanonicalOrder) => {
  const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
  expect(res.status).toBe(201);
  return ((await res.json()) as { orderId: string }).orderId;
};
const retry = async (orderId: string) => {
  const res = await stack.api(`/v1/orders/${orderId}/retry`, { method: 'POST', key: TEST_KEYS.ops, json: {} });
  expect(res.status, await res.clone().text()).toBe(200);
};
const advance = (bookingId: string, status: string) => sandbox(`/sandbox/carriers/${bookingId}/advance`, { status });
async function deliver(orderId: string): Promise<OrderBody> {
  const o = await waitFor(
    orderId,
    (x) => x.shipments.length > 0 && x.shipments.every((s) => s.status === 'booked' && !s.needsAttention),
    'booked',
  );
  for (const s of o.shipments) {
    await advance(s.bookingId!, 'picked_up');
    await advance(s.bookingId!, 'delivered');
  }
  return waitFor(orderId, (x) => x.status === 'DELIVERED' || x.status === 'COMPLETED', 'delivered');
}
/** Running, not Failed, and flagged where the Web UI filters. */
async function expectParkedNotFailed(workflowId: string): Promise<void> {
  const d = await eventually(
    async () => {
      const x = await stack.client.workflow.getHandle(workflowId).describe();
      return x.typedSearchAttributes.get(NeedsAttentionKey) === true ? x : undefined;
    },
    { what: `${workflowId} flagged NeedsAttention` },
  );
  expect(d.status.name).toBe('RUNNING');
}
async function expectInNeedsAttentionList(orderId: string): Promise<void> {
  const page = (await (await stack.api('/v1/orders?needsAttention=true&limit=100', { key: TEST_KEYS.ops })).json()) as {
    items: { orderId: string }[];
  };
  expect(page.items.map((i) => i.orderId)).toContain(orderId);
}
/** The order's workflow and the latest run of each of its children ended well (a terminated run that ops replaced is history). */
async function expectNothingFailed(orderId: string): Promise<void> {
  const o = await getOrder(orderId);
  const ids = await orderWorkflowIds(
    stack,
    orderId,
    o.shipments.map((s) => s.shipmentId),
  );
  const statuses = await Promise.all(ids.map(async (id) => `${id}: ${(await stack.client.workflow.getHandle(id).describe()).status.name}`));
  expect(statuses.filter((s) => !/: (RUNNING|COMPLETED)$/.test(s))).toEqual([]);
}

const SETTINGS = {
  orderSettings: { stepRetry: { initialIntervalMs: 100, maximumIntervalMs: 200, maximumAttempts: 2 } },
  sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
};
beforeAll(async () => {
  stack = await startTestStack(SETTINGS);
  await seedNetwork(stack.db.sql, { 'SKU-NF': { 'WH-HCM': 1000 } });
});
afterAll(async () => {
  await stack?.close();
});

describe('a step refused by an outside system parks the order, and a retry finishes it', () => {
  const cases = [
    { step: 'authorise payment', fault: { service: 'payments', op: 'authorize', status: 400, error: 'invalid_request' } },
    { step: 'pick and pack', fault: { service: 'wms', op: 'pick', status: 409, error: 'warehouse_closed' } },
    { step: 'book carrier', fault: { service: 'carriers', op: 'book', status: 422, error: 'address_unserviceable' } },
    { step: 'capture payment', fault: { service: 'payments', op: 'capture', status: 404, error: 'not_found' } },
  ] as const;
  for (const c of cases) {
    it(`${c.step}: ${c.fault.status} ${c.fault.error}`, async () => {
      const order = makeOrder({ sku: 'SKU-NF', quantity: 1 });
      const orderId = `order-web-${order.channelOrderId}`;
      await sandbox('/sandbox/faults', { ...c.fault, match: { orderId }, action: 'refuse', times: 1 });
      await submit(order);
      if (c.step === 'capture payment') {
        const booked = await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
        await advance(booked.shipments[0]!.bookingId!, 'picked_up');
      }
      const parked = await waitFor(orderId, (o) => o.needsAttention, 'needs attention');
      expect(parked.attentionReason).toContain(c.step);
      expect(parked.attentionReason).toContain(c.fault.error);
      await expectInNeedsAttentionList(orderId);
      await expectParkedNotFailed(orderId);
      await retry(orderId);
      if (c.step === 'capture payment') {
        const o = await waitFor(orderId, (x) => x.status === 'SHIPPED' && !x.needsAttention, 'shipped after the retry');
        await advance(o.shipments[0]!.bookingId!, 'delivered');
        await waitFor(orderId, (x) => x.status === 'DELIVERED' || x.status === 'COMPLETED', 'delivered');
      } else {
        await deliver(orderId);
      }
      const captures = (await payments(orderId)).filter((e) => e.type === 'capture');
      expect(captures).toHaveLength(1);
      expect(captures[0]!.amount).toBe('100000.00');
      await expectNothingFailed(orderId);
    });
  }
});

// Orders from orderWorkflowV3 on run their shipments inside their own workflow; orders still in
// flight from before have a child workflow per shipment, which can be terminated or squatted.
describe('a shipment workflow that is gone does not fail the order (orders from orderWorkflowV2)', () => {
  let current: TestStack;
  beforeAll(async () => {
    current = stack;
    stack = await startTestStack({ ...SETTINGS, startRelay: { orderWorkflowType: 'orderWorkflowV2' } });
    await seedNetwork(stack.db.sql, { 'SKU-NF': { 'WH-HCM': 1000 } });
  });
  afterAll(async () => {
    await stack.close();
    stack = current;
  });
  it('cannot start (its id is taken): flagged; once the id is free, a retry starts it and the order is delivered', async () => {
    const order = makeOrder({ sku: 'SKU-NF', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    // Something else already runs under the shipment's id (on a queue nobody polls).
    const squatter = await stack.client.workflow.start('helloWorkflow', {
      taskQueue: `nobody-${order.channelOrderId}`,
      workflowId: `${orderId}-shipment-1`,
      args: ['x'],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
    });
    await submit(order);
    const parked = await waitFor(orderId, (o) => o.needsAttention, 'needs attention');
    expect(parked.attentionReason).toMatch(/shipment workflow could not start/);
    await expectParkedNotFailed(orderId);
    await squatter.terminate('test: free the id');
    await retry(orderId);
    await deliver(orderId);
    await expectNothingFailed(orderId);
  });

  it('is terminated after booking: flagged; a retry runs it again from the booking, one booking, one capture', async () => {
    const order = makeOrder({ sku: 'SKU-NF', quantity: 2 });
    const orderId = `order-web-${order.channelOrderId}`;
    await submit(order);
    const booked = await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const shipmentId = booked.shipments[0]!.shipmentId;
    await stack.client.workflow.getHandle(shipmentId).terminate('test: an operator terminated the shipment');
    const parked = await waitFor(orderId, (o) => o.needsAttention, 'needs attention');
    expect(parked.attentionReason).toMatch(/shipment workflow failed/);
    await expectParkedNotFailed(orderId);
    await retry(orderId);
    const o = await waitFor(orderId, (x) => !x.needsAttention, 'attention cleared');
    expect(o.shipments[0]!.bookingId).toBe(booked.shipments[0]!.bookingId);
    await advance(o.shipments[0]!.bookingId!, 'picked_up');
    await advance(o.shipments[0]!.bookingId!, 'delivered');
    await waitFor(orderId, (x) => x.status === 'DELIVERED' || x.status === 'COMPLETED', 'delivered');
    expect((await payments(orderId)).filter((e) => e.type === 'capture')).toHaveLength(1);
    const carrier = (await sandbox(`/sandbox/ledger/carriers?orderId=${orderId}`)) as { bookings: { bookingId: string }[] };
    expect(carrier.bookings.map((b) => b.bookingId)).toEqual([booked.shipments[0]!.bookingId]);
  });

  it('is terminated, then the order is cancelled: the shipment runs again only to undo its booking and pick', async () => {
    const order = makeOrder({ sku: 'SKU-NF', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    await submit(order);
    const booked = await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    await stack.client.workflow.getHandle(booked.shipments[0]!.shipmentId).terminate('test');
    await waitFor(orderId, (o) => o.needsAttention, 'needs attention');
    const res = await stack.api(`/v1/orders/${orderId}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { reason: 'customer changed their mind' },
    });
    expect(res.status).toBe(200);
    const o = await waitFor(orderId, (x) => x.status === 'CANCELLED', 'cancelled');
    expect(o.shipments[0]!.status).toBe('cancelled');
    expect(o.timeline.map((t) => t.event).join('\n')).toContain(`carrier booking ${booked.shipments[0]!.bookingId} cancelled`);
    expect((await payments(orderId)).map((e) => e.type)).toEqual(['authorize', 'void']);
    await expectNothingFailed(orderId);
  });
});

describe('authorisations lapse, bookings are forgotten', () => {
  it('an authorisation the gateway expired before the capture is authorised again with the stored token, then captured once', async () => {
    const order = makeOrder({ sku: 'SKU-NF', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    await submit(order);
    const booked = await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    await sandbox(`/sandbox/payments/authorizations/${booked.payment.authorizationId}/expire`, {});
    await advance(booked.shipments[0]!.bookingId!, 'picked_up');
    await advance(booked.shipments[0]!.bookingId!, 'delivered');
    const o = await waitFor(orderId, (x) => x.status === 'DELIVERED' || x.status === 'COMPLETED', 'delivered');
    expect(o.needsAttention).toBe(false);
    const ledger = await payments(orderId);
    const auths = ledger.filter((e) => e.type === 'authorize');
    expect(auths).toHaveLength(2);
    const captures = ledger.filter((e) => e.type === 'capture');
    expect(captures).toHaveLength(1);
    expect(captures[0]!.authorizationId).toBe(auths[1]!.authorizationId);
    expect(o.timeline.some((t) => /authorisation had lapsed/.test(t.event))).toBe(true);
    // The books follow the gateway: the lapsed hold given up, the new one journalled and captured from —
    // neither holds anything, as the gateway's ledger says (authorised − captured − expired).
    const gatewayHolds = Object.fromEntries(
      auths.map((a) => [
        a.authorizationId!,
        ledger
          .filter((e) => e.authorizationId === a.authorizationId)
          .reduce(
            (h, e) => h + (e.type === 'authorize' ? 1 : ['capture', 'void', 'expire'].includes(e.type) ? -1 : 0) * Number(e.amount) * 100,
            0,
          ),
      ]),
    );
    expect(Object.values(gatewayHolds)).toEqual([0, 0]);
    const books = await eventually(
      async () => {
        const h = await journalHolds(
          stack,
          orderId,
          captures.map((c) => ({ id: c.id!, authorizationId: c.authorizationId })),
        );
        return Object.keys(h).length === 2 && Object.values(h).every((v) => v === 0) ? h : undefined;
      },
      { what: 'the journal holding what the gateway holds' },
    );
    expect(books).toEqual(gatewayHolds);
  });

  it('an authorisation near its expiry is authorised again before the capture, without trying the old one', async () => {
    await sandbox('/sandbox/config', { authorizationTtlMs: 60_000 });
    try {
      const order = makeOrder({ sku: 'SKU-NF', quantity: 1 });
      const orderId = `order-web-${order.channelOrderId}`;
      await submit(order);
      const booked = await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
      await advance(booked.shipments[0]!.bookingId!, 'picked_up');
      // The order may read SHIPPED as soon as it hears of the re-authorisation: wait for the capture itself.
      // Then the share the new authorisation took over is released from the old one, exactly once.
      const ledger = await eventually(
        async () => {
          const l = await payments(orderId);
          return l.some((e) => e.type === 'void') ? l : undefined;
        },
        { what: 'the capture, then the release' },
      );
      expect(ledger.map((e) => e.type)).toEqual(['authorize', 'authorize', 'capture', 'void']);
      expect(ledger[2]!.authorizationId).toBe(ledger[1]!.authorizationId);
      expect(ledger[3]).toMatchObject({ authorizationId: ledger[0]!.authorizationId, amount: '100000.00', partial: true });
    } finally {
      await sandbox('/sandbox/config', { authorizationTtlMs: 7 * 86_400_000 });
    }
  });

  it('a declined re-authorisation parks the order; a retry (the card works again) captures it', async () => {
    const order = makeOrder({ sku: 'SKU-NF', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    await submit(order);
    const booked = await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    await sandbox(`/sandbox/payments/authorizations/${booked.payment.authorizationId}/expire`, {});
    await sandbox('/sandbox/faults', {
      service: 'payments',
      op: 'authorize',
      match: { orderId },
      action: 'decline',
      declineCode: 'insufficient_funds',
      times: 1,
    });
    await advance(booked.shipments[0]!.bookingId!, 'picked_up');
    const parked = await waitFor(orderId, (o) => o.needsAttention, 'needs attention');
    expect(parked.attentionReason).toMatch(/re-authorise payment.*insufficient_funds/);
    await expectParkedNotFailed(orderId);
    await retry(orderId);
    await eventually(async () => (await payments(orderId)).some((e) => e.type === 'capture'), { what: 'the capture after the retry' });
    expect((await payments(orderId)).map((e) => e.type)).toEqual(['authorize', 'expire', 'decline', 'authorize', 'capture']);
    await waitFor(orderId, (x) => x.status === 'SHIPPED' && !x.needsAttention && x.payment.captures.length === 1, 'shipped');
  });

  it('cancelling an order whose booking the carrier forgot: nothing to cancel there, the order is cancelled', async () => {
    const order = makeOrder({ sku: 'SKU-NF', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    await submit(order);
    const booked = await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const s = booked.shipments[0]!;
    await sandbox(`/sandbox/carriers/ghn/bookings/${s.bookingId}/forget`, {});
    const res = await stack.api(`/v1/orders/${orderId}/cancel`, { method: 'POST', key: TEST_KEYS.cs, json: { reason: 'test' } });
    expect(res.status).toBe(200);
    const o = await waitFor(orderId, (x) => x.status === 'CANCELLED', 'cancelled');
    expect(o.timeline.some((t) => t.event.includes(`no longer knows booking ${s.bookingId}`))).toBe(true);
    expect((await payments(orderId)).map((e) => e.type)).toEqual(['authorize', 'void']);
  });
});
