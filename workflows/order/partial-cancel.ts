/**
 * Partial cancellation. Before shipping starts a cancelled line is simply not reserved, or its
 * reserved units go back to stock; afterwards the shipment holding it is cut (cancelled, its
 * booking and pick order undone) and a new one ships the rest for its share less the cancelled
 * units'. Its compensation: the authorisation's uncaptured remainder is released once every
 * parcel's capture is known. The arithmetic is in domain/order-lines.
 */
import { condition, log } from '@temporalio/workflow';
import { fromMinor, toMinor } from '../../domain/money';
import {
  describeLines,
  excessUnits,
  mergeLines,
  planCuts,
  qtyOf,
  reduceAllocations,
  shareAfterCut,
  uncapturedRemainder,
} from '../../domain/order-lines';
import { describeFailure } from '../attention';
import { cancelShipmentSignal, type LineCancelResult, type LineQuantity, type ShipmentView } from '../messages';
import { signalChild, startShipment, untilCapturesKnown } from './fulfilment';
import { aggregateStatus, type OrderRun } from './run';

/** Before shipping: units reserved for lines cancelled meanwhile go back to stock. */
export async function giveBackCancelledUnits(o: OrderRun): Promise<void> {
  for (;;) {
    const excess = excessUnits(
      o.state.allocations,
      o.order.lines.map((l, i) => l.quantity - o.cancelledOf(i + 1)),
    );
    if (!excess.size) return;
    for (const [warehouseId, lines] of excess) {
      await o.books.releaseUnits({ orderId: o.orderId, warehouseId, lines, ref: `${o.orderId}:cut-${++o.cutNo}` });
      o.state.allocations = reduceAllocations(o.state.allocations, warehouseId, lines);
    }
  }
}

/**
 * Cancels units of the order (the cancel-lines update, validated): every unit still open is the
 * whole order's cancellation; before shipping the lines are dropped; after, their shipments are
 * cut. Answers within 10 seconds with what was cancelled, refused, or is still pending.
 */
export async function cancelLines(o: OrderRun, req: { reason: string; actor: string; lines: LineQuantity[] }): Promise<LineCancelResult> {
  const { state } = o;
  const { reason, actor } = req;
  const lines = mergeLines(req.lines);
  const left = o.remainingLines().reduce((a, l) => a + l.quantity, 0) - lines.reduce((a, l) => a + l.quantity, 0) - o.unitsBeingCut;
  if (left <= 0) {
    // Cancelling every unit still open is cancelling the order, with its full compensation.
    o.requestCancel({ reason, actor });
    await condition(() => o.cancelSettled, '10 seconds');
    const done = state.status === 'CANCELLED';
    return {
      status: state.status,
      cancelled: done ? lines : [],
      refused: o.cancelSettled && !done ? lines : [],
      pending: !o.cancelSettled,
    };
  }
  if (!o.shippingStarted) {
    o.addCancelled(lines);
    // A backordered order may be waiting for exactly the line that was cancelled.
    o.stockMayBeBack = true;
    await o.record(state.status, `cancelled ${describeLines(lines)}: ${reason}`, { lines, reason }, actor);
    return { status: state.status, cancelled: lines, refused: [], pending: false };
  }
  const cuts = planCuts(
    o.cuttableShipments().map((x) => ({ id: x.shipmentId, lines: x.lines })),
    lines,
  );
  for (const id of cuts.keys()) o.cutsInFlight.add(id);
  const units = lines.reduce((a, l) => a + l.quantity, 0);
  o.unitsBeingCut += units;
  const outcome = { cancelled: [] as LineQuantity[], refused: [] as LineQuantity[], done: false };
  void Promise.all(
    [...cuts].map(async ([id, cut]) => ((await cutShipment(o, id, cut, reason, actor)) ? outcome.cancelled : outcome.refused).push(...cut)),
  )
    .catch((err: unknown) => {
      log.warn('cutting a shipment failed', { orderId: o.orderId, error: describeFailure(err) });
    })
    .finally(() => {
      for (const id of cuts.keys()) o.cutsInFlight.delete(id);
      o.unitsBeingCut -= units;
      outcome.done = true;
    });
  await condition(() => outcome.done, '10 seconds');
  return {
    status: state.status,
    cancelled: mergeLines(outcome.cancelled),
    refused: mergeLines(outcome.refused),
    pending: !outcome.done,
  };
}

