/**
 * One shipment of an order: pick and pack at the warehouse, book the carrier, wait for the
 * handover (commit stock, capture this shipment's share), then track until delivered. Carrier
 * events arrive as signals (webhooks) or by polling carriers that have none; a webhook carrier's
 * booking that stays quiet too long is polled too (its webhooks may have been lost for good).
 *
 * Until the handover the order may cancel the shipment: what was done is undone in reverse
 * (carrier booking, pick order). The carrier decides races: if it refuses the cancellation
 * because it already has the parcel, the handover happened and the shipment carries on.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Booking } from '../activities/carriers/carrier-activities';
import type { Address } from '../domain/order';
import { DEFAULT_TRACKING_QUIET_MS, type OrderSettings } from '../domain/settings';
import { businessFailure, createStepRunner } from './attention';
import { recordedPatches, versionedPatches, type Patches } from './patches';
import {
  cancelShipmentSignal,
  carrierEventSignal,
  retryShipmentSignal,
  SHIPMENT_RANK,
  shipmentProgressSignal,
  shipmentStateQuery,
  type CarrierEvent,
  type ShipmentProgress,
  type ShipmentStatus,
  type ShipmentView,
} from './messages';
import { shipmentDetails } from './details';
import { fromMinor, toMinor } from '../domain/money';
import { bookkeepingProfile, bookkeepingTaskProfile, channelPushProfile, stepProfile, summarised } from './profiles';

export interface ShipmentInput {
  orderId: string;
  shipmentId: string;
  warehouse: { id: string; city: string };
  lines: { lineNo: number; sku: string; quantity: number; weightGrams: number }[];
  address: Address;
  recipientPhone?: string | undefined;
  carrier: string;
  pushCarrier: boolean;
  /** Cash to collect at the door (COD), as a decimal string. */
  codAmount?: string | undefined;
  /**
   * Prepaid: this shipment's share of the authorisation, captured at handover. With the token and
   * the authorisation's expiry, a share captured after the authorisation lapsed is authorised again.
   */
  capture?: { authorizationId: string; amount: string; token?: string; currency?: string; expiresAt?: string } | undefined;
  settings: OrderSettings;
  /** Whose reservations this shipment commits: the order's, or an exchange's (its return id). */
  reservationKey?: string | undefined;
  /** Service levels: deadlines (ISO) and the escalation ladder. Absent: no SLA timers. */
  sla?: ShipmentSla | undefined;
  /**
   * A new run of a shipment whose workflow failed or was terminated: where the order last saw it.
   * Before the handover the steps run again (each is idempotent at the outside system); after it,
   * tracking carries on with the known booking.
   */
  resume?: ShipmentResume | undefined;
  /** The order was cancelled while this shipment's workflow was down: undo, don't ship. */
  cancel?: { reason: string; actor: string } | undefined;
}

export interface ShipmentResume {
  status: ShipmentStatus;
  booking?: Booking | undefined;
  pickOrderId?: string | undefined;
  captured?: { captureId: string; amount: string } | undefined;
}

/** Re-authorise this long before the gateway's expiry, so a capture never races it. */
const REAUTHORISE_MARGIN_MS = 3_600_000;

export interface ShipmentSla {
  shipBy: string;
  deliverBy: string;
  graceMs: number;
  stepMs: number;
  codRemitByMs: number;
}

/** However long the grace, a parcel two weeks late is escalated. */
const ALWAYS_ESCALATED_AFTER_MS = 14 * 86_400_000;

const TRACKED: ShipmentStatus[] = ['picked_up', 'in_transit', 'delivered', 'delivery_failed', 'returned_to_sender'];

/** Every patch of this workflow (see patches.ts). */
const SHIPMENT_PATCHES = [
  'handover-before-tell',
  'rts-ends-shipment',
  'release-reauthorised-share',
  'reauthorise-again',
  'push-carrier-reconcile',
  'settle-booking-in-doubt',
  'settle-pick-in-doubt',
  'capture-with-handover-tell',
] as const;

type ShipmentPatch = (typeof SHIPMENT_PATCHES)[number];

/**
 * Where a shipment runs: a child workflow of its order (orders taken in before `orderWorkflowV3`),
 * or part of the order's own workflow. The shipment's story is the same either way; only how it
 * tells the order and takes its messages differs.
 */
