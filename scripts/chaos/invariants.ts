/**
 * The chaos runner's invariants: a pure check over what PostgreSQL (the order projection, stock,
 * reservations, adjustments, channel pushes) and the outside systems' ledgers (payments, carriers,
 * WMS, channels) say after a run, plus the workflows' execution statuses. No I/O here: the runner
 * collects the facts (collect.ts) and this module decides, so a test can hand it a seeded
 * inconsistent ledger and see it fail.
 */
import { isOrderWorkflowType } from '../../workflows/types';

/** Statuses an order ends in. */
export const TERMINAL_STATUSES = ['COMPLETED', 'CANCELLED', 'REJECTED'] as const;
/** Statuses in which an order legitimately waits (a timer, a person, the customer's parcel). */
export const WAITING_STATUSES = ['ON_HOLD', 'BACKORDERED', 'DELIVERED', 'RETURN_REQUESTED', 'RETURNED', 'REFUNDED'] as const;
/** Temporal execution statuses that mean a workflow did not end on its own terms. */
export const BAD_EXECUTION_STATUSES = ['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED', 'CANCELED'] as const;

export interface LineQty {
  lineNo: number;
  quantity: number;
}

/** One order as the projection shows it (orders row + detail). */
export interface OrderFacts {
  orderId: string;
  channel: string;
  channelOrderId: string;
  status: string;
  seq: number;
  needsAttention: boolean;
  attentionReason: string | null;
  paymentMethod: 'prepaid' | 'cod';
  /** Decimal string. */
  total: string;
  lines: { lineNo: number; sku: string; quantity: number }[];
  cancelledLines: LineQty[];
  shipments: {
    shipmentId: string;
    warehouseId: string;
    status: string;
    bookingId?: string | undefined;
    carrier?: string | undefined;
    lines: { lineNo: number; sku: string; quantity: number }[];
  }[];
  /** The OMS's view of its captures. */
  captures: { shipmentId: string; captureId: string; amount: string }[];
  returns: {
    returnId: string;
    status: string;
    refunded?: string | undefined;
    lines: { lineNo: number; sku: string; quantity: number }[];
  }[];
}

export interface StockFacts {
  sku: string;
  warehouseId: string;
  onHand: number;
  reserved: number;
}
export interface AdjustmentFacts {
  sku: string;
  warehouseId: string;
  before: number;
  after: number;
  ref: string | null;
}
/** `key` is whose reservation it is: an order id, or a key derived from it (exchange, reship). */
export interface ReservationFacts {
  key: string;
  lineNo: number;
  warehouseId: string;
  sku: string;
  quantity: number;
  state: 'reserved' | 'released' | 'committed';
}

export interface PaymentEntry {
  type: string;
  id: string;
  orderId: string;
  authorizationId?: string | undefined;
  captureId?: string | undefined;
  amount: string;
  idempotencyKey?: string | undefined;
}

export interface BookingFacts {
  bookingId: string;
  carrier: string;
  kind: 'shipment' | 'return';
  orderId: string;
  shipmentId?: string | undefined;
  returnId?: string | undefined;
  status: string;
  /** The carrier forgot it (contract 4): it is no longer a live booking. */
  forgotten?: boolean | undefined;
}

export interface PickFacts {
  pickOrderId: string;
  orderId: string;
  shipmentId: string;
  status: string;
}

export interface ChannelFacts {
  /** What the OMS recorded as the newest status pushed, per channel and order. */
  /**
   * What the OMS last told each order's channel; `shift`: how far its numbers run above the
   * order's seqs after steps that replaced a lost workflow task's (status_push_shifts).
   */
  omsPushes: { channel: string; orderId: string; seq: number; status: string; shift?: number }[];
  /** web / POS feed: the newest status the channel accepted, per order id. */
  feedLatest: Record<string, { channel: string; status: string; seq: number }>;
  /** Marketplaces: the platform's order status. */
  platformOrders: { channel: string; channelOrderId: string; status: string }[];
  /** Marketplace status calls in arrival order. */
  calls: { channel: string; channelOrderId: string; action: string; status: string }[];
}

