/**
 * One return (RMA): a return label from the carrier, the parcel's way back (with a deadline),
 * the warehouse's inspection, then restock and refund — or a rejection with its reason. The
 * parcel's events come by webhook; a parcel quiet too long, and one still missing at its
 * deadline, is looked up at the carrier (its webhooks may have been lost for good).
 */
import { condition, getExternalWorkflowHandle, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { fromMinor, toMinor } from '../domain/money';
import type { Address } from '../domain/order';
import { DEFAULT_TRACKING_QUIET_MS, type OrderSettings } from '../domain/settings';
import { businessFailure, createStepRunner } from './attention';
import { recordedPatches, versionedPatches, type Patches } from './patches';
import {
  carrierEventSignal,
  inspectionSignal,
  retryShipmentSignal,
  returnProgressSignal,
  type CarrierEvent,
  type ReturnProgress,
  type ReturnStatus,
} from './messages';
import { bookkeepingProfile, stepProfile, summarised } from './profiles';

export interface ReturnInput {
  orderId: string;
  returnId: string;
  lines: { lineNo: number; sku: string; quantity: number }[];
  from: Address;
  warehouse: { id: string; city: string };
  carrier: string;
  /** The refund due, and where it comes from: captures with what is left to refund on each (prepaid), or none (COD). */
  refundDue: string;
  captures: { captureId: string; refundable: string }[];
  cod: boolean;
  /** How long the customer has to send the parcel. */
  shipByMs: number;
  settings: OrderSettings;
  /** A new run of a return whose workflow failed or was terminated: the status the order last saw. */
  resumeFrom?: ReturnStatus | undefined;
}

/** Every patch of this workflow (see patches.ts). */
const RETURN_PATCHES = ['return-reconcile'] as const;

type ReturnPatch = (typeof RETURN_PATCHES)[number];

/** Returns of orders taken in before the versioned types: their patches are markers in their histories. */
export async function returnWorkflow(input: ReturnInput): Promise<ReturnStatus> {
  return runReturn(input, recordedPatches(RETURN_PATCHES));
}

/** The return (v2): every patch of `returnWorkflow` applies, none recorded. */
export async function returnWorkflowV2(input: ReturnInput): Promise<ReturnStatus> {
  return runReturn(input, versionedPatches<ReturnPatch>());
}

async function runReturn(input: ReturnInput, patches: Patches<ReturnPatch>): Promise<ReturnStatus> {
  const patched = (id: ReturnPatch) => patches.has(id);
  const acts = summarised<Activities>(stepProfile(input.settings), () => steps.startingStep);
  const books = proxyLocalActivities<Activities>(bookkeepingProfile);
  const parent = getExternalWorkflowHandle(input.orderId);
  const events: CarrierEvent[] = [];
  let inspection: { accept: boolean; reason?: string | undefined; actor: string } | undefined;
  setHandler(carrierEventSignal, (e) => {
    events.push(e);
  });
  setHandler(retryShipmentSignal, ({ actor }) => steps.requestRetry(actor));
  setHandler(inspectionSignal, ({ accept, reason, actor }) => {
    inspection ??= { accept, reason, actor };
  });
  let current: ReturnStatus = 'requested';
  const tell = (p: Omit<ReturnProgress, 'returnId' | 'actor' | 'status'> & { actor?: string; status?: ReturnStatus }) => {
    current = p.status ?? current;
    return parent.signal(returnProgressSignal, { returnId: input.returnId, actor: 'system', ...p, status: current });
  };
  const steps = createStepRunner({
    // Progress keeps the return's current status; only the story gets a line.
    raise: async (step, reason) => {
      await tell({ event: `return ${input.returnId} needs attention: ${step}: ${reason}`, needsAttention: true });
    },
    cleared: async (step, actor) => {
      await tell({ event: `return ${input.returnId}: ${step} retried`, actor, needsAttention: false });
    },
  });

  // A restarted return whose parcel was already received goes straight to the inspection; before
  // that, the label is booked again (the carrier answers the same label for the same key).
  if (input.resumeFrom !== 'received') {
    const label = await steps.run('book return label', () =>
      acts.bookReturnLabel({
        carrier: input.carrier,
        orderId: input.orderId,
        returnId: input.returnId,
        from: { name: input.from.name, line1: input.from.line1, city: input.from.city, country: input.from.country },
        to: { warehouseId: input.warehouse.id, city: input.warehouse.city },
      }),
    );
    await tell({
      status: 'label_sent',
      event: `return ${input.returnId}: label ${label.trackingNumber} sent`,
      trackingNumber: label.trackingNumber,
      labelUrl: label.labelUrl,
    });

    const delivered = () => events.some((e) => e.status === 'delivered');
    const quietMs = input.settings.trackingQuietMs ?? DEFAULT_TRACKING_QUIET_MS;
    let found = false;
    let arrived: boolean;
    // The carrier gives up on webhooks the OMS could not take: a parcel quiet for
    // `trackingQuietMs`, and one still missing at the deadline, is looked up at the carrier and
    // what it says is taken as if the webhooks had come. Histories from before only waited.
    if (quietMs > 0 && patched('return-reconcile')) {
      const deadline = Date.now() + input.shipByMs;
      let heard = events.length;
      for (;;) {
        const left = deadline - Date.now();
        const moved =
          left > 0 &&
          (await condition(() => delivered() || events.length !== heard, Math.min(quietMs, left), {
            summary: 'return parcel: reconcile if quiet, or deadline',
          }));
        if (delivered()) break;
        heard = events.length;
        if (moved) continue;
        found = await pollReturnParcel(label);
        if (delivered() || Date.now() >= deadline) break;
        heard = events.length;
      }
      arrived = delivered();
    } else {
      arrived = await condition(delivered, input.shipByMs, { summary: 'return parcel deadline' });
    }
    if (!arrived) {
      await tell({ status: 'expired', event: `return ${input.returnId} expired: the parcel did not arrive in time` });
      return 'expired';
    }
    await tell({
      status: 'received',
      event: `return ${input.returnId}: parcel received at ${input.warehouse.id}${found ? ' (found by asking the carrier: its webhook never came)' : ''}`,
      actor: `carrier:${input.carrier}`,
    });
  }

  await condition(() => inspection !== undefined);
  const verdict = inspection!;
  if (!verdict.accept) {
    await tell({
      status: 'rejected',
      event: `return ${input.returnId} rejected at inspection: ${verdict.reason ?? 'no reason given'}`,
      actor: verdict.actor,
    });
    return 'rejected';
  }
  await books.restockReturn({ returnId: input.returnId, lines: input.lines, warehouseId: input.warehouse.id });
  // Refund what is due from the captures, never more than each one has left.
  let left = toMinor(input.refundDue);
  const refundCaptures: { captureId: string; amount: string }[] = [];
  if (input.cod) {
    if (left > 0) await books.recordRefundInstruction({ returnId: input.returnId, orderId: input.orderId, amount: input.refundDue });
  } else {
    for (const c of input.captures) {
      const take = Math.min(left, toMinor(c.refundable));
      if (take <= 0) continue;
      const amount = fromMinor(take);
      await steps.run('refund capture', () =>
        acts.refundCapture({ captureId: c.captureId, amount, key: `${input.returnId}:refund:${c.captureId}` }),
      );
      refundCaptures.push({ captureId: c.captureId, amount });
      left -= take;
    }
  }
  const refunded = input.cod ? input.refundDue : fromMinor(toMinor(input.refundDue) - left);
  await tell({
    status: 'accepted',
    event: `return ${input.returnId} accepted: restocked, ${input.cod ? 'refund instruction for' : 'refunded'} ${refunded}`,
    actor: verdict.actor,
    refunded,
    refundCaptures,
  });
  return 'accepted';

  /** Asks the carrier for the return parcel's events; true when its delivery was found there. */
  async function pollReturnParcel(label: { carrier: string; bookingId: string }): Promise<boolean> {
    let tracking: { events: CarrierEvent[] };
    try {
      tracking = await steps.run('track return parcel', () => acts.trackShipment({ carrier: label.carrier, bookingId: label.bookingId }), {
        handles: ['not_found'],
      });
    } catch (err) {
      // The carrier lost the label: nothing to learn there; the deadline decides.
      if (businessFailure(err)?.type !== 'not_found') throw err;
      return false;
    }
    const before = events.some((e) => e.status === 'delivered');
    for (const e of tracking.events) if (!events.some((x) => x.eventId === e.eventId)) events.push(e);
    return !before && events.some((e) => e.status === 'delivered');
  }
}
