/**
 * A worker killed (SIGKILL) in the middle of a compensation: a new worker finishes it, and
 * nothing is undone twice — the carrier saw one cancellation, the gateway one void, stock came
 * back exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeOrder, seedNetwork, stockRow } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
const workers: ChildProcess[] = [];

function startWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      DATABASE_URL: stack.db.url,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      OMS_TASK_QUEUE: stack.taskQueue,
      OMS_SANDBOX_URL: stack.sandboxUrl,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.push(child);
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const deadline = Date.now() + 120_000;
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (out.includes('"worker started"')) {
        clearInterval(t);
        resolve(child);
      }
      if (child.exitCode !== null) {
        clearInterval(t);
        reject(new Error(out));
      }
      if (Date.now() > deadline) {
        clearInterval(t);
        child.kill('SIGKILL');
        reject(new Error(`worker did not start in 120 s:\n${out}`));
      }
    }, 100);
  });
}

beforeAll(async () => {
  stack = await startTestStack({
    runWorker: false,
    orderSettings: { stepTimeoutMs: 3000, stepRetry: { initialIntervalMs: 200, maximumIntervalMs: 500, maximumAttempts: 10 } },
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
  });
  await seedNetwork(stack.db.sql, { 'SKU-K': { 'WH-HCM': 10 } });
});
afterAll(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  await stack?.close();
});

describe('worker crash during compensation', () => {
  it('a new worker completes the compensation; nothing is undone twice', async () => {
    const first = await startWorker();
    const order = makeOrder({ sku: 'SKU-K', quantity: 2 });
    const orderId = `order-web-${order.channelOrderId}`;
    expect((await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order })).status).toBe(201);
    const getOrder = async () =>
      (await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.ops })).json()) as {
        status: string;
        shipments: { status: string }[];
        timeline: { status: string }[];
      };
    await eventually(async () => (await getOrder()).shipments[0]?.status === 'booked', { what: 'booked' });

    // The carrier answers the cancellation slowly (4 s, room for a busy machine to notice the call
    // and kill the worker): the worker dies while the call is in flight.
    await fetch(`${stack.sandboxUrl}/sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ service: 'carriers', op: 'cancel', match: { orderId }, action: 'timeout', delayMs: 4000, times: 1 }),
    });
    expect(
      (
        await stack.api(`/v1/orders/${orderId}/cancel`, {
          method: 'POST',
          key: TEST_KEYS.cs,
          json: { reason: 'customer changed their mind' },
        })
      ).status,
    ).toBe(200);
    await eventually(
      async () => ((await (await fetch(`${stack.sandboxUrl}/sandbox/faults`)).json()) as { faults: unknown[] }).faults.length === 0,
      { what: 'carrier cancel in flight' },
    );
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));

    await startWorker();
    const done = await eventually(
      async () => {
        const o = await getOrder();
        return o.status === 'CANCELLED' && o.timeline.some((t) => t.status === 'CANCELLED') ? o : undefined;
      },
      { timeoutMs: 45_000, what: 'CANCELLED after restart' },
    );
    expect(done.timeline.filter((t) => t.status === 'CANCELLED')).toHaveLength(1);

    const carriers = (await (await fetch(`${stack.sandboxUrl}/sandbox/ledger/carriers?orderId=${orderId}`)).json()) as {
      bookings: { status: string; events: { status: string }[] }[];
    };
    expect(carriers.bookings.map((b) => b.status)).toEqual(['cancelled']);
    expect(carriers.bookings[0]!.events.filter((e) => e.status === 'cancelled')).toHaveLength(1);
    const payments = (await (await fetch(`${stack.sandboxUrl}/sandbox/ledger/payments?orderId=${orderId}`)).json()) as {
      entries: { type: string }[];
    };
    expect(payments.entries.map((e) => e.type)).toEqual(['authorize', 'void']);
    expect(await stockRow(stack.db.sql, 'SKU-K', 'WH-HCM')).toEqual({ onHand: 10, reserved: 0 });
    const released = await stack.db.sql<{ state: string }[]>`select state from reservations where order_id = ${orderId}`;
    expect(released.map((r) => r.state)).toEqual(['released']);
  }, 180_000); // two worker processes bundle and start: tens of seconds on a busy machine
});