export interface WorkflowFacts {
  workflowId: string;
  type: string;
  status: string;
}

export interface RefundInstructionFacts {
  returnId: string;
  orderId: string;
  amount: string;
}

/** Everything the checker looks at. */
export interface RunFacts {
  /** Order ids the channels were told were accepted. */
  accepted: string[];
  orders: OrderFacts[];
  seedStock: StockFacts[];
  stock: StockFacts[];
  adjustments: AdjustmentFacts[];
  reservations: ReservationFacts[];
  payments: PaymentEntry[];
  refundInstructions: RefundInstructionFacts[];
  bookings: BookingFacts[];
  picks: PickFacts[];
  channels: ChannelFacts;
  workflows: WorkflowFacts[];
}

export interface Violation {
  subject: string;
  detail: string;
}
export interface InvariantResult {
  name: string;
  description: string;
  checked: number;
  violations: Violation[];
}

const toMinor = (amount: string): number => {
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(amount.trim());
  if (!m) throw new Error(`not a decimal amount: ${amount}`);
  const v = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'));
  return m[1] ? -v : v;
};
const money = (minor: number) =>
  `${minor < 0 ? '-' : ''}${Math.floor(Math.abs(minor) / 100)}.${String(Math.abs(minor) % 100).padStart(2, '0')}`;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const isTerminal = (s: string) => (TERMINAL_STATUSES as readonly string[]).includes(s);
const isWaiting = (s: string) => (WAITING_STATUSES as readonly string[]).includes(s);
const cancelledStatus = (s: string) => s === 'CANCELLED' || s === 'REJECTED';
/** Keys of reservations that belong to an order: its own id, and keys derived from it. */
const ownsKey = (orderId: string, key: string) => key === orderId || key.startsWith(`${orderId}-`);
const SHIPPED_RANK = new Set(['picked_up', 'in_transit', 'delivered', 'delivery_failed', 'returned_to_sender']);
const BOOKED_OR_LATER = new Set(['booked', ...SHIPPED_RANK]);

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

