/**
 * `npm run bench:reports`: the KPI summary (GET /v1/reports/summary's query, through the same
 * ReportsRepo) over a projection of 1,000,000 orders in a fresh embedded PostgreSQL.
 *
 * The load writes the projection in bulk with generate_series: orders over the last 365 days with a
 * realistic heap (canonical order + workflow detail as jsonb), one shipment per order that left the
 * warehouse, and the report columns the triggers would have stamped (triggers are off while loading:
 * this measures the read). Then VACUUM ANALYZE, as autovacuum would, and per query shape:
 * median / p95 over BENCH_RUNS runs, the EXPLAIN proof that the report indexes are used, and in the
 * same run two baselines: a plain count(*) of the window and the same summary without those indexes.
 * Last, what 0004's triggers and indexes add to a projection write (OrdersRepo.applyStatus).
 *   BENCH_ORDERS=1000000 BENCH_RUNS=15 npm run bench:reports
 */
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createSql, type Sql } from '../db/client';
import { migrate } from '../db/migrate';
import { OrdersRepo } from '../db/orders-repo';
import { ReportsRepo, type ReportFilter } from '../db/reports-repo';
import { freePort, startEmbeddedPostgres } from '../lib/dev-services';
import { benchDir, sweepStaleBenchDirs } from './bench-dirs';
import { machineLine, ms, pct } from './measure';

const ORDERS = Number(process.env.BENCH_ORDERS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const WRITES = Number(process.env.BENCH_WRITES ?? 500);
const say = (l: string) => process.stdout.write(`${l}\n`);

/** Other work on the machine skews every figure: say how busy it was. */
const load = () =>
  `load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ')} (1 / 5 / 15 min)`;

async function timed(runs: number, fn: () => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < 2; i++) await fn(); // warm caches and the prepared statement
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return { p50: pct(xs, 50), p95: pct(xs, 95) };
}

