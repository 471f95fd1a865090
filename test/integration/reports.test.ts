/**
 * GET /v1/reports/summary: known orders written into the projection through the real repository
 * (OrdersRepo.applyStatus / upsertShipment, the same writes the workflow activities make) give
 * each KPI an exact expected value; one COD order driven to DELIVERED through the real stack
 * (Temporal, worker, sandbox carrier) proves the triggers see real events. Plus 400 / 401 / 403.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrdersRepo } from '../../db/orders-repo';
import { eventually, makeOrder, one, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
let repo: OrdersRepo;

const H = 3_600_000;
// The seeded window, far from the orders the real stack creates today.
const FROM = '2021-03-01T00:00:00.000Z';
const TO = '2021-03-08T00:00:00.000Z';
const plus = (iso: string, hours: number) => new Date(Date.parse(iso) + hours * H).toISOString();

interface Summary {
  from: string;
  to: string;
  channel: string | null;
  orders: {
    total: number;
    byStatus: Record<string, number>;
    byChannel: Record<string, { total: number; byStatus: Record<string, number> }>;
  };
  intakeToHandover: { orders: number; medianSeconds: number | null; p90Seconds: number | null };
  intakeToDelivery: { orders: number; medianSeconds: number | null; p90Seconds: number | null };
  slaBreachRate: { count: number; of: number; rate: number | null };
  cancelRate: { count: number; of: number; rate: number | null };
  returnRate: { count: number; of: number; rate: number | null };
  carrierOnTime: { carrier: string; delivered: number; measured: number; onTime: number; rate: number | null }[];
  codOutstanding: { currency: string; orders: number; amount: string }[];
}

const report = async (query: string, key: string = TEST_KEYS.ops) => stack.api(`/v1/reports/summary${query}`, { key });
const summary = async (query: string): Promise<Summary> => {
  const res = await report(query);
  expect(res.status).toBe(200);
  return (await res.json()) as Summary;
};
const seeded = (channel?: string) => summary(`?from=${FROM}&to=${TO}${channel ? `&channel=${channel}` : ''}`);

/** A step of a seeded order: status at `h` hours after intake, the shipments' statuses it reports. */
interface Step {
  status: string;
  h: number;
  ships?: Record<string, string>;
  escalation?: number;
}
interface Seed {
  id: string;
  channel: string;
  created: string;
  cod?: boolean;
  total?: string;
  shipments?: { id: string; carrier: string; deliverByH?: number }[];
  steps: Step[];
  remitted?: string;
}

/** Writes an order the way the workflow does: intake row, bookings, then one applyStatus per step. */
async function seed(o: Seed): Promise<void> {
  const sql = stack.db.sql;
  await sql`insert into orders (order_id, channel, channel_order_id, customer_id, status, currency, total, payment_method, placed_at, created_at, canonical)
            values (${o.id}, ${o.channel}, ${o.id}, 'cust-report', 'RECEIVED', 'VND', ${o.total ?? '100000.00'}, ${o.cod ? 'cod' : 'prepaid'},
                    ${o.created}, ${o.created}, '{}'::jsonb)`;
  const ships: Record<string, string> = {};
  for (const s of o.shipments ?? []) {
    await repo.upsertShipment({
      shipmentId: s.id,
      orderId: o.id,
      warehouseId: 'WH-HCM',
      carrier: s.carrier,
      bookingId: `bk-${s.id}`,
      status: 'booked',
      statusRank: 3,
    });
    if (s.deliverByH !== undefined)
      await sql`update shipments set deliver_by = ${plus(o.created, s.deliverByH)} where shipment_id = ${s.id}`;
    ships[s.id] = 'booked';
  }
  for (const [i, step] of o.steps.entries()) {
    Object.assign(ships, step.ships ?? {});
    const { applied } = await repo.applyStatus({
      orderId: o.id,
      seq: i + 1,
      status: step.status,
      needsAttention: false,
      attentionReason: null,
      escalationLevel: step.escalation ?? 0,
      detail: { shipments: Object.entries(ships).map(([shipmentId, status]) => ({ shipmentId, status })) },
      event: `seeded ${step.status}`,
      eventDetail: {},
      actor: 'test',
      at: plus(o.created, step.h),
    });
    expect(applied).toBe(true);
  }
  if (o.remitted)
    await sql`update orders set cod_remitted_amount = ${o.remitted}, cod_remitted_at = ${plus(o.created, 200)} where order_id = ${o.id}`;
}

