/**
 * Status pushes whose outcome is in doubt, against the real sandbox over real HTTP and a real
 * PostgreSQL. A push that times out at the client may still be applied by the platform later
 * (the sandbox's `timeout` fault: it applies the request when the delay is over, past our
 * timeout). On a last-write-wins platform (Shopify) a newer push must not go out until that
 * request can no longer land, so the platform's last word is the newest status.
 *
 * The activity is called directly, as the worker calls it; where it fails retryably, the test
 * calls it again after the delay it asks for, as Temporal's retry would.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChannelActivities, createStatusPusher, type ChannelSystem } from '../../activities/channels/channel-activities';
import { OrdersRepo } from '../../db/orders-repo';
import { DEV_SANDBOX_KEY } from '../../sandbox/server';
import { CHANNEL_NAMES } from '../../domain/stock-sync';
import { StatusPushRelay } from '../../worker/status-pushes';
import { eventually, makeOrder, webStep } from '../support/fixtures';
import { memoryLogger, startTestStack, uniqueSuffix, type TestStack } from '../support/harness';

/** Our HTTP timeout per call. */
const CLIENT_TIMEOUT_MS = 1_000;
/** What the OMS is told of the platform: how long it may still act on a request we gave up on. */
const PLATFORM_TIMEOUT_MS = 5_000;
/** The slow request is applied this long after the platform received it: after our timeout, within the platform's. */
const LATE_BY_MS = 3_000;

let stack: TestStack;
let system: ChannelSystem;

type Doc = Record<string, unknown>;
interface Ledger {
  calls: { action: string; status: string; idempotencyKey?: string }[];
  orders: Record<string, { status: string }>;
  pushes: { orderId: string; status: string; seq: number; stale: boolean }[];
  latest: Record<string, { status: string; seq: number }>;
}

async function sandbox<T>(path: string, json?: unknown): Promise<T> {
  const res = await fetch(
    stack.sandboxUrl + path,
    json === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(json) },
  );
  expect(res.status, `${path} → ${res.status}`).toBeLessThan(300);
  return (await res.json()) as T;
}
const ledger = (channel: string, channelOrderId?: string) =>
  sandbox<Ledger>(`/sandbox/ledger/channels?channel=${channel}${channelOrderId ? `&channelOrderId=${channelOrderId}` : ''}`);
const slow = (channel: string, orderId: string) =>
  sandbox('/sandbox/faults', {
    service: 'channels',
    op: 'push',
    match: { channel, orderId },
    action: 'timeout',
    delayMs: LATE_BY_MS,
    times: 1,
  });

/** A Shopify order on the platform, with a fresh id. */
async function shopifyOrder(): Promise<{ id: string; orderId: string }> {
  const doc = JSON.parse(readFileSync(new URL('../fixtures/channels/shopify/orders-create-prepaid.json', import.meta.url), 'utf8')) as Doc;
  const id = `58${Array.from({ length: 11 }, () => randomInt(0, 10)).join('')}`;
  await sandbox('/sandbox/channels/shopify/orders', { ...doc, id: Number(id) });
  return { id, orderId: `order-shopify-${id}` };
}

const systems = () => ({
  channels: Object.fromEntries(CHANNEL_NAMES.map((c) => [c, { ...system, baseUrl: `${system.baseUrl}/channels/${c}` }])),
});
const activities = () => createChannelActivities({ sql: stack.db.sql, logger: memoryLogger(), systems: systems() });
const push = (channel: string, channelOrderId: string, status: string, seq: number) =>
  activities().pushOrderStatus({
    channel,
    orderId: `order-${channel}-${channelOrderId}`,
    channelOrderId,
    status,
    seq,
    occurredAt: new Date().toISOString(),
  });

/**
 * Runs the push until it succeeds, the way Temporal retries the activity: a retryable failure is
 * retried after the delay it names (else a short backoff); a non-retryable one ends it.
 * Returns the failures of the attempts before it went through.
 */
async function pushUntilDone(channel: string, channelOrderId: string, status: string, seq: number): Promise<{ failed: string[] }> {
  const failed: string[] = [];
  const giveUpAt = Date.now() + 60_000;
  for (;;) {
    try {
      await push(channel, channelOrderId, status, seq);
      return { failed };
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
      if (Date.now() > giveUpAt) throw err;
      failed.push(err instanceof ApplicationFailure ? `${err.type}: ${err.message}` : (err as Error).message);
      const next = err instanceof ApplicationFailure && typeof err.nextRetryDelay === 'number' ? err.nextRetryDelay : 200;
      await sleep(Math.min(next, 10_000));
    }
  }
}

beforeAll(async () => {
  // The activities are called directly: no worker needed.
  stack = await startTestStack({ runWorker: false });
  system = {
    baseUrl: stack.sandboxUrl,
    apiKey: DEV_SANDBOX_KEY,
    timeoutMs: CLIENT_TIMEOUT_MS,
    platformRequestTimeoutMs: PLATFORM_TIMEOUT_MS,
  };
});

