/**
 * Returns and exchanges: after delivery the order stays open for its return window. Each return
 * request the handler queues becomes a child workflow (label, the parcel's way back, inspection,
 * refund of its lines' share); an exchange reserves its replacement when requested and ships it
 * when the parcel is back, or gives the stock back when the return expires.
 */
import { CancellationScope, condition, isCancellation, startChild } from '@temporalio/workflow';
import { fromMinor, toMinor } from '../../domain/money';
import type { OrderStatus } from '../../domain/order';
import { describeFailure } from '../attention';
import { retryShipmentSignal, type ReturnProgress, type ReturnView } from '../messages';
import type { ReturnInput } from '../return';
import { childrenClosed } from './closing';
import { applyProgress, launchShipment, untilCapturesKnown } from './fulfilment';
import type { OrderRun } from './run';

/** The return window: returns are taken until it closes and every return and parcel settles; then COMPLETED. */
export async function returnWindowThenComplete(o: OrderRun): Promise<void> {
  const { state } = o;
  const windowMs = o.settings.returnWindowMs ?? 0;
  const closesAt = Date.now() + windowMs;
  if (windowMs > 0) {
    o.returnWindowOpen = true;
    state.waitingFor = 'the return window to close';
    state.waitingUntil = new Date(closesAt).toISOString();
    await o.record('DELIVERED', `open for returns until ${state.waitingUntil}`);
  }
  // Open: returns in progress, parcels still moving, and cash on delivery not yet remitted.
  const activeReturns = () =>
    state.returns.filter((r) => !['accepted', 'rejected', 'expired'].includes(r.status)).length +
    state.shipments.filter((s) => (s.status !== 'delivered' && s.status !== 'cancelled' && !s.rts) || (s.cod && !s.cod.settled)).length;
  while (o.returnWindowOpen || activeReturns() > 0 || o.returnInbox.length > 0 || o.progressInbox.length > 0) {
    const ready = () =>
      o.returnQueue.length > 0 || o.returnInbox.length > 0 || o.progressInbox.length > 0 || (!o.returnWindowOpen && activeReturns() === 0);
    if (o.returnWindowOpen) {
      if (!(await condition(ready, Math.max(closesAt - Date.now(), 1), { summary: 'return window closes' }))) {
        o.returnWindowOpen = false;
        continue;
      }
    } else {
      await condition(ready);
    }
    while (o.returnQueue.length) await startReturn(o, o.returnQueue.shift()!, o.cities);
    while (o.returnInbox.length) await applyReturnProgress(o, o.returnInbox.shift()!);
    // A replacement's progress tells the story without moving the order's status.
    while (o.progressInbox.length) await applyProgress(o, o.progressInbox.shift()!, state.status);
  }
  await childrenClosed(o);
  state.waitingFor = undefined;
  state.waitingUntil = undefined;
  await o.record('COMPLETED', 'return window closed');
}

async function startReturn(o: OrderRun, returnId: string, cities: Record<string, string>): Promise<void> {
  const { state, order, settings } = o;
  const r = state.returns.find((x) => x.returnId === returnId)!;
  const warehouseId = state.allocations.find((a) => a.lineNo === r.lines[0]!.lineNo)?.warehouseId ?? state.shipments[0]!.warehouseId;
  if (r.exchange) {
    // Reserve the replacement now (under the return's id), so it is there when the parcel is back.
    const plan = await o.steps.run('reserve exchange stock', () =>
      o.acts.reserveStock({
        orderId: returnId,
        lines: r.lines.map((l) => ({ lineNo: l.lineNo, sku: l.sku, quantity: l.quantity })),
        address: order.shippingAddress,
      }),
    );
    if (plan.ok) {
      o.exchangePlans.set(returnId, plan.allocations);
      r.exchange = { status: 'reserved' };
      r.refundDue = '0.00';
    } else {
      await o.books.clearBackorder({ orderId: returnId });
      r.exchange = { status: 'no_stock' };
    }
  }
  // The refund is the lines' share of what was paid: once a prepaid order's captures are all
  // known (a delivery can reach the order before its capture). Returns started before this
  // patch kept the figure of their request.
  if (o.patched('return-refund-after-captures')) {
    if (state.payment.authorizationId) await untilCapturesKnown(o, state.status);
    if (r.exchange?.status !== 'reserved') r.refundDue = fromMinor(o.refundDueFor(r.lines, r.returnId));
  }
  await o.record(
    'RETURN_REQUESTED',
    `return ${returnId} requested: ${r.reason}${r.exchange ? ` (exchange: ${r.exchange.status === 'reserved' ? 'replacement reserved' : 'no stock, refund instead'})` : ''}`,
    { lines: r.lines, refundDue: r.refundDue },
  );
  await launchReturn(o, {
    orderId: o.orderId,
    returnId,
    lines: r.lines,
    from: order.shippingAddress,
    warehouse: { id: warehouseId, city: cities[warehouseId] ?? '' },
    carrier: settings.defaultCarrier,
    refundDue: r.refundDue,
    cod: order.payment.method === 'cod',
    captures: state.payment.captures.map((c) => ({
      captureId: c.captureId,
      refundable: fromMinor(toMinor(c.amount) - (o.refundsByCapture.get(c.captureId) ?? 0)),
    })),
    shipByMs: settings.returnShipByMs ?? 14 * 86_400_000,
    settings,
  });
}

