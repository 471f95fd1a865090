/**
 * The steps of the order's story, in order. Each returns the order's final state when the order
 * ends there (rejected, cancelled), or nothing to go on. A failing call parks the order for an
 * ops retry (`steps.run`); a cancellation passes through to the compensation.
 */
import { condition } from '@temporalio/workflow';
import { fromMinor, toMinor } from '../../domain/money';
import { groupByWarehouse } from '../../domain/order-lines';
import { businessFailure } from '../attention';
import type { OrderState } from '../messages';
import { finish } from './closing';
import { startShipment, trackUntilDelivered } from './fulfilment';
import { giveBackCancelledUnits, releaseUncapturedRemainder } from './partial-cancel';
import type { OrderRun } from './run';

type Ended = OrderState | undefined;

/** 1. Validation against the catalog and the delivery network. */
export async function validate(o: OrderRun): Promise<Ended> {
  const validation = await o.steps.run('validate order', () => o.checks.validateOrder({ order: o.order }));
  if (validation.reasons.length) return finish(o, 'REJECTED', 'order rejected: invalid', validation.reasons);
  o.state.total = validation.total;
  o.weights = validation.weights;
  return undefined;
}

/** 2. Risk: suspicious orders wait for ops, and an unanswered hold expires. */
export async function reviewRisk(o: OrderRun): Promise<Ended> {
  const { state, settings } = o;
  const risk = await o.steps.run('assess risk', () => o.checks.assessRisk({ orderId: o.orderId, order: o.order, total: state.total! }));
  if (!risk.hold) return undefined;
  state.reasons = risk.reasons;
  state.waitingFor = 'an ops decision on the risk hold (release or reject)';
  state.waitingUntil = new Date(Date.now() + settings.holdTimeoutMs).toISOString();
  await o.record('ON_HOLD', 'held for risk review', { reasons: risk.reasons, until: state.waitingUntil });
  const decided = await condition(() => o.holdDecision !== undefined, settings.holdTimeoutMs, { summary: 'risk hold expires' });
  state.waitingFor = undefined;
  state.waitingUntil = undefined;
  if (!decided) return finish(o, 'REJECTED', 'risk hold expired without a decision', [...risk.reasons, 'risk hold expired']);
  const decision = o.holdDecision!;
  if (decision.kind === 'reject') return finish(o, 'REJECTED', 'rejected after risk review', [decision.reason], decision.actor);
  state.reasons = [];
  await o.record('ON_HOLD', 'risk hold released', decision.note ? { note: decision.note } : {}, decision.actor);
  return undefined;
}

/** 3. Payment: authorise a prepaid order (captured per shipment at handover); check COD eligibility. */
export async function takePayment(o: OrderRun): Promise<Ended> {
  const { state, order, orderId } = o;
  await opsHoldPoint(o);
  if (order.payment.method === 'prepaid') {
    const token = order.payment.token;
    // Lines cancelled while the order was on hold are not charged for.
    const amount = fromMinor(toMinor(state.total!) - o.shareOf(o.cancelled));
    await o.record('PAYMENT_PENDING', `authorising ${amount} ${order.currency}`);
    o.authorising = { amount, currency: order.currency, token };
    try {
      const auth = await o.steps.run(
        'authorise payment',
        () => o.acts.authorizePayment({ orderId, amount, currency: order.currency, token }),
        { handles: ['PaymentDeclined'] },
      );
      state.payment.authorizationId = auth.authorizationId;
      state.payment.authorized = auth.amount;
      if (auth.expiresAt) state.payment.expiresAt = auth.expiresAt;
      o.learned({ kind: 'authorised', key: `auth:${auth.authorizationId}`, amount: auth.amount, authorizationId: auth.authorizationId });
    } catch (err) {
      // A cancellation during the call passes through to the compensation.
      const refusal = businessFailure(err);
      if (!refusal) throw err;
      const code = (refusal.details?.[0] as { declineCode?: string } | undefined)?.declineCode;
      return finish(o, 'REJECTED', 'payment declined', [code ? `card declined: ${code}` : refusal.message]);
    }
  } else {
    const cod = await o.steps.run('check COD eligibility', () => o.checks.checkCodEligibility({ order, total: state.total! }));
    state.payment.codEligible = cod.eligible;
    if (!cod.eligible) return finish(o, 'REJECTED', 'cash on delivery refused', [cod.reason ?? 'not eligible for cash on delivery']);
  }
  return undefined;
}

