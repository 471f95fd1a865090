/**
 * The order: one workflow from intake to delivery. It reads as the order's story — validate,
 * check risk, take payment, reserve stock, ship — and every status change is written to the
 * projection, pushed to the channel and mirrored in search attributes.
 */
import {
  allHandlersFinished,
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  type ChildWorkflowHandle,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../activities';
import type { Allocation } from '../domain/allocation';
import { fromMinor, splitProportionally, toMinor } from '../domain/money';
import { returnRefundDue } from '../domain/refunds';
import type { CanonicalOrder, OrderStatus } from '../domain/order';
import { slaFor, type OrderSettings } from '../domain/settings';
import { businessFailure, createStepRunner, describeFailure, invalid, refuse } from './attention';
import {
  cancelLinesUpdate,
  cancelOrderUpdate,
  cancelShipmentSignal,
  holdOrderUpdate,
  inspectionSignal,
  inspectReturnUpdate,
  orderStateQuery,
  rejectHoldUpdate,
  requestReturnUpdate,
  returnProgressSignal,
  type ReturnProgress,
  type ReturnView,
  releaseHoldUpdate,
  retryShipmentSignal,
  retryUpdate,
  SHIPMENT_RANK,
  shipmentProgressSignal,
  stockAvailableSignal,
  channelOrderEventSignal,
  type ChannelOrderEvent,
  type LineQuantity,
  type OrderState,
  type ShipmentProgress,
  type ShipmentView,
} from './messages';
import { orderDetails } from './details';
import { recordedPatches, versionedPatches, type Patches } from './patches';
import { bookkeepingProfile, channelPushProfile, oneAtATime, stepProfile, summarised } from './profiles';
import { CarrierKey, EscalationLevelKey, NeedsAttentionKey, OrderStatusKey, WarehouseKey } from './search-attributes';
import { returnWorkflow, returnWorkflowV2, type ReturnInput } from './return';
import { shipmentWorkflow, shipmentWorkflowV2, type ShipmentInput } from './shipment';

export interface OrderWorkflowInput {
  orderId: string;
  order: CanonicalOrder;
  settings: OrderSettings;
  /** Carriers that push webhooks; the rest are polled. */
  pushCarriers: string[];
}

/** Every patch of the order workflow (see patches.ts). */
const ORDER_PATCHES = [
  'return-window',
  'release-remainder',
  'children-close-first',
  'authorisation-in-doubt',
  'return-window-after-refused-cancel',
  'refused-cancel-records-lines',
  'return-refund-after-captures',
  'status-outbox',
  'search-attributes-on-change',
] as const;

type OrderPatch = (typeof ORDER_PATCHES)[number];

/** Orders taken in before the versioned type: their patches are markers in their histories. */
export async function orderWorkflow(input: OrderWorkflowInput): Promise<OrderState> {
  return runOrder(input, recordedPatches(ORDER_PATCHES), { shipment: shipmentWorkflow, return: returnWorkflow });
}

/** The order (v2): every patch of `orderWorkflow` applies, none recorded; its children are v2 too. */
export async function orderWorkflowV2(input: OrderWorkflowInput): Promise<OrderState> {
  return runOrder(input, versionedPatches<OrderPatch>(), { shipment: shipmentWorkflowV2, return: returnWorkflowV2 });
}

async function runOrder(
  input: OrderWorkflowInput,
  patches: Patches<OrderPatch>,
  childTypes: { shipment: typeof shipmentWorkflow; return: typeof returnWorkflow },
): Promise<OrderState> {
  const patched = (id: OrderPatch) => patches.has(id);
  const pushesQueued = patched('status-outbox');
  const { order, settings, orderId } = input;
  const acts = summarised<Activities>(stepProfile(settings), () => steps.startingStep);
  const books = oneAtATime<Activities>(bookkeepingProfile);
  const pushes = proxyActivities<Activities>(channelPushProfile);
  const state: OrderState = {
    orderId,
    status: 'RECEIVED',
    seq: 0,
    total: undefined,
    needsAttention: false,
    attentionReason: undefined,
    escalationLevel: 0,
    waitingFor: undefined,
    waitingUntil: undefined,
    reasons: [],
    payment: { method: order.payment.method, captures: [] },
    allocations: [],
    allocationWarehouses: [],
    shipments: [],
    shortages: [],
    returns: [],
    cancelledLines: [],
  };
  const pendingPushes: Promise<void>[] = [];
  const progressInbox: ShipmentProgress[] = [];
  const children = new Map<string, ChildWorkflowHandle<typeof shipmentWorkflow>>();
  let holdDecision:
    { kind: 'release'; actor: string; note?: string | undefined } | { kind: 'reject'; actor: string; reason: string } | undefined;
  let stockMayBeBack = false;
  /** An ops hold: requested any time before shipping, it takes effect before the order's next step. */
  let opsHold: { reason: string; actor: string } | undefined;
  let opsRelease: { actor: string; note?: string | undefined } | undefined;
  /** The order's forward path; a cancellation (API or Temporal) cancels it and compensation runs. */
  const forward = new CancellationScope();
  let cancelRequest: { reason: string; actor: string } | undefined;
  let cancelSettled = false;
  /** The channel's own cancellation, when it is what cancelled the order: its push answers the platform. */
  let channelCancel: ChannelOrderEvent | undefined;
  /** What the channel said that ops must look at (a cancellation after handover, a return request). */
  const channelFlags: ChannelOrderEvent[] = [];
  let reserveStarted = false;
  /** The authorisation request as sent: a cancellation may leave its outcome unknown. */
  let authorising: { amount: string; currency: string; token: string } | undefined;
  /** Child workflows that failed, were terminated or could not start, and why: they wait for an ops retry. */
  const downChildren = new Map<string, string>();
  const downReturns = new Map<string, string>();
  const shipmentArgs = new Map<string, ShipmentInput>();
  const returnArgs = new Map<string, ReturnInput>();
  let compensating = false;
  let returnWindowOpen = false;
  const returnQueue: string[] = [];
  const returnInbox: ReturnProgress[] = [];
  const returnChildren = new Map<string, ChildWorkflowHandle<typeof returnWorkflow>>();
  const refundsByCapture = new Map<string, number>();
  const exchangePlans = new Map<string, Allocation[]>();
  // Partial cancellation. Before shipping starts a cancelled line is simply not reserved (or its
  // units are given back); afterwards its shipment is cancelled and a new one ships the rest.
  let shippingStarted = false;
  let weights: Record<string, number> = {};
  let cities: Record<string, string> = {};
  let shipmentNo = 0;
  let cutNo = 0;
  /** Each shipment's share of the order total (minor units): what it captures or collects. */
  const shipmentShares = new Map<string, number>();
  const cutsInFlight = new Set<string>();
  /** The newest message applied per shipment (see ShipmentProgress.seq). */
  const shipmentSeqs = new Map<string, number>();
  let unitsBeingCut = 0;
  const placeholders = new Set<string>();
  const cancelled = state.cancelledLines!;
  const unitValue = (lineNo: number) => toMinor(order.lines[lineNo - 1]!.unitPrice);
  const orderValue = order.lines.reduce((a, l, i) => a + unitValue(i + 1) * l.quantity, 0);
  const cancelledOf = (lineNo: number) => qtyOf(cancelled, lineNo);
  const remainingLines = () =>
    order.lines.map((l, i) => ({ lineNo: i + 1, sku: l.sku, quantity: l.quantity - cancelledOf(i + 1) })).filter((l) => l.quantity > 0);
  /** The units' share of the order total: discounts and shipping spread in proportion to value. */
  const shareOf = (lines: LineQuantity[]) =>
    orderValue > 0
      ? Math.floor((toMinor(state.total ?? '0') * lines.reduce((a, l) => a + unitValue(l.lineNo) * l.quantity, 0)) / orderValue)
      : 0;
  /** What the buyer paid: the captures of a prepaid order, what is due on delivery of a COD one. */
  const paidMinor = () =>
    state.payment.method === 'cod'
      ? toMinor(state.total ?? '0') - shareOf(cancelled)
      : state.payment.captures.reduce((a, c) => a + toMinor(c.amount), 0);
  /** The refund due for `lines` coming back, beside the refunds other returns still hold (domain/refunds). */
  const refundDueFor = (lines: LineQuantity[], returnId?: string) =>
    returnRefundDue(
      {
        unitPrices: order.lines.map((l) => toMinor(l.unitPrice)),
        keptUnits: order.lines.map((l, i) => l.quantity - cancelledOf(i + 1)),
        paid: paidMinor(),
      },
      lines,
      state.returns
        .filter((r) => r.returnId !== returnId && !['rejected', 'expired'].includes(r.status) && r.exchange?.status !== 'reserved')
        .map((r) => ({ lines: r.lines, refundDue: toMinor(r.refundDue) })),
    );
  /** Every parcel's capture is known to the order (a carrier's delivery can be told before it). */
  const capturesKnown = () =>
    state.shipments.every((x) => x.status === 'cancelled' || x.captured !== undefined || !shipmentShares.get(x.shipmentId));
  const untilCapturesKnown = async (status?: OrderStatus) => {
    while (!capturesKnown()) {
      await condition(() => progressInbox.length > 0);
      await applyProgress(progressInbox.shift()!, status);
    }
  };
  /** Something of the order is (or was) with the carrier: a channel's cancellation is then for ops. */
  const handedOver = () =>
    returnWindowOpen || state.shipments.some((x) => x.status !== 'cancelled' && SHIPMENT_RANK[x.status] >= SHIPMENT_RANK.picked_up);
  const setCancelled = (lines: LineQuantity[]) => {
    cancelled.splice(0, cancelled.length, ...lines);
  };
  const addCancelled = (lines: LineQuantity[]) => setCancelled(mergeLines([...cancelled, ...lines]));
  /** Units of each line that no live shipment carries: once shipping has settled, those will never ship. */
  const unitsNotShipping = (): LineQuantity[] => {
    const carried = mergeLines(state.shipments.filter((x) => x.status !== 'cancelled').flatMap((x) => x.lines));
    return order.lines.map((l, i) => ({ lineNo: i + 1, quantity: l.quantity - qtyOf(carried, i + 1) })).filter((l) => l.quantity > 0);
  };
  /** Units of a line that can still be cancelled: not reserved yet, or in a shipment still at the warehouse. */
  const cancellableUnits = (lineNo: number) => {
    if (!shippingStarted) return (order.lines[lineNo - 1]?.quantity ?? 0) - cancelledOf(lineNo);
    return state.shipments
      .filter(
        (x) =>
          SHIPMENT_RANK[x.status] < SHIPMENT_RANK.picked_up &&
          !x.cancelRefused &&
          !cutsInFlight.has(x.shipmentId) &&
          !placeholders.has(x.shipmentId) &&
          shipmentShares.has(x.shipmentId),
      )
      .reduce((a, x) => a + qtyOf(x.lines, lineNo), 0);
  };

  let lastAttributes = '';
  /** Records a step of the story: projection + timeline, channel push, search attributes. */
  const record = async (status: OrderStatus, event: string, eventDetail: Record<string, unknown> = {}, actor = 'system') => {
    state.status = status;
    state.seq += 1;
    const seq = state.seq;
    const attributes: SearchAttributeUpdatePair[] = [
      { key: OrderStatusKey, value: status },
      {
        key: NeedsAttentionKey,
        value:
          state.needsAttention ||
          state.shipments.some((s) => s.needsAttention) ||
          state.returns.some((r) => r.needsAttention === true) ||
          state.escalationLevel > 0,
      },
      { key: EscalationLevelKey, value: state.escalationLevel },
      ...(state.shipments.length ? [{ key: WarehouseKey, value: [...new Set(state.shipments.map((s) => s.warehouseId))] }] : []),
      ...(state.shipments.some((s) => s.carrier)
        ? [{ key: CarrierKey, value: [...new Set(state.shipments.flatMap((s) => (s.carrier ? [s.carrier] : [])))] }]
        : []),
    ];
    // Upserted when they change only: each upsert is a history event.
    const attributesNow = JSON.stringify(attributes);
    if (attributesNow !== lastAttributes || !patched('search-attributes-on-change')) upsertSearchAttributes(attributes);
    lastAttributes = attributesNow;
    const at = new Date().toISOString();
    const push = {
      channel: order.channel,
      orderId,
      channelOrderId: order.channelOrderId,
      status,
      seq,
      occurredAt: at,
      ...(state.reasons.length || channelCancel
        ? {
            detail: {
              ...(state.reasons.length ? { reasons: state.reasons } : {}),
              ...(channelCancel ? channelCancelDetail(channelCancel) : {}),
            },
          }
        : {}),
    };
    setCurrentDetails(orderDetails(state));
    const attention =
      state.needsAttention ||
      state.shipments.some((s) => s.needsAttention) ||
      state.returns.some((r) => r.needsAttention === true) ||
      state.escalationLevel > 0;
    // The story is written even while the order is being cancelled.
    await CancellationScope.nonCancellable(() =>
      books.recordStatus({
        orderId,
        seq,
        status,
        event,
        eventDetail,
        actor,
        at,
        needsAttention: attention,
        attentionReason:
          state.attentionReason ??
          state.shipments.find((s) => s.needsAttention)?.attentionReason ??
          state.shipments.find((s) => s.escalationLevel)?.escalationReason ??
          null,
        escalationLevel: state.escalationLevel,
        detail: projectionDetail(state),
        // The channel's push is queued with the status and sent by the workers' relay: no activity
        // per push in the order's history. Orders recorded before this push with an activity.
        ...(pushesQueued ? { push: { channel: order.channel, input: push } } : {}),
      }),
    );
    if (pushesQueued) return;
    pendingPushes.push(
      CancellationScope.nonCancellable(() => pushes.pushOrderStatus(push)).catch((err: unknown) => {
        // Only a refusal (4xx) ends up here: transient failures retry without limit.
        log.warn('channel refused a status push', { orderId, status, seq, error: err instanceof Error ? err.message : 'unknown' });
      }),
    );
  };

  const steps = createStepRunner({
    raise: async (step, reason) => {
      state.needsAttention = true;
      state.attentionReason = reason;
      state.waitingFor = `an ops retry of "${step}"`;
      await record(state.status, `needs attention: ${step}`, { reason });
    },
    cleared: async (step, actor) => {
      state.needsAttention = false;
      state.attentionReason = undefined;
      state.waitingFor = undefined;
      await record(state.status, `retry of "${step}" requested`, {}, actor);
    },
  });

  setHandler(orderStateQuery, () => state);
  setHandler(
    releaseHoldUpdate,
    ({ actor, note }) => {
      if (opsHold) {
        opsHold = undefined;
        opsRelease = { actor, note };
      } else holdDecision = { kind: 'release', actor, note };
      return state;
    },
    {
      validator: (_: unknown) => {
        if (opsHold) return;
        if (state.status !== 'ON_HOLD' || holdDecision) throw refuse(`order is not on hold (status ${state.status})`);
      },
    },
  );
  setHandler(
    rejectHoldUpdate,
    ({ actor, reason }) => {
      if (opsHold) {
        // Rejecting an order ops held is cancelling it, with its full compensation.
        opsHold = undefined;
        cancelRequest ??= { reason, actor };
        forward.cancel();
      } else {
        holdDecision = { kind: 'reject', actor, reason };
      }
      return state;
    },
    {
      validator: (arg: { reason?: string }) => {
        if (opsHold) {
          if (!arg.reason?.trim()) throw invalid('reason', 'a reason is required to reject a held order');
          return;
        }
        if (state.status !== 'ON_HOLD' || holdDecision) throw refuse(`order is not on hold (status ${state.status})`);
        if (!arg.reason?.trim()) throw invalid('reason', 'a reason is required to reject a held order');
      },
    },
  );
  setHandler(
    retryUpdate,
    async ({ actor }) => {
      const retried: string[] = [];
      if (steps.parkedStep) {
        retried.push(steps.parkedStep);
        steps.requestRetry(actor);
      }
      if (channelFlags.length) {
        // What the channel said was seen to by ops: the flag is cleared.
        const seen = channelFlags.splice(0);
        retried.push(...seen.map((f) => `channel ${f.kind.replace('_', ' ')}`));
        if (!steps.parkedStep) {
          state.needsAttention = false;
          state.attentionReason = undefined;
        }
        await record(state.status, `ops saw to what ${order.channel} said: ${seen.map((f) => f.reason).join('; ')}`, {}, actor);
      }
      for (const s of state.shipments.filter((x) => x.needsAttention)) {
        // A shipment whose workflow failed or never started runs again from where it stood.
        if (downChildren.has(s.shipmentId)) await relaunchShipment(s.shipmentId, actor);
        else await signalChild(s.shipmentId, retryShipmentSignal, { actor });
        retried.push(`shipment ${s.shipmentId}`);
      }
      for (const r of state.returns.filter((x) => x.needsAttention)) {
        if (downReturns.has(r.returnId)) await relaunchReturn(r.returnId, actor);
        else
          await returnChildren
            .get(r.returnId)
            ?.signal(retryShipmentSignal, { actor })
            .catch((err: unknown) => returnDown(r.returnId, err));
        retried.push(`return ${r.returnId}`);
      }
      return { retried };
    },
    {
      validator: (_: unknown) => {
        if (
          !steps.parkedStep &&
          !channelFlags.length &&
          !state.shipments.some((s) => s.needsAttention) &&
          !state.returns.some((r) => r.needsAttention)
        ) {
          throw refuse(`nothing to retry: no step of this order needs attention (status ${state.status})`);
        }
      },
    },
  );
  setHandler(
    cancelOrderUpdate,
    async ({ reason, actor }) => {
      if (!cancelRequest) {
        cancelRequest = { reason, actor };
        forward.cancel();
      }
      // Answer with the outcome when it comes quickly, else with CANCELLING.
      await condition(() => cancelSettled, '10 seconds');
      const partly = cancelSettled && state.status !== 'CANCELLED';
      return {
        status: state.status,
        ...(partly ? { cancelledShipments: state.shipments.filter((x) => x.status === 'cancelled').map((x) => x.shipmentId) } : {}),
      };
    },
    {
      validator: (arg: { reason?: string }) => {
        if (cancelRequest) return; // a second cancel answers with the first one's outcome
        if (!arg.reason?.trim()) throw invalid('reason', 'a reason is required to cancel an order');
        if (CLOSED.has(state.status)) throw refuse(`order is ${state.status}: nothing to cancel`);
        // Allowed until the last shipment is handed to the carrier: what already left carries on.
        const live = state.shipments.filter((x) => x.status !== 'cancelled' && !x.rts);
        if (live.length && live.every((x) => SHIPMENT_RANK[x.status] >= SHIPMENT_RANK.picked_up)) {
          throw refuse('the order has been handed to the carrier: open a return instead');
        }
      },
    },
  );
  setHandler(channelOrderEventSignal, async (e) => {
    const closed = CLOSED.has(state.status) || cancelRequest !== undefined;
    if (e.kind !== 'return_request' && !closed && !handedOver()) {
      // Nothing is with the carrier yet: the channel's cancellation cancels the order, fully compensated.
      channelCancel = e;
      cancelRequest = { reason: e.reason, actor: 'channel' };
      forward.cancel();
      return;
    }
    if (e.kind !== 'return_request' && (state.status === 'CANCELLED' || state.status === 'REJECTED' || cancelRequest)) {
      // The platform confirming a cancellation under way (or done) adds nothing: no step, no push.
      log.info('channel cancellation of an order already being cancelled', { orderId, nativeStatus: e.nativeStatus });
      return;
    }
    channelFlags.push(e);
    state.needsAttention = true;
    state.attentionReason =
      e.kind === 'return_request'
        ? `${order.channel}: ${e.reason}`
        : `${order.channel}: ${e.reason}, after the order was handed to the carrier: stop the parcel or open a return`;
    await record(state.status, `needs attention: ${state.attentionReason}`, { nativeStatus: e.nativeStatus, kind: e.kind }, 'channel');
  });
  setHandler(
    holdOrderUpdate,
    async ({ reason, actor }) => {
      opsHold = { reason, actor };
      await record(state.status, `hold requested: ${reason} (takes effect before the next step)`, { reason }, actor);
      return { status: state.status };
    },
    {
      validator: (arg: { reason?: string }) => {
        if (!arg.reason?.trim()) throw invalid('reason', 'a reason is required to hold an order');
        if (cancelRequest) throw refuse('the order is being cancelled');
        if (CLOSED.has(state.status) || returnWindowOpen) throw refuse(`order is ${state.status}: nothing left to hold`);
        if (opsHold) throw refuse('the order is already held by ops');
        if (state.status === 'ON_HOLD' && !holdDecision) throw refuse('the order is already on hold for risk review: release or reject it');
        if (shippingStarted) throw refuse('shipments are already being prepared: cancel lines or the order instead');
      },
    },
  );
  setHandler(
    cancelLinesUpdate,
    async ({ reason, actor, lines: asked }) => {
      const lines = mergeLines(asked);
      const left = remainingLines().reduce((a, l) => a + l.quantity, 0) - lines.reduce((a, l) => a + l.quantity, 0) - unitsBeingCut;
      if (left <= 0) {
        // Cancelling every unit still open is cancelling the order, with its full compensation.
        cancelRequest ??= { reason, actor };
        forward.cancel();
        await condition(() => cancelSettled, '10 seconds');
        const done = state.status === 'CANCELLED';
        return {
          status: state.status,
          cancelled: done ? lines : [],
          refused: cancelSettled && !done ? lines : [],
          pending: !cancelSettled,
        };
      }
      if (!shippingStarted) {
        addCancelled(lines);
        // A backordered order may be waiting for exactly the line that was cancelled.
        stockMayBeBack = true;
        await record(state.status, `cancelled ${describeLines(lines)}: ${reason}`, { lines, reason }, actor);
        return { status: state.status, cancelled: lines, refused: [], pending: false };
      }
      const cuts = planCuts(lines);
      for (const id of cuts.keys()) cutsInFlight.add(id);
      const units = lines.reduce((a, l) => a + l.quantity, 0);
      unitsBeingCut += units;
      const outcome = { cancelled: [] as LineQuantity[], refused: [] as LineQuantity[], done: false };
      void Promise.all(
        [...cuts].map(async ([id, cut]) =>
          ((await cutShipment(id, cut, reason, actor)) ? outcome.cancelled : outcome.refused).push(...cut),
        ),
      )
        .catch((err: unknown) => {
          log.warn('cutting a shipment failed', { orderId, error: describeFailure(err) });
        })
        .finally(() => {
          for (const id of cuts.keys()) cutsInFlight.delete(id);
          unitsBeingCut -= units;
          outcome.done = true;
        });
      await condition(() => outcome.done, '10 seconds');
      return {
        status: state.status,
        cancelled: mergeLines(outcome.cancelled),
        refused: mergeLines(outcome.refused),
        pending: !outcome.done,
      };
    },
    {
      validator: (arg: { reason?: string; lines?: LineQuantity[] }) => {
        if (!arg.reason?.trim()) throw invalid('reason', 'a reason is required to cancel lines');
        if (cancelRequest) throw refuse('the order is already being cancelled');
        if (CLOSED.has(state.status) || returnWindowOpen)
          throw refuse(`order is ${state.status}: nothing left to cancel, open a return instead`);
        if (!arg.lines?.length) throw invalid('lines', 'at least one line to cancel');
        for (const l of mergeLines(arg.lines)) {
          const line = order.lines[l.lineNo - 1];
          if (!line || !Number.isInteger(l.lineNo)) throw invalid('lines', `line ${l.lineNo} is not in the order`);
          if (!Number.isInteger(l.quantity) || l.quantity < 1)
            throw invalid('lines', `line ${l.lineNo}: the quantity must be a positive whole number`);
          const open = line.quantity - cancelledOf(l.lineNo);
          if (l.quantity > open) throw invalid('lines', `line ${l.lineNo} has ${open} unit(s) left to cancel`);
          const movable = cancellableUnits(l.lineNo);
          if (l.quantity > movable) {
            throw refuse(
              `line ${l.lineNo}: only ${movable} of its ${open} unit(s) can still be cancelled; the rest has left the warehouse or is being cancelled (open a return for what was handed over)`,
            );
          }
        }
      },
    },
  );
  setHandler(
    requestReturnUpdate,
    ({ lines, reason, exchange }) => {
      const returnId = `${orderId}-return-${state.returns.length + 1}`;
      state.returns.push({
        returnId,
        reason,
        status: 'requested',
        refundDue: fromMinor(refundDueFor(lines)),
        lines: lines.map((l) => ({ lineNo: l.lineNo, sku: order.lines[l.lineNo - 1]!.sku, quantity: l.quantity })),
        ...(exchange ? { exchange: { status: 'requested' as const } } : {}),
      });
      returnQueue.push(returnId);
      return { returnId };
    },
    {
      validator: (arg: { lines?: { lineNo: number; quantity: number }[]; reason?: string }) => {
        if (!returnWindowOpen)
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
          const bought = line.quantity - cancelledOf(l.lineNo);
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
      await returnChildren
        .get(returnId)
        ?.signal(inspectionSignal, { accept, actor, ...(reason ? { reason } : {}) })
        .catch((err: unknown) => returnDown(returnId, err));
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
  setHandler(returnProgressSignal, (p) => {
    returnInbox.push(p);
  });
  setHandler(stockAvailableSignal, () => {
    stockMayBeBack = true;
  });
  setHandler(shipmentProgressSignal, (p) => {
    progressInbox.push(p);
  });

  const finish = async (status: 'REJECTED' | 'CANCELLED', event: string, reasons: string[], actor = 'system') => {
    if (children.size || returnChildren.size) await childrenClosed();
    state.reasons = reasons;
    state.waitingFor = undefined;
    state.waitingUntil = undefined;
    await record(status, event, { reasons }, actor);
    await Promise.all(pendingPushes);
    await condition(allHandlersFinished);
    return state;
  };

  await record(
    'RECEIVED',
    `order received from ${order.channel}`,
    { channelOrderId: order.channelOrderId, lines: order.lines.length },
    `channel:${order.channel}`,
  );

  try {
    return await forward.run(async () => {
      // 1. Validation against the catalog and the delivery network.
      const validation = await steps.run('validate order', () => acts.validateOrder({ order }));
      if (validation.reasons.length) return finish('REJECTED', 'order rejected: invalid', validation.reasons);
      state.total = validation.total;
      weights = validation.weights;

      // 2. Risk: suspicious orders wait for ops, and an unanswered hold expires.
      const risk = await steps.run('assess risk', () => acts.assessRisk({ orderId, order, total: validation.total }));
      if (risk.hold) {
        state.reasons = risk.reasons;
        state.waitingFor = 'an ops decision on the risk hold (release or reject)';
        state.waitingUntil = new Date(Date.now() + settings.holdTimeoutMs).toISOString();
        await record('ON_HOLD', 'held for risk review', { reasons: risk.reasons, until: state.waitingUntil });
        const decided = await condition(() => holdDecision !== undefined, settings.holdTimeoutMs, { summary: 'risk hold expires' });
        state.waitingFor = undefined;
        state.waitingUntil = undefined;
        if (!decided) return finish('REJECTED', 'risk hold expired without a decision', [...risk.reasons, 'risk hold expired']);
        if (holdDecision!.kind === 'reject')
          return finish('REJECTED', 'rejected after risk review', [holdDecision!.reason], holdDecision!.actor);
        state.reasons = [];
        await record('ON_HOLD', 'risk hold released', holdDecision!.note ? { note: holdDecision!.note } : {}, holdDecision!.actor);
      }

      // 3. Payment: authorise a prepaid order (captured per shipment at handover); check COD eligibility.
      await opsHoldPoint();
      if (order.payment.method === 'prepaid') {
        const token = order.payment.token;
        // Lines cancelled while the order was on hold are not charged for.
        const amount = fromMinor(toMinor(validation.total) - shareOf(cancelled));
        await record('PAYMENT_PENDING', `authorising ${amount} ${order.currency}`);
        authorising = { amount, currency: order.currency, token };
        try {
          const auth = await steps.run(
            'authorise payment',
            () => acts.authorizePayment({ orderId, amount, currency: order.currency, token }),
            { handles: ['PaymentDeclined'] },
          );
          state.payment.authorizationId = auth.authorizationId;
          state.payment.authorized = auth.amount;
          if (auth.expiresAt) state.payment.expiresAt = auth.expiresAt;
        } catch (err) {
          // A cancellation during the call passes through to the compensation.
          const refusal = businessFailure(err);
          if (!refusal) throw err;
          const code = (refusal.details?.[0] as { declineCode?: string } | undefined)?.declineCode;
          return finish('REJECTED', 'payment declined', [code ? `card declined: ${code}` : refusal.message]);
        }
      } else {
        const cod = await steps.run('check COD eligibility', () => acts.checkCodEligibility({ order, total: validation.total }));
        state.payment.codEligible = cod.eligible;
        if (!cod.eligible) return finish('REJECTED', 'cash on delivery refused', [cod.reason ?? 'not eligible for cash on delivery']);
      }

      // 4. Allocation: reserve stock atomically; without stock, wait for a restock until the deadline.
      let backorderDeadline: number | undefined;
      for (;;) {
        await opsHoldPoint();
        stockMayBeBack = false;
        reserveStarted = true;
        const lines = remainingLines();
        const plan = await steps.run('reserve stock', () => acts.reserveStock({ orderId, lines, address: order.shippingAddress }));
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
          await record('BACKORDERED', plan.summary, { shortages: plan.shortages, until: state.waitingUntil });
        }
        const woke = await condition(() => stockMayBeBack, Math.max(backorderDeadline - Date.now(), 1), { summary: 'backorder deadline' });
        if (!woke) {
          await books.clearBackorder({ orderId });
          if (state.payment.authorizationId) {
            const authorizationId = state.payment.authorizationId;
            await steps.run('void authorisation', () => acts.voidAuthorization({ authorizationId, key: `${orderId}:void` }));
            state.payment.voided = true;
          }
          return finish('CANCELLED', 'backorder deadline passed without stock', [`no stock by ${state.waitingUntil}: ${plan.summary}`]);
        }
      }
      state.waitingFor = undefined;
      state.waitingUntil = undefined;
      await record('ALLOCATED', planSummary(state), { allocations: state.allocations, warehouses: state.allocationWarehouses });

      // 5. Fulfilment: one child workflow per warehouse. Units cancelled while stock was being
      //    reserved are given back first; from here on a cancelled line cancels its shipment.
      await opsHoldPoint();
      await giveBackCancelledUnits();
      shippingStarted = true;
      const byWarehouse = groupByWarehouse(state.allocations);
      const lineValue = (a: Allocation) => toMinor(order.lines[a.lineNo - 1]!.unitPrice) * a.quantity;
      const shares = splitProportionally(
        toMinor(validation.total) - shareOf(cancelled),
        byWarehouse.map(([, allocs]) => allocs.reduce((s, a) => s + lineValue(a), 0)),
      );
      state.shipments = byWarehouse.map(([warehouseId, allocs], i) => ({
        shipmentId: `${orderId}-shipment-${i + 1}`,
        warehouseId,
        status: 'pending',
        needsAttention: false,
        lines: allocs.map(({ lineNo, sku, quantity }) => ({ lineNo, sku, quantity })),
      }));
      shipmentNo = state.shipments.length;
      for (const [i, s] of state.shipments.entries()) shipmentShares.set(s.shipmentId, shares[i]!);
      await record('FULFILLING', `${state.shipments.length} shipment(s) to prepare`, {
        shipments: state.shipments.map((s) => ({ shipmentId: s.shipmentId, warehouseId: s.warehouseId })),
      });
      const warehouseCities = await books.warehouseCities({ ids: byWarehouse.map(([id]) => id) });
      cities = warehouseCities;
      // A line cut may add a replacement while these start: it starts itself, with its own share.
      for (const s of [...state.shipments]) await startShipment(s, shipmentShares.get(s.shipmentId)!);

      // 6. Tracking: shipments report progress; the order's status follows the slowest shipment.
      await trackUntilDelivered();
      if (state.shipments.every((s) => s.status === 'cancelled' || s.rts === 'refunded')) {
        return finish('CANCELLED', 'every parcel came back to the sender: refunded', ['returned to sender']);
      }
      await releaseUncapturedRemainder();

      // 7. The return window: the order stays open, then it is COMPLETED. Orders that started
      //    before this step existed end at DELIVERED, as their histories say (replay-safe).
      if (patched('return-window')) await returnWindowThenComplete();
      await Promise.all(pendingPushes);
      await condition(allHandlersFinished);
      return state;
    });
  } catch (err) {
    if (!isCancellation(err)) await parkUntilCancelled(err);
    // A cancellation from the Temporal Web UI takes the same path as one through the API.
    cancelRequest ??= { reason: 'cancelled through Temporal (workflow cancellation)', actor: 'temporal' };
    return await CancellationScope.nonCancellable(() => compensate(cancelRequest!));
  }

  /**
   * The safety net: whatever escaped the order's story (steps, children and signals are handled
   * where they happen, so this is a defect) does not fail the workflow. The order is flagged with
   * the cause and waits for ops: cancel it (full compensation), or fix the cause and reset it.
   */
  async function parkUntilCancelled(err: unknown): Promise<void> {
    state.needsAttention = true;
    state.attentionReason = `unexpected failure: ${describeFailure(err)}`.slice(0, 500);
    state.waitingFor = 'ops: cancel the order, or fix the cause and reset the workflow';
    await record(state.status, 'needs attention: unexpected failure', { reason: state.attentionReason });
    try {
      await condition(() => cancelRequest !== undefined);
    } catch (cancelled) {
      if (!isCancellation(cancelled)) throw cancelled;
    }
  }

  /** The return window: returns are taken until it closes and every return and parcel settles; then COMPLETED. */
  async function returnWindowThenComplete(): Promise<void> {
    const windowMs = settings.returnWindowMs ?? 0;
    const closesAt = Date.now() + windowMs;
    if (windowMs > 0) {
      returnWindowOpen = true;
      state.waitingFor = 'the return window to close';
      state.waitingUntil = new Date(closesAt).toISOString();
      await record('DELIVERED', `open for returns until ${state.waitingUntil}`);
    }
    // Open: returns in progress, parcels still moving, and cash on delivery not yet remitted.
    const activeReturns = () =>
      state.returns.filter((r) => !['accepted', 'rejected', 'expired'].includes(r.status)).length +
      state.shipments.filter((s) => (s.status !== 'delivered' && s.status !== 'cancelled' && !s.rts) || (s.cod && !s.cod.settled)).length;
    while (returnWindowOpen || activeReturns() > 0 || returnInbox.length > 0 || progressInbox.length > 0) {
      const ready = () =>
        returnQueue.length > 0 || returnInbox.length > 0 || progressInbox.length > 0 || (!returnWindowOpen && activeReturns() === 0);
      if (returnWindowOpen) {
        if (!(await condition(ready, Math.max(closesAt - Date.now(), 1), { summary: 'return window closes' }))) {
          returnWindowOpen = false;
          continue;
        }
      } else {
        await condition(ready);
      }
      while (returnQueue.length) await startReturn(returnQueue.shift()!, cities);
      while (returnInbox.length) await applyReturnProgress(returnInbox.shift()!);
      // A replacement's progress tells the story without moving the order's status.
      while (progressInbox.length) await applyProgress(progressInbox.shift()!, state.status);
    }
    await childrenClosed();
    state.waitingFor = undefined;
    state.waitingUntil = undefined;
    await record('COMPLETED', 'return window closed');
  }

  /**
   * Waits until every shipment and return workflow has closed. An order that closed first would
   * terminate a child still taking its last step (the parent close policy). Progress they send
   * meanwhile is still told.
   */
  async function childrenClosed(): Promise<void> {
    if (!patched('children-close-first')) return;
    for (;;) {
      const open = [...children.values(), ...returnChildren.values()];
      let closed = false;
      void Promise.allSettled(open.map((h) => h.result())).then(() => {
        closed = true;
      });
      while (!closed) {
        await condition(() => closed || progressInbox.length > 0);
        while (progressInbox.length) await applyProgress(progressInbox.shift()!, state.status);
      }
      // An ops retry may have started a shipment again meanwhile: wait for that one too.
      const now = [...children.values(), ...returnChildren.values()];
      if (now.length === open.length && now.every((h, i) => h === open[i])) return;
    }
  }

  /** Applies one shipment's progress to the order and records it. */
  async function applyProgress(p: ShipmentProgress, status?: OrderStatus): Promise<void> {
    const s = state.shipments.find((x) => x.shipmentId === p.shipmentId);
    if (!s) return;
    if (SHIPMENT_RANK[p.status] >= SHIPMENT_RANK[s.status]) s.status = p.status;
    Object.assign(s, {
      ...(p.carrier ? { carrier: p.carrier } : {}),
      ...(p.bookingId ? { bookingId: p.bookingId } : {}),
      ...(p.trackingNumber ? { trackingNumber: p.trackingNumber } : {}),
      ...(p.labelUrl ? { labelUrl: p.labelUrl } : {}),
      ...(p.cancelRefused ? { cancelRefused: true } : {}),
    });
    // A message older than one already applied carries an older state: its event is still told.
    const newest = p.seq === undefined || p.seq > (shipmentSeqs.get(s.shipmentId) ?? 0);
    if (p.seq !== undefined && newest) shipmentSeqs.set(s.shipmentId, p.seq);
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
      s.cod = p.cod;
      const cods = state.shipments.filter((x) => x.cod);
      await books.recordCodRemittance({
        orderId,
        remitted: fromMinor(cods.reduce((a, x) => a + toMinor(x.cod!.remitted), 0)),
        settledAt: cods.every((x) => x.cod!.settled) ? new Date().toISOString() : null,
      });
    }
    if (p.captured) {
      s.captured = p.captured.amount;
      state.payment.captures.push({ shipmentId: s.shipmentId, ...p.captured });
    }
    // A capture told with the pickup that caused it is part of that step of the story.
    const told = p.captured && !p.event.includes('captured') ? `${p.event}; captured ${p.captured.amount}` : p.event;
    const detail = {
      shipmentId: p.shipmentId,
      ...p.eventDetail,
      ...(p.captured && told !== p.event ? { captured: p.captured.amount } : {}),
    };
    await record(status ?? aggregateStatus(state), told, detail, p.actor);
  }

  /** Where an ops hold takes effect: the order waits here, without a deadline, for a release. */
  async function opsHoldPoint(): Promise<void> {
    if (!opsHold) return;
    const resume = state.status;
    const { reason, actor } = opsHold;
    state.waitingFor = `an ops release of the hold (${reason})`;
    state.waitingUntil = undefined;
    await record('ON_HOLD', `on hold: ${reason}`, { reason }, actor);
    await condition(() => opsHold === undefined);
    state.waitingFor = undefined;
    const by = opsRelease ?? { actor: 'system' };
    await record(resume, 'hold released', by.note ? { note: by.note } : {}, by.actor);
  }

  /** The shipment's deadlines: promised from the order's placedAt, or from now for a parcel sent again. */
  function slaInput(fromMs: number) {
    if (!settings.sla) return undefined;
    const d = slaFor(settings.sla, order.channel);
    return {
      shipBy: new Date(fromMs + d.shipByMs).toISOString(),
      deliverBy: new Date(fromMs + d.deliverByMs).toISOString(),
      graceMs: settings.sla.graceMs,
      stepMs: settings.sla.stepMs,
      codRemitByMs: settings.sla.codRemitByMs,
    };
  }

  /**
   * Starts one shipment's child workflow; `shareMinor` is what it captures (prepaid) or collects (COD).
   * The start itself is never interrupted: a cancellation landing while a child starts would leave
   * the start unresolved (the child is abandoned, not cancelled) and the order waiting forever;
   * once started, the child is registered and compensation reaches it.
   */
  async function startShipment(s: ShipmentView, shareMinor: number, again?: { reservationKey: string }): Promise<void> {
    const p = state.payment;
    await launchShipment({
      orderId,
      shipmentId: s.shipmentId,
      warehouse: { id: s.warehouseId, city: cities[s.warehouseId] ?? '' },
      lines: s.lines.map((l) => ({ lineNo: l.lineNo, sku: l.sku, quantity: l.quantity, weightGrams: weights[l.sku] ?? 500 })),
      address: order.shippingAddress,
      recipientPhone: order.customer.phone,
      carrier: settings.defaultCarrier,
      pushCarrier: input.pushCarriers.includes(settings.defaultCarrier),
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
      sla: slaInput(again ? Date.now() : Date.parse(order.placedAt)),
      ...(again ? { reservationKey: again.reservationKey } : {}),
    });
  }

  /**
   * Starts a shipment's child workflow and watches it. The start itself is never interrupted. A
   * child that cannot start, fails or is terminated does not fail the order: the shipment is
   * flagged and an ops retry runs it again from where it stood (see `relaunchShipment`).
   */
  async function launchShipment(args: ShipmentInput): Promise<void> {
    const id = args.shipmentId;
    shipmentArgs.set(id, args);
    try {
      const handle = await CancellationScope.nonCancellable(() =>
        startChild(childTypes.shipment, {
          workflowId: id,
          // The order cancels its shipments itself (cancelShipment), so it learns what each could undo.
          cancellationType: ChildWorkflowCancellationType.ABANDON,
          args: [args],
        }),
      );
      children.set(id, handle);
      downChildren.delete(id);
      handle.result().catch((err: unknown) => {
        if (!isCancellation(err)) shipmentDown(id, `the shipment workflow failed: ${describeFailure(err)}`);
      });
    } catch (err) {
      shipmentDown(id, `the shipment workflow could not start: ${describeFailure(err)}`);
    }
  }

  /** Flags a shipment whose workflow is gone; the message goes through the inbox like any progress. */
  function shipmentDown(id: string, reason: string): void {
    if (downChildren.has(id)) return;
    downChildren.set(id, reason);
    const s = state.shipments.find((x) => x.shipmentId === id);
    progressInbox.push({
      shipmentId: id,
      status: s?.status ?? 'pending',
      needsAttention: true,
      attentionReason: reason,
      event: `shipment ${id} needs attention: ${reason}`,
      actor: 'system',
    });
  }

  /** Runs a shipment's workflow again from where the order last saw it (and undoes it while cancelling). */
  async function relaunchShipment(id: string, actor: string): Promise<void> {
    const s = state.shipments.find((x) => x.shipmentId === id)!;
    const args = shipmentArgs.get(id)!;
    const capture = state.payment.captures.find((c) => c.shipmentId === id);
    const why = downChildren.get(id) ?? 'its workflow was gone';
    downChildren.delete(id);
    shipmentSeqs.delete(id);
    s.needsAttention = false;
    delete s.attentionReason;
    await record(state.status, `shipment ${id} restarted by ${actor} (${why})`, { shipmentId: id }, actor);
    await launchShipment({
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
      ...(compensating && cancelRequest ? { cancel: cancelRequest } : {}),
    });
  }

  /** Signals a shipment; one whose workflow is gone is flagged instead of failing the order. */
  async function signalChild<A extends unknown[]>(id: string, signal: SignalDefinition<A>, ...args: A): Promise<void> {
    try {
      await children.get(id)?.signal(signal, ...args);
    } catch (err) {
      shipmentDown(id, `the shipment workflow did not take a message: ${describeFailure(err)}`);
    }
  }

  /** Before shipping: units reserved for lines cancelled meanwhile go back to stock. */
  async function giveBackCancelledUnits(): Promise<void> {
    for (;;) {
      const excess = new Map<string, LineQuantity[]>();
      for (const l of order.lines.map((_, i) => i + 1)) {
        let over =
          state.allocations.filter((a) => a.lineNo === l).reduce((a, x) => a + x.quantity, 0) -
          (order.lines[l - 1]!.quantity - cancelledOf(l));
        for (const a of [...state.allocations].reverse().filter((x) => x.lineNo === l)) {
          if (over <= 0) break;
          const take = Math.min(over, a.quantity);
          excess.set(a.warehouseId, [...(excess.get(a.warehouseId) ?? []), { lineNo: l, quantity: take }]);
          over -= take;
        }
      }
      if (!excess.size) return;
      for (const [warehouseId, lines] of excess) {
        await books.releaseUnits({ orderId, warehouseId, lines, ref: `${orderId}:cut-${++cutNo}` });
        state.allocations = reduceAllocations(state.allocations, warehouseId, lines);
      }
    }
  }

  /** Which shipments give up which units: the latest shipments holding the line first. */
  function planCuts(lines: LineQuantity[]): Map<string, LineQuantity[]> {
    const cuts = new Map<string, LineQuantity[]>();
    for (const l of lines) {
      let want = l.quantity;
      const candidates = state.shipments.filter(
        (x) =>
          SHIPMENT_RANK[x.status] < SHIPMENT_RANK.picked_up &&
          !x.cancelRefused &&
          !cutsInFlight.has(x.shipmentId) &&
          !placeholders.has(x.shipmentId) &&
          shipmentShares.has(x.shipmentId),
      );
      for (const x of candidates.reverse()) {
        const take = Math.min(want, qtyOf(x.lines, l.lineNo));
        if (take <= 0) continue;
        cuts.set(x.shipmentId, [...(cuts.get(x.shipmentId) ?? []), { lineNo: l.lineNo, quantity: take }]);
        want -= take;
        if (!want) break;
      }
    }
    return cuts;
  }

  /**
   * Cancels units of one shipment still at the warehouse: the shipment is cancelled (booking and
   * pick order undone), the cut units go back to stock and a new shipment carries what is left,
   * capturing (or collecting) its share less the cancelled units' share. If the carrier already
   * has the parcel the cut is refused and the shipment carries on. Returns whether it was cut.
   */
  async function cutShipment(id: string, cut: LineQuantity[], reason: string, actor: string): Promise<boolean> {
    const s = state.shipments.find((x) => x.shipmentId === id)!;
    const keep = s.lines.map((l) => ({ ...l, quantity: l.quantity - qtyOf(cut, l.lineNo) })).filter((l) => l.quantity > 0);
    // A placeholder keeps the order from counting itself delivered while the rest is re-shipped.
    const next: ShipmentView | undefined = keep.length
      ? {
          shipmentId: `${orderId}-shipment-${(shipmentNo = Math.max(shipmentNo, state.shipments.length) + 1)}`,
          warehouseId: s.warehouseId,
          status: 'pending',
          needsAttention: false,
          lines: keep,
        }
      : undefined;
    if (next) {
      state.shipments.push(next);
      placeholders.add(next.shipmentId);
    }
    await condition(() => children.has(id));
    await signalChild(id, cancelShipmentSignal, { reason: `lines cancelled: ${reason}`, actor });
    await condition(() => s.status === 'cancelled' || s.cancelRefused === true);
    if (next) placeholders.delete(next.shipmentId);
    if (s.cancelRefused || cancelRequest) {
      // The carrier had it first, or the whole order is being cancelled (which undoes the rest).
      if (next && !cancelRequest) {
        state.shipments.splice(state.shipments.indexOf(next), 1);
        await record(
          aggregateStatus(state),
          `cancellation of ${describeLines(cut)} refused: ${id} was already with the carrier; open a return`,
          { shipmentId: id, lines: cut, reason },
          actor,
        );
      }
      return s.status === 'cancelled';
    }
    const before = shareOf(cancelled);
    addCancelled(cut);
    const nextShare = Math.max(0, (shipmentShares.get(id) ?? 0) - (shareOf(cancelled) - before));
    state.allocations = reduceAllocations(state.allocations, s.warehouseId, cut);
    await books.releaseUnits({ orderId, warehouseId: s.warehouseId, lines: cut, ref: `${id}:cut` });
    if (next) {
      shipmentShares.set(next.shipmentId, nextShare);
      await startShipment(next, nextShare);
    }
    await record(
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
  async function releaseUncapturedRemainder(someShipmentsCancelled = false): Promise<void> {
    const p = state.payment;
    if (!p.authorizationId || p.voided || (!cancelled.length && !someShipmentsCancelled)) return;
    // A capture may still be on its way (a carrier can report delivery first): voiding before it
    // would make the gateway refuse the capture. Wait until every shipment's capture is known.
    await untilCapturesKnown();
    const remainder = toMinor(p.authorized ?? '0') - p.captures.reduce((a, c) => a + toMinor(c.amount), 0);
    if (remainder <= 0) return;
    const authorizationId = p.authorizationId;
    const voided = await steps.run('release uncaptured remainder', () =>
      acts.voidAuthorization({ authorizationId, key: `${orderId}:void-remainder` }),
    );
    p.voided = true;
    p.remainderReleased = voided.released ?? fromMinor(remainder);
    await record(
      state.status,
      `released ${p.remainderReleased} ${order.currency} of the authorisation: cancelled units are never captured`,
      { released: p.remainderReleased },
    );
  }

  async function startReturn(returnId: string, cities: Record<string, string>): Promise<void> {
    const r = state.returns.find((x) => x.returnId === returnId)!;
    const warehouseId = state.allocations.find((a) => a.lineNo === r.lines[0]!.lineNo)?.warehouseId ?? state.shipments[0]!.warehouseId;
    if (r.exchange) {
      // Reserve the replacement now (under the return's id), so it is there when the parcel is back.
      const plan = await steps.run('reserve exchange stock', () =>
        acts.reserveStock({
          orderId: returnId,
          lines: r.lines.map((l) => ({ lineNo: l.lineNo, sku: l.sku, quantity: l.quantity })),
          address: order.shippingAddress,
        }),
      );
      if (plan.ok) {
        exchangePlans.set(returnId, plan.allocations);
        r.exchange = { status: 'reserved' };
        r.refundDue = '0.00';
      } else {
        await books.clearBackorder({ orderId: returnId });
        r.exchange = { status: 'no_stock' };
      }
    }
    // The refund is the lines' share of what was paid: once a prepaid order's captures are all
    // known (a delivery can reach the order before its capture). Returns started before this
    // patch kept the figure of their request.
    if (patched('return-refund-after-captures')) {
      if (state.payment.authorizationId) await untilCapturesKnown(state.status);
      if (r.exchange?.status !== 'reserved') r.refundDue = fromMinor(refundDueFor(r.lines, r.returnId));
    }
    await record(
      'RETURN_REQUESTED',
      `return ${returnId} requested: ${r.reason}${r.exchange ? ` (exchange: ${r.exchange.status === 'reserved' ? 'replacement reserved' : 'no stock, refund instead'})` : ''}`,
      { lines: r.lines, refundDue: r.refundDue },
    );
    await launchReturn({
      orderId,
      returnId,
      lines: r.lines,
      from: order.shippingAddress,
      warehouse: { id: warehouseId, city: cities[warehouseId] ?? '' },
      carrier: settings.defaultCarrier,
      refundDue: r.refundDue,
      cod: order.payment.method === 'cod',
      captures: state.payment.captures.map((c) => ({
        captureId: c.captureId,
        refundable: fromMinor(toMinor(c.amount) - (refundsByCapture.get(c.captureId) ?? 0)),
      })),
      shipByMs: settings.returnShipByMs ?? 14 * 86_400_000,
      settings,
    });
  }

  /** Starts a return's child workflow; like a shipment's, one that fails or cannot start is flagged. */
  async function launchReturn(args: ReturnInput): Promise<void> {
    const id = args.returnId;
    returnArgs.set(id, args);
    try {
      const handle = await CancellationScope.nonCancellable(() => startChild(childTypes.return, { workflowId: id, args: [args] }));
      returnChildren.set(id, handle);
      downReturns.delete(id);
      handle.result().catch((err: unknown) => {
        if (!isCancellation(err)) returnDown(id, err);
      });
    } catch (err) {
      returnDown(id, err, 'could not start');
    }
  }

  function returnDown(id: string, err: unknown, what = 'failed'): void {
    if (downReturns.has(id)) return;
    const reason = `the return workflow ${what}: ${describeFailure(err)}`;
    downReturns.set(id, reason);
    const r = state.returns.find((x) => x.returnId === id);
    returnInbox.push({
      returnId: id,
      status: r?.status ?? 'requested',
      needsAttention: true,
      event: `return ${id} needs attention: ${reason}`,
      actor: 'system',
    });
  }

  /** Runs a return's workflow again from where the order last saw it. */
  async function relaunchReturn(id: string, actor: string): Promise<void> {
    const r = state.returns.find((x) => x.returnId === id)!;
    const why = downReturns.get(id) ?? 'its workflow was gone';
    downReturns.delete(id);
    r.needsAttention = false;
    await record(state.status, `return ${id} restarted by ${actor} (${why})`, { returnId: id }, actor);
    await launchReturn({ ...returnArgs.get(id)!, resumeFrom: r.status });
  }

  /** The parcel is back: the reserved replacement ships like any shipment, with nothing to capture. */
  async function shipReplacement(r: ReturnView): Promise<void> {
    const allocations = exchangePlans.get(r.returnId) ?? [];
    const warehouseId = allocations[0]?.warehouseId ?? state.shipments[0]!.warehouseId;
    const shipmentId = `${orderId}-shipment-${state.shipments.length + 1}`;
    const cities = await books.warehouseCities({ ids: [warehouseId] });
    state.shipments.push({
      shipmentId,
      warehouseId,
      status: 'pending',
      needsAttention: false,
      lines: allocations.map(({ lineNo, sku, quantity }) => ({ lineNo, sku, quantity })),
    });
    r.exchange = { status: 'shipping', shipmentId };
    await launchShipment({
      orderId,
      shipmentId,
      warehouse: { id: warehouseId, city: cities[warehouseId] ?? '' },
      reservationKey: r.returnId,
      lines: allocations.map((a) => ({ lineNo: a.lineNo, sku: a.sku, quantity: a.quantity, weightGrams: 500 })),
      address: order.shippingAddress,
      recipientPhone: order.customer.phone,
      carrier: settings.defaultCarrier,
      pushCarrier: input.pushCarriers.includes(settings.defaultCarrier),
      settings,
    });
  }

  async function applyReturnProgress(p: ReturnProgress): Promise<void> {
    const r = state.returns.find((x) => x.returnId === p.returnId);
    if (!r) return;
    r.status = p.status;
    if (p.trackingNumber) r.trackingNumber = p.trackingNumber;
    if (p.labelUrl) r.labelUrl = p.labelUrl;
    if (p.refunded) r.refunded = p.refunded;
    if (p.needsAttention !== undefined) r.needsAttention = p.needsAttention;
    for (const c of p.refundCaptures ?? []) refundsByCapture.set(c.captureId, (refundsByCapture.get(c.captureId) ?? 0) + toMinor(c.amount));
    if (p.status === 'rejected' || p.status === 'expired') r.inspection = p.event;
    if (r.exchange?.status === 'reserved' && p.status === 'expired') {
      await books.releaseStock({ orderId: r.returnId });
      r.exchange = { status: 'released' };
    }
    if (r.exchange?.status === 'reserved' && p.status === 'received') await shipReplacement(r);
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
    await record(status, p.event, { returnId: p.returnId, ...(p.refunded ? { refunded: p.refunded } : {}) }, p.actor);
  }

  async function trackUntilDelivered(): Promise<void> {
    while (!state.shipments.every((s) => s.status === 'delivered' || s.status === 'cancelled' || s.rts !== undefined)) {
      await condition(() => progressInbox.length > 0);
      const p = progressInbox.shift()!;
      await applyProgress(p);
      if (p.status === 'returned_to_sender') await handleReturnToSender(p.shipmentId);
    }
  }

  /**
   * The carrier brought the parcel back (delivery failed): the units go back on hand, then by
   * configuration the parcel is sent again (stock reserved anew; nothing captured twice) or its
   * share is refunded. Without stock to send it again, it is refunded.
   */
  async function handleReturnToSender(shipmentId: string): Promise<void> {
    const s = state.shipments.find((x) => x.shipmentId === shipmentId);
    if (!s || s.rts) return;
    const lines = s.lines.map((l) => ({ lineNo: l.lineNo, sku: l.sku, quantity: l.quantity }));
    await steps.run('restock returned parcel', () =>
      acts.restockReturn({ returnId: `${s.shipmentId}-rts`, lines, warehouseId: s.warehouseId }),
    );
    const share = shipmentShares.get(s.shipmentId) ?? 0;
    if (settings.rtsPolicy === 'reship') {
      const key = `${s.shipmentId}-reship`;
      const plan = await steps.run('reserve stock to reship', () =>
        acts.reserveStock({ orderId: key, lines, address: order.shippingAddress }),
      );
      if (plan.ok) {
        s.rts = 'reshipped';
        const groups = groupByWarehouse(plan.allocations);
        const shares = splitProportionally(
          share,
          groups.map(([, a]) => a.reduce((x, y) => x + unitValue(y.lineNo) * y.quantity, 0)),
        );
        const next = groups.map(([warehouseId, allocs], i) => ({
          view: {
            shipmentId: `${orderId}-shipment-${(shipmentNo = Math.max(shipmentNo, state.shipments.length) + 1)}`,
            warehouseId,
            status: 'pending' as const,
            needsAttention: false,
            lines: allocs.map(({ lineNo, sku, quantity }) => ({ lineNo, sku, quantity })),
          },
          share: shares[i]!,
        }));
        for (const n of next) {
          state.shipments.push(n.view);
          shipmentShares.set(n.view.shipmentId, n.share);
        }
        const missing = next.map((n) => n.view.warehouseId).filter((w) => !(w in cities));
        if (missing.length) cities = { ...cities, ...(await books.warehouseCities({ ids: missing })) };
        for (const n of next) await startShipment(n.view, n.share, { reservationKey: key });
        await record(
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
      const r = await steps.run('refund returned parcel', () =>
        acts.refundCapture({ captureId: capture.captureId, amount: capture.amount, key: `${capture.captureId}:rts-refund` }),
      );
      refundsByCapture.set(capture.captureId, (refundsByCapture.get(capture.captureId) ?? 0) + toMinor(r.amount));
      refunded = r.amount;
    }
    await record(
      aggregateStatus(state),
      `${s.shipmentId} returned to sender; units restocked, ${refunded ? `${refunded} ${order.currency} refunded` : 'nothing was charged'}`,
      { shipmentId: s.shipmentId, ...(refunded ? { refunded } : {}) },
    );
  }

  /**
   * Undoes what was done, in reverse: shipments (carrier booking, pick order), stock, payment;
   * each step idempotent. A shipment the carrier already has cannot be undone: then the
   * cancellation is refused for the order and the rest carries on.
   */
  async function compensate({ reason, actor }: { reason: string; actor: string }): Promise<OrderState> {
    state.waitingFor = 'the cancellation to complete';
    state.waitingUntil = undefined;
    state.needsAttention = false;
    state.attentionReason = undefined;
    await record('CANCELLING', `cancellation requested: ${reason}`, { reason }, actor);

    for (const s of state.shipments) if (!children.has(s.shipmentId)) s.status = 'cancelled';
    compensating = true;
    for (const id of children.keys()) {
      if (state.shipments.find((x) => x.shipmentId === id)?.status === 'cancelled') continue;
      // A shipment whose workflow is gone runs again, told to undo what it did.
      if (downChildren.has(id)) await relaunchShipment(id, actor);
      else await signalChild(id, cancelShipmentSignal, { reason, actor });
    }
    while (!state.shipments.every((s) => s.status === 'cancelled' || s.cancelRefused)) {
      await condition(() => progressInbox.length > 0);
      await applyProgress(progressInbox.shift()!, 'CANCELLING');
    }
    const refused = state.shipments.filter((s) => s.cancelRefused);
    if (refused.length) {
      for (const s of state.shipments.filter((x) => x.status === 'cancelled'))
        await books.releaseStock({ orderId, warehouseId: s.warehouseId });
      // What will not ship is cancelled, so the order holds, charges and takes back only what the
      // carrier has (orders before this change kept those lines as if they were still to come).
      const recordsLines = patched('refused-cancel-records-lines');
      if (recordsLines) setCancelled(unitsNotShipping());
      cancelSettled = true;
      state.waitingFor = undefined;
      await record(
        aggregateStatus(state),
        `cancellation refused: ${refused.map((s) => s.shipmentId).join(', ')} already with the carrier; open a return`,
        { reason, ...(recordsLines ? { cancelledLines: [...cancelled] } : {}) },
        actor,
      );
      await trackUntilDelivered();
      // The cancelled shipments' shares will never be captured (orders before this change kept them authorised).
      if (state.shipments.some((s) => s.status === 'cancelled') && patched('release-remainder')) await releaseUncapturedRemainder(true);
      // What was handed over was delivered: it can be returned like any delivered order.
      if (patched('return-window-after-refused-cancel')) {
        if (state.shipments.every((s) => s.status === 'cancelled' || s.rts === 'refunded')) {
          return finish('CANCELLED', 'every parcel came back to the sender: refunded', ['returned to sender']);
        }
        await returnWindowThenComplete();
      }
      await Promise.all(pendingPushes);
      await condition(allHandlersFinished);
      return state;
    }

    const undone: Record<string, unknown> = {};
    if (reserveStarted) {
      undone.unitsReleased = (await books.releaseStock({ orderId })).released;
      await books.clearBackorder({ orderId });
    }
    // An authorisation whose call was cancelled may have been made all the same. Asked again with
    // its key and body, the gateway answers with it (or makes it now), and it is voided below.
    if (authorising && !state.payment.authorizationId && patched('authorisation-in-doubt')) {
      const a = authorising;
      try {
        const auth = await steps.run('learn the authorisation', () => acts.authorizePayment({ orderId, ...a }), {
          handles: ['PaymentDeclined'],
        });
        state.payment.authorizationId = auth.authorizationId;
        state.payment.authorized = auth.amount;
      } catch (err) {
        if (!businessFailure(err)) throw err;
      }
    }
    if (state.payment.captures.length) {
      const refunds = [];
      for (const c of state.payment.captures) {
        refunds.push(
          await steps.run('refund capture', () =>
            acts.refundCapture({ captureId: c.captureId, amount: c.amount, key: `${c.captureId}:refund` }),
          ),
        );
      }
      undone.refunded = refunds.map((r) => r.amount);
    } else if (state.payment.authorizationId && !state.payment.voided) {
      const authorizationId = state.payment.authorizationId;
      await steps.run('void authorisation', () => acts.voidAuthorization({ authorizationId, key: `${orderId}:void` }));
      state.payment.voided = true;
      undone.voided = authorizationId;
    }
    if (children.size || returnChildren.size) await childrenClosed();
    state.reasons = [reason];
    state.waitingFor = undefined;
    cancelSettled = true;
    await record('CANCELLED', `order cancelled: ${reason}`, undone, actor);
    await Promise.all(pendingPushes);
    await condition(allHandlersFinished);
    return state;
  }
}

const CLOSED = new Set<OrderStatus>(['REJECTED', 'CANCELLED', 'DELIVERED', 'COMPLETED']);

/** What a cancellation's status push tells the channel's adapter when the channel itself asked for it. */
function channelCancelDetail(e: ChannelOrderEvent): Record<string, unknown> {
  return {
    cancelledBy: 'channel',
    buyerRequest: e.kind === 'cancel_request',
    ...(e.platformRequestId ? { platformRequestId: e.platformRequestId } : {}),
  };
}

const qtyOf = (lines: LineQuantity[], lineNo: number) => lines.filter((l) => l.lineNo === lineNo).reduce((a, l) => a + l.quantity, 0);

/** One entry per line, quantities added, in line order. */
function mergeLines(lines: LineQuantity[]): LineQuantity[] {
  const m = new Map<number, number>();
  for (const l of lines) m.set(l.lineNo, (m.get(l.lineNo) ?? 0) + l.quantity);
  return [...m.entries()].sort(([a], [b]) => a - b).map(([lineNo, quantity]) => ({ lineNo, quantity }));
}

const describeLines = (lines: LineQuantity[]) => lines.map((l) => `${l.quantity} unit(s) of line ${l.lineNo}`).join(', ');

/** Allocations less the units cut at one warehouse (rows cut to zero disappear). */
function reduceAllocations(allocations: Allocation[], warehouseId: string, cut: LineQuantity[]): Allocation[] {
  const left = new Map(cut.map((l) => [l.lineNo, l.quantity]));
  return allocations
    .map((a) => {
      if (a.warehouseId !== warehouseId) return a;
      const take = Math.min(left.get(a.lineNo) ?? 0, a.quantity);
      left.set(a.lineNo, (left.get(a.lineNo) ?? 0) - take);
      return { ...a, quantity: a.quantity - take };
    })
    .filter((a) => a.quantity > 0);
}

function planSummary(state: OrderState): string {
  return state.allocationWarehouses.map((w) => `${w.id}: ${w.reason}`).join('; ');
}

function groupByWarehouse(allocations: Allocation[]): [string, Allocation[]][] {
  const m = new Map<string, Allocation[]>();
  for (const a of allocations) m.set(a.warehouseId, [...(m.get(a.warehouseId) ?? []), a]);
  return [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
}

/** The order's status from its shipments: delivered when all are, shipped when all left, else partly. */
function aggregateStatus(state: OrderState): OrderStatus {
  const ranks = state.shipments.filter((s) => s.status !== 'cancelled' && !s.rts).map((s) => SHIPMENT_RANK[s.status]);
  if (ranks.every((r) => r >= SHIPMENT_RANK.delivered)) return 'DELIVERED';
  if (ranks.every((r) => r >= SHIPMENT_RANK.picked_up)) return 'SHIPPED';
  if (ranks.some((r) => r >= SHIPMENT_RANK.picked_up)) return 'PARTIALLY_SHIPPED';
  return 'FULFILLING';
}

/** What the projection keeps of the workflow's state (the API's order detail reads it). */
function projectionDetail(state: OrderState): Record<string, unknown> {
  return {
    total: state.total,
    reasons: state.reasons,
    payment: state.payment,
    allocations: state.allocations,
    allocationWarehouses: state.allocationWarehouses,
    shipments: state.shipments,
    shortages: state.shortages,
    returns: state.returns,
    cancelledLines: state.cancelledLines ?? [],
    waitingFor: state.waitingFor ?? null,
    waitingUntil: state.waitingUntil ?? null,
  };
}
