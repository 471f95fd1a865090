/**
 * Orders live for weeks, so every change to workflow code must replay the histories of orders
 * already in flight. The committed histories in `histories/` were recorded from real runs; each
 * must replay against today's code. Re-record (after a deliberate, patched change) with
 * RECORD_HISTORIES=<what changed> npx vitest run test/replay
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowNotFoundError } from '@temporalio/client';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_SLA } from '../../domain/settings';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { readPathHistories } from './record-paths';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

const HISTORIES = fileURLToPath(new URL('./histories', import.meta.url));
const bundle = { codePath: '' };

let stack: TestStack;
beforeAll(async () => {
  bundle.codePath = inject('workflowBundlePath');
  // A closed return window lets these orders complete, so their whole history can be replayed.
  // SLA timers on (their deadlines far away), so the recorded histories carry the watchers' timers too.
  stack = await startTestStack({
    returnWindows: { default: 0 },
    orderSettings: { sla: DEFAULT_SLA },
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } },
  });
  await seedNetwork(stack.db.sql, { 'SKU-A': { 'WH-HCM': 10 }, 'SKU-B': { 'WH-HN': 10 } });
});
afterAll(async () => {
  await stack?.close();
});

async function runToEnd(order: ReturnType<typeof makeOrder>, status: string) {
  const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
  const { orderId } = (await res.json()) as { orderId: string };
  await eventually(async () => (await stack.client.workflow.getHandle(orderId).describe()).status.name === 'COMPLETED', {
    what: `${orderId} completed`,
  });
  const o = (await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.cs })).json()) as { status: string };
  expect(o.status).toBe(status);
  return orderId;
}

describe('replay', () => {
  it('replays fresh histories of a split prepaid order (its shipments run inside it)', async () => {
    const orderId = await runToEnd(
      makeOrder({
        lines: [
          { sku: 'SKU-A', quantity: 1, unitPrice: '100000.00' },
          { sku: 'SKU-B', quantity: 1, unitPrice: '20000.00' },
        ],
        // 153,333 đ over the two parcels by value is 127,777.50 : 25,555.50 to the cent: shares in whole đồng differ.
        shippingFee: '33333.00',
        shippingAddress: { name: 'C', line1: '1 Tran Phu', city: 'Da Nang', country: 'VN' },
      }),
      'COMPLETED',
    );
    // Orders from orderWorkflowV3 on run their shipments in their own workflow: no child to replay.
    for (const shipment of [`${orderId}-shipment-1`, `${orderId}-shipment-2`])
      await expect(stack.client.workflow.getHandle(shipment).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    for (const id of [orderId]) {
      const history = await stack.client.workflow.getHandle(id).fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, id);
      if (process.env.RECORD_HISTORIES) {
        // The CLI's JSON is the format the SDK reads back (and what `temporal workflow show` gives ops).
        const json = execFileSync(
          inject('temporalCliPath'),
          [
            'workflow',
            'show',
            '--workflow-id',
            id,
            '--address',
            inject('temporalAddress'),
            '--namespace',
            inject('temporalNamespace'),
            '--output',
            'json',
          ],
          { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
        );
        const name = id === orderId ? 'order' : `shipment-${id.slice(-1)}`;
        // RECORD_HISTORIES names the version recorded, so older histories stay beside the new ones.
        writeFileSync(join(HISTORIES, `${name}-split-prepaid-${process.env.RECORD_HISTORIES}.json`), json);
      }
    }
  });

  it('replays every committed history against the current workflow code', async () => {
    const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      // The worker parses the CLI's JSON itself.
      await Worker.runReplayHistory({ workflowBundle: bundle }, JSON.parse(readFileSync(join(HISTORIES, f), 'utf8')) as unknown, f);
    }
  });

  it('replays the recorded histories of every path the suite drives (cancellations, cuts, returns, exchanges, COD, holds...)', async () => {
    const histories = readPathHistories();
    expect(histories.length).toBeGreaterThan(20);
    const failed: string[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      if (r.error) failed.push(`${r.workflowId}: ${r.error.message}`);
    }
    expect(failed).toEqual([]);
  }, 300_000);

  it('fails when workflow code changes incompatibly (the check can fail)', async () => {
    const mutant = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./mutant/index.ts', import.meta.url)),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    });
    const order = JSON.parse(readFileSync(join(HISTORIES, 'order-split-prepaid.json'), 'utf8')) as unknown;
    await expect(Worker.runReplayHistory({ workflowBundle: mutant }, order, 'mutant')).rejects.toBeInstanceOf(DeterminismViolationError);
  }, 120_000);
});