const c = (k: number) => plus(FROM, k); // intake times inside the window
const SEEDS: Seed[] = [
  // On time (26 h ≤ 48 h); created exactly at `from` (inclusive).
  {
    id: 'r-o1',
    channel: 'web',
    created: c(0),
    shipments: [{ id: 'r-s1', carrier: 'ghn', deliverByH: 48 }],
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'FULFILLING', h: 0.5 },
      { status: 'SHIPPED', h: 2, ships: { 'r-s1': 'picked_up' } },
      { status: 'DELIVERED', h: 26, ships: { 'r-s1': 'delivered' } },
    ],
  },
  // Delivered late (52 h > 48 h): an SLA breach; COD never remitted.
  {
    id: 'r-o2',
    channel: 'web',
    created: c(1),
    cod: true,
    total: '300000.00',
    shipments: [{ id: 'r-s2', carrier: 'ghn', deliverByH: 48 }],
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'FULFILLING', h: 0.5 },
      { status: 'SHIPPED', h: 4, ships: { 'r-s2': 'picked_up' } },
      { status: 'DELIVERED', h: 52, ships: { 'r-s2': 'delivered' } },
    ],
  },
  // Delivered exactly at its deliver_by: on time; COD fully remitted.
  {
    id: 'r-o3',
    channel: 'web',
    created: c(2),
    cod: true,
    total: '150000.50',
    remitted: '150000.50',
    shipments: [{ id: 'r-s3', carrier: 'ghn', deliverByH: 30 }],
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'FULFILLING', h: 0.5 },
      { status: 'SHIPPED', h: 6, ships: { 'r-s3': 'picked_up' } },
      { status: 'DELIVERED', h: 30, ships: { 'r-s3': 'delivered' } },
    ],
  },
  // No promise (not measured for on-time); COD partly remitted: 150000.00 outstanding.
  {
    id: 'r-o4',
    channel: 'shopee',
    created: c(3),
    cod: true,
    total: '200000.00',
    remitted: '50000.00',
    shipments: [{ id: 'r-s4', carrier: 'vtp' }],
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'FULFILLING', h: 0.5 },
      { status: 'SHIPPED', h: 8, ships: { 'r-s4': 'picked_up' } },
      { status: 'DELIVERED', h: 40, ships: { 'r-s4': 'delivered' } },
    ],
  },
  // Late (34 h > 30 h), then a return.
  {
    id: 'r-o5',
    channel: 'shopee',
    created: c(4),
    shipments: [{ id: 'r-s5', carrier: 'vtp', deliverByH: 30 }],
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'FULFILLING', h: 0.5 },
      { status: 'SHIPPED', h: 10, ships: { 'r-s5': 'picked_up' } },
      { status: 'DELIVERED', h: 34, ships: { 'r-s5': 'delivered' } },
      { status: 'RETURN_REQUESTED', h: 50 },
    ],
  },
  {
    id: 'r-o6',
    channel: 'web',
    created: c(5),
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'CANCELLING', h: 0.5 },
      { status: 'CANCELLED', h: 1 },
    ],
  },
  // Escalated to level 2, then cleared: still a breach ("ever escalated").
  {
    id: 'r-o7',
    channel: 'shopee',
    created: c(6),
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'FULFILLING', h: 1 },
      { status: 'FULFILLING', h: 30, escalation: 2 },
      { status: 'FULFILLING', h: 40 },
    ],
  },
  {
    id: 'r-o8',
    channel: 'web',
    created: c(7),
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'REJECTED', h: 0.1 },
    ],
  },
  // With the carrier, not delivered: counts for handover only; its COD is not outstanding yet.
  {
    id: 'r-o9',
    channel: 'shopee',
    created: c(8),
    cod: true,
    shipments: [{ id: 'r-s9', carrier: 'ghn', deliverByH: 48 }],
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'FULFILLING', h: 0.5 },
      { status: 'SHIPPED', h: 12, ships: { 'r-s9': 'picked_up' } },
    ],
  },
  // Two shipments: handover when the second leaves (5 h, not the first at 3 h); delivered when the
  // second arrives (44 h); DELIVERED recorded again when the return window opens moves nothing.
  {
    id: 'r-o10',
    channel: 'web',
    created: c(9),
    shipments: [
      { id: 'r-s10a', carrier: 'ghn', deliverByH: 48 },
      { id: 'r-s10b', carrier: 'ghn', deliverByH: 48 },
    ],
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'FULFILLING', h: 0.5 },
      { status: 'PARTIALLY_SHIPPED', h: 3, ships: { 'r-s10a': 'picked_up' } },
      { status: 'SHIPPED', h: 5, ships: { 'r-s10b': 'picked_up' } },
      { status: 'SHIPPED', h: 20, ships: { 'r-s10a': 'delivered', 'r-s10b': 'in_transit' } },
      { status: 'DELIVERED', h: 44, ships: { 'r-s10b': 'delivered' } },
      { status: 'DELIVERED', h: 50 },
      { status: 'COMPLETED', h: 200 },
    ],
  },
  // Outside the window: created exactly at `to` (exclusive), and just before `from`.
  {
    id: 'r-o11',
    channel: 'web',
    created: TO,
    cod: true,
    shipments: [{ id: 'r-s11', carrier: 'ghn', deliverByH: 1 }],
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'SHIPPED', h: 1, ships: { 'r-s11': 'picked_up' } },
      { status: 'DELIVERED', h: 2, ships: { 'r-s11': 'delivered' } },
    ],
  },
  {
    id: 'r-o12',
    channel: 'web',
    created: new Date(Date.parse(FROM) - 1).toISOString(),
    steps: [
      { status: 'RECEIVED', h: 0 },
      { status: 'CANCELLED', h: 1, escalation: 1 },
    ],
  },
];

