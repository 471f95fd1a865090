/**
 * `npm run bench`: intake latency at a fixed request rate, and end-to-end throughput from intake
 * to DELIVERED, on real PostgreSQL and a real Temporal dev server with the sandbox at zero
 * latency. Baselines measured in the same run: GET /healthz at the same rate (the HTTP floor),
 * and hello-workflow round trips (the Temporal floor).
 * Then the channel webhook route's answer time at BENCH_WEBHOOK_RATE (default 50/s) while the
 * worker is saturated by a burst of orders: the platforms' own payload shapes (Shopify orders,
 * Shopee pushes, TikTok notices the OMS ignores, redeliveries), signed as they sign them.
 * Then what one order costs Temporal per shape, and last intake with the Temporal server stopped
 * for BENCH_OUTAGE_SECONDS (default 60): every order must be answered 201 and delivered once the
 * server is back.
 *   BENCH_RATE=50 BENCH_SECONDS=10 BENCH_ORDERS=200 BENCH_SLA=1 BENCH_STOCK_SYNC=0 BENCH_WEBHOOK_RATE=50 BENCH_OUTAGE_SECONDS=60 npm run bench
 * BENCH_SECTIONS=5 runs only the cost per order (1,2,3 · 4 · 5 · 6 can be picked).
 * BENCH_BASELINE=<commit> runs that commit's bench first (a git worktree, same settings) and ends
 * with the figures side by side (scripts/bench-baseline.ts); BENCH_PAIRS=N with it runs N pairs of
 * sections 1–3 instead, the order swapped every pair, and prints the median of each ratio;
 * BENCH_SAME_TIME=1 runs each pair's two benches at the same time (the CPU an order compares).
 * Each run first removes the scratch directories of benches that were interrupted (bench-dirs.ts).
 */
import { createHmac, randomInt } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEV_CHANNEL_ACCOUNTS } from '../activities/channels/adapters/accounts';
import { DEV_CHANNEL_SECRETS, loadConfigOrExit } from '../lib/config';
import { parseJsonWithBigInts, stringifyJson } from '../lib/lossless-json';
import { freePort, startEmbeddedPostgres, startTemporalDevServer } from '../lib/dev-services';
import { createLogger } from '../lib/logger';
import { startStack } from '../lib/stack';
import { compareFigures, figuresFrom, runBaselineBench, runPairs } from './bench-baseline';
import { benchDir, sweepStaleBenchDirs } from './bench-dirs';
import { atFixedRate, cpuPerItem, machineLine, ms, pct } from './measure';
import { DEFAULT_SLA } from '../domain/settings';
import type { helloWorkflow } from '../workflows/hello';

const RATE = Number(process.env.BENCH_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ORDERS = Number(process.env.BENCH_ORDERS ?? 200);
const WEBHOOK_RATE = Number(process.env.BENCH_WEBHOOK_RATE ?? 50);
const OUTAGE_SECONDS = Number(process.env.BENCH_OUTAGE_SECONDS ?? 60);
/** BENCH_IDLE_SECONDS: how long section 1 watches the idle stack's CPU (default 10). */
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 10);
/** BENCH_SECTIONS=5 (or 1,5 …): only those sections; 1–3 run together (3 compares with 1's baseline). */
const SECTIONS = process.env.BENCH_SECTIONS?.split(',').map((x) => x.trim());
const want = (...ns: number[]) => !SECTIONS || ns.some((n) => SECTIONS.includes(String(n)));
const config = loadConfigOrExit();
/** This tree's printed lines: read back for the side-by-side figures. */
const printed: string[] = [];
const say = (l: string) => {
  printed.push(...l.split('\n'));
  process.stdout.write(`${l}\n`);
};
sweepStaleBenchDirs(say);
/** BENCH_PAIRS=N with BENCH_BASELINE: N alternating pairs, sections 1–3 each, and the median of each ratio; nothing else runs. */
const PAIRS = Number(process.env.BENCH_PAIRS ?? 1);
if (!Number.isInteger(PAIRS) || PAIRS < 1 || (PAIRS > 1 && !process.env.BENCH_BASELINE)) {
  process.stderr.write(
    `BENCH_PAIRS=${process.env.BENCH_PAIRS}: a whole number of pairs, 1 or more; more than 1 needs BENCH_BASELINE=<commit>\n`,
  );
  process.exit(2);
}
/** BENCH_SAME_TIME=1 with BENCH_BASELINE: each pair's two benches at the same time (the CPU an order compares, not the rates). */
const SAME_TIME = process.env.BENCH_SAME_TIME === '1';
if (SAME_TIME && !process.env.BENCH_BASELINE) {
  process.stderr.write('BENCH_SAME_TIME=1 needs BENCH_BASELINE=<commit>: the tree it runs beside this one\n');
  process.exit(2);
}
if (PAIRS > 1 || SAME_TIME) {
  say(`machine: ${machineLine()}`);
  await runPairs(process.env.BENCH_BASELINE!, PAIRS, say, { together: SAME_TIME });
  process.exit(0);
}
/** BENCH_BASELINE=<commit>: that commit's bench first, from a worktree; then the figures side by side. */
const baseline = process.env.BENCH_BASELINE
  ? await runBaselineBench(process.env.BENCH_BASELINE, (l) => process.stdout.write(`${l}\n`))
  : undefined;

