/**
 * Deadlock detection survives the patch that guards an activation with one watchdog instead of
 * one per call into the workflow's context (scripts/patch-deps.mjs): on a real worker and the
 * suite's Temporal server, a workflow whose code never yields has its workflow task failed with the
 * timeout (the SDK's 5 s), and the worker's one workflow thread then goes on: another workflow on the
 * same worker completes meanwhile.
 */
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installRuntime } from '../../worker/runtime';
import { eventually } from '../support/fixtures';
import { memoryLogger, uniqueSuffix } from '../support/harness';
import type { neverYields, yieldsOften } from './deadlock/workflows';

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
let native: NativeConnection;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  // The SDK's runtime as the OMS worker installs it: its logs at warn level, into the test's logger.
  installRuntime(memoryLogger());
  native = await NativeConnection.connect({ address: inject('temporalAddress') });
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection, namespace: inject('temporalNamespace') });
});
afterAll(async () => {
  await connection?.close();
  await native?.close();
});

describe('deadlock detection', () => {
  it('fails the task of a workflow that never yields, and the worker goes on with the others', async () => {
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./deadlock/workflows.ts', import.meta.url)),
      logger: quiet,
    });
    const taskQueue = `deadlock-${uniqueSuffix()}`;
    const worker = await Worker.create({ connection: native, namespace: inject('temporalNamespace'), taskQueue, workflowBundle });
    await worker.runUntil(async () => {
      const stuck = await client.workflow.start<typeof neverYields>('neverYields', { taskQueue, workflowId: `${taskQueue}-stuck` });
      const other = client.workflow.execute<typeof yieldsOften>('yieldsOften', { taskQueue, workflowId: `${taskQueue}-other`, args: [5] });
      const failure = await eventually(
        async () => {
          const events = (await stuck.fetchHistory()).events ?? [];
          return events.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure?.message ?? undefined;
        },
        { what: 'the stuck workflow task failed', timeoutMs: 30_000 },
      );
      expect(failure).toMatch(/Script execution timed out after 5000ms/);
      expect(await other).toBe(5);
      await stuck.terminate('test over');
    });
  }, 90_000);
});
