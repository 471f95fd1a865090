/**
 * Fulfilment: one shipment per parcel, watched by the order. A shipment runs inside the order's
 * workflow (orders from `orderWorkflowV3` on) or as a child workflow (orders taken in before);
 * either way it reports its progress as messages the order applies in turn, and a shipment that
 * fails, is terminated or cannot start flags itself (never the order's workflow) and runs again
 * on an ops retry. Its compensation (a parcel back to the sender: restock, then send again or
 * refund) is here too.
 */
import {
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  isCancellation,
  startChild,
  type SignalDefinition,
} from '@temporalio/workflow';
import { fromMinor, toMinor } from '../../domain/money';
import { groupByWarehouse } from '../../domain/order-lines';
import type { OrderStatus } from '../../domain/order';
import { slaFor } from '../../domain/settings';
import type { Activities } from '../../activities';
import { describeFailure } from '../attention';
import { bookkeepingProfile } from '../profiles';
import { retryShipmentSignal, SHIPMENT_RANK, type ShipmentProgress, type ShipmentView } from '../messages';
import { booksInOrder, shipmentInOrder, type ShipmentInput } from '../shipment';
import { aggregateStatus, type OrderRun, type ShipmentLink } from './run';

/** The shipment's deadlines: promised from the order's placedAt, or from now for a parcel sent again. */
function slaInput(o: OrderRun, fromMs: number) {
  if (!o.settings.sla) return undefined;
  const d = slaFor(o.settings.sla, o.order.channel);
  return {
    shipBy: new Date(fromMs + d.shipByMs).toISOString(),
    deliverBy: new Date(fromMs + d.deliverByMs).toISOString(),
    graceMs: o.settings.sla.graceMs,
    stepMs: o.settings.sla.stepMs,
    codRemitByMs: o.settings.sla.codRemitByMs,
  };
}

/**
 * Starts one shipment's child workflow; `shareMinor` is what it captures (prepaid) or collects (COD).
 * The start itself is never interrupted: a cancellation landing while a child starts would leave
 * the start unresolved (the child is abandoned, not cancelled) and the order waiting forever;
 * once started, the child is registered and compensation reaches it.
 */
export async function startShipment(o: OrderRun, s: ShipmentView, shareMinor: number, again?: { reservationKey: string }): Promise<void> {
  const { order, settings } = o;
  const p = o.state.payment;
  await launchShipment(o, {
    orderId: o.orderId,
    shipmentId: s.shipmentId,
    warehouse: { id: s.warehouseId, city: o.cities[s.warehouseId] ?? '' },
    lines: s.lines.map((l) => ({ lineNo: l.lineNo, sku: l.sku, quantity: l.quantity, weightGrams: o.weights[l.sku] ?? 500 })),
    address: order.shippingAddress,
    recipientPhone: order.customer.phone,
    carrier: settings.defaultCarrier,
    pushCarrier: o.input.pushCarriers.includes(settings.defaultCarrier),
    codAmount: order.payment.method === 'cod' ? fromMinor(shareMinor) : undefined,
    // A parcel sent again was paid for when the first one left.
    capture:
      p.authorizationId && !again
        ? {
            authorizationId: p.authorizationId,
            amount: fromMinor(shareMinor),
            ...(order.payment.method === 'prepaid' ? { token: order.payment.token, currency: order.currency } : {}),
            ...(p.expiresAt ? { expiresAt: p.expiresAt } : {}),
          }
        : undefined,
    settings,
    sla: slaInput(o, again ? Date.now() : Date.parse(order.placedAt)),
    ...(again ? { reservationKey: again.reservationKey } : {}),
  });
}

/**
 * Starts a shipment's child workflow and watches it. The start itself is never interrupted. A
 * child that cannot start, fails or is terminated does not fail the order: the shipment is
 * flagged and an ops retry runs it again from where it stood (see `relaunchShipment`).
 */
export async function launchShipment(o: OrderRun, args: ShipmentInput): Promise<void> {
  const id = args.shipmentId;
  o.shipmentArgs.set(id, args);
  try {
    const handle: ShipmentLink = o.childTypes.shipmentsInOrder
      ? runInOrder(o, args)
      : await CancellationScope.nonCancellable(() =>
          startChild(o.childTypes.shipment, {
            workflowId: id,
            // The order cancels its shipments itself (cancelShipment), so it learns what each could undo.
            cancellationType: ChildWorkflowCancellationType.ABANDON,
            args: [args],
          }),
        );
    o.children.set(id, handle);
    o.downChildren.delete(id);
    handle.result().catch((err: unknown) => {
      if (!isCancellation(err)) shipmentDown(o, id, `the shipment workflow failed: ${describeFailure(err)}`);
    });
  } catch (err) {
    shipmentDown(o, id, `the shipment workflow could not start: ${describeFailure(err)}`);
  }
}

