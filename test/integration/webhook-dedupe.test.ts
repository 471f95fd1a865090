/**
 * Webhook dedupe rows are written with or after the effect they guard, never before it. A
 * delivery that gets stuck between "received" and "effect" (the API process stalls or dies right
 * there: here, its Temporal call never returns) must leave no dedupe row, so the platform's retry
 * is applied instead of being acknowledged as a duplicate of an event that never took effect.
 * The stuck delivery runs in a second app over the same database and Temporal, whose client
 * holds that one call; the retry goes to the stack's own API.
 * A channel's order or notification no longer waits on Temporal at all: its effect is a row in
 * PostgreSQL, and a stalled workflow start (in the relay) holds neither the answer nor the order.
 */
import type { Client } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tiktokOrderAndNotice } from '../support/tiktok-notice';
import { hmacHex } from '../../activities/channels/adapters/common';
import { KeyStore } from '../../api/auth';
import { createApp } from '../../api/create-app';
import { createApiMetrics } from '../../api/metrics';
import { DEFAULT_ORDER_SETTINGS } from '../../domain/settings';
import { WorkflowStartRelay } from '../../intake/workflow-starts';
import { DEV_CARRIER_SECRETS, DEV_CHANNEL_SECRETS } from '../../lib/config';
import { ghnWebhook, postCarrierWebhook } from '../support/carrier-webhooks';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { memoryLogger, startTestStack, TEST_KEYS, TEST_KEY_SPECS, type TestStack } from '../support/harness';

let stack: TestStack;

/**
 * The real client, except that the first `signal` to / `start` of workflow `target` never
 * returns until `fail()` is called: the moment a crash would hit, held open for the test.
 */
function stallingClient(real: Client, op: 'signal' | 'start', target: string) {
  let fail!: (err: Error) => void;
  let reached!: () => void;
  const stuck = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const atEffect = new Promise<void>((r) => {
    reached = r;
  });
  let fired = false;
  const stall = () => {
    fired = true;
    reached();
    return stuck;
  };
  const bind = <T extends object>(obj: T, p: string | symbol) => {
    const v: unknown = Reflect.get(obj, p);
    return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(obj) : v;
  };
  const workflow = new Proxy(real.workflow, {
    get(t, p) {
      if (p === 'start' && op === 'start') {
        return (fn: unknown, opts: { workflowId: string }) =>
          opts.workflowId === target && !fired ? stall() : t.start(fn as never, opts as never);
      }
      if (p === 'getHandle' && op === 'signal') {
        return (id: string, ...rest: unknown[]) => {
          const h = t.getHandle(id, ...(rest as []));
          if (id !== target) return h;
          return new Proxy(h, { get: (ht, hp) => (hp === 'signal' && !fired ? () => stall() : bind(ht, hp)) });
        };
      }
      return bind(t, p);
    },
  });
  const client = new Proxy(real, { get: (t, p) => (p === 'workflow' ? workflow : bind(t, p)) });
  return { client, atEffect, fail: (err: Error) => fail(err) };
}

const relays: WorkflowStartRelay[] = [];
/** A second API over the stack's database and Temporal, with `client` in place of the real one (its relay too). */
function appWith(client: Client) {
  const starts = new WorkflowStartRelay({ sql: stack.db.sql, client, logger: memoryLogger() }, { retryMinMs: 50 });
  starts.start();
  relays.push(starts);
  return createApp({
    keys: new KeyStore(TEST_KEY_SPECS),
    logger: memoryLogger(),
    metrics: createApiMetrics(),
    bodyLimitBytes: 64 * 1024,
    health: { postgres: () => Promise.resolve(), temporal: () => Promise.resolve() },
    client,
    sql: stack.db.sql,
    starts,
    taskQueue: stack.taskQueue,
    orderSettings: DEFAULT_ORDER_SETTINGS,
    carrierSecrets: DEV_CARRIER_SECRETS,
    channelSecrets: DEV_CHANNEL_SECRETS,
    returnWindows: { default: 7 * 86_400_000 },
  });
}