export interface ShipmentHost {
  /** Tells the order of the shipment's progress. */
  tell(progress: ShipmentProgress): Promise<void>;
  /** Takes a message meant for this shipment (carrier events, the order's cancellation, an ops retry). */
  on<A extends unknown[]>(signal: SignalDefinition<A>, handler: (...args: A) => void): void;
  /** Shows where the shipment stands: the state query and current details of its own workflow. */
  show(view: () => ShipmentView, details: () => string): void;
  /**
   * Its bookkeeping: the shipment's row (for the carrier webhook route and reports) and the stock
   * committed at handover. A child workflow writes them with local activities. In the order's
   * workflow no local activity may run beside the order's own (they resolve in another order on
   * replay, and the workflow is stuck): the order writes the row with each of its steps, and the
   * stock is committed by an activity — or, from `orderWorkflowV4` on, by a local activity queued
   * in the order's own line (workflows/profiles.ts `localActivityQueue`).
   */
  books: Pick<Activities, 'recordShipment' | 'commitStock'>;
}

/** The bookkeeping of a shipment that runs in its order's workflow (see `ShipmentHost.books`). */
export function booksInOrder(): ShipmentHost['books'] {
  const tasks = proxyActivities<Activities>({ ...bookkeepingTaskProfile, summary: 'commit stock' });
  return { recordShipment: () => Promise.resolve(), commitStock: (args) => tasks.commitStock(args) };
}

/** A shipment as a child workflow: it signals its order and is signalled by name. */
function childHost(orderId: string): ShipmentHost {
  const parent = getExternalWorkflowHandle(orderId);
  let details = () => '';
  return {
    tell: async (progress) => {
      setCurrentDetails(details());
      await CancellationScope.nonCancellable(() => parent.signal(shipmentProgressSignal, progress));
    },
    on: (signal, handler) => setHandler(signal, handler),
    show: (view, describe) => {
      details = describe;
      setHandler(shipmentStateQuery, view);
    },
    books: proxyLocalActivities<Activities>(bookkeepingProfile),
  };
}

/** Shipments of orders taken in before the versioned types: their patches are markers in their histories. */
export async function shipmentWorkflow(input: ShipmentInput): Promise<ShipmentView> {
  return runShipment(input, recordedPatches(SHIPMENT_PATCHES), childHost(input.orderId));
}

/** The shipment (v2): every patch of `shipmentWorkflow` applies, none recorded. */
export async function shipmentWorkflowV2(input: ShipmentInput): Promise<ShipmentView> {
  return runShipment(input, versionedPatches<ShipmentPatch>(), childHost(input.orderId));
}

/** A shipment run inside its order's workflow (`orderWorkflowV3`): every patch applies, none recorded. */
export function shipmentInOrder(input: ShipmentInput, host: ShipmentHost): Promise<ShipmentView> {
  return runShipment(input, versionedPatches<ShipmentPatch>(), host);
}