/**
 * A shipment run as part of the order's workflow: its messages to the order go straight to the
 * order's inbox, and the messages meant for it (carrier events, cancellation, ops retry) are
 * handed to it by the order. Like a child the order abandons, a cancellation of the order's
 * workflow does not reach into it: the order cancels its shipments itself.
 */
function runInOrder(o: OrderRun, args: ShipmentInput): ShipmentLink {
  const handlers = new Map<string, (args: unknown[]) => void>();
  const done = CancellationScope.nonCancellable(() =>
    shipmentInOrder(args, {
      tell: (progress) => {
        o.progressInbox.push(progress);
        return Promise.resolve();
      },
      on: (signal, handler) => handlers.set(signal.name, (a) => handler(...(a as Parameters<typeof handler>))),
      show: () => undefined,
      // From orderWorkflowV4 on, the stock is committed by a local activity in the order's own line
      // (`o.books`): never beside another of the run's local activities.
      books: o.childTypes.localSteps
        ? {
            recordShipment: () => Promise.resolve(),
            commitStock: (input) => o.localLine<Activities>(() => ({ ...bookkeepingProfile, summary: 'commit stock' })).commitStock(input),
          }
        : booksInOrder(),
    }),
  );
  return {
    signal: (signal, ...a) => {
      handlers.get(signal.name)?.(a);
      return Promise.resolve();
    },
    result: () => done,
  };
}

/** Flags a shipment whose workflow is gone; the message goes through the inbox like any progress. */
function shipmentDown(o: OrderRun, id: string, reason: string): void {
  if (o.downChildren.has(id)) return;
  o.downChildren.set(id, reason);
  const s = o.state.shipments.find((x) => x.shipmentId === id);
  o.progressInbox.push({
    shipmentId: id,
    status: s?.status ?? 'pending',
    needsAttention: true,
    attentionReason: reason,
    event: `shipment ${id} needs attention: ${reason}`,
    actor: 'system',
  });
}

/** Runs a shipment's workflow again from where the order last saw it (and undoes it while cancelling). */
export async function relaunchShipment(o: OrderRun, id: string, actor: string): Promise<void> {
  const s = o.state.shipments.find((x) => x.shipmentId === id)!;
  const args = o.shipmentArgs.get(id)!;
  const capture = o.state.payment.captures.find((c) => c.shipmentId === id);
  const why = o.downChildren.get(id) ?? 'its workflow was gone';
  o.downChildren.delete(id);
  o.shipmentSeqs.delete(id);
  s.needsAttention = false;
  delete s.attentionReason;
  await o.record(o.state.status, `shipment ${id} restarted by ${actor} (${why})`, { shipmentId: id }, actor);
  await launchShipment(o, {
    ...args,
    resume: {
      status: s.status,
      pickOrderId: s.pickOrderId,
      booking:
        s.bookingId && s.carrier
          ? {
              bookingId: s.bookingId,
              carrier: s.carrier,
              trackingNumber: s.trackingNumber ?? '',
              labelUrl: s.labelUrl ?? '',
              status: 'booked',
            }
          : undefined,
      captured: capture ? { captureId: capture.captureId, amount: capture.amount } : undefined,
    },
    ...(o.compensating && o.cancelRequest ? { cancel: o.cancelRequest } : {}),
  });
}

/** An ops retry of a shipment: its workflow runs again from where it stood, or is told to retry its step. */
export async function retryShipment(o: OrderRun, id: string, actor: string): Promise<void> {
  if (o.downChildren.has(id)) await relaunchShipment(o, id, actor);
  else await signalChild(o, id, retryShipmentSignal, { actor });
}

/** Signals a shipment; one whose workflow is gone is flagged instead of failing the order. */
export async function signalChild<A extends unknown[]>(o: OrderRun, id: string, signal: SignalDefinition<A>, ...args: A): Promise<void> {
  try {
    await o.children.get(id)?.signal(signal, ...args);
  } catch (err) {
    shipmentDown(o, id, `the shipment workflow did not take a message: ${describeFailure(err)}`);
  }
}