const toCents = (d: string) => Math.round(Number(d) * 100);
const fromCents = (c: number) => (c / 100).toFixed(2);
/** The dev TikTok app key (activities/channels/adapters/accounts.ts): TikTok signs app key + body. */
const DEV_CHANNEL_ACCOUNT_TIKTOK = DEV_CHANNEL_ACCOUNTS.tiktok!.appKey;

const dir = benchDir();
const logger = createLogger({ level: 'error' });
say(`machine: ${machineLine()}`);
say('starting PostgreSQL, Temporal dev server (in memory), sandbox (zero latency), worker and API...');
const temporalPort = await freePort();
const startTemporal = () =>
  startTemporalDevServer({ cliPath: config.temporal.cliPath, port: temporalPort, uiPort: 0, namespace: 'default', ui: false });
const [pg, firstTemporal] = await Promise.all([
  // fsync off (the OMS_PG_FSYNC=off mode): a throwaway cluster, measured like the earlier runs.
  freePort().then((port) => startEmbeddedPostgres({ dir: join(dir, 'pg'), port, database: 'oms_bench', fsync: false })),
  startTemporal(),
]);
let temporal = firstTemporal;
const keys = { channel: 'bench-channel-key', admin: 'bench-admin-key-01', cs: 'bench-cs-key-0001', ops: 'bench-ops-key-0001' };
const stack = await startStack({
  databaseUrl: pg.url,
  temporalAddress: temporal.address,
  namespace: 'default',
  taskQueue: 'bench',
  host: '127.0.0.1',
  port: 0,
  apiKeys: [
    { role: 'channel', channel: 'web', key: keys.channel },
    { role: 'admin', key: keys.admin },
    { role: 'cs', key: keys.cs },
    { role: 'ops', key: keys.ops },
  ],
  bodyLimitBytes: 256 * 1024,
  logger,
  seed: true,
  rules: { riskVelocityPerHour: 1_000_000 },
  // BENCH_SLA=1: shipments run their SLA watchers (on by default in `npm start`); deadlines stay far away.
  ...(process.env.BENCH_SLA === '1' ? { orderSettings: { sla: DEFAULT_SLA } } : {}),
  // BENCH_STOCK_SYNC=0: no stock sync to the channels (on by default), to see what it costs.
  ...(process.env.BENCH_STOCK_SYNC === '0' ? { stockSync: false as const } : {}),
  sandboxOptions: { latencyMs: 0, autoProgress: { enabled: true, stepMs: 20 } },
});

type Order = Record<string, unknown> & { lines: unknown[]; payment: unknown };
interface OrderView {
  status: string;
  waitingFor?: string | null;
  shipments: { shipmentId: string }[];
  returns: { returnId: string; status: string }[];
}

/**
 * 5) What one order costs Temporal, per order shape: the history events and workflow tasks of
 * every workflow of the order (the order, its returns, and its shipments where they are child
 * workflows: orders from before orderWorkflowV3), read from their histories
 * once the order reached the state named.
 */
