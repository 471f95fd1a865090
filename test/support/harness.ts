/**
 * Per-file test helpers over the real services the global setup started: an own database cloned
 * from the migrated template, and an own stack (API, worker, sandbox) on an own task queue.
 */
import { randomBytes } from 'node:crypto';
import { NativeConnection } from '@temporalio/worker';
import { inject } from 'vitest';
import { createActivities, type Activities } from '../../activities';
import { createSql, type Sql } from '../../db/client';
import { DEFAULT_RULES } from '../../domain/settings';
import type { ApiKeySpec } from '../../lib/config';
import { createLogger, type Logger } from '../../lib/logger';
import { resolveSystems, startStack, type Stack, type StackOptions } from '../../lib/stack';
import { DEV_SANDBOX_KEY } from '../../sandbox/server';
import { SANDBOX_TAX_COMPANY } from '../../sandbox/tax';
import { createOrderWorker } from '../../worker/create-worker';
import { installRuntime } from '../../worker/runtime';
import type { CanonicalOrder } from '../../domain/order';
import { eventually } from './fixtures';

export const TEST_KEYS = {
  web: 'test-channel-web-key',
  shopify: 'test-channel-shopify-key',
  pos: 'test-channel-pos-key',
  cs: 'test-cs-key-0001',
  ops: 'test-ops-key-0001',
  admin: 'test-admin-key-0001',
  carrier: 'test-carrier-key-0001',
  finance: 'test-finance-key-0001',
} as const;

export const TEST_KEY_SPECS: ApiKeySpec[] = [
  { role: 'channel', channel: 'web', key: TEST_KEYS.web },
  { role: 'channel', channel: 'shopify', key: TEST_KEYS.shopify },
  { role: 'channel', channel: 'pos', key: TEST_KEYS.pos },
  { role: 'cs', key: TEST_KEYS.cs },
  { role: 'ops', key: TEST_KEYS.ops },
  { role: 'admin', key: TEST_KEYS.admin },
  { role: 'carrier', key: TEST_KEYS.carrier },
  { role: 'finance', key: TEST_KEYS.finance },
];

export const uniqueSuffix = () => randomBytes(4).toString('hex');

function urlFor(database: string): string {
  const u = new URL(inject('pgAdminUrl'));
  u.pathname = `/${database}`;
  return u.toString();
}