/** Applies one shipment's progress to the order and records it. */
export async function applyProgress(o: OrderRun, p: ShipmentProgress, status?: OrderStatus): Promise<void> {
  const { state } = o;
  const s = state.shipments.find((x) => x.shipmentId === p.shipmentId);
  if (!s) return;
  const wasDelivered = s.status === 'delivered';
  if (SHIPMENT_RANK[p.status] >= SHIPMENT_RANK[s.status]) s.status = p.status;
  // Cash on delivery: the carrier now holds the buyer's cash for this parcel.
  const codShare = o.order.payment.method === 'cod' ? (o.shipmentShares.get(s.shipmentId) ?? 0) : 0;
  if (!wasDelivered && s.status === 'delivered' && codShare > 0)
    o.learned({
      kind: 'cod_collected',
      key: `cod:${s.shipmentId}`,
      amount: fromMinor(codShare),
      shipmentId: s.shipmentId,
      ...o.unitsOf(s.lines),
    });
  Object.assign(s, {
    ...(p.carrier ? { carrier: p.carrier } : {}),
    ...(p.bookingId ? { bookingId: p.bookingId } : {}),
    ...(p.trackingNumber ? { trackingNumber: p.trackingNumber } : {}),
    ...(p.labelUrl ? { labelUrl: p.labelUrl } : {}),
    ...(p.cancelRefused ? { cancelRefused: true } : {}),
  });
  // A message older than one already applied carries an older state: its event is still told.
  const newest = p.seq === undefined || p.seq > (o.shipmentSeqs.get(s.shipmentId) ?? 0);
  if (p.seq !== undefined && newest) o.shipmentSeqs.set(s.shipmentId, p.seq);
  if (newest) s.needsAttention = p.needsAttention;
  if (newest) {
    if (p.attentionReason) s.attentionReason = p.attentionReason;
    else delete s.attentionReason;
  }
  if (newest && p.escalationLevel !== undefined) {
    s.escalationLevel = p.escalationLevel;
    if (p.escalationReason) s.escalationReason = p.escalationReason;
    else delete s.escalationReason;
    state.escalationLevel = Math.max(0, ...state.shipments.map((x) => x.escalationLevel ?? 0));
  }
  if (newest && p.cod) {
    const more = toMinor(p.cod.remitted) - toMinor(s.cod?.remitted ?? '0');
    if (more > 0)
      o.learned({
        kind: 'cod_remitted',
        key: `cod-remitted:${s.shipmentId}:${p.cod.remitted}`,
        amount: fromMinor(more),
        shipmentId: s.shipmentId,
      });
    s.cod = p.cod;
    const cods = state.shipments.filter((x) => x.cod);
    await o.books.recordCodRemittance({
      orderId: o.orderId,
      remitted: fromMinor(cods.reduce((a, x) => a + toMinor(x.cod!.remitted), 0)),
      settledAt: cods.every((x) => x.cod!.settled) ? new Date().toISOString() : null,
    });
  }
  // Holds a shipment took out or gave up when the order's authorisation lapsed (memo accounts of the journal).
  if (p.authorised) o.learned({ kind: 'authorised', key: `auth:${p.authorised.authorizationId}`, ...p.authorised });
  if (p.released)
    o.learned({
      kind: 'released',
      key: `${p.released.lapsed ? 'lapsed' : 'release-share'}:${s.shipmentId}:${p.released.authorizationId}`,
      amount: p.released.amount,
      authorizationId: p.released.authorizationId,
    });
  if (p.captured) {
    s.captured = p.captured.amount;
    state.payment.captures.push({ shipmentId: s.shipmentId, ...p.captured });
    o.learned({
      kind: 'captured',
      key: `capture:${p.captured.captureId}`,
      ...p.captured,
      shipmentId: s.shipmentId,
      ...o.unitsOf(s.lines),
    });
  }
  // A capture told with the pickup that caused it is part of that step of the story.
  const told = p.captured && !p.event.includes('captured') ? `${p.event}; captured ${p.captured.amount}` : p.event;
  const detail = {
    shipmentId: p.shipmentId,
    ...p.eventDetail,
    ...(p.captured && told !== p.event ? { captured: p.captured.amount } : {}),
  };
  await o.record(status ?? aggregateStatus(state), told, detail, p.actor);
}

/**
 * Waits for the shipments' next message, for a loop that runs until `done`. From
 * `orderWorkflowV5` on the wait also ends once `done` holds: another coroutine may get there
 * without a message (a refused cut withdraws the placeholder of its replacement). Before V5 a step
 * took a local activity, during which that coroutine had always run; now the loop may look first,
 * and would wait for a message that never comes. Orders before V5 wait as their histories have it
 * (the same condition, awaited the same way).
 */
export function progressOrDone(o: OrderRun, done: () => boolean): Promise<void> {
  const wakes = o.childTypes.stepsCarried === true;
  return condition(() => o.progressInbox.length > 0 || (wakes && done()));
}

