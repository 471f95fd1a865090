/**
 * The chaos runner's invariant checker, on hand-built facts: a consistent run passes, and each
 * seeded inconsistency — a compensation that forgot to release stock, a double capture, a refund
 * above its capture, a cancelled order whose booking is still live, a stale last push, ... — fails
 * the invariant it breaks, naming the order.
 */
import { describe, expect, it } from 'vitest';
import { allHold, checkInvariants, type RunFacts } from '../../scripts/chaos/invariants';

/**
 * Five orders whose books agree: o1 delivered and completed (prepaid), o2 cancelled before the
 * handover (voided, released, booking cancelled), o3 COD with one unit returned, o4 prepaid with
 * everything returned and refunded, o5 backordered and waiting.
 */
function world(): RunFacts {
  const delivered = (id: string, wh: string, bookingId: string, lines: { lineNo: number; sku: string; quantity: number }[]) => ({
    shipmentId: `${id}-shipment-1`,
    warehouseId: wh,
    status: 'delivered',
    bookingId,
    carrier: 'ghn',
    lines,
  });
  return {
    accepted: ['o1', 'o2', 'o3', 'o4', 'o5'],
    orders: [
      {
        orderId: 'o1',
        channel: 'web',
        channelOrderId: '1001',
        status: 'COMPLETED',
        seq: 9,
        needsAttention: false,
        attentionReason: null,
        paymentMethod: 'prepaid',
        total: '200.00',
        lines: [{ lineNo: 1, sku: 'A', quantity: 2 }],
        cancelledLines: [],
        shipments: [delivered('o1', 'WH1', 'bk1', [{ lineNo: 1, sku: 'A', quantity: 2 }])],
        captures: [{ shipmentId: 'o1-shipment-1', captureId: 'cap1', amount: '200.00' }],
        returns: [],
      },
      {
        orderId: 'o2',
        channel: 'web',
        channelOrderId: '1002',
        status: 'CANCELLED',
        seq: 6,
        needsAttention: false,
        attentionReason: null,
        paymentMethod: 'prepaid',
        total: '50.00',
        lines: [{ lineNo: 1, sku: 'B', quantity: 1 }],
        cancelledLines: [],
        shipments: [
          {
            shipmentId: 'o2-shipment-1',
            warehouseId: 'WH1',
            status: 'cancelled',
            bookingId: 'bk2',
            carrier: 'ghn',
            lines: [{ lineNo: 1, sku: 'B', quantity: 1 }],
          },
        ],
        captures: [],
        returns: [],
      },
      {
        orderId: 'o3',
        channel: 'shopify',
        channelOrderId: '5801',
        status: 'COMPLETED',
        seq: 12,
        needsAttention: false,
        attentionReason: null,
        paymentMethod: 'cod',
        total: '300.00',
        lines: [{ lineNo: 1, sku: 'A', quantity: 3 }],
        cancelledLines: [],
        shipments: [delivered('o3', 'WH2', 'bk3', [{ lineNo: 1, sku: 'A', quantity: 3 }])],
        captures: [],
        returns: [{ returnId: 'o3-return-1', status: 'accepted', refunded: '100.00', lines: [{ lineNo: 1, sku: 'A', quantity: 1 }] }],
      },
      {
        orderId: 'o4',
        channel: 'shopee',
        channelOrderId: 'SN4',
        status: 'COMPLETED',
        seq: 14,
        needsAttention: false,
        attentionReason: null,
        paymentMethod: 'prepaid',
        total: '100.00',
        lines: [{ lineNo: 1, sku: 'A', quantity: 1 }],
        cancelledLines: [],
        shipments: [delivered('o4', 'WH1', 'bk5', [{ lineNo: 1, sku: 'A', quantity: 1 }])],
        captures: [{ shipmentId: 'o4-shipment-1', captureId: 'cap4', amount: '100.00' }],
        returns: [{ returnId: 'o4-return-1', status: 'accepted', refunded: '100.00', lines: [{ lineNo: 1, sku: 'A', quantity: 1 }] }],
      },
      {
        orderId: 'o5',
        channel: 'web',
        channelOrderId: '1005',
        status: 'BACKORDERED',
        seq: 3,
        needsAttention: false,
        attentionReason: null,
        paymentMethod: 'cod',
        total: '200.00',
        lines: [{ lineNo: 1, sku: 'B', quantity: 4 }],
        cancelledLines: [],
        shipments: [],
        captures: [],
        returns: [],
      },
    ],
    seedStock: [
      { sku: 'A', warehouseId: 'WH1', onHand: 10, reserved: 0 },
      { sku: 'B', warehouseId: 'WH1', onHand: 5, reserved: 0 },
      { sku: 'A', warehouseId: 'WH2', onHand: 3, reserved: 0 },
      { sku: 'B', warehouseId: 'WH2', onHand: 0, reserved: 0 },
    ],
    stock: [
      { sku: 'A', warehouseId: 'WH1', onHand: 8, reserved: 0 },
      { sku: 'B', warehouseId: 'WH1', onHand: 5, reserved: 0 },
      { sku: 'A', warehouseId: 'WH2', onHand: 1, reserved: 0 },
      { sku: 'B', warehouseId: 'WH2', onHand: 4, reserved: 0 },
    ],
    adjustments: [
      { sku: 'A', warehouseId: 'WH2', before: 0, after: 1, ref: 'o3-return-1:1' },
      { sku: 'A', warehouseId: 'WH1', before: 7, after: 8, ref: 'o4-return-1:1' },
      { sku: 'B', warehouseId: 'WH2', before: 0, after: 4, ref: null },
    ],
    reservations: [
      { key: 'o1', lineNo: 1, warehouseId: 'WH1', sku: 'A', quantity: 2, state: 'committed' },
      { key: 'o2', lineNo: 1, warehouseId: 'WH1', sku: 'B', quantity: 1, state: 'released' },
      { key: 'o3', lineNo: 1, warehouseId: 'WH2', sku: 'A', quantity: 3, state: 'committed' },
      { key: 'o4', lineNo: 1, warehouseId: 'WH1', sku: 'A', quantity: 1, state: 'committed' },
    ],
    payments: [
      { type: 'authorize', id: 'auth1', orderId: 'o1', authorizationId: 'auth1', amount: '200.00', idempotencyKey: 'o1:authorize' },
      {
        type: 'capture',
        id: 'cap1',
        orderId: 'o1',
        authorizationId: 'auth1',
        captureId: 'cap1',
        amount: '200.00',
        idempotencyKey: 'o1-shipment-1:capture',
      },
      { type: 'authorize', id: 'auth2', orderId: 'o2', authorizationId: 'auth2', amount: '50.00', idempotencyKey: 'o2:authorize' },
      { type: 'void', id: 'void2', orderId: 'o2', authorizationId: 'auth2', amount: '50.00', idempotencyKey: 'o2:void' },
      { type: 'authorize', id: 'auth4', orderId: 'o4', authorizationId: 'auth4', amount: '100.00', idempotencyKey: 'o4:authorize' },
      {
        type: 'capture',
        id: 'cap4',
        orderId: 'o4',
        authorizationId: 'auth4',
        captureId: 'cap4',
        amount: '100.00',
        idempotencyKey: 'o4-shipment-1:capture',
      },
      {
        type: 'refund',
        id: 're4',
        orderId: 'o4',
        authorizationId: 'auth4',
        captureId: 'cap4',
        amount: '100.00',
        idempotencyKey: 'o4-return-1:refund:cap4',
      },
    ],
    refundInstructions: [{ returnId: 'o3-return-1', orderId: 'o3', amount: '100.00' }],
    bookings: [
      { bookingId: 'bk1', carrier: 'ghn', kind: 'shipment', orderId: 'o1', shipmentId: 'o1-shipment-1', status: 'delivered' },
      { bookingId: 'bk2', carrier: 'ghn', kind: 'shipment', orderId: 'o2', shipmentId: 'o2-shipment-1', status: 'cancelled' },
      { bookingId: 'bk3', carrier: 'ghn', kind: 'shipment', orderId: 'o3', shipmentId: 'o3-shipment-1', status: 'delivered' },
      { bookingId: 'bk4', carrier: 'ghn', kind: 'return', orderId: 'o3', returnId: 'o3-return-1', status: 'delivered' },
      { bookingId: 'bk5', carrier: 'ghn', kind: 'shipment', orderId: 'o4', shipmentId: 'o4-shipment-1', status: 'delivered' },
      { bookingId: 'bk6', carrier: 'ghn', kind: 'return', orderId: 'o4', returnId: 'o4-return-1', status: 'delivered' },
    ],
    picks: [
      { pickOrderId: 'p1', orderId: 'o1', shipmentId: 'o1-shipment-1', status: 'packed' },
      { pickOrderId: 'p2', orderId: 'o2', shipmentId: 'o2-shipment-1', status: 'cancelled' },
      { pickOrderId: 'p3', orderId: 'o3', shipmentId: 'o3-shipment-1', status: 'packed' },
      { pickOrderId: 'p4', orderId: 'o4', shipmentId: 'o4-shipment-1', status: 'packed' },
    ],
    channels: {
      omsPushes: [
        { channel: 'web', orderId: 'o1', seq: 9, status: 'COMPLETED' },
        { channel: 'web', orderId: 'o2', seq: 6, status: 'CANCELLED' },
        { channel: 'shopify', orderId: 'o3', seq: 12, status: 'COMPLETED' },
        { channel: 'shopee', orderId: 'o4', seq: 14, status: 'COMPLETED' },
        { channel: 'web', orderId: 'o5', seq: 3, status: 'BACKORDERED' },
      ],
      feedLatest: {
        o1: { channel: 'web', status: 'COMPLETED', seq: 9 },
        o2: { channel: 'web', status: 'CANCELLED', seq: 6 },
        o5: { channel: 'web', status: 'BACKORDERED', seq: 3 },
      },
      platformOrders: [{ channel: 'shopee', channelOrderId: 'SN4', status: 'SHIPPED' }],
      calls: [
        { channel: 'shopify', channelOrderId: '5801', action: 'update_order', status: 'oms:SHIPPED' },
        { channel: 'shopify', channelOrderId: '5801', action: 'update_order', status: 'oms:COMPLETED' },
        { channel: 'shopee', channelOrderId: 'SN4', action: 'ship_order', status: 'SHIPPED' },
      ],
    },
    workflows: [
      { workflowId: 'o1', type: 'orderWorkflow', status: 'COMPLETED' },
      { workflowId: 'o2', type: 'orderWorkflow', status: 'COMPLETED' },
      { workflowId: 'o3', type: 'orderWorkflow', status: 'COMPLETED' },
      { workflowId: 'o4', type: 'orderWorkflow', status: 'COMPLETED' },
      { workflowId: 'o5', type: 'orderWorkflow', status: 'RUNNING' },
      { workflowId: 'o1-shipment-1', type: 'shipmentWorkflow', status: 'COMPLETED' },
    ],
  };
}

