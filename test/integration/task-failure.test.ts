/**
 * A defect in the code that writes an order's steps fails the workflow task, never the order's
 * workflow (`failWorkflowTask` in workflows/order/run.ts): on a real worker, dev server and
 * PostgreSQL, a worker whose `writeSteps` fails for good leaves the order running with a failed
 * workflow task in its history, and once a sound worker takes over, the same order goes on from
 * where it stood and completes, every step written once and in order.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrderState } from '../../workflows/messages';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { memoryLogger, ownWorkers, startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
let workers: Awaited<ReturnType<typeof ownWorkers>>;
const logger = memoryLogger();

beforeAll(async () => {
  // The order's workers are this test's own; carriers move on their own, and a delivered order completes.
  stack = await startTestStack({
    runWorker: false,
    returnWindows: { default: 0 },
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } },
  });
  await seedNetwork(stack.db.sql, { 'SKU-TF': { 'WH-HCM': 10 } });
  workers = await ownWorkers(stack, logger);
});
afterAll(async () => {
  await workers?.close();
  await stack?.close();
});

const timeline = (orderId: string) =>
  stack.db.sql<{ seq: number; status: string }[]>`select seq, status from order_timeline where order_id = ${orderId} order by seq`;

const submit = async (sku: string) => {
  const order = makeOrder({ sku, quantity: 1 });
  expect((await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order })).status).toBe(201);
  return stack.client.workflow.getHandle(`order-web-${order.channelOrderId}`);
};

/** The failure of the order's first failed workflow task, once there is one. */
const failedTask = (handle: WorkflowHandle) =>
  eventually(
    async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      return events.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure ?? undefined;
    },
    { what: `${handle.workflowId}: a failed workflow task`, timeoutMs: 60_000 },
  );

describe('a defect writing the steps', () => {
  it('fails the workflow task, not the order; a sound worker then takes the order to the end', async () => {
    const defect = 'writeSteps is broken in this worker (a defect)';
    const broken = await workers.start({
      ...workers.activities(),
      writeSteps: () => Promise.reject(ApplicationFailure.nonRetryable(defect, 'Defect')),
    });
    // One order on its way (steps written as they come, beside the story), one rejected at
    // validation: its last step is written as the workflow ends, on the story's own path, where
    // the failure thrown on would fail the workflow.
    const going = await submit('SKU-TF');
    const rejected = await submit('SKU-UNKNOWN');
    // The task fails with the defect itself, on purpose: not through the SDK's best-effort catch of
    // a promise rejection no one handled (it would read "Unhandled Promise rejection: …").
    for (const handle of [going, rejected]) expect((await failedTask(handle)).message).toBe(defect);
    // Core says so in our structured log (redacted and scrubbed like every line), not on the console beside it.
    const said = await eventually(() => Promise.resolve(logger.lines.find((l) => l.includes('Failing workflow task'))), {
      what: "Core's line about the failed task, in our log",
    });
    expect(JSON.parse(said)).toMatchObject({ level: 'warn', sdk: true });
    expect(said).toContain(defect);

    // Tried again and again on this worker, the orders stay where they were: running, not failed.
    await new Promise((r) => setTimeout(r, 2_000));
    const runIds: string[] = [];
    for (const handle of [going, rejected]) {
      const described = await handle.describe();
      expect(described.status.name).toBe('RUNNING');
      runIds.push(described.runId);
      const events = (await handle.fetchHistory()).events ?? [];
      expect(events.some((e) => e.workflowExecutionFailedEventAttributes)).toBe(false);
    }
    expect((await timeline(going.workflowId)).map((s) => s.status)).not.toContain('DELIVERED');
    expect((await timeline(rejected.workflowId)).map((s) => s.status)).toEqual(['RECEIVED']);

    // The defect mended (a sound worker in its place): the same runs go on to their ends.
    await broken.stop();
    await workers.start();
    const delivered = (await going.result()) as OrderState;
    expect(delivered.status).toBe('COMPLETED');
    const steps = await timeline(going.workflowId);
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: delivered.seq }, (_, i) => i + 1));
    expect(steps.map((s) => s.status)).toContain('DELIVERED');
    expect(steps.filter((s) => s.status === 'RECEIVED')).toHaveLength(1);
    expect(((await rejected.result()) as OrderState).status).toBe('REJECTED');
    expect((await timeline(rejected.workflowId)).map((s) => s.status)).toEqual(['RECEIVED', 'REJECTED']);
    expect([(await going.describe()).runId, (await rejected.describe()).runId]).toEqual(runIds);
  }, 150_000);
});