let realOrderId: string;
let testStart: string;

beforeAll(async () => {
  testStart = new Date(Date.now() - 60_000).toISOString();
  stack = await startTestStack({ sandboxOptions: { autoProgress: { enabled: true, stepMs: 100 } } });
  repo = new OrdersRepo(stack.db.sql);
  await seedNetwork(stack.db.sql, { 'SKU-A': { 'WH-HCM': 100 } });
  const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder({ payment: { method: 'cod' } }) });
  expect(res.status).toBe(201);
  realOrderId = ((await res.json()) as { orderId: string }).orderId;
  for (const o of SEEDS) await seed(o);
});
afterAll(async () => {
  await stack?.close();
});

describe('KPIs over seeded orders', () => {
  it('counts orders by status and by channel, [from, to) over the time they were received', async () => {
    const s = await seeded();
    expect(s).toMatchObject({ from: FROM, to: TO, channel: null });
    expect(s.orders).toEqual({
      total: 10,
      byStatus: { DELIVERED: 4, RETURN_REQUESTED: 1, CANCELLED: 1, FULFILLING: 1, REJECTED: 1, SHIPPED: 1, COMPLETED: 1 },
      byChannel: {
        web: { total: 6, byStatus: { DELIVERED: 3, CANCELLED: 1, REJECTED: 1, COMPLETED: 1 } },
        shopee: { total: 4, byStatus: { DELIVERED: 1, RETURN_REQUESTED: 1, FULFILLING: 1, SHIPPED: 1 } },
      },
    });
  });

  it('gives the median and p90 (interpolated) from intake to handover and to delivery', async () => {
    const s = await seeded();
    // Handover after 2, 4, 5, 6, 8, 10, 12 h; delivery after 26, 30, 34, 40, 44, 52 h.
    expect(s.intakeToHandover).toEqual({ orders: 7, medianSeconds: 6 * 3600, p90Seconds: 10.8 * 3600 });
    expect(s.intakeToDelivery).toEqual({ orders: 6, medianSeconds: 37 * 3600, p90Seconds: 48 * 3600 });
  });

  it('gives the SLA breach, cancel and return rates with what they count', async () => {
    const s = await seeded();
    expect(s.slaBreachRate).toEqual({ count: 3, of: 10, rate: 0.3 }); // r-o2 and r-o5 late, r-o7 escalated
    expect(s.cancelRate).toEqual({ count: 1, of: 10, rate: 0.1 });
    expect(s.returnRate).toEqual({ count: 1, of: 6, rate: 1 / 6 });
  });

  it("gives each carrier's on-time rate over the delivered shipments that had a promise", async () => {
    const s = await seeded();
    expect(s.carrierOnTime).toEqual([
      { carrier: 'ghn', delivered: 5, measured: 5, onTime: 4, rate: 0.8 },
      { carrier: 'vtp', delivered: 2, measured: 1, onTime: 0, rate: 0 },
    ]);
  });

  it('gives the COD collected but not remitted, per currency', async () => {
    const s = await seeded();
    expect(s.codOutstanding).toEqual([{ currency: 'VND', orders: 2, amount: '450000.00' }]);
  });

  it('filters every figure by channel', async () => {
    const s = await seeded('shopee');
    expect(s.channel).toBe('shopee');
    const byStatus = { DELIVERED: 1, RETURN_REQUESTED: 1, FULFILLING: 1, SHIPPED: 1 };
    expect(s.orders).toEqual({ total: 4, byStatus, byChannel: { shopee: { total: 4, byStatus } } });
    expect(s.intakeToHandover).toEqual({ orders: 3, medianSeconds: 10 * 3600, p90Seconds: 11.6 * 3600 });
    expect(s.intakeToDelivery).toEqual({ orders: 2, medianSeconds: 37 * 3600, p90Seconds: 39.4 * 3600 });
    expect(s.slaBreachRate).toEqual({ count: 2, of: 4, rate: 0.5 });
    expect(s.cancelRate).toEqual({ count: 0, of: 4, rate: 0 });
    expect(s.returnRate).toEqual({ count: 1, of: 2, rate: 0.5 });
    expect(s.carrierOnTime).toEqual([{ carrier: 'vtp', delivered: 2, measured: 1, onTime: 0, rate: 0 }]);
    expect(s.codOutstanding).toEqual([{ currency: 'VND', orders: 1, amount: '150000.00' }]);
  });

  it('answers an empty window with zeros and null rates', async () => {
    const s = await summary(`?from=${FROM}&to=${FROM}`);
    expect(s.orders).toEqual({ total: 0, byStatus: {}, byChannel: {} });
    expect(s.intakeToHandover).toEqual({ orders: 0, medianSeconds: null, p90Seconds: null });
    expect(s.slaBreachRate).toEqual({ count: 0, of: 0, rate: null });
    expect(s.carrierOnTime).toEqual([]);
    expect(s.codOutstanding).toEqual([]);
  });

  it('stamps each moment once, at the event time of the step that first reached it', async () => {
    const sql = stack.db.sql;
    const o10 = await one(sql<{ h: Date; d: Date }[]>`select handed_over_at as h, delivered_at as d from orders where order_id = 'r-o10'`);
    expect([o10.h.toISOString(), o10.d.toISOString()]).toEqual([plus(c(9), 5), plus(c(9), 44)]);
    const ships = await sql<
      { id: string; h: Date; d: Date }[]
    >`select shipment_id as id, handed_over_at as h, delivered_at as d from shipments where order_id = 'r-o10' order by 1`;
    expect(ships.map((s) => [s.id, s.h.toISOString(), s.d.toISOString()])).toEqual([
      ['r-s10a', plus(c(9), 3), plus(c(9), 20)],
      ['r-s10b', plus(c(9), 5), plus(c(9), 44)],
    ]);
    // A retried write of a step already stored (the same step under the same seq, a later clock) changes nothing.
    const stored = await one(sql<{ event: string }[]>`select event from order_timeline where order_id = 'r-o1' and seq = 4`);
    const { applied } = await repo.applyStatus({
      orderId: 'r-o1',
      seq: 4,
      status: 'DELIVERED',
      needsAttention: false,
      attentionReason: null,
      escalationLevel: 0,
      detail: { shipments: [{ shipmentId: 'r-s1', status: 'delivered' }] },
      event: stored.event,
      eventDetail: {},
      actor: 'test',
      at: plus(c(0), 100),
    });
    expect(applied).toBe(false);
    const o1 = await one(sql<{ d: Date }[]>`select delivered_at as d from orders where order_id = 'r-o1'`);
    expect(o1.d.toISOString()).toBe(plus(c(0), 26));
    const o7 = await one(
      sql<
        { level: number; max: number }[]
      >`select escalation_level as level, max_escalation_level as max from orders where order_id = 'r-o7'`,
    );
    expect(o7).toEqual({ level: 0, max: 2 });
  });

  it('re-judges lateness when a promise moves: a later deliver_by makes r-o2 on time', async () => {
    const sql = stack.db.sql;
    await sql`update shipments set deliver_by = ${plus(c(1), 60)} where shipment_id = 'r-s2'`;
    const moved = await seeded();
    expect(moved.slaBreachRate.count).toBe(2);
    expect(moved.carrierOnTime[0]).toEqual({ carrier: 'ghn', delivered: 5, measured: 5, onTime: 5, rate: 1 });
    await sql`update shipments set deliver_by = ${plus(c(1), 48)} where shipment_id = 'r-s2'`;
    expect((await seeded()).slaBreachRate.count).toBe(3);
  });
});