afterAll(async () => {
  await stack?.close();
});

describe('a status push whose outcome is in doubt is not overtaken', () => {
  it('Shopify: a push that timed out at the client and lands late does not end up as the last word', async () => {
    const { id } = await shopifyOrder();
    await slow('shopify', id);
    // DELIVERED (seq 7) reaches the platform, but its answer comes after our timeout…
    await expect(push('shopify', id, 'DELIVERED', 7)).rejects.toThrow(/timed out/);
    // …then COMPLETED (seq 8) is pushed, retried as Temporal would until it goes out.
    const completed = await pushUntilDone('shopify', id, 'COMPLETED', 8);
    // Once both have reached the platform (whenever the slow one lands), COMPLETED is its last word.
    const l = await eventually(
      async () => {
        const x = await ledger('shopify', id);
        return x.calls.some((c) => c.status === 'oms:DELIVERED') && x.calls.some((c) => c.status === 'oms:COMPLETED') ? x : undefined;
      },
      { timeoutMs: 60_000, what: 'both pushes applied by the platform' },
    );
    expect(l.calls.map((c) => c.status)).toEqual(['oms:DELIVERED', 'oms:COMPLETED']);
    expect(l.orders[id]?.status).toBe('oms:COMPLETED');
    // Held back visibly, not silently: its first attempt said what it waits for.
    expect(completed.failed[0]).toMatch(/^ChannelPushInDoubt: status push 8 .* push 7 got no answer/);
    // DELIVERED's own retry comes late: it is older than what the platform was told, so nothing is sent.
    await push('shopify', id, 'DELIVERED', 7);
    const after = await ledger('shopify', id);
    expect(after.calls.map((c) => c.status)).toEqual(['oms:DELIVERED', 'oms:COMPLETED']);
    const [row] = await stack.db.sql<
      { seq: number; status: string }[]
    >`select seq, status from channel_status_pushes where channel = 'shopify' and order_id = ${`order-shopify-${id}`}`;
    expect(row).toEqual({ seq: 8, status: 'COMPLETED' });
  });

  it('Shopify: a CANCELLING update that lands late does not follow the cancel', async () => {
    const { id } = await shopifyOrder();
    await slow('shopify', id);
    await expect(push('shopify', id, 'CANCELLING', 4)).rejects.toThrow(/timed out/);
    const cancelled = await pushUntilDone('shopify', id, 'CANCELLED', 5);
    const l = await eventually(
      async () => {
        const x = await ledger('shopify', id);
        return x.calls.some((c) => c.status === 'oms:CANCELLING') && x.calls.some((c) => c.action === 'cancel_order') ? x : undefined;
      },
      { timeoutMs: 60_000, what: 'both pushes applied by the platform' },
    );
    expect(l.calls.map((c) => c.action)).toEqual(['update_order', 'cancel_order']);
    expect(l.orders[id]?.status).toBe('cancelled');
    expect(cancelled.failed[0]).toMatch(/^ChannelPushInDoubt: /);
  });

  it('a push refused with a definite answer (5xx, nothing in flight) does not hold the next one back', async () => {
    const { id } = await shopifyOrder();
    await sandbox('/sandbox/faults', {
      service: 'channels',
      op: 'push',
      match: { channel: 'shopify', orderId: id },
      action: 'error500',
      times: 1,
    });
    await expect(push('shopify', id, 'SHIPPED', 2)).rejects.toThrow(/500/);
    // The platform answered: the failed request can never land later, so DELIVERED goes out at once.
    await push('shopify', id, 'DELIVERED', 3);
    expect((await ledger('shopify', id)).calls.map((c) => c.status)).toEqual(['oms:DELIVERED']);
  });

  it('a push gives its lease back with its record: a repeat is skipped as stale, the next push goes at once', async () => {
    const channelOrderId = `W${uniqueSuffix()}`;
    const orderId = `order-web-${channelOrderId}`;
    const state = async () => ({
      leases: (await stack.db.sql`select 1 from outbound_leases where lease_key = ${`status-push:web:${orderId}`}`).length,
      told: (
        await stack.db.sql<{ seq: number; status: string }[]>`
        select seq, status from channel_status_pushes where channel = 'web' and order_id = ${orderId}`
      ).map((r) => ({ ...r })),
    });
    await push('web', channelOrderId, 'ALLOCATED', 1);
    expect(await state()).toEqual({ leases: 0, told: [{ seq: 1, status: 'ALLOCATED' }] });
    // The repeat (a retried activity, a second relay) reads the record and sends nothing.
    await push('web', channelOrderId, 'ALLOCATED', 1);
    const t = performance.now();
    await push('web', channelOrderId, 'FULFILLING', 2);
    // Far below the lease (a minute): nothing waited for a lease left behind.
    expect(performance.now() - t).toBeLessThan(5_000);
    expect(await state()).toEqual({ leases: 0, told: [{ seq: 2, status: 'FULFILLING' }] });
    const l = await ledger('web');
    expect(l.pushes.filter((p) => p.orderId === orderId).map((p) => p.seq)).toEqual([1, 2]);
  });

  it('the web feed keeps the highest seq itself: a push in doubt does not hold the next one back', async () => {
    const channelOrderId = `W${uniqueSuffix()}`;
    const orderId = `order-web-${channelOrderId}`;
    await slow('web', orderId);
    await expect(push('web', channelOrderId, 'SHIPPED', 2)).rejects.toThrow(/timed out/);
    await push('web', channelOrderId, 'DELIVERED', 3);
    // The slow SHIPPED lands after DELIVERED, and the feed keeps DELIVERED.
    const l = await eventually(
      async () => {
        const x = await ledger('web');
        return x.pushes.filter((p) => p.orderId === orderId).length === 2 ? x : undefined;
      },
      { timeoutMs: 60_000, what: 'the slow push applied by the feed' },
    );
    expect(l.pushes.filter((p) => p.orderId === orderId).map((p) => [p.seq, p.stale])).toEqual([
      [3, false],
      [2, true],
    ]);
    expect(l.latest[orderId]).toMatchObject({ status: 'DELIVERED', seq: 3 });
  });
});

