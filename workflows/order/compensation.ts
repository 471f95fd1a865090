/**
 * The order's compensation: what was done is undone in reverse (shipments with their bookings
 * and pick orders, stock, payment), each step idempotent. A shipment the carrier already has
 * cannot be undone: then the cancellation is refused for the order, what will not ship is
 * cancelled, and the rest carries on to delivery and its return window.
 */
import { businessFailure } from '../attention';
import { cancelShipmentSignal, SHIPMENT_RANK, type OrderState } from '../messages';
import { childrenClosed, finish, settled } from './closing';
import { applyProgress, progressOrDone, relaunchShipment, signalChild, trackUntilDelivered } from './fulfilment';
import { releaseUncapturedRemainder } from './partial-cancel';
import { returnWindowThenComplete } from './returns';
import { aggregateStatus, type OrderRun } from './run';

export async function compensate(o: OrderRun, { reason, actor }: { reason: string; actor: string }): Promise<OrderState> {
  const { state, orderId } = o;
  state.waitingFor = 'the cancellation to complete';
  state.waitingUntil = undefined;
  state.needsAttention = false;
  state.attentionReason = undefined;
  await o.record('CANCELLING', `cancellation requested: ${reason}`, { reason }, actor);

  // 1. Shipments: each is told to undo what it did; a parcel already with the carrier refuses.
  for (const s of state.shipments) if (!o.children.has(s.shipmentId)) s.status = 'cancelled';
  o.compensating = true;
  // A parcel the carrier already has cannot be undone: refused here, not asked. Asked, a shipment
  // delivered and waiting for its COD remittance never answered, and the order waited in
  // CANCELLING for ever (a CI chaos run). Orders started before this patch ask as they did.
  const skipHandedOver = o.patched('compensation-skips-handed-over');
  if (skipHandedOver) {
    for (const s of state.shipments)
      if (s.status !== 'cancelled' && !s.rts && SHIPMENT_RANK[s.status] >= SHIPMENT_RANK.picked_up) s.cancelRefused = true;
  }
  for (const id of o.children.keys()) {
    const s = state.shipments.find((x) => x.shipmentId === id);
    if (s?.status === 'cancelled' || (skipHandedOver && s?.cancelRefused)) continue;
    // A shipment whose workflow is gone runs again, told to undo what it did.
    if (o.downChildren.has(id)) await relaunchShipment(o, id, actor);
    else await signalChild(o, id, cancelShipmentSignal, { reason, actor });
  }
  const shipmentsSettled = () => state.shipments.every((s) => s.status === 'cancelled' || s.cancelRefused);
  while (!shipmentsSettled()) {
    await progressOrDone(o, shipmentsSettled);
    const p = o.progressInbox.shift();
    if (p) await applyProgress(o, p, 'CANCELLING');
  }
  if (state.shipments.some((s) => s.cancelRefused)) return cancellationRefused(o, { reason, actor });

  // 2. Stock, then payment.
  const undone: Record<string, unknown> = {};
  // A reservation made by a local activity (orderWorkflowV4) whose workflow task was then lost (a
  // worker killed, a server restarted) left no trace in the history: the run going on from it may
  // be cancelled before it reaches the reservation again. So such an order gives back whatever it
  // holds; a release of nothing changes nothing (the chaos run caught one held unit).
  if (o.reserveStarted || o.childTypes.localSteps) {
    const released = (await o.books.releaseStock({ orderId })).released;
    if (o.reserveStarted || released) undone.unitsReleased = released;
    await o.books.clearBackorder({ orderId });
  }
  // An authorisation whose call was cancelled may have been made all the same. Asked again with
  // its key and body, the gateway answers with it (or makes it now), and it is voided below.
  if (o.authorising && !state.payment.authorizationId && o.patched('authorisation-in-doubt')) {
    const a = o.authorising;
    try {
      const auth = await o.steps.run('learn the authorisation', () => o.acts.authorizePayment({ orderId, ...a }), {
        handles: ['PaymentDeclined'],
      });
      state.payment.authorizationId = auth.authorizationId;
      state.payment.authorized = auth.amount;
      o.learned({ kind: 'authorised', key: `auth:${auth.authorizationId}`, amount: auth.amount, authorizationId: auth.authorizationId });
    } catch (err) {
      if (!businessFailure(err)) throw err;
    }
  }
  if (state.payment.captures.length) {
    const refunds = [];
    for (const c of state.payment.captures) {
      const r = await o.steps.run('refund capture', () =>
        o.acts.refundCapture({ captureId: c.captureId, amount: c.amount, key: `${c.captureId}:refund` }),
      );
      refunds.push(r);
      o.learned({
        kind: 'refunded',
        key: `refund:${c.captureId}:cancel`,
        amount: r.amount,
        via: 'gateway',
        ref: c.captureId,
        why: 'cancellation',
        ...o.unitsOf(state.shipments.find((s) => s.shipmentId === c.shipmentId)?.lines ?? []),
      });
    }
    undone.refunded = refunds.map((r) => r.amount);
  } else if (state.payment.authorizationId && !state.payment.voided) {
    const authorizationId = state.payment.authorizationId;
    await o.steps.run('void authorisation', () => o.acts.voidAuthorization({ authorizationId, key: `${orderId}:void` }));
    state.payment.voided = true;
    undone.voided = authorizationId;
    o.learned({ kind: 'released', key: `void:${authorizationId}`, amount: state.payment.authorized ?? '0.00', authorizationId });
  }
  if (o.children.size || o.returnChildren.size) await childrenClosed(o);
  state.reasons = [reason];
  state.waitingFor = undefined;
  o.cancelSettled = true;
  await o.record('CANCELLED', `order cancelled: ${reason}`, undone, actor);
  return settled(o);
}

/**
 * Some parcel was already with the carrier: the cancelled shipments give their stock back, what
 * will not ship is cancelled (so the order holds, charges and takes back only what the carrier
 * has), and the order follows what was handed over to delivery and its return window.
 */
async function cancellationRefused(o: OrderRun, { reason, actor }: { reason: string; actor: string }): Promise<OrderState> {
  const { state, orderId } = o;
  const refused = state.shipments.filter((s) => s.cancelRefused);
  for (const s of state.shipments.filter((x) => x.status === 'cancelled'))
    await o.books.releaseStock({ orderId, warehouseId: s.warehouseId });
  // Orders before this change kept those lines as if they were still to come.
  const recordsLines = o.patched('refused-cancel-records-lines');
  if (recordsLines) o.setCancelled(o.unitsNotShipping());
  o.cancelSettled = true;
  state.waitingFor = undefined;
  await o.record(
    aggregateStatus(state),
    `cancellation refused: ${refused.map((s) => s.shipmentId).join(', ')} already with the carrier; open a return`,
    { reason, ...(recordsLines ? { cancelledLines: [...o.cancelled] } : {}) },
    actor,
  );
  await trackUntilDelivered(o);
  // The cancelled shipments' shares will never be captured (orders before this change kept them authorised).
  if (state.shipments.some((s) => s.status === 'cancelled') && o.patched('release-remainder')) await releaseUncapturedRemainder(o, true);
  // What was handed over was delivered: it can be returned like any delivered order.
  if (o.patched('return-window-after-refused-cancel')) {
    if (state.shipments.every((s) => s.status === 'cancelled' || s.rts === 'refunded')) {
      return finish(o, 'CANCELLED', 'every parcel came back to the sender: refunded', ['returned to sender']);
    }
    await returnWindowThenComplete(o);
  }
  return settled(o);
}