/** Bulk projection: every column the report reads, plus jsonb of the size real orders carry. */
async function loadProjection(sql: Sql, n: number): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`; // no triggers: the stamps are written here
    await tx`select setseed(0.42)`;
    await tx`
      insert into orders (order_id, channel, channel_order_id, customer_id, status, seq, escalation_level, max_escalation_level, currency, total,
        payment_method, placed_at, created_at, updated_at, canonical, detail, handed_over_at, delivered_at, cancelled_at, return_requested_at,
        cod_remitted_at, cod_remitted_amount)
      select 'order-' || ch || '-B' || i, ch, 'B' || i, 'cust-' || (i % 150000), st, 8, 0, esc, 'VND', total,
        pm, created - interval '2 minutes', created, coalesce(delivered, handed, created),
        jsonb_build_object('channel', ch, 'channelOrderId', 'B' || i, 'currency', 'VND',
          'customer', jsonb_build_object('id', 'cust-' || (i % 150000), 'name', 'Nguyễn Văn An ' || i, 'email', 'customer' || i || '@example.vn', 'phone', '09' || lpad((i % 100000000)::text, 8, '0')),
          'shippingAddress', jsonb_build_object('name', 'Nguyễn Văn An', 'line1', (i % 500) || ' Lê Lợi', 'ward', 'Bến Nghé', 'district', 'Quận 1', 'city', 'Hồ Chí Minh', 'country', 'VN'),
          'lines', jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (i % 800), 'quantity', 1, 'unitPrice', '149000.00'),
                                     jsonb_build_object('sku', 'SKU-' || (i % 613), 'quantity', 2, 'unitPrice', '185000.00')),
          'payment', jsonb_build_object('method', pm), 'placedAt', created),
        jsonb_build_object('total', total::text, 'reasons', '[]'::jsonb, 'payment', jsonb_build_object('method', pm, 'captures', '[]'::jsonb),
          'shipments', case when handed is null then '[]'::jsonb else jsonb_build_array(jsonb_build_object('shipmentId', 'order-' || ch || '-B' || i || '-shipment-1',
            'warehouseId', 'WH-HCM', 'status', case when delivered is null then 'in_transit' else 'delivered' end, 'carrier', carrier, 'needsAttention', false)) end,
          'allocations', jsonb_build_array(jsonb_build_object('lineNo', 1, 'sku', 'SKU-' || (i % 800), 'quantity', 1, 'warehouseId', 'WH-HCM')),
          'waitingFor', null),
        handed, delivered, cancelled, returned,
        case when remitted then delivered + interval '7 days' end, case when remitted then total end
      from (
        select i, ch, pm, created, esc, total, carrier,
          case when u < 0.04 then 'REJECTED' when u < 0.10 then 'CANCELLED' when u < 0.13 then 'FULFILLING' when u < 0.16 then 'SHIPPED'
               when u < 0.17 then 'RETURN_REQUESTED' when u < 0.18 then 'REFUNDED'
               when created > now() - interval '7 days' then 'DELIVERED' else 'COMPLETED' end as st,
          case when u >= 0.13 then created + interval '2 hours' + a * interval '46 hours' end as handed,
          case when u >= 0.16 then created + interval '2 hours' + a * interval '46 hours' + interval '12 hours' + b * interval '96 hours' end as delivered,
          case when u >= 0.04 and u < 0.10 then created + a * interval '12 hours' end as cancelled,
          case when u >= 0.16 and u < 0.18 then created + interval '10 days' end as returned,
          u >= 0.16 and pm = 'cod' and created < now() - interval '20 days' and c < 0.9 as remitted
        from (
          select i, u, a, b, c,
            (array['web', 'pos', 'shopify', 'shopee', 'lazada', 'tiktok'])[1 + (i % 6)] as ch,
            case when c2 < 0.4 then 'cod' else 'prepaid' end as pm,
            case when c3 < 0.01 then 2 when c3 < 0.04 then 1 else 0 end as esc,
            (array['ghn', 'vtp', 'ninjavan'])[1 + (i % 3)] as carrier,
            round((149000 + 370000 * a)::numeric, 2) as total,
            now() - interval '365 days' + (i::float8 / ${n}) * interval '365 days' as created
          from (select i, random() u, random() a, random() b, random() c, random() c2, random() c3 from generate_series(1, ${n}) i) r
        ) g
      ) o`;
    await tx`
      insert into shipments (shipment_id, order_id, warehouse_id, carrier, booking_id, tracking_number, status, status_rank, updated_at,
        deliver_by, handed_over_at, delivered_at, order_created_at, order_channel)
      select o.order_id || '-shipment-1', o.order_id, 'WH-HCM', (array['ghn', 'vtp', 'ninjavan'])[1 + (hashtext(o.order_id) & 1023) % 3],
        'BK' || o.channel_order_id, 'TN' || o.channel_order_id, case when o.delivered_at is null then 'in_transit' else 'delivered' end,
        case when o.delivered_at is null then 5 else 8 end, coalesce(o.delivered_at, o.handed_over_at),
        case when (hashtext(o.order_id) & 1023) % 10 <> 0 then o.created_at + interval '4 days' end, o.handed_over_at, o.delivered_at, o.created_at, o.channel
      from orders o where o.handed_over_at is not null`;
    await tx`update orders o set delivered_late = true from shipments s where s.order_id = o.order_id and s.delivered_at > s.deliver_by`;
  });
}

/**
 * What 0004 adds to each projection write, measured in a database of its own so the indexes can be
 * dropped and recreated between rounds in no time.
 */
async function writePathOverhead(url: string): Promise<{ with: number; without: number; stamped: boolean; rounds: number }> {
  const admin = createSql(url, { max: 1 });
  await admin`create database oms_bench_writes`;
  await admin.end();
  const u = new URL(url);
  u.pathname = '/oms_bench_writes';
  const db = createSql(u.toString(), { max: 1 });
  try {
    await migrate(db);
    const orders = new OrdersRepo(db);
    let next = 0;
    const round = async () => {
      const ids = Array.from({ length: WRITES }, () => `bench-w-${next++}`);
      await db`insert into orders (order_id, channel, channel_order_id, customer_id, status, currency, total, payment_method, placed_at, canonical)
        select id, 'web', id, 'c', 'RECEIVED', 'VND', 100000, 'cod', now(), '{}'::jsonb from unnest(${ids}::text[]) id`;
      const steps = [
        ['ALLOCATED', 'booked'],
        ['FULFILLING', 'booked'],
        ['SHIPPED', 'picked_up'],
        ['SHIPPED', 'in_transit'],
        ['DELIVERED', 'delivered'],
        ['COMPLETED', 'delivered'],
      ] as const;
      const t0 = performance.now();
      for (const id of ids) {
        await orders.upsertShipment({
          shipmentId: `${id}-s1`,
          orderId: id,
          warehouseId: 'WH-HCM',
          carrier: 'ghn',
          bookingId: `${id}-b`,
          status: 'booked',
          statusRank: 3,
        });
        for (const [k, [status, shipment]] of steps.entries()) {
          await orders.applyStatus({
            orderId: id,
            seq: k + 1,
            status,
            needsAttention: false,
            attentionReason: null,
            escalationLevel: 0,
            detail: { shipments: [{ shipmentId: `${id}-s1`, status: shipment }] },
            event: status,
            eventDetail: {},
            actor: 'bench',
            at: new Date().toISOString(),
          });
        }
      }
      return { perWrite: (performance.now() - t0) / (ids.length * steps.length), ids };
    };
    const triggers = {
      orders: ['orders_report_moments', 'orders_stamp_shipments'],
      shipments: ['shipments_delivered_late_ins', 'shipments_delivered_late_upd', 'shipments_order_keys'],
    };
    const indexes = await db<
      { def: string; name: string }[]
    >`select indexdef as def, indexname as name from pg_indexes where indexname in ('orders_report_idx', 'shipments_report_idx')`;
    let current = true;
    const use0004 = async (on: boolean) => {
      if (on === current) return;
      current = on;
      for (const [table, names] of Object.entries(triggers))
        for (const tr of names) await db.unsafe(`alter table ${table} ${on ? 'enable' : 'disable'} trigger ${tr}`);
      for (const i of indexes) await db.unsafe(on ? i.def : `drop index ${i.name}`);
    };
    await round(); // warm-up
    const withs: number[] = [];
    const withouts: number[] = [];
    let stamped = true;
    const rounds = 6;
    await use0004(false);
    for (let r = 0; r < rounds; r++) {
      for (const on of r % 2 ? [true, false] : [false, true]) {
        await use0004(on);
        const res = await round();
        (on ? withs : withouts).push(res.perWrite);
        if (on) {
          const [row] = await db<{ n: number }[]>`select count(*)::int as n from orders o join shipments s using (order_id)
            where o.order_id = any(${res.ids}) and o.handed_over_at is not null and o.delivered_at is not null and s.handed_over_at is not null and s.delivered_at is not null`;
          stamped &&= row!.n === res.ids.length;
        }
      }
    }
    return { with: pct(withs, 50), without: pct(withouts, 50), stamped, rounds };
  } finally {
    await db.end({ timeout: 5 });
  }
}

sweepStaleBenchDirs(say);
const dir = benchDir('reports-');
say(`machine: ${machineLine()}`);
const pg = await freePort().then((port) =>
  startEmbeddedPostgres({ dir: join(dir, 'pg'), port, database: 'oms_bench_reports', fsync: false }),
);
const sql = createSql(pg.url, { max: 1 });
try {
  await migrate(sql);
  const [settings] = await sql<{ v: string; sb: string; wm: string; jit: string }[]>`select current_setting('server_version') as v,
    current_setting('shared_buffers') as sb, current_setting('work_mem') as wm, current_setting('jit') as jit`;
  say(`PostgreSQL ${settings!.v} (embedded, defaults: shared_buffers ${settings!.sb}, work_mem ${settings!.wm}, jit ${settings!.jit})`);

  say(`\nloading ${ORDERS.toLocaleString('en')} orders (last 365 days) + shipments with generate_series...`);
  let t = performance.now();
  await loadProjection(sql, ORDERS);
  const loadS = (performance.now() - t) / 1000;
  t = performance.now();
  await sql`vacuum (analyze) orders`;
  await sql`vacuum (analyze) shipments`;
  const [sizes] = await sql<{ orders: number; shipments: number; heap: string; idx: string; sidx: string }[]>`
    select (select count(*)::int from orders) as orders, (select count(*)::int from shipments) as shipments,
      pg_size_pretty(pg_table_size('orders')) as heap, pg_size_pretty(pg_relation_size('orders_report_idx')) as idx,
      pg_size_pretty(pg_relation_size('shipments_report_idx')) as sidx`;
  say(
    `   ${sizes!.orders.toLocaleString('en')} orders, ${sizes!.shipments.toLocaleString('en')} shipments in ${loadS.toFixed(1)} s; VACUUM ANALYZE ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  say(`   orders heap ${sizes!.heap}; orders_report_idx ${sizes!.idx}; shipments_report_idx ${sizes!.sidx}`);

  const reports = new ReportsRepo(sql);
  const now = Date.now();
  const day = 86_400_000;
  const shapes: { name: string; f: ReportFilter }[] = [
    { name: '30 days, all channels', f: { from: new Date(now - 30 * day).toISOString(), to: new Date(now).toISOString() } },
    {
      name: '30 days, channel shopee',
      f: { from: new Date(now - 30 * day).toISOString(), to: new Date(now).toISOString(), channel: 'shopee' },
    },
    {
      name: 'full range (365 days), all channels',
      f: { from: new Date(now - 400 * day).toISOString(), to: new Date(now + day).toISOString() },
    },
    {
      name: 'full range, channel shopee',
      f: { from: new Date(now - 400 * day).toISOString(), to: new Date(now + day).toISOString(), channel: 'shopee' },
    },
  ];
  const countWindow = (f: ReportFilter) => sql`select count(*) from orders where created_at >= ${f.from} and created_at < ${f.to}
    ${f.channel ? sql`and channel = ${f.channel}` : sql``}`;

  say(`\n1) summary query (ReportsRepo.summary), ${RUNS} runs after 2 warm-ups, median / p95; ${load()}`);
  const results: Record<string, { p50: number; p95: number }> = {};
  for (const { name, f } of shapes) {
    const s = await reports.summary(f);
    const r = await timed(RUNS, () => reports.summary(f));
    const c = await timed(RUNS, () => countWindow(f));
    results[name] = r;
    say(
      `   ${name}: ${s.orders.total.toLocaleString('en')} orders → ${ms(r.p50)} / ${ms(r.p95)}   (baseline count(*) of the window: ${ms(c.p50)} / ${ms(c.p95)} → summary = ${(r.p50 / c.p50).toFixed(1)}× a plain count)`,
    );
  }
  const sample = await reports.summary(shapes[0]!.f);
  say(
    `   sample (30 days): handover median ${(sample.intakeToHandover.medianSeconds! / 3600).toFixed(1)} h, delivery p90 ${(sample.intakeToDelivery.p90Seconds! / 3600).toFixed(1)} h, ` +
      `SLA breach ${(sample.slaBreachRate.rate! * 100).toFixed(1)}%, cancel ${(sample.cancelRate.rate! * 100).toFixed(1)}%, return ${(sample.returnRate.rate! * 100).toFixed(1)}%, ` +
      `carriers ${sample.carrierOnTime.map((c) => `${c.carrier} ${(c.rate! * 100).toFixed(1)}%`).join(', ')}, COD outstanding ${sample.codOutstanding.map((c) => `${c.orders} orders / ${c.amount} ${c.currency}`).join(', ')}`,
  );

  say(`   ${load()}`);
  say('\n2) EXPLAIN ANALYZE (30 days, all channels): the scans');
  const plan = await reports.explainSummary(shapes[0]!.f);
  for (const line of plan)
    if (process.env.BENCH_VERBOSE || /Scan|Heap Fetches|Execution Time|JIT|Sort Method/.test(line)) say(`   ${line.trim()}`);
  const uses = (idx: string) => plan.some((l) => l.includes(`Index Only Scan using ${idx}`));
  if (!uses('orders_report_idx') || !uses('shipments_report_idx'))
    throw new Error('the summary did not use the report indexes (index-only): see the plan above');
  if (plan.some((l) => /Seq Scan on (orders|shipments)/.test(l))) throw new Error('the summary scanned a whole table');
  say('   → index-only scans of orders_report_idx and shipments_report_idx; no sequential scan');

  say('\n3) baseline: the same summary without the report indexes (dropped, measured, created again)');
  const baseRuns = Math.max(3, Math.ceil(RUNS / 3));
  const reportIndexes = await sql<{ name: string; def: string }[]>`
    select indexname as name, indexdef as def from pg_indexes where indexname in ('orders_report_idx', 'shipments_report_idx')`;
  for (const i of reportIndexes) await sql.unsafe(`drop index ${i.name}`);
  for (const { name, f } of [shapes[0]!, shapes[2]!]) {
    const r = await timed(baseRuns, () => reports.summary(f));
    say(
      `   ${name}: ${ms(r.p50)} / ${ms(r.p95)} (${baseRuns} runs) → the indexes make it ${(r.p50 / results[name]!.p50).toFixed(1)}× faster`,
    );
  }
  t = performance.now();
  for (const i of reportIndexes) await sql.unsafe(i.def);
  say(`   (created again in ${((performance.now() - t) / 1000).toFixed(1)} s)`);

  say('\n4) the last 30 days just rewritten (every order updated once, visibility map not yet reset by vacuum)');
  await sql`alter table orders set (autovacuum_enabled = false)`;
  await sql`update orders set updated_at = updated_at + interval '1 second' where created_at >= ${shapes[0]!.f.from}`;
  const churn = await timed(RUNS, () => reports.summary(shapes[0]!.f));
  const churnPlan = await reports.explainSummary(shapes[0]!.f);
  const fetches = churnPlan
    .filter((l) => l.includes('Heap Fetches'))
    .map((l) => l.trim())
    .join('; ');
  say(`   30 days, all channels: ${ms(churn.p50)} / ${ms(churn.p95)} (${fetches}); autovacuum restores the fresh figure`);
  await sql`vacuum orders`;
  await sql`alter table orders reset (autovacuum_enabled)`;

  say(`\n5) write path: orders × 6 status writes through OrdersRepo.applyStatus, one connection, in a fresh database;`);
  say(
    `   rounds of ${WRITES} orders alternate between the projection with 0004's triggers and indexes and the one without (as before 0004)`,
  );
  const wp = await writePathOverhead(pg.url);
  say(
    `   with: ${ms(wp.with)} per write (every order fully stamped: ${wp.stamped ? 'yes' : 'NO'}); without: ${ms(wp.without)} (medians of ${wp.rounds} rounds each) → ${wp.with >= wp.without ? '+' : '−'}${ms(Math.abs(wp.with - wp.without))} (${(wp.with / wp.without).toFixed(2)}×)`,
  );
} finally {
  await sql.end({ timeout: 5 });
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
