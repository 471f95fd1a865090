/**
 * The order's messages: queries answer from state; updates validate (a refusal is a 409 or 400
 * with the reason, and nothing is recorded) and then hand the request to the story or to the
 * sub-flow it belongs to; signals are put in an inbox the story reads.
 */
import { condition, log, setHandler } from '@temporalio/workflow';
import { fromMinor } from '../../domain/money';
import { mergeLines } from '../../domain/order-lines';
import { invalid, refuse } from '../attention';
import {
  cancelLinesUpdate,
  cancelOrderUpdate,
  carrierEventSignal,
  channelOrderEventSignal,
  holdOrderUpdate,
  inspectionSignal,
  inspectReturnUpdate,
  orderStateQuery,
  rejectHoldUpdate,
  releaseHoldUpdate,
  requestReturnUpdate,
  retryUpdate,
  returnProgressSignal,
  SHIPMENT_RANK,
  shipmentProgressSignal,
  stockAvailableSignal,
  type LineQuantity,
} from '../messages';
import { retryShipment } from './fulfilment';
import { cancelLines } from './partial-cancel';
import { retryReturn, returnDown } from './returns';
import { CLOSED, type OrderRun } from './run';

export function installHandlers(o: OrderRun): void {
  const { state, order } = o;
  setHandler(orderStateQuery, () => state);

  // Risk holds and ops holds.
  setHandler(
    releaseHoldUpdate,
    ({ actor, note }) => {
      if (o.opsHold) {
        o.opsHold = undefined;
        o.opsRelease = { actor, note };
      } else o.holdDecision = { kind: 'release', actor, note };
      return state;
    },
    {
      validator: (_: unknown) => {
        if (o.opsHold) return;
        if (state.status !== 'ON_HOLD' || o.holdDecision) throw refuse(`order is not on hold (status ${state.status})`);
      },
    },
  );
  setHandler(
    rejectHoldUpdate,
    ({ actor, reason }) => {
      if (o.opsHold) {
        // Rejecting an order ops held is cancelling it, with its full compensation.
        o.opsHold = undefined;
        o.requestCancel({ reason, actor });
      } else {
        o.holdDecision = { kind: 'reject', actor, reason };
      }
      return state;
    },
    {
      validator: (arg: { reason?: string }) => {
        if (o.opsHold) {
          if (!arg.reason?.trim()) throw invalid('reason', 'a reason is required to reject a held order');
          return;
        }
        if (state.status !== 'ON_HOLD' || o.holdDecision) throw refuse(`order is not on hold (status ${state.status})`);
        if (!arg.reason?.trim()) throw invalid('reason', 'a reason is required to reject a held order');
      },
    },
  );
  setHandler(retryUpdate, ({ actor }) => retryWhatNeedsAttention(o, actor), {
    validator: (_: unknown) => {
      if (
        !o.steps.parkedStep &&
        !o.channelFlags.length &&
        !state.shipments.some((s) => s.needsAttention) &&
        !state.returns.some((r) => r.needsAttention)
      ) {
        throw refuse(`nothing to retry: no step of this order needs attention (status ${state.status})`);
      }
    },
  });
  setHandler(
    cancelOrderUpdate,
    async ({ reason, actor }) => {
      if (!o.cancelRequest) {
        o.cancelRequest = { reason, actor };
        o.forward.cancel();
      }
      // Answer with the outcome when it comes quickly, else with CANCELLING.
      await condition(() => o.cancelSettled, '10 seconds');
      const partly = o.cancelSettled && state.status !== 'CANCELLED';
      return {
        status: state.status,
        ...(partly ? { cancelledShipments: state.shipments.filter((x) => x.status === 'cancelled').map((x) => x.shipmentId) } : {}),
      };
    },
    {
      validator: (arg: { reason?: string }) => {
        if (o.cancelRequest) return; // a second cancel answers with the first one's outcome
        if (!arg.reason?.trim()) throw invalid('reason', 'a reason is required to cancel an order');
        if (CLOSED.has(state.status)) throw refuse(`order is ${state.status}: nothing to cancel`);
        // Allowed until the last shipment is handed to the carrier: what already left carries on.
        // By all the workflow knows: a parcel the carrier reported, or its shipment told, but not yet
        // applied to the order counts (accepted, such a cancel waited in CANCELLING for a shipment that
        // had finished — a CI chaos run: a worker killed mid-task, the cancel taken with the carrier's events).
        const live = state.shipments.filter((x) => x.status !== 'cancelled' && !x.rts);
        if (live.length && live.every((x) => o.shipmentRank(x.shipmentId, x.status) >= SHIPMENT_RANK.picked_up)) {
          throw refuse('the order has been handed to the carrier: open a return instead');
        }
      },
    },
  );
  setHandler(channelOrderEventSignal, async (e) => {
    const closed = CLOSED.has(state.status) || o.cancelRequest !== undefined;
    if (e.kind !== 'return_request' && !closed && !o.handedOver()) {
      // Nothing is with the carrier yet: the channel's cancellation cancels the order, fully compensated.
      o.channelCancel = e;
      o.requestCancel({ reason: e.reason, actor: 'channel' });
      return;
    }
    if (e.kind !== 'return_request' && (state.status === 'CANCELLED' || state.status === 'REJECTED' || o.cancelRequest)) {
      // The platform confirming a cancellation under way (or done) adds nothing: no step, no push.
      log.info('channel cancellation of an order already being cancelled', { orderId: o.orderId, nativeStatus: e.nativeStatus });
      return;
    }
    o.channelFlags.push(e);
    state.needsAttention = true;
    state.attentionReason =
      e.kind === 'return_request'
        ? `${order.channel}: ${e.reason}`
        : `${order.channel}: ${e.reason}, after the order was handed to the carrier: stop the parcel or open a return`;
    await o.record(state.status, `needs attention: ${state.attentionReason}`, { nativeStatus: e.nativeStatus, kind: e.kind }, 'channel');
  });
  setHandler(
    holdOrderUpdate,
    async ({ reason, actor }) => {
      o.opsHold = { reason, actor };
      await o.record(state.status, `hold requested: ${reason} (takes effect before the next step)`, { reason }, actor);
      return { status: state.status };
    },
    {
      validator: (arg: { reason?: string }) => {
        if (!arg.reason?.trim()) throw invalid('reason', 'a reason is required to hold an order');
        if (o.cancelRequest) throw refuse('the order is being cancelled');
        if (CLOSED.has(state.status) || o.returnWindowOpen) throw refuse(`order is ${state.status}: nothing left to hold`);
        if (o.opsHold) throw refuse('the order is already held by ops');
        if (state.status === 'ON_HOLD' && !o.holdDecision)
          throw refuse('the order is already on hold for risk review: release or reject it');
        if (o.shippingStarted) throw refuse('shipments are already being prepared: cancel lines or the order instead');
      },
    },
  );
  setHandler(cancelLinesUpdate, (req) => cancelLines(o, req), {
    validator: (arg: { reason?: string; lines?: LineQuantity[] }) => {
      if (!arg.reason?.trim()) throw invalid('reason', 'a reason is required to cancel lines');
      if (o.cancelRequest) throw refuse('the order is already being cancelled');
      if (CLOSED.has(state.status) || o.returnWindowOpen)
        throw refuse(`order is ${state.status}: nothing left to cancel, open a return instead`);
      if (!arg.lines?.length) throw invalid('lines', 'at least one line to cancel');
      for (const l of mergeLines(arg.lines)) {
        const line = order.lines[l.lineNo - 1];
        if (!line || !Number.isInteger(l.lineNo)) throw invalid('lines', `line ${l.lineNo} is not in the order`);
        if (!Number.isInteger(l.quantity) || l.quantity < 1)
          throw invalid('lines', `line ${l.lineNo}: the quantity must be a positive whole number`);
        const open = line.quantity - o.cancelledOf(l.lineNo);
        if (l.quantity > open) throw invalid('lines', `line ${l.lineNo} has ${open} unit(s) left to cancel`);
        const movable = o.cancellableUnits(l.lineNo);
        if (l.quantity > movable) {
          throw refuse(
            `line ${l.lineNo}: only ${movable} of its ${open} unit(s) can still be cancelled; the rest has left the warehouse or is being cancelled (open a return for what was handed over)`,
          );
        }
      }
    },
  });

  // Returns: the request is queued for the return window's loop (returns.ts).
  setHandler(
    requestReturnUpdate,
    ({ lines, reason, exchange }) => {
      const returnId = `${o.orderId}-return-${state.returns.length + 1}`;
      state.returns.push({
        returnId,
        reason,
        status: 'requested',
        refundDue: fromMinor(o.refundDueFor(lines)),
        lines: lines.map((l) => ({ lineNo: l.lineNo, sku: order.lines[l.lineNo - 1]!.sku, quantity: l.quantity })),
        ...(exchange ? { exchange: { status: 'requested' as const } } : {}),
      });
      o.returnQueue.push(returnId);
      return { returnId };
    },
    {
      validator: (arg: { lines?: { lineNo: number; quantity: number }[]; reason?: string }) => {
        if (!o.returnWindowOpen)
          throw refuse(
            state.status === 'COMPLETED'
              ? 'the return window has closed'
              : `order is ${state.status}: returns open once it is delivered, within the return window`,
          );
        if (!arg.reason?.trim()) throw invalid('reason', 'a reason is required');
        if (!arg.lines?.length) throw invalid('lines', 'at least one line to return');
        for (const l of arg.lines) {
          const line = order.lines[l.lineNo - 1];
          if (!line || !Number.isInteger(l.lineNo)) throw invalid('lines', `line ${l.lineNo} is not in the order`);
          const open = state.returns
            .filter((r) => r.status !== 'rejected' && r.status !== 'expired')
            .flatMap((r) => r.lines)
            .filter((x) => x.lineNo === l.lineNo)
            .reduce((a, x) => a + x.quantity, 0);
          const requested = arg.lines.filter((x) => x.lineNo === l.lineNo).reduce((a, x) => a + x.quantity, 0);
          const bought = line.quantity - o.cancelledOf(l.lineNo);
          if (!Number.isInteger(l.quantity) || l.quantity < 1 || requested > bought - open) {
            throw invalid('lines', `line ${l.lineNo} has ${bought - open} unit(s) left to return`);
          }
        }
      },
    },
  );
  setHandler(
    inspectReturnUpdate,
    async ({ returnId, accept, reason, actor }) => {
      await o.returnChildren
        .get(returnId)
        ?.signal(inspectionSignal, { accept, actor, ...(reason ? { reason } : {}) })
        .catch((err: unknown) => returnDown(o, returnId, err));
      return { returnId };
    },
    {
      validator: (arg: { returnId: string; accept: boolean; reason?: string }) => {
        const r = state.returns.find((x) => x.returnId === arg.returnId);
        if (!r) throw refuse(`no return ${arg.returnId} on this order`);
        if (r.status !== 'received') throw refuse(`return ${arg.returnId} is ${r.status}: only a received parcel can be inspected`);
        if (!arg.accept && !arg.reason?.trim()) throw invalid('reason', 'a reason is required to reject a return');
      },
    },
  );

  // Inboxes the story reads.
  setHandler(returnProgressSignal, (p) => {
    o.returnInbox.push(p);
  });
  setHandler(stockAvailableSignal, () => {
    o.stockMayBeBack = true;
  });
  setHandler(shipmentProgressSignal, (p) => {
    o.progressInbox.push(p);
  });
  // Carrier events for shipments running inside this workflow (v3): handed to the shipment.
  if (o.childTypes.shipmentsInOrder)
    setHandler(carrierEventSignal, (e) => {
      if (!e.shipmentId) return;
      const rank = e.status === 'cancelled' ? undefined : (SHIPMENT_RANK as Record<string, number | undefined>)[e.status];
      if (rank !== undefined) o.carrierSaid.set(e.shipmentId, Math.max(rank, o.carrierSaid.get(e.shipmentId) ?? 0));
      void o.children.get(e.shipmentId)?.signal(carrierEventSignal, e);
    });
}