/** Runs every invariant over the facts; a run is healthy when no result has violations. */
export function checkInvariants(f: RunFacts): InvariantResult[] {
  const results: InvariantResult[] = [];
  const add = (name: string, description: string, checked: number, violations: Violation[]) =>
    results.push({ name, description, checked, violations });
  const byId = new Map(f.orders.map((o) => [o.orderId, o]));
  const orderWorkflows = new Map(f.workflows.filter((w) => isOrderWorkflowType(w.type)).map((w) => [w.workflowId, w]));

  // ---------------------------------------------------------------- orders and workflows
  {
    const v: Violation[] = [];
    for (const id of f.accepted) {
      if (!byId.has(id)) v.push({ subject: id, detail: 'accepted by the OMS but not in the order projection' });
      else if (!orderWorkflows.has(id)) v.push({ subject: id, detail: 'in the projection but no order workflow exists' });
    }
    add('orders.none-lost', 'every order the OMS accepted is in the projection and has its workflow', f.accepted.length, v);
  }
  {
    const v: Violation[] = [];
    for (const o of f.orders) {
      if (isTerminal(o.status) || isWaiting(o.status)) continue;
      if (o.needsAttention) continue;
      v.push({ subject: o.orderId, detail: `${o.status} without needsAttention: neither finished, nor waiting, nor flagged` });
    }
    add('orders.settled', 'every order is terminal, in a named waiting state, or flagged needsAttention', f.orders.length, v);
  }
  {
    const v: Violation[] = [];
    for (const w of f.workflows) {
      if ((BAD_EXECUTION_STATUSES as readonly string[]).includes(w.status.toUpperCase()))
        v.push({ subject: w.workflowId, detail: `${w.type} ended ${w.status}` });
    }
    add('workflows.none-failed', 'no workflow Failed, Terminated, TimedOut or Canceled', f.workflows.length, v);
  }
  {
    const v: Violation[] = [];
    for (const o of f.orders) {
      const w = orderWorkflows.get(o.orderId);
      if (!w) continue;
      // (Terminal in the projection while the workflow still runs is its last pushes going out.)
      if (w.status.toUpperCase() === 'COMPLETED' && !isTerminal(o.status))
        v.push({ subject: o.orderId, detail: `workflow completed but the projection says ${o.status}` });
    }
    add('workflows.agree-with-projection', 'a completed order workflow is terminal in the projection', f.orders.length, v);
  }

  // ---------------------------------------------------------------- stock
  {
    const v: Violation[] = [];
    const key = (sku: string, wh: string) => `${sku}@${wh}`;
    const seed = new Map(f.seedStock.map((s) => [key(s.sku, s.warehouseId), s]));
    const adjusted = new Map<string, number>();
    for (const a of f.adjustments)
      adjusted.set(key(a.sku, a.warehouseId), (adjusted.get(key(a.sku, a.warehouseId)) ?? 0) + a.after - a.before);
    const committed = new Map<string, number>();
    const reserved = new Map<string, number>();
    for (const r of f.reservations) {
      const k = key(r.sku, r.warehouseId);
      if (r.state === 'committed') committed.set(k, (committed.get(k) ?? 0) + r.quantity);
      if (r.state === 'reserved') reserved.set(k, (reserved.get(k) ?? 0) + r.quantity);
    }
    const keys = new Set([
      ...f.stock.map((s) => key(s.sku, s.warehouseId)),
      ...seed.keys(),
      ...adjusted.keys(),
      ...committed.keys(),
      ...reserved.keys(),
    ]);
    const now = new Map(f.stock.map((s) => [key(s.sku, s.warehouseId), s]));
    for (const k of keys) {
      const s0 = seed.get(k);
      const s1 = now.get(k);
      const expectOnHand = (s0?.onHand ?? 0) + (adjusted.get(k) ?? 0) - (committed.get(k) ?? 0);
      const expectReserved = (s0?.reserved ?? 0) + (reserved.get(k) ?? 0);
      if ((s1?.onHand ?? 0) !== expectOnHand) {
        v.push({
          subject: k,
          detail: `on hand ${s1?.onHand ?? 0}, expected ${expectOnHand} = seed ${s0?.onHand ?? 0} + adjustments ${adjusted.get(k) ?? 0} − committed ${committed.get(k) ?? 0}`,
        });
      }
      if ((s1?.reserved ?? 0) !== expectReserved) {
        v.push({
          subject: k,
          detail: `reserved ${s1?.reserved ?? 0}, expected ${expectReserved} = seed ${s0?.reserved ?? 0} + units held by live reservations ${reserved.get(k) ?? 0}`,
        });
      }
    }
    add(
      'stock.balances',
      'per (sku, warehouse): on hand and reserved = seed + restocks/adjustments − committed; reserved = live reservations',
      keys.size,
      v,
    );
  }
  {
    const v: Violation[] = [];
    for (const s of f.stock) {
      if (s.reserved < 0 || s.onHand < 0 || s.reserved > s.onHand)
        v.push({ subject: `${s.sku}@${s.warehouseId}`, detail: `on hand ${s.onHand}, reserved ${s.reserved}` });
    }
    add('stock.within-bounds', 'per (sku, warehouse): 0 ≤ reserved ≤ on hand', f.stock.length, v);
  }
  {
    const v: Violation[] = [];
    const byKey = groupBy(f.reservations, (r) => r.key);
    for (const o of f.orders) {
      const mine = [...byKey.entries()].filter(([k]) => ownsKey(o.orderId, k)).flatMap(([, rs]) => rs);
      const held = mine.filter((r) => r.state === 'reserved');
      if (isTerminal(o.status) && held.length) {
        v.push({
          subject: o.orderId,
          detail: `${o.status} but still holds ${sum(held.map((r) => r.quantity))} reserved unit(s) (${held.map((r) => `${r.key} line ${r.lineNo} ${r.sku}@${r.warehouseId}`).join(', ')})`,
        });
      }
      const own = byKey.get(o.orderId) ?? [];
      for (const l of o.lines) {
        const cancelledUnits = sum(o.cancelledLines.filter((c) => c.lineNo === l.lineNo).map((c) => c.quantity));
        const committed = sum(own.filter((r) => r.lineNo === l.lineNo && r.state === 'committed').map((r) => r.quantity));
        const taken = committed + sum(own.filter((r) => r.lineNo === l.lineNo && r.state === 'reserved').map((r) => r.quantity));
        if (taken > l.quantity - cancelledUnits) {
          v.push({
            subject: o.orderId,
            detail: `line ${l.lineNo} (${l.sku}): ${taken} unit(s) reserved or committed for ${l.quantity - cancelledUnits} still ordered`,
          });
        }
        if (cancelledStatus(o.status) && committed > 0 && !o.shipments.some((s) => SHIPPED_RANK.has(s.status))) {
          v.push({
            subject: o.orderId,
            detail: `${o.status} but ${committed} unit(s) of line ${l.lineNo} were committed (left the warehouse)`,
          });
        }
        if (o.status === 'COMPLETED' && committed !== l.quantity - cancelledUnits) {
          v.push({
            subject: o.orderId,
            detail: `COMPLETED but line ${l.lineNo} (${l.sku}) committed ${committed} of ${l.quantity - cancelledUnits} unit(s)`,
          });
        }
      }
    }
    add(
      'stock.orders-hold-what-they-should',
      'a finished order holds no reserved units; committed units = units ordered less cancelled; never more',
      f.orders.length,
      v,
    );
  }
  {
    const v: Violation[] = [];
    let checked = 0;
    const restocked = new Map<string, number>();
    for (const a of f.adjustments) if (a.ref) restocked.set(a.ref, (restocked.get(a.ref) ?? 0) + a.after - a.before);
    for (const o of f.orders) {
      for (const r of o.returns) {
        checked++;
        for (const l of r.lines) {
          const got = restocked.get(`${r.returnId}:${l.lineNo}`) ?? 0;
          const want = r.status === 'accepted' ? l.quantity : 0;
          // An order still open may have restocked a received parcel before it hears "accepted".
          const ok = isTerminal(o.status) ? got === want : got === want || (r.status === 'received' && got === l.quantity);
          if (!ok)
            v.push({
              subject: o.orderId,
              detail: `return ${r.returnId} (${r.status}) line ${l.lineNo}: restocked ${got}, expected ${want}`,
            });
        }
      }
    }
    add(
      'stock.returns-restocked-once',
      'an accepted return puts its units back once; a rejected or expired one puts nothing back',
      checked,
      v,
    );
  }

  // ---------------------------------------------------------------- money
  const ledgerByOrder = groupBy(f.payments, (p) => p.orderId);
  {
    const v: Violation[] = [];
    for (const o of f.orders) {
      const entries = ledgerByOrder.get(o.orderId) ?? [];
      const captures = entries.filter((e) => e.type === 'capture');
      const refunds = entries.filter((e) => e.type === 'refund');
      if (o.paymentMethod === 'cod') {
        if (entries.some((e) => e.type !== 'decline'))
          v.push({ subject: o.orderId, detail: `cash on delivery but the gateway shows ${entries.map((e) => e.type).join(', ')}` });
        const instructed = sum(f.refundInstructions.filter((r) => r.orderId === o.orderId).map((r) => toMinor(r.amount)));
        if (instructed > toMinor(o.total))
          v.push({ subject: o.orderId, detail: `refund instructions ${money(instructed)} exceed the order total ${o.total}` });
        continue;
      }
      for (const [shipmentId, cs] of groupBy(o.captures, (c) => c.shipmentId)) {
        if (cs.length > 1)
          v.push({
            subject: o.orderId,
            detail: `shipment ${shipmentId} captured ${cs.length} times (${cs.map((c) => c.captureId).join(', ')})`,
          });
      }
      const captured = sum(captures.map((c) => toMinor(c.amount)));
      const refunded = sum(refunds.map((r) => toMinor(r.amount)));
      if (captured > toMinor(o.total))
        v.push({ subject: o.orderId, detail: `captured ${money(captured)} above the order total ${o.total}` });
      // The rest compares finished books: an order still moving may have a capture the projection has not heard of yet.
      if (!isTerminal(o.status)) continue;
      // The gateway's captures are exactly the ones the OMS knows of.
      const omsIds = new Set(o.captures.map((c) => c.captureId));
      for (const c of captures)
        if (!omsIds.has(c.id))
          v.push({ subject: o.orderId, detail: `capture ${c.id} (${c.amount}) at the gateway is unknown to the order` });
      const ledgerIds = new Map(captures.map((c) => [c.id, c]));
      for (const c of o.captures) {
        const l = ledgerIds.get(c.captureId);
        if (!l) v.push({ subject: o.orderId, detail: `the order records capture ${c.captureId} the gateway does not have` });
        else if (toMinor(l.amount) !== toMinor(c.amount))
          v.push({ subject: o.orderId, detail: `capture ${c.captureId}: gateway ${l.amount}, order ${c.amount}` });
      }
      // Authorisations: never captured beyond, and none left holding money once the order is finished.
      const auths = entries.filter((e) => e.type === 'authorize');
      for (const a of auths) {
        const authId = a.authorizationId ?? a.id;
        const onIt = sum(captures.filter((c) => c.authorizationId === authId).map((c) => toMinor(c.amount)));
        if (onIt > toMinor(a.amount))
          v.push({ subject: o.orderId, detail: `authorisation ${authId}: captured ${money(onIt)} of ${a.amount}` });
        // A void releases what it names (a partial reversal) or all that was left; an expiry all of it.
        const released = sum(entries.filter((e) => e.type === 'void' && e.authorizationId === authId).map((e) => toMinor(e.amount)));
        const closed = onIt + released >= toMinor(a.amount) || entries.some((e) => e.type === 'expire' && e.authorizationId === authId);
        if (!closed)
          v.push({
            subject: o.orderId,
            detail: `${o.status} but authorisation ${authId} still holds ${money(toMinor(a.amount) - onIt - released)} (neither captured, released nor expired)`,
          });
      }
      const net = captured - refunded;
      if (cancelledStatus(o.status) && net !== 0)
        v.push({ subject: o.orderId, detail: `${o.status} but captured ${money(captured)} − refunded ${money(refunded)} = ${money(net)}` });
      if (o.status === 'REJECTED' && captured > 0) v.push({ subject: o.orderId, detail: `REJECTED but ${money(captured)} was captured` });
      if (!cancelledStatus(o.status)) {
        const returned = sum(o.returns.filter((r) => r.status === 'accepted').map((r) => toMinor(r.refunded ?? '0')));
        if (refunded !== returned)
          v.push({
            subject: o.orderId,
            detail: `refunded ${money(refunded)} at the gateway, but accepted returns refunded ${money(returned)}`,
          });
        if (o.status === 'COMPLETED' && o.cancelledLines.length === 0 && captured !== toMinor(o.total)) {
          v.push({ subject: o.orderId, detail: `COMPLETED with nothing cancelled but captured ${money(captured)} of ${o.total}` });
        }
        const everything = o.lines.every((l) => {
          const kept = l.quantity - sum(o.cancelledLines.filter((c) => c.lineNo === l.lineNo).map((c) => c.quantity));
          const back = sum(
            o.returns
              .filter((r) => r.status === 'accepted')
              .flatMap((r) => r.lines)
              .filter((x) => x.lineNo === l.lineNo)
              .map((x) => x.quantity),
          );
          return back >= kept;
        });
        if (o.status === 'COMPLETED' && everything && o.returns.some((r) => r.status === 'accepted') && net !== 0) {
          v.push({ subject: o.orderId, detail: `every unit came back and was accepted, but ${money(net)} is still kept` });
        }
      }
    }
    add(
      'money.matches-final-state',
      "per order: gateway captures are the order's; captured − refunded fits its final state; no authorisation left open",
      f.orders.length,
      v,
    );
  }
  {
    const v: Violation[] = [];
    const captures = f.payments.filter((e) => e.type === 'capture');
    const refundsByCapture = groupBy(
      f.payments.filter((e) => e.type === 'refund'),
      (e) => e.captureId ?? '?',
    );
    for (const c of captures) {
      const refunded = sum((refundsByCapture.get(c.id) ?? []).map((r) => toMinor(r.amount)));
      if (refunded > toMinor(c.amount))
        v.push({ subject: c.orderId, detail: `capture ${c.id}: refunded ${money(refunded)} of ${c.amount}` });
    }
    for (const [captureId, rs] of refundsByCapture) {
      if (!captures.some((c) => c.id === captureId)) v.push({ subject: rs[0]!.orderId, detail: `refund of unknown capture ${captureId}` });
    }
    // The same idempotency key acting twice would be two effects for one request.
    for (const [k, es] of groupBy(
      f.payments.filter((e) => e.idempotencyKey && e.type !== 'expire'),
      (e) => `${e.type}:${e.idempotencyKey}`,
    )) {
      if (es.length > 1)
        v.push({
          subject: es[0]!.orderId,
          detail: `${es.length} ${k.split(':')[0]} effects for one idempotency key ${es[0]!.idempotencyKey}`,
        });
    }
    add('money.refunds-within-captures', 'never a refund above what its capture took; one effect per idempotency key', captures.length, v);
  }

  // ---------------------------------------------------------------- carriers and warehouse
  {
    const v: Violation[] = [];
    let checked = 0;
    const bookingsByShipment = groupBy(
      f.bookings.filter((b) => b.kind === 'shipment'),
      (b) => b.shipmentId ?? '?',
    );
    const live = (b: BookingFacts) => b.status !== 'cancelled' && !b.forgotten;
    const known = new Set<string>();
    for (const o of f.orders) {
      for (const s of o.shipments) {
        checked++;
        known.add(s.shipmentId);
        const active = (bookingsByShipment.get(s.shipmentId) ?? []).filter(live);
        if (s.status === 'cancelled' || cancelledStatus(o.status)) {
          if (active.length)
            v.push({
              subject: o.orderId,
              detail: `shipment ${s.shipmentId} is cancelled but booking ${active.map((b) => `${b.bookingId} (${b.status})`).join(', ')} is still live`,
            });
        } else if (BOOKED_OR_LATER.has(s.status)) {
          if (active.length !== 1)
            v.push({ subject: o.orderId, detail: `shipment ${s.shipmentId} (${s.status}) has ${active.length} live bookings` });
          else if (s.bookingId && active[0]!.bookingId !== s.bookingId)
            v.push({
              subject: o.orderId,
              detail: `shipment ${s.shipmentId} records booking ${s.bookingId} but the carrier's live one is ${active[0]!.bookingId}`,
            });
          else if (s.status === 'delivered' && active[0]!.status !== 'delivered')
            v.push({ subject: o.orderId, detail: `shipment ${s.shipmentId} delivered but its booking is ${active[0]!.status}` });
        } else if (isTerminal(o.status) && active.length) {
          v.push({
            subject: o.orderId,
            detail: `shipment ${s.shipmentId} never got past ${s.status} but has live booking(s) ${active.map((b) => b.bookingId).join(', ')}`,
          });
        }
      }
    }
    for (const [shipmentId, bs] of bookingsByShipment) {
      if (known.has(shipmentId)) continue;
      const active = bs.filter(live);
      const owner = byId.get(bs[0]!.orderId);
      if (active.length && owner && isTerminal(owner.status))
        v.push({
          subject: bs[0]!.orderId,
          detail: `booking ${active.map((b) => b.bookingId).join(', ')} for shipment ${shipmentId} the order does not know`,
        });
    }
    for (const [returnId, bs] of groupBy(
      f.bookings.filter((b) => b.kind === 'return'),
      (b) => b.returnId ?? '?',
    )) {
      if (bs.filter(live).length > 1)
        v.push({ subject: bs[0]!.orderId, detail: `return ${returnId} has ${bs.filter(live).length} live return labels` });
    }
    add(
      'carriers.one-live-booking',
      'one live booking per live shipment (the one the order records); none for a cancelled shipment or order',
      checked,
      v,
    );
  }
  {
    const v: Violation[] = [];
    let checked = 0;
    const picksByShipment = groupBy(f.picks, (p) => p.shipmentId);
    for (const o of f.orders) {
      for (const s of o.shipments) {
        checked++;
        const open = (picksByShipment.get(s.shipmentId) ?? []).filter((p) => p.status !== 'cancelled');
        if (open.length > 1) v.push({ subject: o.orderId, detail: `shipment ${s.shipmentId} has ${open.length} open pick orders` });
        if (s.status === 'cancelled' && open.length)
          v.push({
            subject: o.orderId,
            detail: `shipment ${s.shipmentId} is cancelled but pick order ${open.map((p) => p.pickOrderId).join(', ')} is not`,
          });
      }
    }
    add('warehouse.picks-follow-shipments', 'at most one open pick order per shipment; none for a cancelled shipment', checked, v);
  }

  // ---------------------------------------------------------------- channels
  {
    const v: Violation[] = [];
    const pushes = new Map(f.channels.omsPushes.map((p) => [`${p.channel}\u0000${p.orderId}`, p]));
    const callsByOrder = groupBy(f.channels.calls, (c) => `${c.channel}\u0000${c.channelOrderId}`);
    let checked = 0;
    for (const o of f.orders) {
      // The workflow awaits its pushes before it completes: until then the last one may be on its way.
      if (!isTerminal(o.status) || orderWorkflows.get(o.orderId)?.status.toUpperCase() !== 'COMPLETED') continue;
      checked++;
      const p = pushes.get(`${o.channel}\u0000${o.orderId}`);
      // The number the channel is told the final step under.
      const final = o.seq + (p?.shift ?? 0);
      if (!p || p.status !== o.status || p.seq !== final) {
        v.push({
          subject: o.orderId,
          detail: `final status ${o.status} (seq ${final}) but the OMS last pushed ${p ? `${p.status} (seq ${p.seq})` : 'nothing'} to ${o.channel}`,
        });
      }
      if (o.channel === 'web' || o.channel === 'pos') {
        const got = f.channels.feedLatest[o.orderId];
        if (!got || got.status !== o.status || got.seq !== final)
          v.push({
            subject: o.orderId,
            detail: `${o.channel} was last told ${got ? `${got.status} (seq ${got.seq})` : 'nothing'}, final is ${o.status} (seq ${final})`,
          });
      } else if (o.channel === 'shopify') {
        const calls = callsByOrder.get(`shopify\u0000${o.channelOrderId}`) ?? [];
        const last = calls[calls.length - 1];
        const want = cancelledStatus(o.status) ? 'cancel_order' : `update_order oms:${o.status}`;
        const got = last ? (last.action === 'cancel_order' ? 'cancel_order' : `${last.action} ${last.status}`) : 'nothing';
        if (got !== want) v.push({ subject: o.orderId, detail: `shopify's last call is ${got}, final is ${o.status} (expected ${want})` });
      } else {
        // Shopee, Lazada and TikTok are told only of handover and cancellation.
        const platform = f.channels.platformOrders.find((x) => x.channel === o.channel && x.channelOrderId === o.channelOrderId);
        const cancelledThere = platform !== undefined && /^cancel/i.test(platform.status);
        if (cancelledStatus(o.status) !== cancelledThere)
          v.push({ subject: o.orderId, detail: `${o.channel} shows the order ${platform?.status ?? 'unknown'}, final is ${o.status}` });
      }
    }
    add(
      'channels.last-push-is-final',
      "each finished order's channel was last told its final status (as far as the channel's API carries it)",
      checked,
      v,
    );
  }

  // ---------------------------------------------------------------- returns
  {
    const v: Violation[] = [];
    let checked = 0;
    for (const o of f.orders) {
      if (!isTerminal(o.status)) continue;
      for (const r of o.returns) {
        checked++;
        if (!['accepted', 'rejected', 'expired'].includes(r.status))
          v.push({ subject: o.orderId, detail: `${o.status} with return ${r.returnId} still ${r.status}` });
      }
    }
    add('returns.closed-with-the-order', 'a finished order has no return still open', checked, v);
  }
  return results;
}

/** True when no invariant has a violation. */
export const allHold = (results: InvariantResult[]) => results.every((r) => r.violations.length === 0);