describe('an order through the real stack', () => {
  interface Moments {
    created: Date;
    handed: Date | null;
    delivered: Date | null;
    total: string;
  }
  const moments = (id: string) =>
    one(stack.db.sql<Moments[]>`
    select created_at as created, handed_over_at as handed, delivered_at as delivered, total::text as total from orders where order_id = ${id}`);

  it('is stamped from its real timeline and counted in the default window (the last 30 days)', async () => {
    await eventually(async () => (await moments(realOrderId)).delivered !== null, {
      timeoutMs: 45_000,
      what: 'the real order to be DELIVERED',
    });
    const sql = stack.db.sql;
    const m = await moments(realOrderId);
    const first = (statuses: string[]) =>
      one(sql<{ at: Date }[]>`select min(at) as at from order_timeline where order_id = ${realOrderId} and status = any(${statuses})`);
    expect(m.handed!.toISOString()).toBe((await first(['SHIPPED', 'DELIVERED'])).at.toISOString());
    expect(m.delivered!.toISOString()).toBe((await first(['DELIVERED'])).at.toISOString());
    const ship = await one(sql<{ carrier: string; h: Date; d: Date; created: Date; channel: string }[]>`
      select carrier, handed_over_at as h, delivered_at as d, order_created_at as created, order_channel as channel from shipments where order_id = ${realOrderId}`);
    // One shipment: the step that shows it delivered is the one that makes the order DELIVERED.
    expect([ship.h.toISOString(), ship.d.toISOString()]).toEqual([m.handed!.toISOString(), m.delivered!.toISOString()]);
    expect([ship.created.toISOString(), ship.channel]).toEqual([m.created.toISOString(), 'web']);

    const s = await summary('');
    expect(Date.parse(s.to) - Date.parse(s.from)).toBe(30 * 86_400_000);
    expect(s.orders).toEqual({ total: 1, byStatus: { DELIVERED: 1 }, byChannel: { web: { total: 1, byStatus: { DELIVERED: 1 } } } });
    const ms = (a: Date, b: Date) => Math.round(a.getTime() - b.getTime()) / 1000;
    // Timestamps are microseconds in PostgreSQL, milliseconds here: allow the rounding.
    expect(s.intakeToHandover.orders).toBe(1);
    expect(s.intakeToHandover.medianSeconds).toBeCloseTo(ms(m.handed!, m.created), 2);
    expect(s.intakeToDelivery.medianSeconds).toBeCloseTo(ms(m.delivered!, m.created), 2);
    expect(s.intakeToDelivery.medianSeconds!).toBeGreaterThan(s.intakeToHandover.medianSeconds!);
    expect(s.carrierOnTime).toEqual([{ carrier: ship.carrier, delivered: 1, measured: 0, onTime: 0, rate: null }]);
    expect(s.codOutstanding).toEqual([{ currency: 'VND', orders: 1, amount: m.total }]);
    expect(s.slaBreachRate).toEqual({ count: 0, of: 1, rate: 0 });
  });

  it('judges the real delivery against a promise set afterwards, and COD once remitted', async () => {
    const sql = stack.db.sql;
    const m = await moments(realOrderId);
    const window = `?from=${testStart}&channel=web`;
    await sql`update shipments set deliver_by = ${new Date(m.delivered!.getTime() + H).toISOString()} where order_id = ${realOrderId}`;
    let s = await summary(window);
    expect(s.carrierOnTime).toEqual([expect.objectContaining({ delivered: 1, measured: 1, onTime: 1, rate: 1 })]);
    expect(s.slaBreachRate.count).toBe(0);
    await sql`update shipments set deliver_by = ${new Date(m.delivered!.getTime() - 1000).toISOString()} where order_id = ${realOrderId}`;
    s = await summary(window);
    expect(s.carrierOnTime).toEqual([expect.objectContaining({ delivered: 1, measured: 1, onTime: 0, rate: 0 })]);
    expect(s.slaBreachRate).toEqual({ count: 1, of: 1, rate: 1 });
    await sql`update orders set cod_remitted_amount = total, cod_remitted_at = now() where order_id = ${realOrderId}`;
    expect((await summary(window)).codOutstanding).toEqual([]);
  });
});