/**
 * Cancels units of one shipment still at the warehouse: the shipment is cancelled (booking and
 * pick order undone), the cut units go back to stock and a new shipment carries what is left,
 * capturing (or collecting) its share less the cancelled units' share. If the carrier already
 * has the parcel the cut is refused and the shipment carries on. Returns whether it was cut.
 */
async function cutShipment(o: OrderRun, id: string, cut: LineQuantity[], reason: string, actor: string): Promise<boolean> {
  const { state, orderId } = o;
  const s = state.shipments.find((x) => x.shipmentId === id)!;
  const keep = s.lines.map((l) => ({ ...l, quantity: l.quantity - qtyOf(cut, l.lineNo) })).filter((l) => l.quantity > 0);
  // A placeholder keeps the order from counting itself delivered while the rest is re-shipped.
  const next: ShipmentView | undefined = keep.length
    ? {
        shipmentId: `${orderId}-shipment-${(o.shipmentNo = Math.max(o.shipmentNo, state.shipments.length) + 1)}`,
        warehouseId: s.warehouseId,
        status: 'pending',
        needsAttention: false,
        lines: keep,
      }
    : undefined;
  if (next) {
    state.shipments.push(next);
    o.placeholders.add(next.shipmentId);
  }
  await condition(() => o.children.has(id));
  await signalChild(o, id, cancelShipmentSignal, { reason: `lines cancelled: ${reason}`, actor });
  await condition(() => s.status === 'cancelled' || s.cancelRefused === true);
  if (next) o.placeholders.delete(next.shipmentId);
  if (s.cancelRefused || o.cancelRequest) {
    // The carrier had it first, or the whole order is being cancelled (which undoes the rest).
    if (next && !o.cancelRequest) {
      state.shipments.splice(state.shipments.indexOf(next), 1);
      await o.record(
        aggregateStatus(state),
        `cancellation of ${describeLines(cut)} refused: ${id} was already with the carrier; open a return`,
        { shipmentId: id, lines: cut, reason },
        actor,
      );
    }
    return s.status === 'cancelled';
  }
  const before = o.shareOf(o.cancelled);
  o.addCancelled(cut);
  const nextShare = shareAfterCut(o.shipmentShares.get(id) ?? 0, before, o.shareOf(o.cancelled));
  state.allocations = reduceAllocations(state.allocations, s.warehouseId, cut);
  await o.books.releaseUnits({ orderId, warehouseId: s.warehouseId, lines: cut, ref: `${id}:cut` });
  if (next) {
    o.shipmentShares.set(next.shipmentId, nextShare);
    await startShipment(o, next, nextShare);
  }
  await o.record(
    aggregateStatus(state),
    `cancelled ${describeLines(cut)} from ${id}${next ? `; ${next.shipmentId} ships the rest` : ''}: ${reason}`,
    { shipmentId: id, lines: cut, reason, ...(next ? { replacement: next.shipmentId } : {}) },
    actor,
  );
  return true;
}

/**
 * After a partial cancellation the authorisation holds more than will ever be captured:
 * once every shipment is settled the remainder is released, not left to expire.
 */
export async function releaseUncapturedRemainder(o: OrderRun, someShipmentsCancelled = false): Promise<void> {
  const p = o.state.payment;
  if (!p.authorizationId || p.voided || (!o.cancelled.length && !someShipmentsCancelled)) return;
  // A capture may still be on its way (a carrier can report delivery first): voiding before it
  // would make the gateway refuse the capture. Wait until every shipment's capture is known.
  await untilCapturesKnown(o);
  const remainder = uncapturedRemainder(
    toMinor(p.authorized ?? '0'),
    p.captures.map((c) => toMinor(c.amount)),
  );
  if (remainder <= 0) return;
  const authorizationId = p.authorizationId;
  const voided = await o.steps.run('release uncaptured remainder', () =>
    o.acts.voidAuthorization({ authorizationId, key: `${o.orderId}:void-remainder` }),
  );
  p.voided = true;
  // An authorisation that lapsed meanwhile released nothing when voided: the gateway had let the remainder go.
  const lapsed = voided.status === 'expired';
  p.remainderReleased = lapsed ? fromMinor(remainder) : (voided.released ?? fromMinor(remainder));
  o.learned({
    kind: 'released',
    key: `${lapsed ? 'lapsed' : 'release'}:${authorizationId}`,
    amount: p.remainderReleased,
    authorizationId,
  });
  await o.record(
    o.state.status,
    `released ${p.remainderReleased} ${o.order.currency} of the authorisation: cancelled units are never captured`,
    { released: p.remainderReleased },
  );
}
