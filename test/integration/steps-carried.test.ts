/**
 * Steps carried by the next local activity (`orderWorkflowV5`): an order's steps of the story are
 * no longer a local activity each. Checked against a real worker, dev server and PostgreSQL: every
 * step is written once and in order, with fewer local activities than steps; the steps still
 * waiting when the order ends are written before its workflow closes; and when PostgreSQL refuses
 * the write, the local activity that carried the steps fails, none of them is written, and they
 * are written, in order, once it accepts again.
 */
import type { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanonicalOrder } from '../../domain/order';
import type { OrderState } from '../../workflows/messages';
import { eventually, makeOrder, refuseWritesOf, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
beforeAll(async () => {
  // A closed return window lets a delivered order complete; carriers move on their own.
  stack = await startTestStack({ returnWindows: { default: 0 }, sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } } });
  await seedNetwork(stack.db.sql, { 'SKU-C': { 'WH-HCM': 50 } });
});
afterAll(async () => {
  await stack?.close();
});

const submit = async (order: CanonicalOrder) => {
  const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
  expect(res.status).toBe(201);
  return ((await res.json()) as { orderId: string }).orderId;
};

const timeline = (orderId: string) =>
  stack.db.sql<{ seq: number; status: string; event: string }[]>`
    select seq, status, event from order_timeline where order_id = ${orderId} order by seq`;

/** The order's steps in the order they were written: the event feed numbers each row as it is inserted. */
const writtenOrder = async (orderId: string) =>
  (await stack.db.sql<{ seq: number }[]>`select seq from order_timeline where order_id = ${orderId} order by feed_id`).map((r) => r.seq);

/** The local activities of the order's history, by type, in order; `failed` marks an attempt that failed. */
async function localActivities(orderId: string): Promise<{ type: string; failed: boolean }[]> {
  const history = await stack.client.workflow.getHandle(orderId).fetchHistory();
  return (history.events ?? []).flatMap((e: temporal.api.history.v1.IHistoryEvent) => {
    const m = e.markerRecordedEventAttributes;
    if (m?.markerName !== 'core_local_activity') return [];
    const data = m.details?.data?.payloads?.[0]?.data;
    const type = data ? (JSON.parse(new TextDecoder().decode(data)) as { activity_type: string }).activity_type : '?';
    return [{ type, failed: Boolean(m.failure) }];
  });
}

async function completed(orderId: string): Promise<OrderState> {
  const handle = stack.client.workflow.getHandle(orderId);
  // The intake relay starts the workflow just after the order is taken in.
  const described = await eventually(() => handle.describe(), { what: `${orderId} started` });
  expect(described.type).toBe('orderWorkflowV5');
  return (await handle.result()) as OrderState;
}

describe('steps carried by the next local activity', () => {
  it('writes every step of a delivered order once and in order, in fewer local activities than one a step', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-C', quantity: 1 }));
    const state = await completed(orderId);
    expect(state.status).toBe('COMPLETED');
    const steps = await timeline(orderId);
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: state.seq }, (_, i) => i + 1));
    expect(steps[0]!.status).toBe('RECEIVED');
    expect(steps.at(-1)!.status).toBe('COMPLETED');
    expect(await writtenOrder(orderId)).toEqual(steps.map((s) => s.seq));
    const [order] = await stack.db.sql<{ seq: number; status: string }[]>`select seq, status from orders where order_id = ${orderId}`;
    expect(order).toEqual({ seq: state.seq, status: 'COMPLETED' });

    const locals = await localActivities(orderId);
    // No step is a local activity of its own: each rode with a check or with the other steps of its activation.
    expect(locals.map((l) => l.type)).not.toContain('recordStatus');
    expect(locals.map((l) => l.type)).toContain('writeSteps');
    // Before V5 each step was a local activity beside the checks: fewer now, by the steps that rode together.
    const checks = locals.filter((l) => l.type !== 'writeSteps');
    expect(locals.length).toBeLessThan(checks.length + steps.length);
    // RECEIVED travelled with validation: the first local activity is the check, not a write of its own.
    expect(locals[0]!.type).toBe('validateOrder');
  });

  it('writes the steps still waiting when the order ends before its workflow closes', async () => {
    // An unknown SKU: rejected at validation, the workflow ends in the same workflow task.
    const orderId = await submit(makeOrder({ sku: 'SKU-NOPE', quantity: 1 }));
    const state = await completed(orderId);
    expect(state.status).toBe('REJECTED');
    const steps = await timeline(orderId);
    expect(steps.map((s) => [s.seq, s.status])).toEqual([
      [1, 'RECEIVED'],
      [2, 'REJECTED'],
    ]);
    expect((await localActivities(orderId)).map((l) => l.type)).toEqual(['validateOrder', 'writeSteps']);
  });

  it('when PostgreSQL refuses the steps, writes none of them, then all in order once it accepts', async () => {
    const order = makeOrder({ sku: 'SKU-C', quantity: 1 });
    const orderId = `order-web-${order.channelOrderId}`;
    const sql = stack.db.sql;
    // A real PostgreSQL error on this order's timeline only.
    const accept = await refuseWritesOf(sql, 'order_timeline', orderId, 'insert or update');
    try {
      await submit(order);
      // Validation carried RECEIVED and failed on the write, before the check ran; RECEIVED then
      // waits in front of the line, written by a bookkeeping local activity that retries until
      // PostgreSQL takes it — the validation's next attempt queued behind it, as a step was before.
      const failed = await eventually(
        async () => {
          const failures = (await localActivities(orderId)).filter((l) => l.type === 'validateOrder' && l.failed);
          return failures.length ? failures : undefined;
        },
        { what: `${orderId}: validation failed on the refused step`, timeoutMs: 60_000 },
      );
      expect(failed.length).toBeGreaterThanOrEqual(1);
      expect(await timeline(orderId)).toEqual([]);
      const [row] = await sql<{ seq: number }[]>`select seq from orders where order_id = ${orderId}`;
      expect(row?.seq ?? 0).toBe(0);
    } finally {
      await accept();
    }
    // Accepted again: the steps are written, in order, and the order goes on by itself.
    const state = await completed(orderId);
    expect(state.status).toBe('COMPLETED');
    const steps = await timeline(orderId);
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: state.seq }, (_, i) => i + 1));
    expect(await writtenOrder(orderId)).toEqual(steps.map((s) => s.seq));
    expect(steps[0]).toMatchObject({ seq: 1, status: 'RECEIVED', event: 'order received from web' });
    expect(steps.filter((s) => s.status === 'RECEIVED')).toHaveLength(1);
    expect(steps.some((s) => s.event.startsWith('needs attention'))).toBe(false);
  }, 120_000);
});