/** Starts a return's child workflow; like a shipment's, one that fails or cannot start is flagged. */
async function launchReturn(o: OrderRun, args: ReturnInput): Promise<void> {
  const id = args.returnId;
  o.returnArgs.set(id, args);
  try {
    const handle = await CancellationScope.nonCancellable(() => startChild(o.childTypes.return, { workflowId: id, args: [args] }));
    o.returnChildren.set(id, handle);
    o.downReturns.delete(id);
    handle.result().catch((err: unknown) => {
      if (!isCancellation(err)) returnDown(o, id, err);
    });
  } catch (err) {
    returnDown(o, id, err, 'could not start');
  }
}

/** Flags a return whose workflow is gone; the message goes through the inbox like any progress. */
export function returnDown(o: OrderRun, id: string, err: unknown, what = 'failed'): void {
  if (o.downReturns.has(id)) return;
  const reason = `the return workflow ${what}: ${describeFailure(err)}`;
  o.downReturns.set(id, reason);
  const r = o.state.returns.find((x) => x.returnId === id);
  o.returnInbox.push({
    returnId: id,
    status: r?.status ?? 'requested',
    needsAttention: true,
    event: `return ${id} needs attention: ${reason}`,
    actor: 'system',
  });
}

/** An ops retry of a return: its workflow runs again from where the order last saw it, or is told to retry. */
export async function retryReturn(o: OrderRun, id: string, actor: string): Promise<void> {
  if (o.downReturns.has(id)) {
    const r = o.state.returns.find((x) => x.returnId === id)!;
    const why = o.downReturns.get(id) ?? 'its workflow was gone';
    o.downReturns.delete(id);
    r.needsAttention = false;
    await o.record(o.state.status, `return ${id} restarted by ${actor} (${why})`, { returnId: id }, actor);
    await launchReturn(o, { ...o.returnArgs.get(id)!, resumeFrom: r.status });
  } else {
    await o.returnChildren
      .get(id)
      ?.signal(retryShipmentSignal, { actor })
      .catch((err: unknown) => returnDown(o, id, err));
  }
}

/** The parcel is back: the reserved replacement ships like any shipment, with nothing to capture. */
async function shipReplacement(o: OrderRun, r: ReturnView): Promise<void> {
  const { state, order, orderId, settings } = o;
  const allocations = o.exchangePlans.get(r.returnId) ?? [];
  const warehouseId = allocations[0]?.warehouseId ?? state.shipments[0]!.warehouseId;
  const shipmentId = `${orderId}-shipment-${state.shipments.length + 1}`;
  const cities = await o.books.warehouseCities({ ids: [warehouseId] });
  state.shipments.push({
    shipmentId,
    warehouseId,
    status: 'pending',
    needsAttention: false,
    lines: allocations.map(({ lineNo, sku, quantity }) => ({ lineNo, sku, quantity })),
  });
  r.exchange = { status: 'shipping', shipmentId };
  await launchShipment(o, {
    orderId,
    shipmentId,
    warehouse: { id: warehouseId, city: cities[warehouseId] ?? '' },
    reservationKey: r.returnId,
    lines: allocations.map((a) => ({ lineNo: a.lineNo, sku: a.sku, quantity: a.quantity, weightGrams: 500 })),
    address: order.shippingAddress,
    recipientPhone: order.customer.phone,
    carrier: settings.defaultCarrier,
    pushCarrier: o.input.pushCarriers.includes(settings.defaultCarrier),
    settings,
  });
}

async function applyReturnProgress(o: OrderRun, p: ReturnProgress): Promise<void> {
  const r = o.state.returns.find((x) => x.returnId === p.returnId);
  if (!r) return;
  r.status = p.status;
  if (p.trackingNumber) r.trackingNumber = p.trackingNumber;
  if (p.labelUrl) r.labelUrl = p.labelUrl;
  if (p.refunded) r.refunded = p.refunded;
  if (p.needsAttention !== undefined) r.needsAttention = p.needsAttention;
  for (const c of p.refundCaptures ?? []) {
    o.refundsByCapture.set(c.captureId, (o.refundsByCapture.get(c.captureId) ?? 0) + toMinor(c.amount));
    o.learned({
      kind: 'refunded',
      key: `refund:${r.returnId}:${c.captureId}`,
      amount: c.amount,
      via: 'gateway',
      ref: c.captureId,
      why: 'return',
      ...o.unitsOf(r.lines),
    });
  }
  // A COD order's refund is paid by bank transfer (an instruction for finance).
  if (p.refunded && o.order.payment.method === 'cod' && toMinor(p.refunded) > 0)
    o.learned({
      kind: 'refunded',
      key: `refund:${r.returnId}`,
      amount: p.refunded,
      via: 'bank_transfer',
      ref: r.returnId,
      why: 'return',
      ...o.unitsOf(r.lines),
    });
  if (p.status === 'rejected' || p.status === 'expired') r.inspection = p.event;
  if (r.exchange?.status === 'reserved' && p.status === 'expired') {
    await o.books.releaseStock({ orderId: r.returnId });
    r.exchange = { status: 'released' };
  }
  if (r.exchange?.status === 'reserved' && p.status === 'received') await shipReplacement(o, r);
  const status: OrderStatus =
    p.status === 'received'
      ? 'RETURNED'
      : p.status === 'accepted'
        ? toMinor(p.refunded ?? '0') > 0
          ? 'REFUNDED'
          : 'RETURNED'
        : p.status === 'rejected' || p.status === 'expired'
          ? 'DELIVERED'
          : 'RETURN_REQUESTED';
  await o.record(status, p.event, { returnId: p.returnId, ...(p.refunded ? { refunded: p.refunded } : {}) }, p.actor);
}
