/**
 * Time: SLA escalation timers in the shipment workflow, with short configured durations. Each
 * level fires no earlier than deadline + grace (+ n steps), shows as the order's NeedsAttention /
 * EscalationLevel search attributes, notifies ops over HTTP, and clears when the parcel moves.
 * Also COD remittance (late and short-paid) and parcels returned to the sender (refund or reship).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanonicalOrder } from '../../domain/order';
import type { OrderSettings } from '../../domain/settings';
import { shipmentProgressSignal } from '../../workflows/messages';
import { eventually, makeOrder, one, seedNetwork, stockRow } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

interface Shipment {
  shipmentId: string;
  bookingId?: string;
  status: string;
  escalationLevel?: number;
  cod?: { due: string; remitted: string; settled: boolean };
  rts?: string;
}
interface OrderBody {
  status: string;
  needsAttention: boolean;
  attentionReason: string | null;
  escalationLevel: number;
  shipments: Shipment[];
  timeline: { status: string; event: string; actor: string }[];
}
interface Notice {
  kind: string;
  level: number;
  text: string;
  at: string;
  shipmentId: string;
}

/**
 * Deadlines per channel, so each test meets only the deadline it is about: a busy machine can take
 * seconds to book a parcel, and a deadline a test is not about must not fire in the meantime.
 * web: ship-by only (the promised date far away); shopify: deliver-by only; pos: neither.
 */
const SLA = {
  shipByMs: { default: 3000, shopify: 600_000, pos: 600_000 },
  deliverByMs: { default: 600_000, shopify: 6000, pos: 600_000 },
  graceMs: 1000,
  stepMs: 2000,
  codRemitByMs: 2000,
};
const KEY_OF = { web: TEST_KEYS.web, shopify: TEST_KEYS.shopify, pos: TEST_KEYS.pos } as const;

