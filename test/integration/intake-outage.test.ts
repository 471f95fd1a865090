/**
 * Intake never waits on Temporal. On a Temporal dev server of its own, which the test stops and
 * starts again (same SQLite file, same port), while the API keeps running:
 * - with Temporal down, orders (`POST /v1/orders`, a web order webhook) and a TikTok notification
 *   are answered 201/202 straight from PostgreSQL and read back as RECEIVED; a command to one of
 *   them answers 503 (send again) and leaves nothing behind; /metrics shows the backlog;
 * - when Temporal is back, each of them starts exactly once and runs to the end;
 * - two relays over one backlog never start a row twice, and rows held by a relay that died are
 *   taken over once its lease runs out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tiktokOrderAndNotice } from '../support/tiktok-notice';
import { hmacHex } from '../../activities/channels/adapters/common';
import { WorkflowStartsRepo } from '../../db/workflow-starts-repo';
import { WorkflowStartRelay } from '../../intake/workflow-starts';
import { DEV_CHANNEL_SECRETS } from '../../lib/config';
import { freePort, startTemporalDevServer, type ManagedService } from '../../lib/dev-services';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { memoryLogger, startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

const dir = mkdtempSync(join(tmpdir(), 'oms-intake-outage-'));
const dbFile = join(dir, 'temporal.sqlite');
let port: number;
let temporal: ManagedService & { address: string };
let stack: TestStack;

const startTemporal = () =>
  startTemporalDevServer({ cliPath: inject('temporalCliPath') || undefined, port, uiPort: 0, namespace: 'default', ui: false, dbFile });

beforeAll(async () => {
  port = await freePort();
  temporal = await startTemporal();
  stack = await startTestStack({
    temporalAddress: temporal.address,
    namespace: 'default',
    returnWindows: { default: 0 },
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } },
    // Flagged for ops from the first failed start (in production: after 5 minutes).
    startRelay: { retryMinMs: 100, retryMaxMs: 1000, pollMs: 200, flagAfterMs: 0 },
  });
  await seedNetwork(stack.db.sql, { 'SKU-OUT': { 'WH-HCM': 1000 } });
}, 120_000);
afterAll(async () => {
  await stack?.close();
  await temporal?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface OrderBody {
  status: string;
  needsAttention: boolean;
  timeline: { status: string }[];
}
const getOrder = async (id: string) => {
  const res = await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops });
  return res.status === 200 ? ((await res.json()) as OrderBody) : undefined;
};
const pending = async () => (await stack.db.sql<{ n: number }[]>`select count(*)::int as n from workflow_starts`)[0]!.n;
/** Executions (runs) under a workflow id, once visibility has caught up: 1 means started once. */
const runs = (workflowId: string) =>
  eventually(
    async () => {
      const n = (await stack.client.workflow.count(`WorkflowId = '${workflowId}'`)).count;
      return n > 0 ? n : undefined;
    },
    { what: `${workflowId} visible`, timeoutMs: 10_000 },
  );
const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