const pendingStarts = async (workflowId: string) =>
  (await stack.db.sql<{ n: number }[]>`select count(*)::int as n from workflow_starts where workflow_id = ${workflowId}`)[0]!.n;
const count = async (table: 'carrier_events' | 'channel_events', where: string, value: string) =>
  Number((await stack.db.sql.unsafe(`select count(*)::int as n from ${table} where ${where} = $1`, [value]))[0]!.n);

interface OrderBody {
  status: string;
  shipments: { shipmentId: string; bookingId?: string; trackingNumber?: string; status: string }[];
  timeline: { event: string; detail: { eventId?: string } }[];
}
const getOrder = async (id: string) => {
  const res = await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.cs });
  return res.status === 200 ? ((await res.json()) as OrderBody) : undefined;
};

beforeAll(async () => {
  // Parcels move only when the test says so.
  stack = await startTestStack({ sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } } });
  const stock = { 'WH-HCM': 100, 'WH-HN': 100 };
  await seedNetwork(stack.db.sql, {
    'SKU-A': stock,
    'TSHIRT-M': stock,
    'CAP-BLK': stock,
    'BAG-TOTE': stock,
    'SANDAL-42': stock,
    'MUG-CER': stock,
  });
});
// Each test's second API stops with it: a relay left running could take the next test's row.
afterEach(async () => {
  for (const r of relays.splice(0)) await r.stop();
});
afterAll(async () => {
  for (const r of relays) await r.stop();
  await stack?.close();
});

describe('carrier webhooks', () => {
  it("a delivery stuck before its signal leaves no dedupe row; the carrier's retry is applied, once", async () => {
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder({ payment: { method: 'cod' } }) });
    const { orderId } = (await res.json()) as { orderId: string };
    const booked = await eventually(async () => {
      const o = await getOrder(orderId);
      return o?.shipments[0]?.trackingNumber ? o : undefined;
    });
    const { shipmentId, trackingNumber } = booked.shipments[0]! as { shipmentId: string; trackingNumber: string };
    // GHN's own webhook, echoing our shipment id; its event id is derived from code, type, status and time.
    const at = new Date().toISOString();
    const raw = JSON.stringify(ghnWebhook({ orderCode: trackingNumber, status: 'picked', time: at, reference: shipmentId }));
    const eventId = `ghn:${trackingNumber}:switch_status:picked:${at}`;
    const url = `/v1/carriers/ghn/webhooks?token=${encodeURIComponent(DEV_CARRIER_SECRETS.ghn!)}`;
    const init = () => ({ method: 'POST', body: raw, headers: { 'Content-Type': 'application/json' } });

    // The shipment runs inside its order's workflow: the event is signalled to the order.
    const stalling = stallingClient(stack.client, 'signal', orderId);
    const first = appWith(stalling.client).request(url, init());
    await stalling.atEffect;
    // Received, verified, not yet applied: nothing may say "seen" now.
    expect(await count('carrier_events', 'booking_id', trackingNumber)).toBe(0);

    // The carrier gives up on the first delivery and sends the event again.
    const retry = await fetch(`${stack.apiUrl}${url}`, init());
    expect(await retry.json()).toMatchObject({ accepted: true, duplicate: false, events: [{ eventId, outcome: 'applied' }] });
    const moved = await eventually(
      async () => {
        const o = await getOrder(orderId);
        return o?.shipments[0]?.status === 'picked_up' ? o : undefined;
      },
      { what: 'picked up' },
    );
    expect(moved.shipments[0]!.status).toBe('picked_up');

    // The stuck delivery fails at last: it answers 503 and records nothing over the applied one.
    stalling.fail(new Error('connection lost'));
    expect((await first).status).toBe(503);
    expect(await count('carrier_events', 'booking_id', trackingNumber)).toBe(1);
    // Later replays are acknowledged as duplicates, and the event is in the timeline once.
    expect(await (await fetch(`${stack.apiUrl}${url}`, init())).json()).toMatchObject({ accepted: true, duplicate: true });
    const o = await eventually(
      async () => {
        const x = await getOrder(orderId);
        return x?.timeline.some((t) => t.detail.eventId === eventId) ? x : undefined;
      },
      { what: 'timeline row' },
    );
    expect(o.timeline.filter((t) => t.detail.eventId === eventId)).toHaveLength(1);
  });

  it('an event for a shipment workflow that does not exist (yet) is refused, not recorded', async () => {
    const res = await postCarrierWebhook(
      stack.apiUrl,
      'ghn',
      ghnWebhook({ orderCode: 'GHNEARLY0001', status: 'picked', reference: 'order-web-nothere-shipment-1' }),
    );
    expect(res.status).toBe(409);
    expect(await count('carrier_events', 'booking_id', 'GHNEARLY0001')).toBe(0);
  });
});