function helpers(get: () => TestStack) {
  const getOrder = async (id: string) => (await (await get().api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
  const waitFor = (id: string, pred: (o: OrderBody) => boolean, what: string, timeoutMs = 30_000) =>
    eventually(
      async () => {
        const o = await getOrder(id);
        return pred(o) ? o : undefined;
      },
      { what: `${id}: ${what}`, timeoutMs },
    );
  const sandbox = async (path: string, body?: unknown) => {
    const res = await fetch(
      get().sandboxUrl + path,
      body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
    );
    return res.json() as Promise<Record<string, unknown>>;
  };
  const submit = async (order: CanonicalOrder) => {
    const res = await get().api('/v1/orders', { method: 'POST', key: KEY_OF[order.channel as keyof typeof KEY_OF], json: order });
    expect(res.status).toBe(201);
    return ((await res.json()) as { orderId: string }).orderId;
  };
  const advance = (bookingId: string, status: string, extra: Record<string, unknown> = {}) =>
    sandbox(`/sandbox/carriers/${bookingId}/advance`, { status, ...extra });
  const notices = async (orderId: string) => (await sandbox(`/sandbox/ledger/notifications?orderId=${orderId}`)).messages as Notice[];
  const visible = async (query: string) => {
    const ids: string[] = [];
    for await (const w of get().client.workflow.list({ query })) ids.push(w.workflowId);
    return ids;
  };
  const payments = async (orderId: string) =>
    ((await sandbox(`/sandbox/ledger/payments?orderId=${orderId}`)).entries as { type: string; amount: string }[]).map((e) => [
      e.type,
      e.amount,
    ]);
  return { getOrder, waitFor, sandbox, submit, advance, notices, visible, payments };
}

describe('SLA escalation and COD remittance', () => {
  let stack: TestStack;
  const h = helpers(() => stack);
  beforeAll(async () => {
    stack = await startTestStack({
      orderSettings: { sla: SLA, rtsPolicy: 'refund' } satisfies Partial<OrderSettings>,
      returnWindows: { default: 0 },
      sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
    });
    await seedNetwork(stack.db.sql, { 'SKU-S': { 'WH-HCM': 100 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('ship-by: level 1 after deadline + grace, level 2 a step later, visible as search attributes; a pickup clears it', async () => {
    const order = makeOrder({ sku: 'SKU-S' });
    const placedAt = Date.parse(order.placedAt);
    const orderId = await h.submit(order);
    // Level 3 follows level 2 by one step: "at least 2", so a slow poll does not miss level 2; and
    // booked, as the parcel is handed over below (a slow booking may come after the escalations).
    const l2 = await h.waitFor(orderId, (o) => o.escalationLevel >= 2 && o.shipments[0]?.status === 'booked', 'level 2, booked');
    expect(l2).toMatchObject({ needsAttention: true, shipments: [{ status: 'booked' }] });
    expect(l2.shipments[0]!.escalationLevel).toBe(l2.escalationLevel);
    expect(l2.attentionReason).toMatch(/not handed to the carrier by/);
    const sent = await h.notices(orderId);
    expect(sent.map((n) => n.kind).every((k) => k === 'ship-by')).toBe(true);
    expect(sent.map((n) => n.level)).toEqual(sent.map((_, i) => i + 1));
    // Never early: level 1 at placedAt + shipBy + grace, level 2 one step later.
    // (Level 2's time is absolute — deadline + grace + one step — so a late level 1 does not push it back.)
    expect(Date.parse(sent[0]!.at) - placedAt).toBeGreaterThanOrEqual(3000 + 1000);
    expect(Date.parse(sent[1]!.at) - placedAt).toBeGreaterThanOrEqual(3000 + 1000 + 2000);
    // …and not pushed back much either (a loose bound: timers fire late on a busy machine).
    expect(Date.parse(sent[1]!.at) - placedAt).toBeLessThan(3000 + 1000 + 2000 + 20_000);
    expect(
      await eventually(
        async () => {
          const ids = await h.visible(`NeedsAttention = true AND EscalationLevel >= 2 AND WorkflowId = '${orderId}'`);
          return ids.length ? ids : undefined;
        },
        { what: 'visibility shows level 2' },
      ),
    ).toEqual([orderId]);
    expect(
      l2.timeline
        .filter((t) => /escalation level \d/.test(t.event))
        .map((t) => t.event.replace(/.*(escalation level \d).*/, '$1'))
        .slice(0, 2),
    ).toEqual(['escalation level 1', 'escalation level 2']);

    await h.advance(l2.shipments[0]!.bookingId!, 'picked_up');
    const cleared = await h.waitFor(orderId, (o) => o.escalationLevel === 0 && o.status === 'SHIPPED', 'cleared by the pickup');
    expect(cleared.needsAttention).toBe(false);
    expect(cleared.timeline.some((t) => /picked up \(escalation cleared\)/.test(t.event))).toBe(true);
    expect(
      await eventually(
        async () => {
          const ids = await h.visible(`NeedsAttention = false AND EscalationLevel = 0 AND WorkflowId = '${orderId}'`);
          return ids.length ? ids : undefined;
        },
        { what: 'visibility cleared' },
      ),
    ).toEqual([orderId]);

    await h.advance(l2.shipments[0]!.bookingId!, 'delivered');
    await h.waitFor(orderId, (o) => o.status === 'COMPLETED', 'completed');
    // Delivered well before the promised date: not late.
    const { late, deliverBy } = await one(stack.db.sql<{ late: boolean; deliverBy: Date }[]>`
      select o.delivered_late as late, s.deliver_by as "deliverBy" from orders o join shipments s using (order_id) where o.order_id = ${orderId}`);
    expect(deliverBy.getTime()).toBe(placedAt + 600_000);
    expect(late).toBe(false);
  });

  it('deliver-by: a parcel picked up in time but not delivered escalates after the promised date + grace', async () => {
    const order = makeOrder({ sku: 'SKU-S', channel: 'shopify' });
    const placedAt = Date.parse(order.placedAt);
    const orderId = await h.submit(order);
    const booked = await h.waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    await h.advance(booked.shipments[0]!.bookingId!, 'picked_up');
    await h.advance(booked.shipments[0]!.bookingId!, 'in_transit');
    const late = await h.waitFor(orderId, (o) => o.escalationLevel >= 1, 'deliver-by level 1');
    expect(late.attentionReason).toMatch(/not delivered by .* \(the promised date\)/);
    const sent = await h.notices(orderId);
    expect(sent.map((n) => [n.kind, n.level])[0]).toEqual(['deliver-by', 1]);
    expect(sent.every((n) => n.kind === 'deliver-by')).toBe(true);
    expect(Date.parse(sent[0]!.at) - placedAt).toBeGreaterThanOrEqual(6000 + 1000);
    await h.advance(booked.shipments[0]!.bookingId!, 'delivered');
    const done = await h.waitFor(orderId, (o) => o.status === 'COMPLETED', 'completed');
    expect(done.escalationLevel).toBe(0);
    // Delivered after the promised date (placedAt + 6 s): the projection knows it was late (reports' SLA breach).
    const row = await one(stack.db.sql<{ late: boolean; deliverBy: Date }[]>`
      select o.delivered_late as late, s.deliver_by as "deliverBy" from orders o join shipments s using (order_id) where o.order_id = ${orderId}`);
    expect(row.deliverBy.getTime()).toBe(placedAt + 6000);
    expect(row.late).toBe(true);
  });

  it('a shipment message overtaken by a newer one does not bring its older state back', async () => {
    // The SLA watcher and the shipment's main loop signal the order concurrently, so two messages
    // can arrive out of order; sent here directly, older last, as the server may deliver them.
    // A pos order: no deadline fires while the probes are sent, whatever the machine's pace.
    const orderId = await h.submit(makeOrder({ sku: 'SKU-S', channel: 'pos' }));
    const booked = await h.waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const handle = stack.client.workflow.getHandle(orderId);
    const base = { shipmentId: booked.shipments[0]!.shipmentId, status: 'booked' as const, needsAttention: false, actor: 'system' };
    await handle.signal(shipmentProgressSignal, { ...base, seq: 1001, escalationLevel: 0, event: 'probe: the newer message' });
    await handle.signal(shipmentProgressSignal, {
      ...base,
      seq: 1000,
      escalationLevel: 2,
      escalationReason: 'stale',
      event: 'probe: the older message',
    });
    const o = await h.waitFor(orderId, (x) => x.timeline.some((t) => t.event === 'probe: the older message'), 'both told');
    expect(o.timeline.filter((t) => t.event.startsWith('probe:')).map((t) => t.event)).toEqual([
      'probe: the newer message',
      'probe: the older message',
    ]);
    expect(o.escalationLevel).toBe(0);
    expect(o.needsAttention).toBe(false);
  });

  it('COD: cash not remitted by the deadline escalates; a short remittance escalates; the full amount settles it', async () => {
    // The overdue ladder climbs a level every 2 s while this test acts, so it waits on the steps
    // in the timeline (they stay) rather than on a level (it moves on).
    const orderId = await h.submit(makeOrder({ sku: 'SKU-S', quantity: 2, channel: 'pos', payment: { method: 'cod' } }));
    const booked = await h.waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const bookingId = booked.shipments[0]!.bookingId!;
    await h.advance(bookingId, 'picked_up');
    await h.advance(bookingId, 'delivered');
    const owed = await h.waitFor(
      orderId,
      (o) => o.timeline.some((t) => /escalation level 1: COD 200000\.00 not remitted by the carrier/.test(t.event)),
      'remittance overdue',
    );
    expect(owed.status).toBe('DELIVERED');
    expect(owed.escalationLevel).toBeGreaterThanOrEqual(1);
    expect(owed.shipments[0]!.cod).toEqual({ due: '200000.00', remitted: '0.00', settled: false });
    expect(owed.attentionReason).toMatch(/COD 200000.00 not remitted by the carrier/);

    await h.advance(bookingId, 'cod_remitted', { codAmount: '150000.00' });
    const mismatch = /escalation level (\d+): COD remittance mismatch: 150000\.00 remitted of 200000\.00 due/;
    const short = await h.waitFor(orderId, (o) => o.timeline.some((t) => mismatch.test(t.event)), 'mismatch escalates');
    expect(short.needsAttention).toBe(true);
    const { remitted, at } = await one(
      stack.db.sql<
        { remitted: string; at: Date | null }[]
      >`select cod_remitted_amount::text as remitted, cod_remitted_at as at from orders where order_id = ${orderId}`,
    );
    expect([remitted, at]).toEqual(['150000.00', null]);

    await h.advance(bookingId, 'cod_remitted', { codAmount: '50000.00' });
    const settled = await h.waitFor(orderId, (o) => o.status === 'COMPLETED', 'settled and completed');
    expect(settled).toMatchObject({
      escalationLevel: 0,
      needsAttention: false,
      shipments: [{ cod: { due: '200000.00', remitted: '200000.00', settled: true } }],
    });
    const row = await one(
      stack.db.sql<
        { remitted: string; at: Date | null }[]
      >`select cod_remitted_amount::text as remitted, cod_remitted_at as at from orders where order_id = ${orderId}`,
    );
    expect(row.remitted).toBe('200000.00');
    expect(row.at).toBeInstanceOf(Date);
    // One ladder, never reset until settled: overdue first, the mismatch at once on the next level,
    // (overdue again if it stayed short for another step), nothing after the settlement.
    const sent = (await h.notices(orderId)).map((n) => [n.kind, n.level] as const);
    expect(sent[0]).toEqual(['cod-remittance', 1]);
    expect(sent.map(([, level]) => level)).toEqual(sent.map((_, i) => i + 1));
    expect(sent.filter(([kind]) => kind === 'cod-mismatch')).toEqual([
      ['cod-mismatch', Number(short.timeline.map((t) => mismatch.exec(t.event)?.[1]).find(Boolean))],
    ]);
    expect(sent.every(([kind]) => kind === 'cod-remittance' || kind === 'cod-mismatch')).toBe(true);
  });

  it('returned to sender (policy refund): units restocked, the capture refunded, the order cancelled', async () => {
    const before = await stockRow(stack.db.sql, 'SKU-S', 'WH-HCM');
    const orderId = await h.submit(makeOrder({ sku: 'SKU-S', quantity: 2 }));
    const booked = await h.waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const bookingId = booked.shipments[0]!.bookingId!;
    await h.advance(bookingId, 'picked_up');
    await h.advance(bookingId, 'delivery_failed');
    // The carrier's webhooks may arrive in any order; the parcel comes back only after the failed delivery is known
    // (a delivery-failed event landing after the shipment closed on the return would never reach the timeline).
    await h.waitFor(orderId, (o) => o.shipments[0]?.status === 'delivery_failed', 'delivery failed');
    await h.advance(bookingId, 'returned_to_sender');
    const o = await h.waitFor(orderId, (x) => x.status === 'CANCELLED', 'cancelled after RTS');
    expect(o.shipments[0]).toMatchObject({ status: 'returned_to_sender', rts: 'refunded' });
    expect(o.timeline.some((t) => /delivery failed/.test(t.event))).toBe(true);
    expect(await stockRow(stack.db.sql, 'SKU-S', 'WH-HCM')).toEqual(before);
    expect(
      await eventually(async () => {
        const p = await h.payments(orderId);
        return p.length === 3 ? p : undefined;
      }),
    ).toEqual([
      ['authorize', '200000.00'],
      ['capture', '200000.00'],
      ['refund', '200000.00'],
    ]);
  });
});

describe('returned to sender (policy reship)', () => {
  let stack: TestStack;
  const h = helpers(() => stack);
  beforeAll(async () => {
    stack = await startTestStack({
      orderSettings: { rtsPolicy: 'reship' },
      returnWindows: { default: 0 },
      sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
    });
    await seedNetwork(stack.db.sql, { 'SKU-S': { 'WH-HCM': 100 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('sends the parcel again from restocked stock; nothing is captured twice', async () => {
    const before = await stockRow(stack.db.sql, 'SKU-S', 'WH-HCM');
    const orderId = await h.submit(makeOrder({ sku: 'SKU-S', quantity: 2 }));
    const booked = await h.waitFor(orderId, (o) => o.shipments[0]?.status === 'booked', 'booked');
    await h.advance(booked.shipments[0]!.bookingId!, 'picked_up');
    await h.advance(booked.shipments[0]!.bookingId!, 'returned_to_sender');
    const again = await h.waitFor(orderId, (o) => o.shipments[1]?.status === 'booked', 'second parcel booked');
    expect(again.shipments[0]).toMatchObject({ status: 'returned_to_sender', rts: 'reshipped' });
    await h.advance(again.shipments[1]!.bookingId!, 'picked_up');
    await h.advance(again.shipments[1]!.bookingId!, 'delivered');
    await h.waitFor(orderId, (o) => o.status === 'COMPLETED', 'completed');
    expect(await stockRow(stack.db.sql, 'SKU-S', 'WH-HCM')).toEqual({ onHand: before.onHand - 2, reserved: before.reserved });
    expect(await h.payments(orderId)).toEqual([
      ['authorize', '200000.00'],
      ['capture', '200000.00'],
    ]);
  });
});
