/**
 * Calls to carriers run on a task queue of their own (`<queue>-carriers`, workflows/queues.ts),
 * served by whichever worker processes a deployment gives it, under a rate limit the Temporal
 * server enforces for the whole queue. Proven against the real dev server: with no worker on the
 * carriers queue, orders go as far as the carrier and wait there (nothing lost, nothing booked);
 * a second process serving only the outside queues then books the waiting parcels, never faster
 * than the queue's limit allows, and every order is delivered.
 *
 * How the server limits a queue: each of its partitions (4 by default) dispatches at rate /
 * partitions with a burst of one, so in any window of T seconds at most partitions + rate × T
 * tasks start. The limit is the queue's own configuration (set by the worker, kept by the server);
 * a limit carried only by polls left partitions no poll had reached unlimited — 6 to 8 of the 12
 * waiting bookings went out within 30 ms when this test ran that way.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startStack, type Stack } from '../../lib/stack';
import { readQueueRateLimit, setQueueRateLimit } from '../../worker/queue-limits';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { memoryLogger, startTestStack, TEST_KEY_SPECS, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
let outside: Stack | undefined;
const ORDERS = 12;
const RATE = 2;

beforeAll(async () => {
  // This process serves the main queue only: workflows, payments, the warehouse, its own database.
  stack = await startTestStack({
    workerSizing: { queues: ['orders'] },
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 100 } },
  });
  await seedNetwork(stack.db.sql, { 'SKU-Q': { 'WH-HCM': 100 } });
  // A deployment that has run before: the queue's limit is already on the server.
  const set = await setQueueRateLimit(stack.client.connection, {
    namespace: inject('temporalNamespace'),
    taskQueue: stack.taskQueue,
    queue: 'carriers',
    callsPerSecond: RATE,
    logger: memoryLogger(),
  });
  expect(set).toBe(true);
  expect(
    await readQueueRateLimit(stack.client.connection, {
      namespace: inject('temporalNamespace'),
      taskQueue: stack.taskQueue,
      queue: 'carriers',
    }),
  ).toBe(RATE);
});
afterAll(async () => {
  await outside?.stop();
  await stack?.close();
});

interface OrderBody {
  status: string;
  shipments: { shipmentId: string; status: string }[];
}
const getOrder = async (orderId: string) => (await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.cs })).json()) as OrderBody;

describe('outside task queues', () => {
  it('holds carrier calls on their own queue until a worker serves it, then delivers every order', async () => {
    const ids: string[] = [];
    for (let i = 0; i < ORDERS; i++) {
      const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder({ sku: 'SKU-Q' }) });
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { orderId: string }).orderId);
    }
    // Each order reaches its carrier booking: picked and packed by the warehouse (main queue),
    // then its booking call waits, scheduled on the carriers queue that no worker polls yet.
    const booking = await eventually(
      async () => {
        const found: string[] = [];
        for (const id of ids) {
          const o = await getOrder(id);
          const s = o.shipments[0];
          if (!s) return undefined;
          // The shipment runs inside its order's workflow: the booking call is the order's.
          const d = await stack.client.workflow.getHandle(id).describe();
          const pending = d.raw.pendingActivities ?? [];
          if (!pending.some((a) => a.activityType?.name === 'bookShipment')) return undefined;
          found.push(id);
        }
        return found;
      },
      { what: 'every order waiting on its carrier booking', timeoutMs: 60_000 },
    );
    await new Promise((r) => setTimeout(r, 2000));
    for (const id of ids) expect((await getOrder(id)).shipments[0]!.status).not.toMatch(/booked|picked_up|in_transit|delivered/);
    const none = (await (await fetch(`${stack.sandboxUrl}/sandbox/ledger/carriers?orderId=${ids[0]}`)).json()) as { bookings: unknown[] };
    expect(none.bookings).toHaveLength(0);

    // A second process for the outside traffic alone, at RATE carrier calls a second.
    outside = await startStack({
      databaseUrl: stack.db.url,
      temporalAddress: inject('temporalAddress'),
      namespace: inject('temporalNamespace'),
      taskQueue: stack.taskQueue,
      host: '127.0.0.1',
      port: 0,
      apiKeys: TEST_KEY_SPECS,
      bodyLimitBytes: 64 * 1024,
      logger: memoryLogger(),
      sandboxUrl: stack.sandboxUrl,
      stockSync: false,
      workflowBundle: { codePath: inject('workflowBundlePath') },
      workerSizing: { queues: ['carriers', 'channels'], callsPerSecond: { carriers: RATE, channels: 20 } },
    });
    for (const id of ids)
      await eventually(async () => ((await getOrder(id)).status === 'DELIVERED' ? true : undefined), {
        what: `${id} delivered`,
        timeoutMs: 90_000,
      });

    // The bookings ran on the carriers queue, not the workflows' own.
    const { default: proto } = await import('@temporalio/proto');
    const { EventType } = proto.temporal.api.enums.v1;
    const started: number[] = [];
    for (const id of booking) {
      const events = (await stack.client.workflow.getHandle(id).fetchHistory()).events ?? [];
      const scheduled = events.find(
        (e) =>
          e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
          e.activityTaskScheduledEventAttributes?.activityType?.name === 'bookShipment',
      )!;
      expect(scheduled.activityTaskScheduledEventAttributes?.taskQueue?.name).toBe(`${stack.taskQueue}-carriers`);
      const start = events.find(
        (e) =>
          e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
          e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled.eventId?.toString(),
      )!;
      started.push(Number(start.eventTime!.seconds) * 1000 + Math.floor((start.eventTime!.nanos ?? 0) / 1e6));
    }
    started.sort((a, b) => a - b);
    // Never faster than the limit: in any 200 ms, at most one start per partition (+ RATE × 0.2).
    const partitions =
      (
        await stack.client.connection.workflowService.listTaskQueuePartitions({
          namespace: inject('temporalNamespace'),
          taskQueue: { name: `${stack.taskQueue}-carriers` },
        })
      ).activityTaskQueuePartitions?.length ?? 0;
    expect(partitions).toBeGreaterThan(0);
    const most = Math.max(...started.map((t) => started.filter((u) => u >= t && u < t + 200).length));
    expect(most, `booking starts (ms): ${started.map((t) => t - started[0]!).join(', ')}`).toBeLessThanOrEqual(
      partitions + Math.floor(RATE * 0.2),
    );
    // And the whole backlog took at least what the busiest partition allows.
    expect(started.at(-1)! - started[0]!).toBeGreaterThanOrEqual(((Math.ceil(ORDERS / partitions) - 1) * partitions * 1000) / RATE - 50);
  }, 180_000);

  it('a limit the server refuses is said in one warning, and the worker goes on with the per-poll limit', async () => {
    const logger = memoryLogger();
    // The real server refuses a negative rate (InvalidArgument), as an older server or a key
    // without the permission would refuse the call.
    const set = await setQueueRateLimit(stack.client.connection, {
      namespace: inject('temporalNamespace'),
      taskQueue: stack.taskQueue,
      queue: 'channels',
      callsPerSecond: -1,
      logger,
    });
    expect(set).toBe(false);
    const warnings = logger.lines.filter((l) => l.includes('queue rate limit not set on the server'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${stack.taskQueue}-channels`);
    expect(warnings[0]).toMatch(/non-negative/);
  });
});