/** The violations of one invariant (throws when the checker has no such invariant). */
function violationsOf(facts: RunFacts, name: string) {
  const r = checkInvariants(facts).find((x) => x.name === name);
  if (!r) throw new Error(`no invariant named ${name}`);
  return r.violations;
}
/** Every invariant that fails, by name. */
const failing = (facts: RunFacts) =>
  checkInvariants(facts)
    .filter((r) => r.violations.length)
    .map((r) => r.name);

const order = (f: RunFacts, id: string) => f.orders.find((o) => o.orderId === id)!;
const stockOf = (f: RunFacts, sku: string, wh: string) => f.stock.find((s) => s.sku === sku && s.warehouseId === wh)!;

describe('invariant checker', () => {
  it('passes a consistent run and checks every family of invariants', () => {
    const results = checkInvariants(world());
    expect(
      results.filter((r) => r.violations.length),
      JSON.stringify(
        results.filter((r) => r.violations.length),
        null,
        2,
      ),
    ).toEqual([]);
    expect(allHold(results)).toBe(true);
    expect(results.map((r) => r.name.split('.')[0])).toEqual(
      expect.arrayContaining(['orders', 'workflows', 'stock', 'money', 'carriers', 'warehouse', 'channels', 'returns']),
    );
    for (const r of results) expect(r.checked, r.name).toBeGreaterThan(0);
  });

  it('fails a compensation that forgot to release stock (the reservation still holds the units)', () => {
    const f = world();
    f.reservations.find((r) => r.key === 'o2')!.state = 'reserved';
    stockOf(f, 'B', 'WH1').reserved = 1;
    expect(failing(f)).toEqual(['stock.orders-hold-what-they-should']);
    const [v] = violationsOf(f, 'stock.orders-hold-what-they-should');
    expect(v?.subject).toBe('o2');
    expect(v?.detail).toContain('CANCELLED but still holds 1 reserved unit');
  });

  it('fails a release that marked the reservation but never gave the units back to stock', () => {
    const f = world();
    stockOf(f, 'B', 'WH1').reserved = 1;
    expect(failing(f)).toEqual(['stock.balances']);
    expect(violationsOf(f, 'stock.balances')[0]!.detail).toMatch(/reserved 1, expected 0/);
  });

  it('fails a commit that took units off the shelf twice (on hand no longer adds up)', () => {
    const f = world();
    stockOf(f, 'A', 'WH1').onHand = 6;
    expect(failing(f)).toEqual(['stock.balances']);
    const [v] = violationsOf(f, 'stock.balances');
    expect(v?.subject).toBe('A@WH1');
    expect(v?.detail).toContain('on hand 6, expected 8');
  });

  it('fails an order that committed more units than it ordered (oversold)', () => {
    const f = world();
    f.reservations.push({ key: 'o1', lineNo: 1, warehouseId: 'WH2', sku: 'A', quantity: 1, state: 'committed' });
    stockOf(f, 'A', 'WH2').onHand = 0;
    expect(violationsOf(f, 'stock.orders-hold-what-they-should').map((v) => v.subject)).toContain('o1');
  });

  it('fails a return restocked twice', () => {
    const f = world();
    f.adjustments.push({ sku: 'A', warehouseId: 'WH2', before: 1, after: 2, ref: 'o3-return-1:1' });
    stockOf(f, 'A', 'WH2').onHand = 2;
    expect(failing(f)).toEqual(['stock.returns-restocked-once']);
  });

  it("fails a double capture of one shipment's share", () => {
    const f = world();
    f.payments.push({
      type: 'capture',
      id: 'cap1b',
      orderId: 'o1',
      authorizationId: 'auth1',
      captureId: 'cap1b',
      amount: '200.00',
      idempotencyKey: 'o1-shipment-1:capture:again',
    });
    const v = violationsOf(f, 'money.matches-final-state');
    expect(v.map((x) => x.detail).join('\n')).toMatch(/capture cap1b \(200.00\) at the gateway is unknown to the order/);
    expect(v.map((x) => x.detail).join('\n')).toMatch(/captured 400.00 above the order total 200.00/);
  });

  it('fails one shipment recorded with two captures', () => {
    const f = world();
    order(f, 'o1').captures.push({ shipmentId: 'o1-shipment-1', captureId: 'cap1', amount: '200.00' });
    expect(violationsOf(f, 'money.matches-final-state')[0]!.detail).toMatch(/shipment o1-shipment-1 captured 2 times/);
  });

  it('fails a refund above what was captured', () => {
    const f = world();
    f.payments.find((p) => p.id === 're4')!.amount = '150.00';
    expect(violationsOf(f, 'money.refunds-within-captures')[0]).toMatchObject({
      subject: 'o4',
      detail: 'capture cap4: refunded 150.00 of 100.00',
    });
    expect(violationsOf(f, 'money.matches-final-state').map((v) => v.subject)).toContain('o4');
  });

  it('fails a cancelled prepaid order whose authorisation was never voided', () => {
    const f = world();
    f.payments = f.payments.filter((p) => p.id !== 'void2');
    expect(failing(f)).toEqual(['money.matches-final-state']);
    const [v] = violationsOf(f, 'money.matches-final-state');
    expect(v?.subject).toBe('o2');
    expect(v?.detail).toContain('authorisation auth2 still holds 50.00');
  });

  it('fails a re-authorised order whose share was released only in part from the original authorisation', () => {
    const f = world();
    // o1's capture came from a re-authorisation; the original must give back all 200.00 of it.
    f.payments = f.payments.map((p) => (p.id === 'cap1' ? { ...p, authorizationId: 'auth1b' } : p));
    f.payments.push(
      {
        type: 'authorize',
        id: 'auth1b',
        orderId: 'o1',
        authorizationId: 'auth1b',
        amount: '200.00',
        idempotencyKey: 'o1-shipment-1:reauthorize',
      },
      {
        type: 'void',
        id: 'void1',
        orderId: 'o1',
        authorizationId: 'auth1',
        amount: '150.00',
        idempotencyKey: 'o1-shipment-1:release-share',
      },
    );
    expect(failing(f)).toEqual(['money.matches-final-state']);
    const [v] = violationsOf(f, 'money.matches-final-state');
    expect(v?.subject).toBe('o1');
    expect(v?.detail).toContain('authorisation auth1 still holds 50.00');
    // Released in full, the books balance.
    f.payments = f.payments.map((p) => (p.id === 'void1' ? { ...p, amount: '200.00' } : p));
    expect(failing(f)).toEqual([]);
  });

  it('fails a cancelled order whose capture was kept', () => {
    const f = world();
    order(f, 'o2').captures.push({ shipmentId: 'o2-shipment-1', captureId: 'cap2', amount: '50.00' });
    f.payments.push({
      type: 'capture',
      id: 'cap2',
      orderId: 'o2',
      authorizationId: 'auth2',
      captureId: 'cap2',
      amount: '50.00',
      idempotencyKey: 'o2-shipment-1:capture',
    });
    expect(violationsOf(f, 'money.matches-final-state')[0]!.detail).toMatch(/CANCELLED but captured 50.00 − refunded 0.00 = 50.00/);
  });

  it('fails a delivered order that was charged less than its total', () => {
    const f = world();
    f.payments.find((p) => p.id === 'cap1')!.amount = '150.00';
    order(f, 'o1').captures[0]!.amount = '150.00';
    expect(
      violationsOf(f, 'money.matches-final-state')
        .map((v) => v.detail)
        .join('\n'),
    ).toMatch(/captured 150.00 of 200.00/);
  });

  it('fails a cancelled order with a live carrier booking', () => {
    const f = world();
    f.bookings.find((b) => b.bookingId === 'bk2')!.status = 'booked';
    expect(failing(f)).toEqual(['carriers.one-live-booking']);
    const [v] = violationsOf(f, 'carriers.one-live-booking');
    expect(v?.subject).toBe('o2');
    expect(v?.detail).toContain('bk2 (booked) is still live');
  });

  it('fails a live shipment with a second booking', () => {
    const f = world();
    f.bookings.push({ bookingId: 'bk1b', carrier: 'ghn', kind: 'shipment', orderId: 'o1', shipmentId: 'o1-shipment-1', status: 'booked' });
    expect(violationsOf(f, 'carriers.one-live-booking')[0]!.detail).toMatch(/has 2 live bookings/);
    // A booking the carrier forgot is not live: re-booking after it is legitimate.
    f.bookings.find((b) => b.bookingId === 'bk1')!.forgotten = true;
    f.bookings.find((b) => b.bookingId === 'bk1b')!.status = 'delivered';
    order(f, 'o1').shipments[0]!.bookingId = 'bk1b';
    expect(violationsOf(f, 'carriers.one-live-booking')).toEqual([]);
  });

  it('fails a cancelled shipment whose pick order is still open', () => {
    const f = world();
    f.picks.find((p) => p.pickOrderId === 'p2')!.status = 'packed';
    expect(failing(f)).toEqual(['warehouse.picks-follow-shipments']);
  });

  it('fails a stale last push (the channel still shows an older status)', () => {
    const f = world();
    f.channels.feedLatest.o1 = { channel: 'web', status: 'DELIVERED', seq: 8 };
    expect(failing(f)).toEqual(['channels.last-push-is-final']);
    expect(violationsOf(f, 'channels.last-push-is-final')[0]).toMatchObject({
      subject: 'o1',
      detail: 'web was last told DELIVERED (seq 8), final is COMPLETED (seq 9)',
    });
    // While the workflow still runs, its last push may be on its way: not judged yet.
    f.workflows.find((w) => w.workflowId === 'o1')!.status = 'RUNNING';
    expect(violationsOf(f, 'channels.last-push-is-final')).toEqual([]);
  });

  it('reads a channel told the final step under a number shifted past a lost task’s pushes (status_push_shifts)', () => {
    const f = world();
    // o1 closed as seq 9; a lost task had told the shop seq 10, so the close went out as 11.
    Object.assign(
      f.channels.omsPushes.find((p) => p.orderId === 'o1')!,
      { seq: 11, shift: 2 },
    );
    f.channels.feedLatest.o1 = { channel: 'web', status: 'COMPLETED', seq: 11 };
    expect(failing(f)).toEqual([]);
    // The shop kept the lost task's word: FULFILLING under 10 would have been its last.
    f.channels.feedLatest.o1 = { channel: 'web', status: 'FULFILLING', seq: 10 };
    expect(violationsOf(f, 'channels.last-push-is-final')).toEqual([
      { subject: 'o1', detail: 'web was last told FULFILLING (seq 10), final is COMPLETED (seq 11)' },
    ]);
    // The OMS's own record under another number than the final step's is caught too.
    f.channels.feedLatest.o1 = { channel: 'web', status: 'COMPLETED', seq: 11 };
    f.channels.omsPushes.find((p) => p.orderId === 'o1')!.seq = 10;
    expect(violationsOf(f, 'channels.last-push-is-final')).toEqual([
      { subject: 'o1', detail: 'final status COMPLETED (seq 11) but the OMS last pushed COMPLETED (seq 10) to web' },
    ]);
  });

  it('fails when the OMS never pushed the final status, and when a marketplace shows the wrong end', () => {
    const f = world();
    f.channels.omsPushes = f.channels.omsPushes.filter((p) => p.orderId !== 'o3');
    f.channels.calls.pop();
    f.channels.calls.pop();
    f.channels.platformOrders[0]!.status = 'CANCELLED';
    const subjects = violationsOf(f, 'channels.last-push-is-final').map((v) => v.subject);
    expect(subjects).toEqual(['o3', 'o3', 'o4']);
  });

  it('fails a failed workflow, a lost order and a projection that disagrees with its workflow', () => {
    const f = world();
    f.workflows.push({ workflowId: 'o9-shipment-1', type: 'shipmentWorkflow', status: 'FAILED' });
    f.accepted.push('o9');
    f.workflows.find((w) => w.workflowId === 'o5')!.status = 'COMPLETED';
    expect(failing(f).sort()).toEqual(['orders.none-lost', 'workflows.agree-with-projection', 'workflows.none-failed']);
  });

  it('fails an order stuck mid-way without needsAttention, and accepts it once flagged', () => {
    const f = world();
    Object.assign(order(f, 'o5'), { status: 'FULFILLING' });
    f.channels.omsPushes.find((p) => p.orderId === 'o5')!.status = 'FULFILLING';
    expect(failing(f)).toEqual(['orders.settled']);
    Object.assign(order(f, 'o5'), { needsAttention: true, attentionReason: 'book carrier failed after retries' });
    expect(failing(f)).toEqual([]);
  });

  it('fails a finished order whose return is still open', () => {
    const f = world();
    order(f, 'o3').returns[0]!.status = 'received';
    f.adjustments = f.adjustments.filter((a) => a.ref !== 'o3-return-1:1');
    stockOf(f, 'A', 'WH2').onHand = 0;
    expect(failing(f)).toEqual(['returns.closed-with-the-order']);
  });
});