/** Applies the shipments' messages (keeping the order's status) until every parcel's capture is known. */
export async function untilCapturesKnown(o: OrderRun, status?: OrderStatus): Promise<void> {
  const done = () => o.capturesKnown();
  while (!done()) {
    await progressOrDone(o, done);
    const p = o.progressInbox.shift();
    if (p) await applyProgress(o, p, status);
  }
}

/** Applies the shipments' messages until every parcel is delivered, cancelled or back with the sender. */
export async function trackUntilDelivered(o: OrderRun): Promise<void> {
  const done = () => o.state.shipments.every((s) => s.status === 'delivered' || s.status === 'cancelled' || s.rts !== undefined);
  while (!done()) {
    await progressOrDone(o, done);
    const p = o.progressInbox.shift();
    if (!p) continue;
    await applyProgress(o, p);
    if (p.status === 'returned_to_sender') await handleReturnToSender(o, p.shipmentId);
  }
}

/**
 * The carrier brought the parcel back (delivery failed): the units go back on hand, then by
 * configuration the parcel is sent again (stock reserved anew; nothing captured twice) or its
 * share is refunded. Without stock to send it again, it is refunded.
 */
async function handleReturnToSender(o: OrderRun, shipmentId: string): Promise<void> {
  const { state, order, orderId, acts, books } = o;
  const s = state.shipments.find((x) => x.shipmentId === shipmentId);
  if (!s || s.rts) return;
  const lines = s.lines.map((l) => ({ lineNo: l.lineNo, sku: l.sku, quantity: l.quantity }));
  await o.steps.run('restock returned parcel', () =>
    acts.restockReturn({ returnId: `${s.shipmentId}-rts`, lines, warehouseId: s.warehouseId }),
  );
  const share = o.shipmentShares.get(s.shipmentId) ?? 0;
  if (o.settings.rtsPolicy === 'reship') {
    const key = `${s.shipmentId}-reship`;
    const plan = await o.steps.run('reserve stock to reship', () =>
      acts.reserveStock({ orderId: key, lines, address: order.shippingAddress }),
    );
    if (plan.ok) {
      s.rts = 'reshipped';
      const groups = groupByWarehouse(plan.allocations);
      const shares = o.splitByValue(
        share,
        groups.map(([, a]) => a),
      );
      const next = groups.map(([warehouseId, allocs], i) => ({
        view: {
          shipmentId: `${orderId}-shipment-${(o.shipmentNo = Math.max(o.shipmentNo, state.shipments.length) + 1)}`,
          warehouseId,
          status: 'pending' as const,
          needsAttention: false,
          lines: allocs.map(({ lineNo, sku, quantity }) => ({ lineNo, sku, quantity })),
        },
        share: shares[i]!,
      }));
      for (const n of next) {
        state.shipments.push(n.view);
        o.shipmentShares.set(n.view.shipmentId, n.share);
      }
      const missing = next.map((n) => n.view.warehouseId).filter((w) => !(w in o.cities));
      if (missing.length) o.cities = { ...o.cities, ...(await books.warehouseCities({ ids: missing })) };
      for (const n of next) await startShipment(o, n.view, n.share, { reservationKey: key });
      await o.record(
        aggregateStatus(state),
        `${s.shipmentId} returned to sender; units restocked and sent again as ${next.map((n) => n.view.shipmentId).join(', ')}`,
        { shipmentId: s.shipmentId },
      );
      return;
    }
    await books.clearBackorder({ orderId: key });
  }
  s.rts = 'refunded';
  const capture = state.payment.captures.find((c) => c.shipmentId === s.shipmentId);
  let refunded: string | undefined;
  if (capture) {
    const r = await o.steps.run('refund returned parcel', () =>
      acts.refundCapture({ captureId: capture.captureId, amount: capture.amount, key: `${capture.captureId}:rts-refund` }),
    );
    o.refundsByCapture.set(capture.captureId, (o.refundsByCapture.get(capture.captureId) ?? 0) + toMinor(r.amount));
    refunded = r.amount;
    o.learned({
      kind: 'refunded',
      key: `refund:${capture.captureId}:rts`,
      amount: r.amount,
      via: 'gateway',
      ref: capture.captureId,
      why: 'returned to sender',
      ...o.unitsOf(s.lines),
    });
  }
  await o.record(
    aggregateStatus(state),
    `${s.shipmentId} returned to sender; units restocked, ${refunded ? `${refunded} ${order.currency} refunded` : 'nothing was charged'}`,
    { shipmentId: s.shipmentId, ...(refunded ? { refunded } : {}) },
  );
}