describe('contract', () => {
  it('is in the OpenAPI document with its query, every response and the API key', async () => {
    const doc = (await (await stack.api('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { parameters: { name: string }[]; responses: Record<string, unknown>; security: unknown[] }>>;
    };
    const op = doc.paths['/v1/reports/summary']?.get;
    expect(op?.parameters.map((p) => p.name).sort()).toEqual(['channel', 'from', 'to']);
    expect(Object.keys(op?.responses ?? {}).sort()).toEqual(['200', '400', '401', '403']);
    expect(op?.security).toEqual([{ apiKey: [] }]);
  });
});

describe('refusals', () => {
  it('answers 401 without a key and 403 to every role but ops', async () => {
    expect((await stack.api('/v1/reports/summary')).status).toBe(401);
    for (const key of [TEST_KEYS.cs, TEST_KEYS.admin, TEST_KEYS.web, TEST_KEYS.carrier]) expect((await report('', key)).status).toBe(403);
  });

  it('answers 400 with the field for a window that ends before it starts, a bad time or an unknown channel', async () => {
    const cases: [string, string][] = [
      [`?from=${TO}&to=${FROM}`, 'from'],
      [`?from=${new Date(Date.now() + 86_400_000).toISOString()}`, 'from'], // after the default `to` (now)
      ['?from=2021-03-01', 'from'],
      ['?to=yesterday', 'to'],
      ['?channel=amazon', 'channel'],
    ];
    for (const [query, path] of cases) {
      const res = await report(query);
      expect(res.status, query).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      const body = (await res.json()) as { errors: { path: string }[] };
      expect(
        body.errors.map((e) => e.path),
        query,
      ).toContain(path);
    }
  });
});