/** An ops retry: the parked step runs again, the channel's flags are cleared, failed shipments and returns run again. */
async function retryWhatNeedsAttention(o: OrderRun, actor: string): Promise<{ retried: string[] }> {
  const { state } = o;
  const retried: string[] = [];
  if (o.steps.parkedStep) {
    retried.push(o.steps.parkedStep);
    o.steps.requestRetry(actor);
  }
  if (o.channelFlags.length) {
    // What the channel said was seen to by ops: the flag is cleared.
    const seen = o.channelFlags.splice(0);
    retried.push(...seen.map((f) => `channel ${f.kind.replace('_', ' ')}`));
    if (!o.steps.parkedStep) {
      state.needsAttention = false;
      state.attentionReason = undefined;
    }
    await o.record(state.status, `ops saw to what ${o.order.channel} said: ${seen.map((f) => f.reason).join('; ')}`, {}, actor);
  }
  for (const s of state.shipments.filter((x) => x.needsAttention)) {
    await retryShipment(o, s.shipmentId, actor);
    retried.push(`shipment ${s.shipmentId}`);
  }
  for (const r of state.returns.filter((x) => x.needsAttention)) {
    await retryReturn(o, r.returnId, actor);
    retried.push(`return ${r.returnId}`);
  }
  return { retried };
}