describe('intake while Temporal is down', () => {
  it('accepts orders and notifications from PostgreSQL alone, and starts each once when Temporal is back', async () => {
    // The stack works: one order runs to the end before the outage.
    const warm = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder({ sku: 'SKU-OUT' }) });
    const warmId = ((await warm.json()) as { orderId: string }).orderId;
    await eventually(async () => (await getOrder(warmId))?.status === 'COMPLETED', {
      what: 'the first order completed',
      timeoutMs: 60_000,
    });
    const tiktok = await tiktokOrderAndNotice(stack.sandboxUrl);

    await temporal.stop();
    const apiOrders = Array.from({ length: 12 }, () => makeOrder({ sku: 'SKU-OUT' }));
    const answers = await Promise.all(apiOrders.map((o) => stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: o })));
    expect(answers.map((r) => r.status)).toEqual(apiOrders.map(() => 201));
    const ids = await Promise.all(answers.map(async (r) => (await r.json()) as { orderId: string; status: string }));
    expect(ids.every((x) => x.status === 'RECEIVED')).toBe(true);
    // The same order again while down: the same order, not a second one.
    const again = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: apiOrders[0] });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { orderId: string }).orderId).toBe(ids[0]!.orderId);
    // A channel's whole-order webhook and a marketplace notification, also answered.
    const webOrder = makeOrder({ sku: 'SKU-OUT' });
    const webBody = JSON.stringify(webOrder);
    const web = await fetch(`${stack.apiUrl}/v1/channels/web/webhooks`, {
      method: 'POST',
      body: webBody,
      headers: { 'Content-Type': 'application/json', 'X-Channel-Signature': hmacHex(DEV_CHANNEL_SECRETS.web!, webBody) },
    });
    expect(web.status).toBe(202);
    const note = await fetch(`${stack.apiUrl}/v1/channels/tiktok/webhooks`, tiktok.init());
    expect(note.status).toBe(202);

    const orderIds = [...ids.map((x) => x.orderId), `order-web-${webOrder.channelOrderId}`];
    for (const id of orderIds) expect((await getOrder(id))?.status).toBe('RECEIVED');
    expect(await pending()).toBe(orderIds.length + 1);
    const metrics = await (await fetch(`${stack.apiUrl}/metrics`)).text();
    expect(metric(metrics, 'oms_workflow_starts_pending')).toBe(orderIds.length + 1);
    expect(metric(metrics, 'oms_workflow_starts_oldest_seconds')).toBeGreaterThan(0);
    // A command cannot reach a workflow that does not run yet: 503, and the order is untouched.
    const cancel = await stack.api(`/v1/orders/${orderIds[1]}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { reason: 'changed my mind' },
    });
    expect(cancel.status).toBe(503);
    expect((await getOrder(orderIds[1]!))?.status).toBe('RECEIVED');
    // A command to an order whose workflow exists, with the server away: a 503 to send again, not a 500.
    const unreachable = await stack.api(`/v1/orders/${warmId}/returns`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { lines: [{ lineNo: 1, quantity: 1 }], reason: 'does not fit' },
    });
    expect(unreachable.status).toBe(503);
    expect(unreachable.headers.get('retry-after')).toBe('5');
    expect(((await unreachable.json()) as { type: string }).type).toMatch(/unavailable/);

    // The relay keeps trying (each start has a deadline), and says so without naming the buyer.
    await eventually(() => Promise.resolve(stack.starts.counts.failed > 0), { what: 'a start failed and is retried', timeoutMs: 60_000 });
    const retries = stack.logs.filter((l) => l.includes('workflow start not done yet; will retry'));
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.some((l) => l.includes('Nguyễn') || l.includes('0901234567') || l.includes('12 Lê Lợi'))).toBe(false);
    // Not only in the metrics: the orders waiting to start are in the needs-attention list, with the reason.
    const flagged = await eventually(
      async () => {
        const res = await stack.api('/v1/orders?needsAttention=true&limit=100', { key: TEST_KEYS.ops });
        const list = ((await res.json()) as { items: { orderId: string; attentionReason: string | null }[] }).items;
        return orderIds.every((id) => list.some((o) => o.orderId === id)) ? list : undefined;
      },
      { what: 'the waiting orders flagged', timeoutMs: 60_000, intervalMs: 300 },
    );
    expect(flagged.find((o) => o.orderId === orderIds[0])?.attentionReason).toMatch(/its workflow is not started yet/);

    // Temporal is back: every accepted order and the notification start, once, and run to the end.
    temporal = await startTemporal();
    await eventually(async () => (await pending()) === 0, { what: 'the backlog started', timeoutMs: 90_000, intervalMs: 500 });
    const tiktokOrder = `order-tiktok-${tiktok.id}`;
    await eventually(async () => (await getOrder(tiktokOrder))?.status, { what: 'the TikTok order taken in', timeoutMs: 60_000 });
    for (const id of orderIds) {
      const done = await eventually(
        async () => {
          const o = await getOrder(id);
          return o && ['COMPLETED', 'CANCELLED'].includes(o.status) ? o : undefined;
        },
        { what: `${id} finished`, timeoutMs: 120_000, intervalMs: 500 },
      );
      // The refused command (503) left nothing behind: that order runs like the others.
      expect(done.status).toBe('COMPLETED');
      expect(done.needsAttention).toBe(false);
      expect(done.timeline.map((t) => t.status)).not.toContain('CANCELLING');
      expect(await runs(id)).toBe(1);
    }
    expect(await runs(`intake-tiktok-${tiktok.id}`)).toBe(1);
  }, 300_000);
});

/** The stack's client, counting the start calls made through it per workflow id. */
function countingClient(calls: Map<string, number>): Client {
  const workflow = new Proxy(stack.client.workflow, {
    get(t, p) {
      if (p === 'start') {
        return (fn: never, opts: { workflowId: string }) => {
          calls.set(opts.workflowId, (calls.get(opts.workflowId) ?? 0) + 1);
          return t.start(fn, opts as never);
        };
      }
      const v: unknown = Reflect.get(t, p);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  return new Proxy(stack.client, {
    get: (t, p) => {
      if (p === 'workflow') return workflow;
      const v: unknown = Reflect.get(t, p);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

describe('the relay', () => {
  it('two relays over one backlog make one start call per workflow; rows held by a relay that died are taken over after its lease', async () => {
    await stack.starts.stop();
    const calls = new Map<string, number>();
    const relay = (batch: number) =>
      new WorkflowStartRelay(
        { sql: stack.db.sql, client: countingClient(calls), logger: memoryLogger() },
        { batch, concurrency: 4, pollMs: 100 },
      );
    const [one, two] = [relay(7), relay(5)];
    try {
      const orders = Array.from({ length: 40 }, () => makeOrder({ sku: 'SKU-OUT' }));
      const ids: string[] = [];
      for (const o of orders) {
        const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: o });
        expect(res.status).toBe(201);
        ids.push(((await res.json()) as { orderId: string }).orderId);
      }
      expect(await pending()).toBe(40);
      // A relay that claimed five rows and died: they stay claimed until the lease ends.
      const died = await new WorkflowStartsRepo(stack.db.sql).claim(5, 1500);
      expect(died).toHaveLength(5);

      // Each relay takes a first batch by itself; then both race for the rest.
      expect(await one.round()).toEqual({ claimed: 7, failed: 0 });
      expect(await two.round()).toEqual({ claimed: 5, failed: 0 });
      one.start();
      two.start();
      await eventually(async () => (await pending()) === 0, {
        what: 'the backlog started by two relays',
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      // Claims are exclusive: exactly one start call per workflow, none skipped.
      expect([...calls.keys()].sort()).toEqual([...ids].sort());
      expect([...calls.values()].every((n) => n === 1)).toBe(true);
      expect(one.counts.started + two.counts.started).toBe(40);
      for (const d of died) expect(await runs(d.workflowId)).toBe(1);
    } finally {
      await one.stop();
      await two.stop();
      stack.starts.start();
    }
  }, 120_000);

  it('a relay started again while its stop is in progress runs again; rows given back are due at once', async () => {
    await stack.starts.stop();
    const r = new WorkflowStartRelay({ sql: stack.db.sql, client: stack.client, logger: memoryLogger() }, { pollMs: 100 });
    try {
      const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder({ sku: 'SKU-OUT' }) });
      const { orderId } = (await res.json()) as { orderId: string };
      r.start();
      const stopping = r.stop();
      r.start(); // before the stop has finished: it runs again once it has
      await stopping;
      await eventually(async () => (await pending()) === 0, { what: 'the order started by the restarted relay', timeoutMs: 30_000 });
      expect(await runs(orderId)).toBe(1);
      // Rows a stopping (or failing) round had not tried are given back: due again at once, for anyone.
      await r.stop();
      for (const o of Array.from({ length: 3 }, () => makeOrder({ sku: 'SKU-OUT' })))
        await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: o });
      const repo = new WorkflowStartsRepo(stack.db.sql);
      const claimed = await repo.claim(3, 60_000);
      await repo.release(claimed);
      const again = await repo.claim(3, 60_000);
      expect(again).toHaveLength(3);
      await repo.release(again);
    } finally {
      await r.stop();
      stack.starts.start();
    }
  }, 60_000);
});