describe('channel webhooks', () => {
  it('a TikTok notification is answered without waiting on Temporal: a stalled intake start holds nothing, and its failure is retried', async () => {
    const { id, init } = await tiktokOrderAndNotice(stack.sandboxUrl);

    // Only the stalling API's relay may take the row (the stack's would start it at its next poll).
    await stack.starts.stop();
    const stalling = stallingClient(stack.client, 'start', `intake-tiktok-${id}`);
    const first = appWith(stalling.client).request('/v1/channels/tiktok/webhooks', init());
    // The relay's start is stuck, yet the platform has its answer, and the event is recorded once.
    await stalling.atEffect;
    const answer = await first;
    expect(answer.status).toBe(202);
    expect(await answer.json()).toMatchObject({ accepted: true, duplicate: false, orderId: `order-tiktok-${id}`, action: 'intake' });
    expect(await count('channel_events', 'channel_order_id', id)).toBe(1);
    const replay = await fetch(`${stack.apiUrl}/v1/channels/tiktok/webhooks`, init());
    expect(await replay.json()).toMatchObject({ duplicate: true });
    expect(await getOrder(`order-tiktok-${id}`)).toBeUndefined();

    // The start fails (the relay's process lost Temporal): the row is tried again and the order is taken in.
    stalling.fail(new Error('connection lost'));
    stack.starts.start();
    await eventually(async () => (await getOrder(`order-tiktok-${id}`))?.status, { what: 'order taken in' });
    expect(await pendingStarts(`intake-tiktok-${id}`)).toBe(0);
  });

  it('a web order is answered without waiting on Temporal: a stalled start holds nothing, and its failure is retried', async () => {
    const order = makeOrder({ sku: 'SKU-A' });
    const orderId = `order-web-${order.channelOrderId}`;
    const body = JSON.stringify(order);
    const init = () => ({
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/json', 'X-Channel-Signature': hmacHex(DEV_CHANNEL_SECRETS.web!, body) },
    });

    // Only the stalling API's relay may take the row (the stack's would start it at its next poll).
    await stack.starts.stop();
    const stalling = stallingClient(stack.client, 'start', orderId);
    const first = appWith(stalling.client).request('/v1/channels/web/webhooks', init());
    await stalling.atEffect;
    expect((await first).status).toBe(202);
    expect(await count('channel_events', 'order_id', orderId)).toBe(1);
    // Recorded, not yet running: the order reads RECEIVED.
    expect((await getOrder(orderId))?.status).toBe('RECEIVED');
    expect(await pendingStarts(orderId)).toBe(1);

    stalling.fail(new Error('connection lost'));
    stack.starts.start();
    // The workflow runs: the order moves past RECEIVED, and its start is no longer pending.
    await eventually(
      async () => {
        const o = await getOrder(orderId);
        return o && o.status !== 'RECEIVED' ? o : undefined;
      },
      { what: 'order workflow running' },
    );
    expect(await pendingStarts(orderId)).toBe(0);
    expect(await count('channel_events', 'order_id', orderId)).toBe(1);
  });
});