async function runShipment(input: ShipmentInput, patches: Patches<ShipmentPatch>, host: ShipmentHost): Promise<ShipmentView> {
  const patched = (id: ShipmentPatch) => patches.has(id);
  const acts = summarised<Activities>(stepProfile(input.settings), () => steps.startingStep);
  const books = host.books;
  const notices = proxyActivities<Activities>({ ...channelPushProfile, summary: 'notify ops' });
  const view: ShipmentView = {
    shipmentId: input.shipmentId,
    warehouseId: input.warehouse.id,
    status: 'pending',
    needsAttention: false,
    lines: input.lines.map(({ lineNo, sku, quantity }) => ({ lineNo, sku, quantity })),
  };
  const seenEvents = new Set<string>();
  const inbox: CarrierEvent[] = [];
  let handedOver = false;
  let cancelRequest: { reason: string; actor: string } | undefined;
  let refusalSent = false;
  let pickOrderId: string | undefined;
  let booking: Booking | undefined;
  let weightGrams = 0;
  const resumed = input.resume;
  if (resumed) {
    view.status = resumed.status === 'cancelled' ? 'pending' : resumed.status;
    if (resumed.pickOrderId) pickOrderId = view.pickOrderId = resumed.pickOrderId;
    if (resumed.booking) {
      booking = resumed.booking;
      Object.assign(view, {
        carrier: booking.carrier,
        bookingId: booking.bookingId,
        trackingNumber: booking.trackingNumber,
        labelUrl: booking.labelUrl,
      });
    }
    if (resumed.captured) view.captured = resumed.captured.amount;
    handedOver = SHIPMENT_RANK[view.status] >= SHIPMENT_RANK.picked_up;
  }
  if (input.cancel) cancelRequest = input.cancel;
  const forward = new CancellationScope();
  const waitingFor = () =>
    view.needsAttention
      ? 'an ops retry'
      : view.status === 'delivered' || view.status === 'cancelled'
        ? 'nothing'
        : SHIPMENT_RANK[view.status] >= SHIPMENT_RANK.booked
          ? `the carrier (${input.pushCarrier ? 'webhooks' : 'polled'})`
          : 'the warehouse';

  let tells = 0;
  let capturing = false;
  const tell = async (p: Omit<ShipmentProgress, 'shipmentId' | 'status' | 'needsAttention' | 'actor'> & { actor?: string }) => {
    const progress: ShipmentProgress = {
      shipmentId: input.shipmentId,
      status: capturing ? 'booked' : view.status,
      needsAttention: view.needsAttention,
      actor: p.actor ?? 'system',
      ...(input.sla ? { seq: ++tells } : {}),
      ...(view.attentionReason ? { attentionReason: view.attentionReason } : {}),
      ...(view.carrier ? { carrier: view.carrier } : {}),
      ...(view.bookingId ? { bookingId: view.bookingId } : {}),
      ...(view.pickOrderId ? { pickOrderId: view.pickOrderId } : {}),
      ...(view.trackingNumber ? { trackingNumber: view.trackingNumber } : {}),
      ...(view.labelUrl ? { labelUrl: view.labelUrl } : {}),
      ...(view.cancelRefused ? { cancelRefused: true } : {}),
      ...(view.escalationLevel !== undefined ? { escalationLevel: view.escalationLevel } : {}),
      ...(view.escalationReason ? { escalationReason: view.escalationReason } : {}),
      ...(view.cod ? { cod: { ...view.cod } } : {}),
      event: p.event,
      ...(p.eventDetail ? { eventDetail: p.eventDetail } : {}),
      ...(p.captured ? { captured: p.captured } : {}),
      ...(p.authorised ? { authorised: p.authorised } : {}),
      ...(p.released ? { released: p.released } : {}),
    };
    await host.tell(progress);
  };

  const steps = createStepRunner({
    raise: async (step, reason) => {
      view.needsAttention = true;
      view.attentionReason = reason;
      await tell({ event: `shipment ${input.shipmentId} needs attention: ${step}`, eventDetail: { reason } });
    },
    cleared: async (step, actor) => {
      view.needsAttention = false;
      delete view.attentionReason;
      await tell({ event: `shipment ${input.shipmentId}: ${step} retried`, actor });
    },
  });

  // SLA: deadlines by phase (ship-by until the handover, deliver-by until delivery, then the COD
  // remittance), escalating one level per step past deadline + grace; a parcel that moves again
  // clears its escalation and gets a step before the next one.
  let slaEpoch = 0;
  let finished = false;
  let clearedAt: number | undefined;
  let deliveredAt: number | undefined;
  const codDueMinor = input.codAmount ? toMinor(input.codAmount) : 0;
  const ensureCod = () => (view.cod ??= { due: fromMinor(codDueMinor), remitted: '0.00', settled: false });
  const slaDeadline = (): { kind: 'ship-by' | 'deliver-by' | 'cod-remittance'; at: number; graceMs: number } | undefined => {
    const sla = input.sla!;
    if (view.status === 'cancelled' || view.status === 'returned_to_sender') return undefined;
    if (view.status === 'delivered') {
      return view.cod && !view.cod.settled
        ? { kind: 'cod-remittance', at: (deliveredAt ?? Date.now()) + sla.codRemitByMs, graceMs: 0 }
        : undefined;
    }
    return handedOver
      ? { kind: 'deliver-by', at: Date.parse(sla.deliverBy), graceMs: sla.graceMs }
      : { kind: 'ship-by', at: Date.parse(sla.shipBy), graceMs: sla.graceMs };
  };
  const escalate = async (kind: string, reason: string) => {
    const level = (view.escalationLevel ?? 0) + 1;
    view.escalationLevel = level;
    view.escalationReason = reason;
    await notices.notifyOps({
      orderId: input.orderId,
      shipmentId: input.shipmentId,
      kind,
      level,
      text: `${input.shipmentId}: ${reason} (level ${level})`,
      key: `${input.shipmentId}:escalation:${slaEpoch}:${level}:${kind}`,
    });
    await tell({ event: `shipment ${input.shipmentId}: escalation level ${level}: ${reason}`, eventDetail: { kind, level } });
  };
  const clearEscalation = () => {
    if (!view.escalationLevel) return false;
    view.escalationLevel = 0;
    delete view.escalationReason;
    clearedAt = Date.now();
    return true;
  };
  const watchSla = async () => {
    const sla = input.sla!;
    while (!finished) {
      const epoch = slaEpoch;
      const d = slaDeadline();
      if (!d) {
        await condition(() => slaEpoch !== epoch || finished);
        continue;
      }
      let first = d.at + Math.min(d.graceMs, ALWAYS_ESCALATED_AFTER_MS);
      if (clearedAt !== undefined) first = Math.max(first, clearedAt + sla.stepMs);
      const level = view.escalationLevel ?? 0;
      const wait = first + level * sla.stepMs - Date.now();
      if (
        wait > 0 &&
        (await condition(() => slaEpoch !== epoch || finished, wait, { summary: `SLA ${d.kind}: escalation level ${level + 1}` }))
      )
        continue;
      if (finished || slaEpoch !== epoch) continue;
      const when = new Date(d.at).toISOString();
      await escalate(
        d.kind,
        d.kind === 'ship-by'
          ? `not handed to the carrier by ${when}`
          : d.kind === 'deliver-by'
            ? `not delivered by ${when} (the promised date)`
            : `COD ${view.cod!.due} not remitted by the carrier by ${when}`,
      );
    }
  };
  /** The carrier paid over cash it collected: settled when it adds up; a mismatch escalates at once. */
  const applyRemittance = async (e: CarrierEvent) => {
    const cod = ensureCod();
    const remitted = toMinor(cod.remitted) + toMinor(e.codAmount ?? '0');
    cod.remitted = fromMinor(remitted);
    cod.settled = remitted >= codDueMinor;
    slaEpoch += 1;
    if (remitted === codDueMinor) clearEscalation();
    await tell({
      event: `shipment ${input.shipmentId}: COD ${e.codAmount ?? '0'} remitted (${cod.remitted} of ${cod.due})`,
      eventDetail: { eventId: e.eventId },
      actor: `carrier:${booking?.carrier ?? input.carrier}`,
    });
    if (remitted !== codDueMinor) await escalate('cod-mismatch', `COD remittance mismatch: ${cod.remitted} remitted of ${cod.due} due`);
  };
  if (input.sla)
    void watchSla().catch((err: unknown) => log.warn('SLA watch stopped', { error: err instanceof Error ? err.message : String(err) }));

  host.show(
    () => view,
    () => shipmentDetails(view, waitingFor()),
  );
  host.on(retryShipmentSignal, ({ actor }) => steps.requestRetry(actor));
  host.on(carrierEventSignal, (e) => {
    if (seenEvents.has(e.eventId)) return;
    seenEvents.add(e.eventId);
    inbox.push(e);
  });
  host.on(cancelShipmentSignal, (req) => {
    if (cancelRequest) return;
    cancelRequest = req;
    // After the handover the main loop answers with a refusal instead.
    if (!handedOver) forward.cancel();
  });

  const advance = (status: ShipmentStatus) => {
    if (SHIPMENT_RANK[status] <= SHIPMENT_RANK[view.status]) return false;
    view.status = status;
    return true;
  };
  const record = () =>
    books.recordShipment({
      shipmentId: input.shipmentId,
      orderId: input.orderId,
      warehouseId: input.warehouse.id,
      carrier: booking?.carrier,
      bookingId: booking?.bookingId,
      trackingNumber: booking?.trackingNumber,
      status: view.status,
      statusRank: SHIPMENT_RANK[view.status],
      ...(input.sla ? { deliverBy: input.sla.deliverBy } : {}),
    });

  /**
   * The units have left the building: commit the stock and capture this shipment's share, before
   * the order hears of the pickup, so SHIPPED/DELIVERED always means committed. Never interrupted.
   */
  const handover = () =>
    CancellationScope.nonCancellable(async (): Promise<{ captureId: string; amount: string } | undefined> => {
      handedOver = true;
      await books.commitStock({ orderId: input.reservationKey ?? input.orderId, warehouseId: input.warehouse.id });
      await record();
      if (!input.capture || resumed?.captured) return undefined;
      // Until the capture is done the order must not hear of the pickup (a re-authorisation or a
      // parked capture tells it things meanwhile): SHIPPED always means captured.
      capturing = true;
      try {
        const captured = await capturePayment(input.capture);
        view.captured = captured.amount;
        return captured;
      } finally {
        capturing = false;
      }
    });

  /**
   * Captures this shipment's share. Gateways let an authorisation lapse after some days (a backorder
   * or a slow warehouse outlives it): near or past its expiry, or when the gateway says it expired,
   * the share is authorised again with the stored token and captured from the new authorisation.
   * A declined re-authorisation parks the shipment for ops (retry, or refund/chase the customer).
   */
  async function capturePayment(capture: NonNullable<ShipmentInput['capture']>): Promise<{ captureId: string; amount: string }> {
    let authorizationId = capture.authorizationId;
    const canReauthorise = capture.token !== undefined && capture.currency !== undefined;
    let attempts = 0;
    /** Authorised again while the original still held this share (it had not lapsed yet). */
    let originalHoldsShare = false;
    /** Re-authorisations that lapsed in turn: each later capture needs a key of its own. */
    let lapsedAgain = 0;
    /** The share authorised again before the original lapsed: told to the books again with the original's release. */
    let early: { authorizationId: string; amount: string } | undefined;
    /** Authorises the share again; `lapsed`: the authorisation it was on let it go (else it is released once captured). */
    const reauthorise = async (lapsed: boolean) => {
      // A gateway answers a key it has seen with the same (declined) answer: an ops retry is a new request.
      const auth = await steps.run('re-authorise payment', () =>
        acts.authorizePayment({
          orderId: input.orderId,
          amount: capture.amount,
          currency: capture.currency!,
          token: capture.token!,
          key: `${input.shipmentId}:reauthorize${++attempts > 1 ? `:${attempts}` : ''}`,
        }),
      );
      await tell({
        event: `shipment ${input.shipmentId}: the authorisation had lapsed; ${auth.amount} authorised again (${auth.authorizationId})`,
        eventDetail: { authorizationId: auth.authorizationId },
        // For the books (domain/journal.ts): a hold of its own, and the one it replaces given up —
        // lapsed now, or released once captured (shipments from before that keep the original's
        // share until it lapses, and tell neither, as before).
        ...(lapsed || patched('release-reauthorised-share')
          ? { authorised: { authorizationId: auth.authorizationId, amount: auth.amount } }
          : {}),
        ...(lapsed ? { released: { authorizationId, amount: capture.amount, lapsed: true } } : {}),
      });
      if (!lapsed) early = { authorizationId: auth.authorizationId, amount: auth.amount };
      authorizationId = auth.authorizationId;
    };
    if (canReauthorise && capture.expiresAt && Date.parse(capture.expiresAt) - REAUTHORISE_MARGIN_MS <= Date.now()) {
      await reauthorise(false);
      originalHoldsShare = true;
    }
    for (;;) {
      try {
        const key =
          authorizationId === capture.authorizationId
            ? `${input.shipmentId}:capture`
            : `${input.shipmentId}:capture-reauthorized${lapsedAgain ? `:${lapsedAgain + 1}` : ''}`;
        const captured = await steps.run('capture payment', () => acts.capturePayment({ authorizationId, amount: capture.amount, key }), {
          handles: canReauthorise ? ['authorization_expired'] : [],
        });
        // The share now captured from the new authorisation is still held on the original: release
        // exactly that share, once, and nothing more — the order's other shipments may still
        // capture theirs from the original. Shipments recorded before this kept it until it lapsed.
        if (originalHoldsShare && patched('release-reauthorised-share')) await releaseOriginalShare();
        return { captureId: captured.captureId, amount: captured.amount };
      } catch (err) {
        if (businessFailure(err)?.type !== 'authorization_expired') throw err;
        // A re-authorisation that lapsed in turn is authorised again (before this, the workflow failed).
        if (authorizationId !== capture.authorizationId) {
          if (!patched('reauthorise-again')) throw err;
          lapsedAgain += 1;
        }
        await reauthorise(true);
      }
    }

    /** A partial reversal of the original authorisation by this shipment's share (keyed: at most once). */
    async function releaseOriginalShare(): Promise<void> {
      const released = await steps.run('release the share held on the original authorisation', () =>
        acts.voidAuthorization({
          authorizationId: capture.authorizationId,
          amount: capture.amount,
          key: `${input.shipmentId}:release-share`,
        }),
      );
      await tell({
        event: `shipment ${input.shipmentId}: released ${released.released ?? capture.amount} held for it on the original authorisation ${capture.authorizationId} (captured from the new one)`,
        eventDetail: { authorizationId: capture.authorizationId, released: released.released ?? capture.amount },
        released: { authorizationId: capture.authorizationId, amount: released.released ?? capture.amount },
        // The new hold again, with the release that pairs it (the books take each once): never a release without it.
        ...(early ? { authorised: early } : {}),
      });
    }
  }
  const tellCaptured = async (captured: { captureId: string; amount: string } | undefined) => {
    if (captured) await tell({ event: `shipment ${input.shipmentId}: captured ${captured.amount}`, captured });
  };

  const refuseCancellation = async () => {
    refusalSent = true;
    view.cancelRefused = true;
    await tell({ event: `shipment ${input.shipmentId}: cannot be cancelled, the carrier already has it`, actor: cancelRequest!.actor });
  };

  /**
   * Asks the carrier for the booking's events and queues those not seen yet, as if they had come
   * by webhook (`found` marks them). False when the carrier no longer knew the booking and it was
   * booked again instead.
   */
  const pollCarrier = async (found?: Set<string>): Promise<boolean> => {
    const b = booking!;
    let tracking: Awaited<ReturnType<typeof acts.trackShipment>>;
    try {
      // Before the handover a booking the carrier forgot (expired unpicked) is booked again;
      // after it, the parcel is with a carrier that cannot say where: ops must look.
      tracking = await steps.run('track shipment', () => acts.trackShipment({ carrier: b.carrier, bookingId: b.bookingId }), {
        handles: handedOver ? [] : ['not_found'],
      });
    } catch (err) {
      if (businessFailure(err)?.type !== 'not_found') throw err;
      await bookCarrier(`the carrier no longer knows booking ${b.bookingId}`);
      return false;
    }
    for (const e of tracking.events)
      if (!seenEvents.has(e.eventId)) {
        seenEvents.add(e.eventId);
        inbox.push(e);
        found?.add(e.eventId);
      }
    return true;
  };
  /** Push carriers: a booking quiet this long is polled (its webhooks may have been given up). */
  const quietMs = input.settings.trackingQuietMs ?? DEFAULT_TRACKING_QUIET_MS;
  /** Events found by such a reconciliation poll rather than delivered by webhook. */
  const reconciled = new Set<string>();

  /** Takes the next carrier event (waiting, or polling carriers without webhooks) and applies it. */
  let pollDelay = input.settings.trackingPollMs;
  const trackNext = async () => {
    const pending = () => inbox.length > 0 || (handedOver && cancelRequest !== undefined && !refusalSent);
    if (input.pushCarrier) {
      // A carrier gives up on webhooks the OMS could not take (an API or database outage): a
      // booking quiet for `trackingQuietMs` is polled, and what the carrier says is applied as if
      // the webhooks had come (deduplicated by event id). Histories from before waited only.
      if (!pending() && booking && quietMs > 0 && patched('push-carrier-reconcile')) {
        if (!(await condition(pending, quietMs, { summary: `reconcile with ${booking.carrier} if quiet` }))) await pollCarrier(reconciled);
        return;
      }
      await condition(pending);
    } else if (!pending()) {
      const got = await condition(pending, pollDelay, { summary: `next tracking poll of ${booking!.carrier}` });
      if (!got) {
        if (!(await pollCarrier())) return;
        pollDelay = inbox.length ? input.settings.trackingPollMs : Math.min(pollDelay * 2, input.settings.trackingPollMs * 8);
        return;
      }
    }
    if (handedOver && cancelRequest && !refusalSent) {
      await refuseCancellation();
      return;
    }
    const event = inbox.shift()!;
    if (event.status === 'cod_remitted' && input.sla) {
      await applyRemittance(event);
      return;
    }
    const status = event.status as ShipmentStatus;
    if (!TRACKED.includes(status)) return;
    const moved = advance(status);
    const cleared = moved && input.sla !== undefined && clearEscalation();
    if (moved) slaEpoch += 1;
    if (moved && status === 'delivered') {
      deliveredAt = Date.now();
      // The order must hear of the cash owed with the delivery itself, or it could close first.
      if (input.sla && codDueMinor > 0) ensureCod();
    }
    const due = !handedOver && SHIPMENT_RANK[view.status] >= SHIPMENT_RANK.picked_up;
    // Shipments recorded before this patch told the order first and handed over after (replay-safe).
    const handoverFirst = patched('handover-before-tell');
    const captured = due && handoverFirst ? await handover() : undefined;
    // The capture travels with the pickup (or delivery) that caused it: one message, not two.
    const withCapture = captured !== undefined && patched('capture-with-handover-tell');
    await tell({
      ...(withCapture ? { captured } : {}),
      event: moved
        ? `shipment ${input.shipmentId}: ${status.replace(/_/g, ' ')}${cleared ? ' (escalation cleared)' : ''}`
        : `shipment ${input.shipmentId}: late ${status.replace(/_/g, ' ')} event ignored`,
      eventDetail: {
        eventId: event.eventId,
        occurredAt: event.occurredAt,
        ...(moved ? {} : { current: view.status }),
        ...(reconciled.has(event.eventId) ? { reconciled: true } : {}),
      },
      actor: `carrier:${booking!.carrier}`,
    });
    await tellCaptured(due && !handoverFirst ? await handover() : withCapture ? undefined : captured);
  };

  let bookings = 0;
  /**
   * A booking call whose outcome is not known: in flight (or between retries) when a cancellation
   * cut it short, or out of retries with no answer to its last attempt (a timeout: the carrier
   * may have booked all the same). The undo asks again with the same request. A call whose last
   * attempt the carrier answered with an error is not in doubt: it booked nothing.
   */
  const bookingInDoubt: InDoubt<Parameters<typeof acts.bookShipment>[0]> = {};
  /** The same for the warehouse's pick order: a pick order made all the same is cancelled too. */
  const pickInDoubt: InDoubt<Parameters<typeof acts.createPickOrder>[0]> = {};
  /** Books the carrier (again, with a key of its own, when the carrier forgot the first booking). */
  async function bookCarrier(again?: string): Promise<void> {
    const attempt = again ? ++bookings : 0;
    const request = { ...bookingRequest(input, weightGrams), ...(attempt ? { attempt } : {}) };
    const b = await steps.run('book carrier', () => whileInDoubt(bookingInDoubt, request, acts.bookShipment));
    bookingInDoubt.request = undefined;
    booking = b;
    Object.assign(view, { carrier: b.carrier, bookingId: b.bookingId, trackingNumber: b.trackingNumber, labelUrl: b.labelUrl });
    advance('booked');
    // Recorded so the webhook route can find this workflow by booking.
    await record();
    await tell({
      event: `shipment ${input.shipmentId}: ${again ? `${again}; booked again` : 'booked'} with ${b.carrier}, tracking ${b.trackingNumber}`,
      eventDetail: { weightGrams },
    });
  }

  try {
    // The order was cancelled while this shipment's workflow was down: straight to the undo.
    if (input.cancel && !handedOver) throw new CancelledFailure('cancelled while the shipment workflow was down');
    if (!handedOver) {
      await forward.run(async () => {
        if (!booking) {
          advance('picking');
          await tell({ event: `shipment ${input.shipmentId}: picking at ${input.warehouse.id}` });
          const pickRequest = { orderId: input.orderId, shipmentId: input.shipmentId, warehouseId: input.warehouse.id, lines: input.lines };
          const pick = await steps.run('pick and pack', () => whileInDoubt(pickInDoubt, pickRequest, acts.createPickOrder));
          pickInDoubt.request = undefined;
          pickOrderId = view.pickOrderId = pick.pickOrderId;
          weightGrams = pick.weightGrams;
          advance('packed');
          await bookCarrier();
        }
        while (!handedOver) await trackNext();
      });
    }
  } catch (err) {
    if (!isCancellation(err) || !cancelRequest) throw err;
    const undone = await CancellationScope.nonCancellable(() => undoBeforeHandover());
    if (undone) return view;
  }
  // A parcel back at the sender ends the shipment: the order reships or refunds it.
  while (view.status !== 'delivered' && !(view.status === 'returned_to_sender' && patched('rts-ends-shipment'))) await trackNext();
  if (cancelRequest && !refusalSent) await refuseCancellation();
  // Cash on delivery: the shipment stays open until the carrier has paid the cash over.
  if (input.sla && codDueMinor > 0 && view.status === 'delivered') {
    ensureCod();
    slaEpoch += 1;
    if (!view.cod!.settled) await tell({ event: `shipment ${input.shipmentId}: waiting for the carrier to remit COD ${view.cod!.due}` });
    while (!view.cod!.settled) await trackNext();
  }
  finished = true;
  await record();
  return view;

  /** Asks again, with the same request and key, for the call whose answer never came: what it made, or undefined when refused. */
  async function settle<Req, Res>(step: string, doubt: InDoubt<Req>, call: (r: Req) => Promise<Res>): Promise<Res | undefined> {
    const request = doubt.request!;
    const settled = await steps.run(step, async () => {
      try {
        return await call(request);
      } catch (err) {
        if (businessFailure(err)) return undefined;
        throw err;
      }
    });
    doubt.request = undefined;
    return settled;
  }

  /**
   * Undoes booking and pick in reverse. A call in flight when the cancellation came was waited
   * for (WAIT_CANCELLATION_COMPLETED); a booking call it cut short, or whose answer was lost, is
   * asked again first, so a booking the carrier made all the same is cancelled too.
   * Returns false when the carrier already has the parcel: then the handover happened.
   */
  async function undoBeforeHandover(): Promise<boolean> {
    // The same request under the same idempotency key: the carrier answers with the booking it
    // made, or makes it now (to be cancelled below); a refusal means it never booked. Histories
    // from before this undid only the bookings they knew of (replay-safe).
    if (bookingInDoubt.request && patched('settle-booking-in-doubt')) {
      const settled = await settle('settle the unanswered carrier booking', bookingInDoubt, (r) => acts.bookShipment(r));
      if (settled) {
        booking = settled;
        await tell({
          event: `shipment ${input.shipmentId}: the carrier booking whose answer was cut short by the cancellation is ${settled.bookingId}: cancelling it`,
          eventDetail: { bookingId: settled.bookingId, inDoubt: true },
          actor: cancelRequest!.actor,
        });
      }
    }
    undoBooking: if (booking) {
      const b = booking;
      try {
        await steps.run(
          'cancel carrier booking',
          () => acts.cancelBooking({ carrier: b.carrier, bookingId: b.bookingId, shipmentId: input.shipmentId }),
          { handles: ['already_picked_up', 'not_found'] },
        );
        await tell({ event: `shipment ${input.shipmentId}: carrier booking ${b.bookingId} cancelled`, actor: cancelRequest!.actor });
      } catch (err) {
        const refusal = businessFailure(err)?.type;
        if (refusal === 'not_found') {
          // The carrier no longer has it (it expired unpicked): there is nothing left to cancel.
          await tell({
            event: `shipment ${input.shipmentId}: the carrier no longer knows booking ${b.bookingId}: nothing to cancel`,
            actor: cancelRequest!.actor,
          });
          break undoBooking;
        }
        if (refusal !== 'already_picked_up') throw err;
        Object.assign(view, { carrier: b.carrier, bookingId: b.bookingId, trackingNumber: b.trackingNumber, labelUrl: b.labelUrl });
        advance('picked_up');
        const captured = await handover();
        await tell({
          event: `shipment ${input.shipmentId}: picked up (the carrier refused the cancellation)`,
          actor: `carrier:${b.carrier}`,
        });
        await tellCaptured(captured);
        await refuseCancellation();
        return false;
      }
    }
    if (!pickOrderId && pickInDoubt.request && patched('settle-pick-in-doubt')) {
      const settled = await settle('settle the unanswered pick order', pickInDoubt, (r) => acts.createPickOrder(r));
      if (settled) pickOrderId = view.pickOrderId = settled.pickOrderId;
    }
    if (pickOrderId) {
      const id = pickOrderId;
      await steps.run('cancel pick order', () => acts.cancelPickOrder({ pickOrderId: id, shipmentId: input.shipmentId }));
    }
    view.status = 'cancelled';
    // A step parked when the cancellation came was abandoned with it: nothing waits for ops now.
    view.needsAttention = false;
    delete view.attentionReason;
    await record();
    await tell({ event: `shipment ${input.shipmentId} cancelled`, actor: cancelRequest!.actor });
    return true;
  }
}