async function costPerOrder(post: (body: unknown) => Promise<string>, order: () => Order): Promise<void> {
  // A CommonJS package: its namespaces come on the default export.
  const { default: proto } = await import('@temporalio/proto');
  const TASK_COMPLETED = proto.temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED;
  const api = async <T>(path: string, key: string, json?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${stack.apiUrl}${path}`, {
      method: json === undefined ? 'GET' : 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const until = async (id: string, pred: (o: OrderView) => boolean, what: string): Promise<OrderView> => {
    const t = performance.now();
    for (;;) {
      const r = await api<OrderView>(`/v1/orders/${id}`, keys.cs);
      if (r.status === 200 && pred(r.body)) return r.body;
      if (performance.now() - t > 300_000) throw new Error(`${id}: not ${what} after 5 minutes (${r.body.status})`);
      await new Promise((res) => setTimeout(res, 250));
    }
  };
  const cost = async (o: OrderView & { orderId: string }) => {
    // Shipments are workflows of their own only for orders from before orderWorkflowV3.
    const { type } = await stack.client.workflow.getHandle(o.orderId).describe();
    const childShipments = type === 'orderWorkflow' || type === 'orderWorkflowV2' ? o.shipments.map((x) => x.shipmentId) : [];
    const ids = [o.orderId, ...childShipments, ...o.returns.map((x) => x.returnId)];
    let events = 0;
    let tasks = 0;
    let orderEvents = 0;
    const kinds: Record<string, Record<string, number>> = {};
    for (const id of ids) {
      const h = await stack.client.workflow.getHandle(id).fetchHistory();
      const evs = h.events ?? [];
      events += evs.length;
      const kind = id === o.orderId ? 'order' : /-shipment-/.test(id) ? 'shipment' : 'return';
      for (const e of evs) {
        const name = (proto.temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? '?').replace(/^EVENT_TYPE_/, '').toLowerCase();
        (kinds[kind] ??= {})[name] = (kinds[kind][name] ?? 0) + 1;
      }
      tasks += evs.filter((e) => e.eventType === TASK_COMPLETED).length;
      if (id === o.orderId) orderEvents = evs.length;
    }
    return { workflows: ids.length, events, tasks, orderEvents, kinds };
  };
  const delivered = (o: OrderView) => o.status === 'DELIVERED' && o.waitingFor === 'the return window to close';
  const shapes: { name: string; make: () => Order; prepare?: () => Promise<void>; finish: (id: string) => Promise<OrderView> }[] = [
    {
      name: '1 line, 1 shipment, prepaid → DELIVERED',
      make: () => ({
        ...order(),
        lines: [{ sku: 'TSHIRT-M', quantity: 1, unitPrice: '149000.00' }],
        payment: { method: 'prepaid', token: 'tok_visa' },
      }),
      finish: (id) => until(id, delivered, 'delivered'),
    },
    {
      name: '1 line, 1 shipment, COD → DELIVERED',
      make: () => ({ ...order(), lines: [{ sku: 'TSHIRT-M', quantity: 1, unitPrice: '149000.00' }], payment: { method: 'cod' } }),
      finish: (id) => until(id, delivered, 'delivered'),
    },
    {
      name: '2 lines split over 2 warehouses, prepaid → DELIVERED',
      // Each SKU in one southern warehouse only (the address is in Ho Chi Minh): two shipments.
      prepare: async () => {
        await stack.sql`insert into stock (sku, warehouse_id, on_hand) values ('TSHIRT-M', 'WH-HCM', 1000000), ('COFFEE-L', 'WH-CT', 1000000)
                        on conflict (sku, warehouse_id) do update set on_hand = excluded.on_hand`;
        await stack.sql`update stock set on_hand = reserved
                        where (sku = 'TSHIRT-M' and warehouse_id <> 'WH-HCM') or (sku = 'COFFEE-L' and warehouse_id <> 'WH-CT')`;
      },
      make: () => ({
        ...order(),
        lines: [
          { sku: 'TSHIRT-M', quantity: 1, unitPrice: '149000.00' },
          { sku: 'COFFEE-L', quantity: 2, unitPrice: '185000.00' },
        ],
        payment: { method: 'prepaid', token: 'tok_visa' },
      }),
      finish: async (id) => {
        const o = await until(id, delivered, 'delivered');
        if (o.shipments.length !== 2) throw new Error(`${id}: ${o.shipments.length} shipment(s), not 2`);
        return o;
      },
    },
    {
      name: '1 line, prepaid, returned and refunded → REFUNDED',
      make: () => ({
        ...order(),
        lines: [{ sku: 'TSHIRT-M', quantity: 1, unitPrice: '149000.00' }],
        payment: { method: 'prepaid', token: 'tok_visa' },
      }),
      finish: async (id) => {
        await until(id, delivered, 'delivered');
        const r = await api<{ returnId: string }>(`/v1/orders/${id}/returns`, keys.cs, {
          lines: [{ lineNo: 1, quantity: 1 }],
          reason: 'bench: too small',
        });
        if (r.status !== 201) throw new Error(`${id}: return answered ${r.status}`);
        await until(id, (o) => o.returns.some((x) => x.status === 'received'), 'return received');
        const i = await api(`/v1/orders/${id}/returns/${r.body.returnId}/inspection`, keys.ops, { result: 'accept', reason: 'bench' });
        if (i.status !== 200) throw new Error(`${id}: inspection answered ${i.status}`);
        return until(id, (o) => o.status === 'REFUNDED', 'refunded');
      },
    },
  ];
  say('\n5) what one order costs Temporal, per shape (3 orders each; every workflow of the order: order + shipments + returns)');
  say('   shape                                                  workflows  history events  workflow tasks  (order workflow alone)');
  for (const shape of shapes) {
    await shape.prepare?.();
    const results: {
      workflows: number;
      events: number;
      tasks: number;
      orderEvents: number;
      kinds: Record<string, Record<string, number>>;
    }[] = [];
    for (let i = 0; i < 3; i++) {
      const id = await post(shape.make());
      results.push(await cost({ ...(await shape.finish(id)), orderId: id }));
    }
    const avg = (k: 'workflows' | 'events' | 'tasks' | 'orderEvents') => results.reduce((a, r) => a + r[k], 0) / results.length;
    say(
      `   ${shape.name.padEnd(55)}${String(avg('workflows')).padStart(9)}${avg('events').toFixed(0).padStart(16)}${avg('tasks').toFixed(0).padStart(16)}  (${avg('orderEvents').toFixed(0)} events)`,
    );
    // BENCH_COST_DETAIL=1: where the events of the shape's first order are, by workflow kind and event type.
    if (process.env.BENCH_COST_DETAIL === '1')
      for (const [kind, byType] of Object.entries(results[0]!.kinds))
        say(
          `      ${kind}: ${Object.entries(byType)
            .sort((a, b) => b[1] - a[1])
            .map(([t, n]) => `${t} ${n}`)
            .join(', ')}`,
        );
  }
}

try {
  // Plenty of stock everywhere, so every order ships.
  await stack.sql`update stock set on_hand = 1000000, reserved = 0, safety_stock = 0`;
  await stack.sql`update warehouses set daily_capacity = 10000000`;
  let seq = 0;
  const order = () => ({
    channel: 'web',
    channelOrderId: `B${Date.now().toString(36)}${(seq++).toString(36)}`,
    currency: 'VND',
    customer: { id: `bench-${seq % 997}`, name: 'Bench Customer' },
    shippingAddress: { name: 'Bench Customer', line1: '1 Nguyen Hue', city: 'Ho Chi Minh', country: 'VN' },
    lines: [
      { sku: 'TSHIRT-M', quantity: 1, unitPrice: '149000.00' },
      { sku: 'COFFEE-L', quantity: 2, unitPrice: '185000.00' },
    ],
    payment: seq % 2 ? { method: 'cod' } : { method: 'prepaid', token: 'tok_visa' },
    placedAt: new Date().toISOString(),
  });
  const post = async (body: unknown) => {
    const res = await fetch(`${stack.apiUrl}/v1/orders`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${keys.channel}` },
    });
    if (res.status !== 201) throw new Error(`intake answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { orderId: string }).orderId;
  };

  const countDelivered = async (ids: string[]) => {
    const [row] = await stack.sql<
      { n: number }[]
    >`select count(*)::int as n from orders where order_id = any(${ids}) and status = 'DELIVERED'`;
    return row?.n ?? 0;
  };
  /** Waits until every order in `ids` is DELIVERED; returns the seconds it took from `since`. */
  const drain = async (ids: string[], since: number) => {
    let lastReport = performance.now();
    for (;;) {
      const delivered = await countDelivered(ids);
      if (delivered === ids.length) return (performance.now() - since) / 1000;
      if (performance.now() - lastReport > 10_000) {
        say(`   ... ${delivered}/${ids.length} delivered after ${((performance.now() - since) / 1000).toFixed(0)}s`);
        lastReport = performance.now();
      }
      if (performance.now() - since > 900_000) throw new Error(`only ${delivered}/${ids.length} delivered after 15 minutes`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  // Warm up the HTTP path, the workflow bundle and the connection pools; let it drain.
  const warm = await Promise.all(Array.from({ length: 10 }, () => post(order())));
  await drain(warm, performance.now());

  if (want(1, 2, 3)) {
    say('\n1) baselines on the idle stack');
    const helloStart = performance.now();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        stack.client.workflow.execute<typeof helloWorkflow>('helloWorkflow', {
          taskQueue: 'bench',
          workflowId: `hello-bench-${i}`,
          args: ['bench'],
        }),
      ),
    );
    const helloRate = 50 / ((performance.now() - helloStart) / 1000);
    say(`   hello workflow round trips (1 activity each, 50 at once): ${helloRate.toFixed(1)}/s`);
    const health = await atFixedRate(RATE, SECONDS, async () => {
      await (await fetch(`${stack.apiUrl}/healthz`)).text();
    });
    say(`   GET /healthz at ${RATE}/s: p50 ${ms(pct(health, 50))}  p99 ${ms(pct(health, 99))}`);
    // What the stack costs doing nothing (relays and pollers looking for work, the servers' own
    // housekeeping): the share of the burst's CPU per order that is time, not orders.
    const idle = await cpuPerItem(process.pid, IDLE_SECONDS, () => new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000)));
    say(`   CPU of the idle stack, per second (over ${IDLE_SECONDS}s): ${idle.line}`);

    say(`\n2) intake latency: POST /v1/orders at ${RATE}/s for ${SECONDS}s (open loop; the worker processes them meanwhile)`);
    const rateIds: string[] = [];
    const rateStart = performance.now();
    const intake = await atFixedRate(RATE, SECONDS, async () => {
      rateIds.push(await post(order()));
    });
    say(
      `   p50 ${ms(pct(intake, 50))}  p99 ${ms(pct(intake, 99))}  max ${ms(Math.max(...intake))}  → p50 is ${(pct(intake, 50) / pct(health, 50)).toFixed(1)}× the /healthz p50`,
    );
    const rateSeconds = await drain(rateIds, rateStart);
    say(
      `   those ${rateIds.length} orders were all DELIVERED ${rateSeconds.toFixed(1)}s after the first was sent → ${(rateIds.length / rateSeconds).toFixed(1)} orders/s sustained`,
    );

    say(`\n3) burst: ${ORDERS} orders at once, intake → DELIVERED (carrier steps every 20 ms)`);
    const t0 = performance.now();
    let accepted = 0;
    const burst = await cpuPerItem(process.pid, ORDERS, async () => {
      const ids = await Promise.all(Array.from({ length: ORDERS }, () => post(order())));
      accepted = (performance.now() - t0) / 1000;
      return drain(ids, t0);
    });
    const seconds = burst.result;
    const rate = ORDERS / seconds;
    say(`   accepted in ${accepted.toFixed(1)}s; all DELIVERED after ${seconds.toFixed(1)}s → ${rate.toFixed(1)} orders/s end to end`);
    say(`   CPU per order (this process: API, worker, sandbox, bench; and the servers it started): ${burst.line}`);
    say(`   = ${(rate / helloRate).toFixed(2)}× the hello-workflow rate of the same stack`);
  }
  if (want(4)) {
    say(`\n4) channel webhooks at ${WEBHOOK_RATE}/s for ${SECONDS}s while ${ORDERS} orders saturate the worker`);
    const corpus = (path: string) =>
      parseJsonWithBigInts(readFileSync(new URL(`../test/fixtures/channels/${path}`, import.meta.url), 'utf8')) as Record<string, unknown>;
    const shopifyOrder = corpus('shopify/orders-paid-derived.json');
    const shopeeOrder = corpus('shopee/order-detail-cod.json');
    const tiktokNotice = readFileSync(
      new URL('../test/fixtures/channels/tiktok/push-package-update-docs-example.json', import.meta.url),
      'utf8',
    );
    const hook = (channel: string) => `${stack.apiUrl}/v1/channels/${channel}/webhooks`;
    const hmac = (secret: string, text: string, enc: 'hex' | 'base64') => createHmac('sha256', secret).update(text, 'utf8').digest(enc);
    const shopifyDeliveries: { body: string; id: string }[] = [];
    const codes: Record<string, number> = {};
    const byKind: Record<string, number[]> = {};
    const send = async (channel: string, body: string, headers: Record<string, string>, kind: string) => {
      const t = performance.now();
      const res = await fetch(hook(channel), { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } });
      await res.text();
      (byKind[kind] ??= []).push(performance.now() - t);
      codes[`${channel} ${res.status}`] = (codes[`${channel} ${res.status}`] ?? 0) + 1;
    };
    const webhook = async (i: number) => {
      const kind = i % 4;
      if (kind === 0 || (kind === 3 && !shopifyDeliveries.length)) {
        // Shopify's own order shape (its 18-digit ids), paid, to stocked SKUs in Vietnam: a new order.
        const doc = structuredClone(shopifyOrder);
        doc.id = BigInt(`8${String(randomInt(1e8, 1e9))}${String(randomInt(1e8, 1e9))}`);
        (doc.line_items as Record<string, unknown>[]).forEach((l) => {
          l.sku = 'TSHIRT-M';
        });
        doc.total_price = fromCents(
          (doc.line_items as { price: string; quantity: number }[]).reduce((a, l) => a + toCents(l.price) * l.quantity, 0) + 1000 - 2000,
        );
        doc.shipping_address = { ...(doc.shipping_address as object), city: 'Quận 1', province: 'Ho Chi Minh', country_code: 'VN' };
        const body = stringifyJson(doc);
        const id = `bench-${i}-${Date.now()}`;
        shopifyDeliveries.push({ body, id });
        await send(
          'shopify',
          body,
          {
            'X-Shopify-Hmac-Sha256': hmac(DEV_CHANNEL_SECRETS.shopify!, body, 'base64'),
            'X-Shopify-Topic': 'orders/create',
            'X-Shopify-Webhook-Id': id,
          },
          'shopify new order (starts the order workflow)',
        );
      } else if (kind === 1) {
        // A Shopee push for an order on the (emulated) platform: the intake workflow pulls it.
        const sn = `26${Date.now().toString(36).toUpperCase()}${i.toString(36).toUpperCase()}`.slice(0, 14);
        await fetch(`${stack.sandboxUrl}/sandbox/channels/shopee/orders`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: stringifyJson({ ...shopeeOrder, order_sn: sn }),
        });
        const body = JSON.stringify({
          msg_id: `${i}`.padStart(32, '0'),
          data: { completed_scenario: null, items: [], ordersn: sn, status: 'READY_TO_SHIP', update_time: Math.floor(Date.now() / 1000) },
          shop_id: 880123456,
          code: 3,
          timestamp: Math.floor(Date.now() / 1000),
        });
        await send(
          'shopee',
          body,
          { Authorization: hmac(DEV_CHANNEL_SECRETS.shopee!, `${hook('shopee')}|${body}`, 'hex') },
          'shopee push (starts the intake workflow)',
        );
      } else if (kind === 2) {
        // A TikTok notice the OMS does not act on (package update): acknowledged.
        await send(
          'tiktok',
          tiktokNotice,
          { Authorization: hmac(DEV_CHANNEL_SECRETS.tiktok!, `${DEV_CHANNEL_ACCOUNT_TIKTOK}${tiktokNotice}`, 'hex') },
          'tiktok notice (acknowledged, nothing started)',
        );
      } else {
        // Shopify redelivers an earlier webhook (same id): a duplicate.
        const d = shopifyDeliveries[randomInt(shopifyDeliveries.length)]!;
        await send(
          'shopify',
          d.body,
          {
            'X-Shopify-Hmac-Sha256': hmac(DEV_CHANNEL_SECRETS.shopify!, d.body, 'base64'),
            'X-Shopify-Topic': 'orders/create',
            'X-Shopify-Webhook-Id': d.id,
          },
          'shopify redelivery (duplicate)',
        );
      }
    };
    const saturating = Promise.all(Array.from({ length: ORDERS }, () => post(order())));
    const busyHealth = atFixedRate(WEBHOOK_RATE, SECONDS, async () => {
      await (await fetch(`${stack.apiUrl}/healthz`)).text();
    });
    const hooks = await atFixedRate(WEBHOOK_RATE, SECONDS, webhook);
    const healthBusy = await busyHealth;
    await saturating;
    say(
      `   answered p50 ${ms(pct(hooks, 50))}  p99 ${ms(pct(hooks, 99))}  max ${ms(Math.max(...hooks))}; GET /healthz meanwhile p50 ${ms(pct(healthBusy, 50))}  p99 ${ms(pct(healthBusy, 99))}`,
    );
    say(
      `   → webhook p99 is ${(pct(hooks, 99) / pct(healthBusy, 99)).toFixed(1)}× the /healthz p99 of the same seconds; answers: ${Object.entries(
        codes,
      )
        .sort()
        .map(([k, v]) => `${k} ×${v}`)
        .join(', ')}`,
    );
    for (const [kind, xs] of Object.entries(byKind).sort()) say(`     ${kind}: p50 ${ms(pct(xs, 50))}  p99 ${ms(pct(xs, 99))}`);
    const failed = Object.entries(codes).filter(([k]) => !/ 20[02]$/.test(k));
    if (failed.length) say(`   NOT 2xx: ${failed.map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  }
  if (want(5)) await costPerOrder(post, order);

  if (want(6)) {
    // 6) Intake with the Temporal server stopped: answered from PostgreSQL alone; started once it is back.
    say(`\n6) intake with the Temporal server stopped for ${OUTAGE_SECONDS}s: POST /v1/orders at ${RATE}/s, GET /healthz alongside`);
    await temporal.stop();
    const outIds: string[] = [];
    const [outIntake, outHealth] = await Promise.all([
      atFixedRate(RATE, OUTAGE_SECONDS, async () => {
        outIds.push(await post(order()));
      }),
      atFixedRate(RATE, OUTAGE_SECONDS, async () => {
        await (await fetch(`${stack.apiUrl}/healthz`)).text();
      }),
    ]);
    const [backlog] = await stack.sql<{ n: number }[]>`select count(*)::int as n from workflow_starts`;
    say(
      `   ${outIds.length} orders answered 201 (every one: anything else stops the bench): p50 ${ms(pct(outIntake, 50))}  p99 ${ms(pct(outIntake, 99))}  max ${ms(Math.max(...outIntake))}; /healthz meanwhile p50 ${ms(pct(outHealth, 50))}  p99 ${ms(pct(outHealth, 99))}`,
    );
    say(
      `   → intake p99 is ${(pct(outIntake, 99) / pct(outHealth, 99)).toFixed(1)}× the /healthz p99; ${backlog?.n ?? 0} workflow starts waiting in PostgreSQL`,
    );
    // In memory, the server comes back empty (as a rebuilt cluster would): the starts are in PostgreSQL.
    const backAt = performance.now();
    temporal = await startTemporal();
    const outSeconds = await drain(outIds, backAt);
    say(
      `   all ${outIds.length} DELIVERED ${outSeconds.toFixed(1)}s after the server was started again → ${(outIds.length / outSeconds).toFixed(1)} orders/s; relay: ${stack.starts.counts.started} started, ${stack.starts.counts.alreadyStarted} found already started, ${stack.starts.counts.failed} attempts failed and retried`,
    );
  }
  if (baseline) {
    const base = figuresFrom(baseline.lines);
    base.burstCpuMs ??= baseline.burstCpuMs;
    for (const l of compareFigures(baseline.commit, base, figuresFrom(printed))) say(l);
  }
} finally {
  await stack.stop();
  await temporal.stop();
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