/** 4. Allocation: reserve stock atomically; without stock, wait for a restock until the deadline. */
export async function reserveStock(o: OrderRun): Promise<Ended> {
  const { state, order, orderId, settings } = o;
  let backorderDeadline: number | undefined;
  for (;;) {
    await opsHoldPoint(o);
    o.stockMayBeBack = false;
    o.reserveStarted = true;
    const lines = o.remainingLines();
    const plan = await o.steps.run('reserve stock', () => o.checks.reserveStock({ orderId, lines, address: order.shippingAddress }));
    if (plan.ok) {
      state.allocations = plan.allocations;
      state.allocationWarehouses = plan.warehouses;
      state.shortages = [];
      break;
    }
    state.shortages = plan.shortages;
    if (backorderDeadline === undefined) {
      backorderDeadline = Date.now() + settings.backorderTimeoutMs;
      state.waitingFor = `a restock of ${plan.shortages.map((s) => s.sku).join(', ')}`;
      state.waitingUntil = new Date(backorderDeadline).toISOString();
      await o.record('BACKORDERED', plan.summary, { shortages: plan.shortages, until: state.waitingUntil });
    }
    const woke = await condition(() => o.stockMayBeBack, Math.max(backorderDeadline - Date.now(), 1), { summary: 'backorder deadline' });
    if (!woke) {
      await o.books.clearBackorder({ orderId });
      if (state.payment.authorizationId) {
        const authorizationId = state.payment.authorizationId;
        await o.steps.run('void authorisation', () => o.acts.voidAuthorization({ authorizationId, key: `${orderId}:void` }));
        state.payment.voided = true;
        o.learned({ kind: 'released', key: `void:${authorizationId}`, amount: state.payment.authorized ?? '0.00', authorizationId });
      }
      return finish(o, 'CANCELLED', 'backorder deadline passed without stock', [`no stock by ${state.waitingUntil}: ${plan.summary}`]);
    }
  }
  state.waitingFor = undefined;
  state.waitingUntil = undefined;
  await o.record('ALLOCATED', state.allocationWarehouses.map((w) => `${w.id}: ${w.reason}`).join('; '), {
    allocations: state.allocations,
    warehouses: state.allocationWarehouses,
  });
  return undefined;
}

/**
 * 5. Fulfilment: one child workflow per warehouse. Units cancelled while stock was being reserved
 *    are given back first; from here on a cancelled line cancels its shipment.
 * 6. Tracking: shipments report progress; the order's status follows the slowest shipment.
 */
export async function shipAndTrack(o: OrderRun): Promise<Ended> {
  const { state, orderId } = o;
  await opsHoldPoint(o);
  await giveBackCancelledUnits(o);
  o.shippingStarted = true;
  const byWarehouse = groupByWarehouse(state.allocations);
  const shares = o.splitByValue(
    toMinor(state.total!) - o.shareOf(o.cancelled),
    byWarehouse.map(([, allocs]) => allocs),
  );
  state.shipments = byWarehouse.map(([warehouseId, allocs], i) => ({
    shipmentId: `${orderId}-shipment-${i + 1}`,
    warehouseId,
    status: 'pending',
    needsAttention: false,
    lines: allocs.map(({ lineNo, sku, quantity }) => ({ lineNo, sku, quantity })),
  }));
  o.shipmentNo = state.shipments.length;
  for (const [i, s] of state.shipments.entries()) o.shipmentShares.set(s.shipmentId, shares[i]!);
  await o.record('FULFILLING', `${state.shipments.length} shipment(s) to prepare`, {
    shipments: state.shipments.map((s) => ({ shipmentId: s.shipmentId, warehouseId: s.warehouseId })),
  });
  o.cities = await o.books.warehouseCities({ ids: byWarehouse.map(([id]) => id) });
  // A line cut may add a replacement while these start: it starts itself, with its own share.
  for (const s of [...state.shipments]) await startShipment(o, s, o.shipmentShares.get(s.shipmentId)!);

  await trackUntilDelivered(o);
  if (state.shipments.every((s) => s.status === 'cancelled' || s.rts === 'refunded')) {
    return finish(o, 'CANCELLED', 'every parcel came back to the sender: refunded', ['returned to sender']);
  }
  await releaseUncapturedRemainder(o);
  return undefined;
}

/** Where an ops hold takes effect: the order waits here, without a deadline, for a release. */
async function opsHoldPoint(o: OrderRun): Promise<void> {
  if (!o.opsHold) return;
  const resume = o.state.status;
  const { reason, actor } = o.opsHold;
  o.state.waitingFor = `an ops release of the hold (${reason})`;
  o.state.waitingUntil = undefined;
  await o.record('ON_HOLD', `on hold: ${reason}`, { reason }, actor);
  await condition(() => o.opsHold === undefined);
  o.state.waitingFor = undefined;
  const by = o.opsRelease ?? { actor: 'system' };
  await o.record(resume, 'hold released', by.note ? { note: by.note } : {}, by.actor);
}
