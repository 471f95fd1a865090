/**
 * One order's run: its state, what its handlers have asked for, the children it watches, and
 * `record`, which writes a step of the story (projection and timeline, the channel's push, search
 * attributes). The sub-flows (fulfilment, partial cancellation, returns, compensation) are
 * functions of this run, each in its own module; the story itself is in `../order.ts`.
 */
import {
  allHandlersFinished,
  CancellationScope,
  condition,
  inWorkflowContext,
  setCurrentDetails,
  upsertSearchAttributes,
  log,
  type ChildWorkflowHandle,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../../activities';
import type { ShipmentRow, StatusWrite } from '../../db/orders-repo';
import type { MoneyFact } from '../../domain/journal';
import type { Allocation } from '../../domain/allocation';
import { toMinor } from '../../domain/money';
import { mergeLines, qtyOf, splitInWholeSteps, unitsShare, valueOf, type PricedLines } from '../../domain/order-lines';
import { currencyStep } from '../../domain/tax';
import { returnRefundDue } from '../../domain/refunds';
import type { CanonicalOrder, OrderStatus } from '../../domain/order';
import type { OrderSettings } from '../../domain/settings';
import { createStepRunner } from '../attention';
import { orderDetails } from '../details';
import {
  SHIPMENT_RANK,
  type ChannelOrderEvent,
  type LineQuantity,
  type OrderState,
  type ReturnProgress,
  type ShipmentProgress,
  type ShipmentStatus,
} from '../messages';
import type { Patches } from '../patches';
import {
  bookkeepingProfile,
  channelPushProfile,
  localActivityQueue,
  localSteps,
  routed,
  stepProfile,
  summarised,
  type LocalLine,
} from '../profiles';
import { CarrierKey, EscalationLevelKey, NeedsAttentionKey, OrderStatusKey, WarehouseKey } from '../search-attributes';
import type { ReturnInput, returnWorkflow } from '../return';
import type { ShipmentInput, shipmentWorkflow } from '../shipment';

export interface OrderWorkflowInput {
  orderId: string;
  order: CanonicalOrder;
  settings: OrderSettings;
  /** Carriers that push webhooks; the rest are polled. */
  pushCarriers: string[];
  /**
   * What a unit of each line weighs when the total is shared out, when not its unit price: an
   * order whose tax is on top weighs its units with their tax (domain/tax.ts `unitValuesWithTax`),
   * so each parcel's share is its own goods' gross. Absent on orders taken before (by net value).
   */
  unitValues?: number[];
}

/** Every patch of the order workflow (see patches.ts). */
export const ORDER_PATCHES = [
  'return-window',
  'release-remainder',
  'children-close-first',
  'authorisation-in-doubt',
  'return-window-after-refused-cancel',
  'refused-cancel-records-lines',
  'return-refund-after-captures',
  'status-outbox',
  'search-attributes-on-change',
  'compensation-skips-handed-over',
  'amounts-in-currency-steps',
] as const;

/** Patches made after `orderWorkflowV2`: recorded in its runs too (see patches.ts). */
export const ORDER_V2_LATER_PATCHES = ['compensation-skips-handed-over', 'amounts-in-currency-steps'] as const;

/** Patches made after `orderWorkflowV3`: recorded in its runs too. */
export const ORDER_V3_LATER_PATCHES = ['amounts-in-currency-steps'] as const;

export type OrderPatch = (typeof ORDER_PATCHES)[number];

export interface ChildTypes {
  shipment: typeof shipmentWorkflow;
  return: typeof returnWorkflow;
  /** Shipments run inside the order's workflow (`orderWorkflowV3`) rather than as `shipment` children. */
  shipmentsInOrder?: boolean;
  /** The steps on our own PostgreSQL run as local activities (`orderWorkflowV4`): see `OrderRun.checks`. */
  localSteps?: boolean;
  /** Steps of the story wait to be carried by the run's next local activity (`orderWorkflowV5`): see `OrderRun.record`. */
  stepsCarried?: boolean;
}

/** A shipment as the order sees it: a child workflow, or a part of the order's own workflow. */
export interface ShipmentLink {
  signal<A extends unknown[]>(signal: SignalDefinition<A>, ...args: A): Promise<void>;
  result(): Promise<unknown>;
}

type Request = { reason: string; actor: string };
type HoldDecision = { kind: 'release'; actor: string; note?: string | undefined } | { kind: 'reject'; actor: string; reason: string };

export const CLOSED = new Set<OrderStatus>(['REJECTED', 'CANCELLED', 'DELIVERED', 'COMPLETED']);

export class OrderRun {
  readonly orderId: string;
  readonly order: CanonicalOrder;
  readonly settings: OrderSettings;
  readonly pushesQueued: boolean;
  /** Outside systems and business steps: a failure parks the order for an ops retry (`steps.run`). */
  readonly acts: Activities;
  /** Our own bookkeeping in PostgreSQL: local activities, one at a time. */
  readonly books: Activities;
  /**
   * The business steps on our own PostgreSQL (validation, risk, COD eligibility, stock
   * reservation): local activities in the same line as `books` for orders from `orderWorkflowV4`
   * on, activities like `acts` for orders taken in before. A failure parks the order as `acts` does.
   */
  readonly checks: Activities;
  /** The run's one line of local activities (workflows/profiles.ts `localActivityQueue`). */
  readonly localLine: LocalLine;
  /** Status pushes of orders recorded before the push outbox. */
  readonly pushes: Activities;
  readonly steps: ReturnType<typeof createStepRunner>;
  readonly state: OrderState;
  /** The order's forward path; a cancellation (API or Temporal) cancels it and compensation runs. */
  readonly forward = new CancellationScope();
  readonly pendingPushes: Promise<void>[] = [];

  // What the handlers asked for; the story reads these where it waits.
  holdDecision: HoldDecision | undefined;
  stockMayBeBack = false;
  /** An ops hold: requested any time before shipping, it takes effect before the order's next step. */
  opsHold: Request | undefined;
  opsRelease: { actor: string; note?: string | undefined } | undefined;
  cancelRequest: Request | undefined;
  cancelSettled = false;
  /** The channel's own cancellation, when it is what cancelled the order: its push answers the platform. */
  channelCancel: ChannelOrderEvent | undefined;
  /** What the channel said that ops must look at (a cancellation after handover, a return request). */
  readonly channelFlags: ChannelOrderEvent[] = [];

  // Where the story stands.
  reserveStarted = false;
  /** The authorisation request as sent: a cancellation may leave its outcome unknown. */
  authorising: { amount: string; currency: string; token: string } | undefined;
  compensating = false;
  returnWindowOpen = false;
  /** Before shipping starts a cancelled line is simply not reserved (or its units are given back); afterwards its shipment is cut. */
  shippingStarted = false;
  weights: Record<string, number> = {};
  cities: Record<string, string> = {};

  // Shipments: their children, messages, shares and cuts.
  readonly progressInbox: ShipmentProgress[] = [];
  /**
   * The furthest status the carrier has reported per shipment run in this workflow, as its events
   * arrive (before the shipment has taken them in and told the order). Read by the cancel
   * validator only: state, never a command.
   */
  readonly carrierSaid = new Map<string, number>();
  readonly children = new Map<string, ShipmentLink>();
  /** Child workflows that failed, were terminated or could not start, and why: they wait for an ops retry. */
  readonly downChildren = new Map<string, string>();
  readonly shipmentArgs = new Map<string, ShipmentInput>();
  /** The newest message applied per shipment (see ShipmentProgress.seq). */
  readonly shipmentSeqs = new Map<string, number>();
  /** Each shipment's share of the order total (minor units): what it captures or collects. */
  readonly shipmentShares = new Map<string, number>();
  readonly cutsInFlight = new Set<string>();
  readonly placeholders = new Set<string>();
  unitsBeingCut = 0;
  shipmentNo = 0;
  cutNo = 0;

  // Returns: requests queued by the handler, their children and messages.
  readonly returnQueue: string[] = [];
  readonly returnInbox: ReturnProgress[] = [];
  readonly returnChildren = new Map<string, ChildWorkflowHandle<typeof returnWorkflow>>();
  readonly downReturns = new Map<string, string>();
  readonly returnArgs = new Map<string, ReturnInput>();
  readonly refundsByCapture = new Map<string, number>();
  readonly exchangePlans = new Map<string, Allocation[]>();

  /** The money facts learned so far (domain/journal.ts); each is sent once, with the next step recorded. */
  readonly money: MoneyFact[] = [];
  private moneySent = 0;
  private lastAttributes = '';
  /** Each shipment's row as last written with a step (shipments in the order's workflow). */
  private readonly shipmentRows = new Map<string, string>();
  /** Steps recorded and not yet handed to a local activity (`orderWorkflowV5`). */
  private readonly stepsWaiting: StatusWrite[] = [];
  /** Steps handed to a local activity that has not finished yet. */
  private stepsOnTheirWay = 0;
  private readonly priced: PricedLines;
  /** Whether this order's money facts name their units (orders taken from `amounts-in-currency-steps` on). */
  private readonly factUnits: boolean;

  constructor(
    readonly input: OrderWorkflowInput,
    private readonly patches: Patches<OrderPatch>,
    readonly childTypes: ChildTypes,
  ) {
    const { order, settings, orderId } = input;
    this.orderId = orderId;
    this.order = order;
    this.settings = settings;
    this.pushesQueued = this.patched('status-outbox');
    this.acts = summarised<Activities>(stepProfile(settings), () => this.steps.startingStep);
    const local = (this.localLine = localActivityQueue(
      childTypes.stepsCarried
        ? {
            take: () => {
              if (!this.stepsWaiting.length) return undefined;
              const steps = this.stepsWaiting.splice(0);
              this.stepsOnTheirWay += steps.length;
              return steps;
            },
            settle: (steps, written) => {
              this.stepsOnTheirWay -= steps.length;
              if (!written) this.stepsWaiting.unshift(...(steps as StatusWrite[]));
            },
          }
        : undefined,
    ));
    this.books = local<Activities>(() => bookkeepingProfile);
    this.checks = childTypes.localSteps ? localSteps<Activities>(local, settings, () => this.steps.startingStep) : this.acts;
    this.pushes = routed<Activities>(channelPushProfile);
    this.state = {
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
    // Orders taken from this change on: shares a gateway can charge and a carrier can collect (no
    // half đồng), and money facts that name their units (their VAT is their goods'). An order in
    // flight from before keeps both as its history has them: one rule for all its facts.
    const stepped = this.patched('amounts-in-currency-steps');
    this.factUnits = stepped;
    this.priced = {
      unitValues: input.unitValues ?? order.lines.map((l) => toMinor(l.unitPrice)),
      ordered: order.lines.map((l) => l.quantity),
      step: stepped ? currencyStep(order.currency) : 1,
    };
    this.steps = createStepRunner({
      raise: async (step, reason) => {
        this.state.needsAttention = true;
        this.state.attentionReason = reason;
        this.state.waitingFor = `an ops retry of "${step}"`;
        await this.record(this.state.status, `needs attention: ${step}`, { reason });
      },
      cleared: async (step, actor) => {
        this.state.needsAttention = false;
        this.state.attentionReason = undefined;
        this.state.waitingFor = undefined;
        await this.record(this.state.status, `retry of "${step}" requested`, {}, actor);
      },
    });
  }

  /** Whether a change applies to this run (patches.ts). */
  /**
   * How far a shipment has got by everything this workflow knows of it: the order's view, the
   * progress it has been told and not yet applied, and the carrier's events its shipment has not
   * yet taken in. A cancellation told but not applied is not a step forward.
   */
  shipmentRank(shipmentId: string, status: ShipmentStatus): number {
    let rank = SHIPMENT_RANK[status];
    for (const p of this.progressInbox)
      if (p.shipmentId === shipmentId && p.status !== 'cancelled') rank = Math.max(rank, SHIPMENT_RANK[p.status] ?? 0);
    return Math.max(rank, this.carrierSaid.get(shipmentId) ?? 0);
  }

  patched(id: OrderPatch): boolean {
    return this.patches.has(id);
  }

  /** Asks for the order's cancellation: the forward path stops and compensation runs. */
  requestCancel(request: Request): void {
    this.cancelRequest ??= request;
    this.forward.cancel();
  }

  /** Lines (units) cancelled so far. */
  get cancelled(): LineQuantity[] {
    return this.state.cancelledLines!;
  }

  cancelledOf(lineNo: number): number {
    return qtyOf(this.cancelled, lineNo);
  }

  setCancelled(lines: LineQuantity[]): void {
    this.cancelled.splice(0, this.cancelled.length, ...lines);
  }

  addCancelled(lines: LineQuantity[]): void {
    this.setCancelled(mergeLines([...this.cancelled, ...lines]));
  }

  /** Every line's units not cancelled. */
  remainingLines() {
    return this.order.lines
      .map((l, i) => ({ lineNo: i + 1, sku: l.sku, quantity: l.quantity - this.cancelledOf(i + 1) }))
      .filter((l) => l.quantity > 0);
  }

  /** The units a money fact is for, for orders whose facts name them (domain/journal.ts `MoneyFact`). */
  unitsOf(lines: readonly { lineNo: number; quantity: number }[]): { lines?: { lineNo: number; quantity: number }[] } {
    return this.factUnits && lines.length ? { lines: mergeLines(lines) } : {};
  }

  /** The value of units at their unit prices (minor units). */
  valueOf(lines: readonly { lineNo: number; quantity: number }[]): number {
    return valueOf(this.priced, lines);
  }

  /** `amount` split over groups of units (shipments) by their value, in whole steps of the currency where it allows. */
  splitByValue(amount: number, groups: readonly (readonly { lineNo: number; quantity: number }[])[]): number[] {
    return splitInWholeSteps(
      amount,
      groups.map((g) => this.valueOf(g)),
      this.priced.step,
    );
  }

  /** The units' share of the order total (domain/order-lines). */
  shareOf(lines: LineQuantity[]): number {
    return unitsShare(this.priced, toMinor(this.state.total ?? '0'), lines);
  }

  /** What the buyer paid: the captures of a prepaid order, what is due on delivery of a COD one. */
  paidMinor(): number {
    return this.state.payment.method === 'cod'
      ? toMinor(this.state.total ?? '0') - this.shareOf(this.cancelled)
      : this.state.payment.captures.reduce((a, c) => a + toMinor(c.amount), 0);
  }

  /** The refund due for `lines` coming back, beside the refunds other returns still hold (domain/refunds). */
  refundDueFor(lines: LineQuantity[], returnId?: string): number {
    return returnRefundDue(
      {
        unitValues: this.priced.unitValues,
        keptUnits: this.order.lines.map((l, i) => l.quantity - this.cancelledOf(i + 1)),
        paid: this.paidMinor(),
        step: this.priced.step,
      },
      lines,
      this.state.returns
        .filter((r) => r.returnId !== returnId && !['rejected', 'expired'].includes(r.status) && r.exchange?.status !== 'reserved')
        .map((r) => ({ lines: r.lines, refundDue: toMinor(r.refundDue) })),
    );
  }

  /** Every parcel's capture is known to the order (a carrier's delivery can be told before it). */
  capturesKnown(): boolean {
    return this.state.shipments.every(
      (x) => x.status === 'cancelled' || x.captured !== undefined || !this.shipmentShares.get(x.shipmentId),
    );
  }

  /** Something of the order is (or was) with the carrier: a channel's cancellation is then for ops. */
  handedOver(): boolean {
    return (
      this.returnWindowOpen ||
      this.state.shipments.some((x) => x.status !== 'cancelled' && SHIPMENT_RANK[x.status] >= SHIPMENT_RANK.picked_up)
    );
  }

  /** Units of each line that no live shipment carries: once shipping has settled, those will never ship. */
  unitsNotShipping(): LineQuantity[] {
    const carried = mergeLines(this.state.shipments.filter((x) => x.status !== 'cancelled').flatMap((x) => x.lines));
    return this.order.lines.map((l, i) => ({ lineNo: i + 1, quantity: l.quantity - qtyOf(carried, i + 1) })).filter((l) => l.quantity > 0);
  }

  /** Shipments a cancellation can still cut: at the warehouse, not already being cut or replacing one. */
  cuttableShipments() {
    return this.state.shipments.filter(
      (x) =>
        SHIPMENT_RANK[x.status] < SHIPMENT_RANK.picked_up &&
        !x.cancelRefused &&
        !this.cutsInFlight.has(x.shipmentId) &&
        !this.placeholders.has(x.shipmentId) &&
        this.shipmentShares.has(x.shipmentId),
    );
  }

  /** Units of a line that can still be cancelled: not reserved yet, or in a shipment still at the warehouse. */
  cancellableUnits(lineNo: number): number {
    if (!this.shippingStarted) return (this.order.lines[lineNo - 1]?.quantity ?? 0) - this.cancelledOf(lineNo);
    return this.cuttableShipments().reduce((a, x) => a + qtyOf(x.lines, lineNo), 0);
  }

  /** The order, a shipment or a return needs a person, or a parcel is late. */
  private attention(): boolean {
    const s = this.state;
    return (
      s.needsAttention ||
      s.shipments.some((x) => x.needsAttention) ||
      s.returns.some((r) => r.needsAttention === true) ||
      s.escalationLevel > 0
    );
  }

  /** Tells a money fact: written to the journal with the next step (once: by its key). */
  learned(fact: MoneyFact): void {
    if (!this.money.some((f) => f.key === fact.key)) this.money.push(fact);
  }

  private moneySinceLastStep(): { money?: MoneyFact[] } {
    if (this.money.length === this.moneySent) return {};
    const money = this.money.slice(this.moneySent);
    this.moneySent = this.money.length;
    return { money };
  }

  /**
   * The rows of shipments that changed since the last step: a shipment that runs in the order's
   * workflow is written with the order's steps (from its booking on, as a child writes it).
   */
  private changedShipmentRows(): { shipments?: ShipmentRow[] } {
    const rows: ShipmentRow[] = [];
    for (const s of this.state.shipments) {
      if (s.status === 'pending' || s.status === 'picking' || s.status === 'packed') continue;
      const row: ShipmentRow = {
        shipmentId: s.shipmentId,
        orderId: this.orderId,
        warehouseId: s.warehouseId,
        carrier: s.carrier,
        bookingId: s.bookingId,
        trackingNumber: s.trackingNumber,
        status: s.status,
        statusRank: SHIPMENT_RANK[s.status],
        deliverBy: this.shipmentArgs.get(s.shipmentId)?.sla?.deliverBy,
      };
      const key = JSON.stringify(row);
      if (this.shipmentRows.get(s.shipmentId) === key) continue;
      this.shipmentRows.set(s.shipmentId, key);
      rows.push(row);
    }
    return rows.length ? { shipments: rows } : {};
  }

  /**
   * Resolves once every step recorded so far is written (`orderWorkflowV5`; at once before it):
   * by the local activity that carries them, or by one of their own when none is on its way.
   */
  async stepsWritten(): Promise<void> {
    if (!this.stepsWaiting.length && !this.stepsOnTheirWay) return;
    try {
      await CancellationScope.nonCancellable(() => this.localLine.flush(bookkeepingProfile));
    } catch (err) {
      // The run was evicted from the worker's cache meanwhile (its next task replays it): nothing
      // more to do in this one.
      if (!inWorkflowContext()) return new Promise<void>(() => undefined);
      // Only a defect gets here (the write retries until PostgreSQL takes it; a worker without
      // `writeSteps`): the workflow task fails and is tried again, as when a step awaited by the
      // story could not be written — never the workflow.
      await failWorkflowTask(err);
    }
  }

  /**
   * Before the workflow ends (V5): every step written, and no handler still running or having
   * recorded one since — a handler no longer waits for its step's local activity, so it may finish
   * before its step is written, or run while the last ones are (the task extended by core).
   */
  async everyStepWritten(): Promise<void> {
    for (;;) {
      await this.stepsWritten();
      await condition(allHandlersFinished);
      if (!this.stepsWaiting.length && !this.stepsOnTheirWay) return;
    }
  }

  /**
   * Writes the steps that no local activity took, for as long as the run lives: the SDK looks at
   * the condition once a job of the activation and the coroutines it woke have run, so the steps
   * of one job (usually of one activation) go together. Their local activity ends before the workflow task does: core holds the task's
   * completion, and with it the activities, child starts and update replies of that task, until
   * its local activities are done — unless one still runs at ~80% of the task's timeout, when core
   * completes the task to extend it (a local activity retrying while PostgreSQL is away).
   */
  keepWritingSteps(): void {
    if (!this.childTypes.stepsCarried) return;
    void CancellationScope.nonCancellable(async () => {
      for (;;) {
        await condition(() => this.stepsWaiting.length > 0);
        await this.stepsWritten();
      }
    });
  }

  /** Records a step of the story: projection + timeline, channel push, search attributes. */
  async record(status: OrderStatus, event: string, eventDetail: Record<string, unknown> = {}, actor = 'system'): Promise<void> {
    const { state, order, orderId } = this;
    state.status = status;
    state.seq += 1;
    const seq = state.seq;
    const attributes: SearchAttributeUpdatePair[] = [
      { key: OrderStatusKey, value: status },
      { key: NeedsAttentionKey, value: this.attention() },
      { key: EscalationLevelKey, value: state.escalationLevel },
      ...(state.shipments.length ? [{ key: WarehouseKey, value: [...new Set(state.shipments.map((s) => s.warehouseId))] }] : []),
      ...(state.shipments.some((s) => s.carrier)
        ? [{ key: CarrierKey, value: [...new Set(state.shipments.flatMap((s) => (s.carrier ? [s.carrier] : [])))] }]
        : []),
    ];
    // Upserted when they change only: each upsert is a history event.
    const attributesNow = JSON.stringify(attributes);
    if (attributesNow !== this.lastAttributes || !this.patched('search-attributes-on-change')) upsertSearchAttributes(attributes);
    this.lastAttributes = attributesNow;
    const at = new Date().toISOString();
    const push = {
      channel: order.channel,
      orderId,
      channelOrderId: order.channelOrderId,
      status,
      seq,
      occurredAt: at,
      ...(state.reasons.length || this.channelCancel
        ? {
            detail: {
              ...(state.reasons.length ? { reasons: state.reasons } : {}),
              ...(this.channelCancel ? channelCancelDetail(this.channelCancel) : {}),
            },
          }
        : {}),
    };
    setCurrentDetails(orderDetails(state));
    const write: StatusWrite = {
      orderId,
      seq,
      status,
      event,
      eventDetail,
      actor,
      at,
      needsAttention: this.attention(),
      attentionReason:
        state.attentionReason ??
        state.shipments.find((s) => s.needsAttention)?.attentionReason ??
        state.shipments.find((s) => s.escalationLevel)?.escalationReason ??
        null,
      escalationLevel: state.escalationLevel,
      detail: projectionDetail(state),
      // The channel's push is queued with the status and sent by the workers' relay: no activity
      // per push in the order's history. Orders recorded before this push with an activity.
      ...(this.pushesQueued ? { push: { channel: order.channel, input: push } } : {}),
      // Said once, with the first step: carrier webhooks for its parcels are sent to this workflow.
      ...(seq === 1 && this.childTypes.shipmentsInOrder ? { shipmentsInOrder: true } : {}),
      ...(this.childTypes.shipmentsInOrder ? this.changedShipmentRows() : {}),
      ...this.moneySinceLastStep(),
    };
    // From `orderWorkflowV5` on, the step waits for the run's next local activity, which writes it
    // before its own work; the steps no local activity took are written together once the
    // coroutines of the current job have run (`keepWritingSteps`). One local activity
    // where each step was one: the steps of an activation, and the step before a check, travel together.
    if (this.childTypes.stepsCarried) {
      // As it is now: the state it shows (shipments, returns, payment) changes before it is written.
      this.stepsWaiting.push(JSON.parse(JSON.stringify(write)) as StatusWrite);
      return;
    }
    // The story is written even while the order is being cancelled.
    await CancellationScope.nonCancellable(() => this.books.recordStatus(write));
    if (this.pushesQueued) return;
    this.pendingPushes.push(
      CancellationScope.nonCancellable(() => this.pushes.pushOrderStatus(push)).catch((err: unknown) => {
        // Only a refusal (4xx) ends up here: transient failures retry without limit.
        log.warn('channel refused a status push', { orderId, status, seq, error: err instanceof Error ? err.message : 'unknown' });
      }),
    );
  }
}

/**
 * Fails the current workflow task with `err` (the SDK tries the task again) from a coroutine whose
 * rejection no one would handle: thrown by a condition at the SDK's next look at conditions, where
 * errors bubble up into the task's failure. Never resolves.
 */
function failWorkflowTask(err: unknown): Promise<void> {
  let armed = false;
  // A condition is looked at once when it is made, inside a promise's executor (a throw there
  // would only reject it): armed after that.
  const failing = condition(() => {
    if (armed) throw err;
    return false;
  });
  armed = true;
  return failing;
}

/** The order's status from its shipments: delivered when all are, shipped when all left, else partly. */
export function aggregateStatus(state: OrderState): OrderStatus {
  const ranks = state.shipments.filter((s) => s.status !== 'cancelled' && !s.rts).map((s) => SHIPMENT_RANK[s.status]);
  if (ranks.every((r) => r >= SHIPMENT_RANK.delivered)) return 'DELIVERED';
  if (ranks.every((r) => r >= SHIPMENT_RANK.picked_up)) return 'SHIPPED';
  if (ranks.some((r) => r >= SHIPMENT_RANK.picked_up)) return 'PARTIALLY_SHIPPED';
  return 'FULFILLING';
}

/** What a cancellation's status push tells the channel's adapter when the channel itself asked for it. */
function channelCancelDetail(e: ChannelOrderEvent): Record<string, unknown> {
  return {
    cancelledBy: 'channel',
    buyerRequest: e.kind === 'cancel_request',
    ...(e.platformRequestId ? { platformRequestId: e.platformRequestId } : {}),
  };
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
