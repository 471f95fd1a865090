/**
 * Ops work: an order stuck on a failing carrier is found through the list API and through a
 * visibility query, retried through the API, and completes; ops holds stop an order before its
 * next step; and what the Temporal Web UI shows (summaries, current details, search attributes,
 * activity and timer summaries) is read back through the Temporal client, without a browser.
 */
import { readFileSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import { workflowMetadataQuery } from '@temporalio/workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanonicalOrder } from '../../domain/order';
import { eventually, makeOrder, refuseWritesOf, seedNetwork, stockRow } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
interface OrderBody {
  status: string;
  needsAttention: boolean;
  attentionReason: string | null;
  waitingFor: string | null;
  shipments: { shipmentId: string; bookingId?: string; status: string; needsAttention: boolean }[];
  timeline: { status: string; event: string; actor: string }[];
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
const sandbox = async (path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') => {
  const res = await fetch(stack.sandboxUrl + path, {
    method,
    headers: { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return res.json() as Promise<Record<string, unknown>>;
};
const submit = async (order: CanonicalOrder) => {
  const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
  expect(res.status).toBe(201);
  return ((await res.json()) as { orderId: string }).orderId;
};
const post = (path: string, key: string, json?: unknown) =>
  stack.api(path, { method: 'POST', key, ...(json === undefined ? {} : { json }) });
const visible = (query: string) =>
  eventually(
    async () => {
      const ids: string[] = [];
      for await (const w of stack.client.workflow.list({ query })) ids.push(w.workflowId);
      return ids.length ? ids : undefined;
    },
    { what: `visibility: ${query}` },
  );
async function deliver(orderId: string): Promise<void> {
  const o = await waitFor(orderId, (x) => x.shipments.length > 0 && x.shipments.every((s) => s.status === 'booked'), 'booked');
  for (const s of o.shipments) {
    await sandbox(`/sandbox/carriers/${s.bookingId}/advance`, { status: 'picked_up' });
    await sandbox(`/sandbox/carriers/${s.bookingId}/advance`, { status: 'delivered' });
  }
  await waitFor(orderId, (x) => x.status === 'DELIVERED' || x.status === 'COMPLETED', 'delivered');
}
/** The summaries the Web UI shows next to each event of the workflow's history. */
async function eventSummaries(workflowId: string): Promise<{ activities: string[]; timers: string[] }> {
  const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  const text = (e: { userMetadata?: { summary?: { data?: Uint8Array | null } | null } | null }) => {
    const data = e.userMetadata?.summary?.data;
    return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string) : undefined;
  };
  const events = history.events ?? [];
  return {
    // Activities and local activities (their markers), in the order they ran.
    activities: events
      .filter((e) => e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
      .map(text)
      .filter((x): x is string => !!x),
    timers: events
      .filter((e) => e.timerStartedEventAttributes)
      .map(text)
      .filter((x): x is string => !!x),
  };
}

beforeAll(async () => {
  stack = await startTestStack({
    rules: { riskAmountLimit: '1000000.00' },
    orderSettings: { stepRetry: { initialIntervalMs: 100, maximumIntervalMs: 200, maximumAttempts: 2 } },
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
  });
  await seedNetwork(stack.db.sql, { 'SKU-O': { 'WH-HCM': 100 } });
});
afterAll(async () => {
  await stack?.close();
});

describe('an order that needs attention', () => {
  it('is found by the list API and a visibility query, retried through the API, and completes', async () => {
    const order = makeOrder({ sku: 'SKU-O', quantity: 2 });
    const orderId = `order-web-${order.channelOrderId}`;
    await sandbox('/sandbox/faults', { service: 'carriers', op: 'book', match: { orderId }, action: 'error500', times: -1 });
    await submit(order);
    const stuck = await waitFor(orderId, (o) => o.needsAttention, 'needs attention');
    expect(stuck.shipments[0]).toMatchObject({ needsAttention: true });
    expect(stuck.attentionReason).toMatch(/book carrier failed after retries/);

    const page = (await (await stack.api('/v1/orders?needsAttention=true&limit=100', { key: TEST_KEYS.ops })).json()) as {
      items: { orderId: string; needsAttention: boolean }[];
    };
    expect(page.items.find((i) => i.orderId === orderId)).toMatchObject({ needsAttention: true });
    expect(await visible(`NeedsAttention = true AND OrderStatus = 'FULFILLING' AND WorkflowId = '${orderId}'`)).toEqual([orderId]);

    // Nothing to retry on a healthy order: 409 with the reason.
    const healthy = await submit(makeOrder({ sku: 'SKU-O' }));
    await waitFor(healthy, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const none = await post(`/v1/orders/${healthy}/retry`, TEST_KEYS.ops);
    expect(none.status).toBe(409);
    expect(((await none.json()) as { detail: string }).detail).toMatch(/nothing to retry/);

    await sandbox('/sandbox/faults', undefined, 'DELETE');
    const retried = await post(`/v1/orders/${orderId}/retry`, TEST_KEYS.ops);
    expect(retried.status).toBe(200);
    expect(await retried.json()).toEqual({ retried: [`shipment ${orderId}-shipment-1`] });
    await deliver(orderId);
    const done = await getOrder(orderId);
    expect(done.needsAttention).toBe(false);
    expect(done.timeline.some((t) => /book carrier retried/.test(t.event) && t.actor.startsWith('ops:'))).toBe(true);
    expect(await visible(`NeedsAttention = false AND OrderStatus = 'DELIVERED' AND WorkflowId = '${orderId}'`)).toEqual([orderId]);
  });
});

describe('a step on our own database that keeps failing', () => {
  it('parks the order (a local activity, not a task of the server), and an ops retry resumes it', async () => {
    const order = makeOrder({ sku: 'SKU-O', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    const before = await stockRow(stack.db.sql, 'SKU-O', 'WH-HCM');
    // A real PostgreSQL error on this order's reservation only: the statement fails, nothing is written.
    const accept = await refuseWritesOf(stack.db.sql, 'reservations', orderId);
    try {
      await submit(order);
      const stuck = await waitFor(orderId, (o) => o.needsAttention, 'needs attention');
      expect(stuck.attentionReason).toMatch(/reserve stock failed after retries: .*could not extend file \(test\)/);
      expect(stuck.waitingFor).toBe('an ops retry of "reserve stock"');
      expect(await stockRow(stack.db.sql, 'SKU-O', 'WH-HCM')).toEqual(before);
      // Its attempts ran in the worker: no activity task on the server. Each attempt is a local
      // activity of its own (2 here: stepRetry.maximumAttempts) with a workflow timer between them,
      // so the run's line of local activities is free while the step waits to try again.
      const history = await stack.client.workflow.getHandle(orderId).fetchHistory();
      const events = history.events ?? [];
      const scheduled = events.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
      expect(scheduled).toEqual(['authorizePayment']);
      const failedAttempts = events.flatMap((e, i) =>
        e.markerRecordedEventAttributes?.markerName === 'core_local_activity' && e.markerRecordedEventAttributes.failure ? [i] : [],
      );
      expect(failedAttempts).toHaveLength(2);
      expect(events.slice(failedAttempts[0], failedAttempts[1]).some((e) => e.timerStartedEventAttributes)).toBe(true);
    } finally {
      await accept();
    }
    const retried = await post(`/v1/orders/${orderId}/retry`, TEST_KEYS.ops);
    expect(retried.status).toBe(200);
    expect(await retried.json()).toEqual({ retried: ['reserve stock'] });
    await deliver(orderId);
    const done = await getOrder(orderId);
    expect(done.needsAttention).toBe(false);
    expect(done.timeline.some((t) => t.event === 'retry of "reserve stock" requested' && t.actor.startsWith('ops:'))).toBe(true);
    expect((await stockRow(stack.db.sql, 'SKU-O', 'WH-HCM')).onHand).toBe(before.onHand - 1);
  });
});

describe('ops hold', () => {
  it('takes effect before the next step: nothing reserved while held; release resumes it', async () => {
    const order = makeOrder({ sku: 'SKU-O', quantity: 3 });
    const orderId = `order-web-${order.channelOrderId}`;
    const before = await stockRow(stack.db.sql, 'SKU-O', 'WH-HCM');
    // A slow authorisation keeps the order in PAYMENT_PENDING long enough to hold it there: 5 s,
    // so the read and the hold fit in it on a busy machine too.
    await sandbox('/sandbox/faults', {
      service: 'payments',
      op: 'authorize',
      match: { orderId },
      action: 'timeout',
      delayMs: 5000,
      times: 1,
    });
    await submit(order);
    await waitFor(orderId, (o) => o.status === 'PAYMENT_PENDING', 'authorising');
    const held = await post(`/v1/orders/${orderId}/hold`, TEST_KEYS.ops, { reason: 'customer called to change the address' });
    expect(held.status).toBe(200);
    const onHold = await waitFor(orderId, (o) => o.status === 'ON_HOLD', 'on hold');
    expect(onHold.waitingFor).toMatch(/ops release of the hold \(customer called/);
    expect(await stockRow(stack.db.sql, 'SKU-O', 'WH-HCM')).toEqual(before);
    expect(await visible(`OrderStatus = 'ON_HOLD' AND WorkflowId = '${orderId}'`)).toEqual([orderId]);
    // Twice is a conflict, not a second hold.
    expect((await post(`/v1/orders/${orderId}/hold`, TEST_KEYS.ops, { reason: 'again' })).status).toBe(409);

    expect((await post(`/v1/orders/${orderId}/release`, TEST_KEYS.ops, { decision: 'release', reason: 'address confirmed' })).status).toBe(
      200,
    );
    await deliver(orderId);
    const o = await getOrder(orderId);
    const events = o.timeline.map((t) => `${t.status}: ${t.event}`);
    const at = (re: RegExp) => events.findIndex((e) => re.test(e));
    expect(at(/^PAYMENT_PENDING: hold requested: customer called/)).toBeGreaterThan(-1);
    expect(at(/^ON_HOLD: on hold: customer called/)).toBeGreaterThan(at(/hold requested/));
    expect(at(/hold released/)).toBeGreaterThan(at(/^ON_HOLD: on hold/));
    expect(at(/^ALLOCATED/)).toBeGreaterThan(at(/hold released/));
    expect(o.timeline.find((t) => t.event === 'hold released')!.actor).toMatch(/^ops:/);
  });

  it('rejecting an ops hold cancels the order with its compensation', async () => {
    const order = makeOrder({ sku: 'SKU-O' });
    const orderId = `order-web-${order.channelOrderId}`;
    await sandbox('/sandbox/faults', {
      service: 'payments',
      op: 'authorize',
      match: { orderId },
      action: 'timeout',
      delayMs: 5000,
      times: 1,
    });
    await submit(order);
    await waitFor(orderId, (o) => o.status === 'PAYMENT_PENDING', 'authorising');
    expect((await post(`/v1/orders/${orderId}/hold`, TEST_KEYS.ops, { reason: 'suspected reseller' })).status).toBe(200);
    await waitFor(orderId, (o) => o.status === 'ON_HOLD', 'on hold');
    expect((await post(`/v1/orders/${orderId}/release`, TEST_KEYS.ops, { decision: 'reject' })).status).toBe(400);
    expect((await post(`/v1/orders/${orderId}/release`, TEST_KEYS.ops, { decision: 'reject', reason: 'confirmed reseller' })).status).toBe(
      200,
    );
    await waitFor(orderId, (o) => o.status === 'CANCELLED', 'cancelled');
    const ledger = (await sandbox(`/sandbox/ledger/payments?orderId=${orderId}`)).entries as { type: string }[];
    expect(ledger.map((e) => e.type)).toEqual(['authorize', 'void']);
  });

  it('is refused once shipments are being prepared, for other roles, without a reason, and for unknown orders', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-O' }));
    await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const late = await post(`/v1/orders/${orderId}/hold`, TEST_KEYS.ops, { reason: 'too late' });
    expect(late.status).toBe(409);
    expect(((await late.json()) as { detail: string }).detail).toMatch(/shipments are already being prepared/);
    expect((await post(`/v1/orders/${orderId}/hold`, TEST_KEYS.cs, { reason: 'not my call' })).status).toBe(403);
    expect((await post(`/v1/orders/${orderId}/hold`, TEST_KEYS.ops, {})).status).toBe(400);
    expect((await post('/v1/orders/order-web-nope/hold', TEST_KEYS.ops, { reason: 'who?' })).status).toBe(404);
    expect((await getOrder(orderId)).timeline.some((t) => t.event.startsWith('hold requested'))).toBe(false);
  });
});

/**
 * The Web UI's "Stack Trace" tab (the `__stack_trace` and `__enhanced_stack_trace` queries) on an
 * order held for risk: where it waits, in our TypeScript source, line for line. The worker's
 * workflow thread formats these stacks only when asked (scripts/patch-deps.mjs); this is what ops see.
 */
async function expectStackTraceAtRiskHold(handle: WorkflowHandle): Promise<void> {
  const source = readFileSync('workflows/order/steps.ts', 'utf8').split('\n');
  const line = source.findIndex((l) => l.includes('await condition(() => o.holdDecision !== undefined')) + 1;
  expect(line).toBeGreaterThan(0);
  interface Location {
    file_path?: string;
    function_name?: string;
    line?: number;
    column?: number;
  }
  const enhanced = await handle.query<{ stacks: { locations: Location[] }[] }>('__enhanced_stack_trace');
  // One of the stacks ends in the order's risk step, at the line that waits, right below the SDK's `condition`.
  const held = enhanced.stacks.find((s) => s.locations.at(-1)?.function_name === 'reviewRisk');
  expect(held, JSON.stringify(enhanced.stacks)).toBeDefined();
  const [waits, inner] = [held!.locations.at(-1)!, held!.locations.at(-2)!];
  expect(waits.file_path).toMatch(/\/workflows\/order\/steps\.ts$/);
  expect(waits.line).toBe(line);
  expect(inner.function_name).toBe('condition');
  expect(inner.file_path).toMatch(/workflow\.ts$/);
  // The story's main function is there too: the order is inside its forward run.
  expect(enhanced.stacks.some((s) => s.locations.some((l) => l.file_path?.endsWith('/workflows/order.ts')))).toBe(true);
  const text = await handle.query<string>('__stack_trace');
  expect(text).toMatch(
    new RegExp(`at condition \\(\\S+workflow\\.ts:\\d+:\\d+\\)\\n\\s+at reviewRisk \\(\\S+/workflows/order/steps\\.ts:${line}:\\d+\\)`),
  );
  // The promises Promise.race makes inside `condition` are folded into the race's own stack, not listed as stacks of V8 built-ins.
  expect(text).not.toContain('(<anonymous>)');
  expect(text.split('\n\n').length).toBe(enhanced.stacks.length);
}

describe('what the Temporal Web UI shows', () => {
  it('summary, current details, search attributes, and summaries on activities and timers', async () => {
    const order = makeOrder({ sku: 'SKU-O', quantity: 11, payment: { method: 'prepaid', token: 'tok_visa' } }); // 1,100,000: held for risk
    const orderId = await submit(order);
    await waitFor(orderId, (o) => o.status === 'ON_HOLD', 'risk hold');
    const handle = stack.client.workflow.getHandle(orderId);
    const described = await handle.describe();
    expect(await described.staticSummary()).toBe(
      `web #${order.channelOrderId} · customer ${order.customer.id} · 11× SKU-O · 1100000.00 VND · prepaid`,
    );
    expect((await handle.query(workflowMetadataQuery)).currentDetails).toMatch(
      /^\*\*ON_HOLD\*\* · 1100000\.00\nWaiting for an ops decision on the risk hold .* until \d{4}-/,
    );
    expect((await eventSummaries(orderId)).timers).toEqual(['risk hold expires']);
    await expectStackTraceAtRiskHold(handle);

    expect((await post(`/v1/orders/${orderId}/release`, TEST_KEYS.ops, { decision: 'release' })).status).toBe(200);
    const booked = await waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const details = await eventually(
      async () => {
        const d = (await handle.query(workflowMetadataQuery)).currentDetails ?? '';
        return /booked · ghn/.test(d) ? d : undefined;
      },
      { what: 'current details follow the order' },
    );
    expect(details).toContain(`${booked.shipments[0]!.shipmentId} from WH-HCM: booked · ghn`);
    // The shipment runs inside the order's workflow: its steps are the order's, in the order they ran.
    expect((await eventSummaries(orderId)).activities).toEqual([
      'validate order',
      'assess risk',
      'authorise payment',
      'reserve stock',
      'pick and pack',
      'book carrier',
    ]);

    const attrs = await eventually(
      async () => {
        const a = (await handle.describe()).searchAttributes as Record<string, unknown[]>;
        return a.Carrier ? a : undefined;
      },
      { what: 'search attributes' },
    );
    expect(attrs).toMatchObject({
      OrderStatus: ['FULFILLING'],
      Channel: ['web'],
      CustomerId: [order.customer.id],
      NeedsAttention: [false],
      EscalationLevel: [0],
      OrderTotal: [1100000],
      Warehouse: ['WH-HCM'],
      Carrier: ['ghn'],
    });
  });
});