/** A fresh, migrated database of this file's own. */
export async function createTestDatabase(): Promise<{ url: string; sql: Sql; drop(): Promise<void> }> {
  const name = `oms_test_${uniqueSuffix()}`;
  const admin = createSql(inject('pgAdminUrl'), { max: 1 });
  try {
    await admin.unsafe(`create database ${name} template ${inject('templateDatabase')}`);
  } finally {
    await admin.end();
  }
  const url = urlFor(name);
  const sql = createSql(url, { max: 10 });
  return {
    url,
    sql,
    drop: async () => {
      await sql.end({ timeout: 5 });
      const a = createSql(inject('pgAdminUrl'), { max: 1 });
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}

/** Logs collected in memory: tests can assert what was (not) logged. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', write: (l) => lines.push(l) });
  return Object.assign(logger, { lines });
}

export interface TestStack extends Omit<Stack, 'sandboxUrl'> {
  /** A test stack always has its sandbox (in-process, or the one it was given). */
  sandboxUrl: string;
  taskQueue: string;
  temporalAddress: string;
  db: { url: string; sql: Sql };
  logs: string[];
  /** fetch against the API with a role's key. */
  api(path: string, init?: RequestInit & { key?: string; json?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

/** A whole stack for one test file, on an own database and task queue. */
export async function startTestStack(overrides: Partial<StackOptions> = {}): Promise<TestStack> {
  const db = await createTestDatabase();
  const taskQueue = `test-${uniqueSuffix()}`;
  const logger = memoryLogger();
  const stack = await startStack({
    databaseUrl: db.url,
    temporalAddress: inject('temporalAddress'),
    namespace: inject('temporalNamespace'),
    taskQueue,
    host: '127.0.0.1',
    port: 0,
    apiKeys: TEST_KEY_SPECS,
    bodyLimitBytes: 64 * 1024,
    logger,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    ...overrides,
  });
  const api: TestStack['api'] = (path, init = {}) => {
    const { key, json, headers, ...rest } = init;
    const h = new Headers(headers);
    if (key) h.set('Authorization', `Bearer ${key}`);
    if (json !== undefined) h.set('Content-Type', 'application/json');
    return fetch(stack.apiUrl + path, { ...rest, headers: h, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
  };
  if (!stack.sandboxUrl) throw new Error('a test stack runs against a sandbox');
  return {
    ...stack,
    sandboxUrl: stack.sandboxUrl,
    taskQueue,
    temporalAddress: inject('temporalAddress'),
    db,
    logs: logger.lines,
    api,
    close: async () => {
      await stack.stop();
      await db.drop();
    },
  };
}

/**
 * Order workers a test starts and stops itself, for a stack started with `runWorker: false`: the
 * worker of `npm start` on the stack's task queue, database and sandbox (status pushes and the
 * other relays not running), with the activities as made, or as the test gives them.
 */
export async function ownWorkers(stack: TestStack, logger: Logger) {
  // As the worker installs it: the SDK's and Core's own lines go through `logger`.
  installRuntime(logger);
  const native = await NativeConnection.connect({ address: stack.temporalAddress });
  const deps = {
    sql: stack.db.sql,
    logger,
    rules: DEFAULT_RULES,
    systems: resolveSystems(
      { mode: 'development', systems: { carriers: {}, channels: {} }, systemsKey: DEV_SANDBOX_KEY, taxCompany: SANDBOX_TAX_COMPANY },
      stack.sandboxUrl,
    ),
  };
  const running = new Set<{ stop(): Promise<void> }>();
  return {
    /** The activities a worker runs unless given others. */
    activities: (): Activities => createActivities(deps),
    async start(activities?: Activities): Promise<{ stop(): Promise<void> }> {
      const worker = await createOrderWorker({
        connection: native,
        namespace: inject('temporalNamespace'),
        taskQueue: stack.taskQueue,
        deps,
        ...(activities ? { activities } : {}),
        workflowBundle: { codePath: inject('workflowBundlePath') },
      });
      const done = worker.run();
      const handle = {
        stop: async () => {
          running.delete(handle);
          worker.shutdown();
          await done;
        },
      };
      running.add(handle);
      return handle;
    },
    /** Stops the workers still running and closes the connection. */
    async close(): Promise<void> {
      for (const w of [...running]) await w.stop().catch(() => undefined);
      await native.close();
    },
  };
}

/** Places `orders` through the API (web channel key) and waits until every one reads DELIVERED; their ids. */
export async function placeAndDeliver(stack: TestStack, orders: CanonicalOrder[], timeoutMs = 60_000): Promise<string[]> {
  const ids: string[] = [];
  for (const order of orders) {
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
    if (res.status !== 201) throw new Error(`order not taken in: ${res.status} ${await res.text()}`);
    ids.push(((await res.json()) as { orderId: string }).orderId);
  }
  for (const id of ids)
    await eventually(
      async () =>
        ((await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.cs })).json()) as { status: string }).status === 'DELIVERED' ||
        undefined,
      { what: `${id} delivered`, timeoutMs },
    );
  return ids;
}

/**
 * The workflows an order runs as: its own, and for orders started before `orderWorkflowV3` (whose
 * shipments are child workflows) one per shipment.
 */
export async function orderWorkflowIds(stack: Pick<TestStack, 'client'>, orderId: string, shipmentIds: string[]): Promise<string[]> {
  const { type } = await stack.client.workflow.getHandle(orderId).describe();
  return type === 'orderWorkflow' || type === 'orderWorkflowV2' ? [orderId, ...shipmentIds] : [orderId];
}

/** A `stock.reserved` / `stock.released` / `stock.committed` event of the feed. */
export interface StockFeedEvent {
  position: string;
  type: 'stock.reserved' | 'stock.released' | 'stock.committed';
  orderId: string;
  lines: { lineNo: number; sku: string; warehouseId: string; quantity: number }[];
  /** Held under another key than the order's (an exchange's return, a parcel sent again). */
  reservation?: string;
}

/** The stock events of one order in the event feed (`GET /v1/events`, read to its end), in feed order. */
export async function stockEventsOf(stack: TestStack, orderId: string): Promise<StockFeedEvent[]> {
  const mine: StockFeedEvent[] = [];
  for (let after = '0'; ;) {
    const page = (await (await stack.api(`/v1/events?after=${after}&limit=500`, { key: TEST_KEYS.ops })).json()) as {
      items: (StockFeedEvent & { type: string })[];
      next: string;
    };
    mine.push(...page.items.filter((e) => e.orderId === orderId && e.type.startsWith('stock.')));
    if (!page.items.length) return mine;
    after = page.next;
  }
}

/** Units per `<type> <sku>@<warehouse>` over an order's stock events: what the feed says it reserved, released and handed over. */
export function stockUnits(events: StockFeedEvent[]): Record<string, number> {
  const units: Record<string, number> = {};
  for (const e of events)
    for (const l of e.lines)
      units[`${e.type} ${l.sku}@${l.warehouseId}`] = (units[`${e.type} ${l.sku}@${l.warehouseId}`] ?? 0) + l.quantity;
  return units;
}

/**
 * What the accounting journal (finance's `GET /v1/accounting/journal`) says each authorisation of
 * an order still holds, in minor units: its `9100` memo account, debited when authorised, credited
 * when captured from or released (voided, lapsed). A capture names its capture, not its
 * authorisation: `captures` (the gateway's) says which authorisation each was from.
 */
export async function journalHolds(
  stack: TestStack,
  orderId: string,
  captures: { id: string; authorizationId?: string }[],
): Promise<Record<string, number>> {
  const lines: { orderId: string; kind: string; ref: string | null; account: string; debit: string; credit: string }[] = [];
  for (let after: string | null = null; ;) {
    const res = await stack.api(`/v1/accounting/journal?limit=500${after ? `&after=${after}` : ''}`, { key: TEST_KEYS.finance });
    if (res.status !== 200) throw new Error(`journal answered ${res.status}`);
    const page = (await res.json()) as { items: typeof lines; next: string | null };
    lines.push(...page.items.filter((l) => l.orderId === orderId));
    if (!page.next) break;
    after = page.next;
  }
  const minor = (s: string) => Math.round(Number(s) * 100);
  const holds: Record<string, number> = {};
  for (const l of lines.filter((x) => x.account.startsWith('9100 '))) {
    const auth = l.kind === 'captured' ? captures.find((c) => c.id === l.ref)?.authorizationId : l.ref;
    if (!auth) throw new Error(`journal line ${l.kind} ${l.ref}: no authorisation known for it`);
    holds[auth] = (holds[auth] ?? 0) + minor(l.debit) - minor(l.credit);
  }
  return holds;
}