/**
 * The outside system's own error answer (a 4xx refusal, or a 429/5xx status: activities/http.ts
 * words those `<path>: <status> <code>`), as opposed to no answer at all (a timeout, a lost
 * connection, a worker gone mid-call), after which the call may have taken effect.
 */
/** A request to an outside system whose outcome is not known yet (see `bookingInDoubt`). */
interface InDoubt<Req> {
  request?: Req | undefined;
}

/** Calls `call(request)`, holding the request as in doubt until the outside system has answered (a result or an error of its own). */
function whileInDoubt<Req, Res>(doubt: InDoubt<Req>, request: Req, call: (r: Req) => Promise<Res>): Promise<Res> {
  doubt.request = request;
  return call(request).catch((err: unknown) => {
    if (!isCancellation(err) && answeredWithError(err)) doubt.request = undefined;
    throw err;
  });
}

function answeredWithError(err: unknown): boolean {
  if (businessFailure(err)) return true;
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && /: \d{3} \S+$/.test(err.cause.message);
}

function bookingRequest(input: ShipmentInput, weightGrams: number) {
  return {
    carrier: input.carrier,
    orderId: input.orderId,
    shipmentId: input.shipmentId,
    from: { warehouseId: input.warehouse.id, city: input.warehouse.city },
    to: {
      name: input.address.name,
      phone: input.recipientPhone,
      line1: input.address.line1,
      city: input.address.city,
      region: input.address.region,
      country: input.address.country,
    },
    weightGrams,
    codAmount: input.codAmount,
  };
}