describe("a lost workflow task's pushes", () => {
  /**
   * A chaos run found it: the order's workflow task ran through its local activities while the
   * dev server hung, and timed out. Its steps were recorded and the relay told the web shop
   * FULFILLING as seq 4. The cancellation sent meanwhile was in the history when the workflow ran
   * again, so it recorded CANCELLING and CANCELLED as seqs 2 and 3, and the shop, keeping the
   * highest number, stayed at FULFILLING.
   */
  it('the workflow closing under a lower seq than the lost task reached is still the channel’s last word', async () => {
    const orders = new OrdersRepo(stack.db.sql);
    const channelOrderId = `W${uniqueSuffix()}`;
    const orderId = `order-web-${channelOrderId}`;
    await orders.recordIntake(orderId, makeOrder({ channel: 'web', channelOrderId }), '100000.00', {});
    const step = (seq: number, status: string, event: string) => webStep(orderId, seq, status, event, channelOrderId);
    const relay = new StatusPushRelay(
      {
        sql: stack.db.sql,
        logger: memoryLogger(),
        push: createStatusPusher({ sql: stack.db.sql, logger: memoryLogger(), systems: systems() }),
      },
      { retryMinMs: 50, retryMaxMs: 200 },
    );
    const drain = () =>
      eventually(
        async () => {
          await relay.round();
          return (await stack.db.sql`select 1 from status_pushes where order_id = ${orderId}`).length === 0 || undefined;
        },
        { timeoutMs: 30_000, what: 'the pushes sent' },
      );
    const told = async () => (await ledger('web')).pushes.filter((p) => p.orderId === orderId).map((p) => `${p.seq} ${p.status}`);

    await orders.applyStatus(step(1, 'RECEIVED', 'order received from web'));
    // The lost task: recorded, pushed, never committed.
    await orders.applyStatus(step(2, 'ALLOCATED', 'allocated to wh-hcm'));
    await orders.applyStatus(step(3, 'ALLOCATED', 'picking started'));
    await orders.applyStatus(step(4, 'FULFILLING', '1 shipment(s) to prepare'));
    await drain();
    expect(await told()).toEqual(['1 RECEIVED', '2 ALLOCATED', '3 ALLOCATED', '4 FULFILLING']);
    // The workflow, from its history with the cancellation in it.
    await orders.applyStatus(step(2, 'CANCELLING', 'cancellation requested'));
    await orders.applyStatus(step(3, 'CANCELLED', 'order cancelled'));
    await drain();

    // Told after what the lost task told, under higher numbers, in the workflow's order.
    expect(await told()).toEqual(['1 RECEIVED', '2 ALLOCATED', '3 ALLOCATED', '4 FULFILLING', '5 CANCELLING', '6 CANCELLED']);
    expect((await ledger('web')).latest[orderId]).toMatchObject({ status: 'CANCELLED', seq: 6 });
    const [record] = await stack.db.sql`select seq, status from channel_status_pushes where channel = 'web' and order_id = ${orderId}`;
    expect({ ...record }).toEqual({ seq: 6, status: 'CANCELLED' });
    // The order's own story is untouched by the renumbering.
    expect((await orders.timeline(orderId)).map((t) => `${t.seq} ${t.status}`)).toEqual(['1 RECEIVED', '2 CANCELLING', '3 CANCELLED']);
    expect((await orders.get(orderId))?.status).toBe('CANCELLED');
  });
});
