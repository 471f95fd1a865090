/**
 * One return (RMA): a return label from the carrier, the parcel's way back (with a deadline),
 * the warehouse's inspection, then restock and refund — or a rejection with its reason.
 */
import { condition, getExternalWorkflowHandle, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { fromMinor, toMinor } from '../domain/money';
import type { Address } from '../domain/order';
import type { OrderSettings } from '../domain/settings';
import { createStepRunner } from './attention';
import { carrierEventSignal, inspectionSignal, retryShipmentSignal, returnProgressSignal, type CarrierEvent, type ReturnProgress, type ReturnStatus } from './messages';
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

export async function returnWorkflow(input: ReturnInput): Promise<ReturnStatus> {
  const acts = summarised<Activities>(stepProfile(input.settings), () => steps.startingStep);
  const books = proxyLocalActivities<Activities>(bookkeepingProfile);
  const parent = getExternalWorkflowHandle(input.orderId);
  const events: CarrierEvent[] = [];
  let inspection: { accept: boolean; reason?: string | undefined; actor: string } | undefined;
  setHandler(carrierEventSignal, (e) => { events.push(e); });
  setHandler(retryShipmentSignal, ({ actor }) => steps.requestRetry(actor));
  setHandler(inspectionSignal, ({ accept, reason, actor }) => { inspection ??= { accept, reason, actor }; });
  let current: ReturnStatus = 'requested';
  const tell = (p: Omit<ReturnProgress, 'returnId' | 'actor' | 'status'> & { actor?: string; status?: ReturnStatus }) => {
    current = p.status ?? current;
    return parent.signal(returnProgressSignal, { returnId: input.returnId, actor: 'system', ...p, status: current });
  };
  const steps = createStepRunner({
    // Progress keeps the return's current status; only the story gets a line.
    raise: async (step, reason) => { await tell({ event: `return ${input.returnId} needs attention: ${step}: ${reason}`, needsAttention: true }); },
    cleared: async (step, actor) => { await tell({ event: `return ${input.returnId}: ${step} retried`, actor, needsAttention: false }); },
  });

  // A restarted return whose parcel was already received goes straight to the inspection; before
  // that, the label is booked again (the carrier answers the same label for the same key).
  if (input.resumeFrom !== 'received') {
    const label = await steps.run('book return label', () => acts.bookReturnLabel({
      carrier: input.carrier, orderId: input.orderId, returnId: input.returnId,
      from: { name: input.from.name, line1: input.from.line1, city: input.from.city, country: input.from.country },
      to: { warehouseId: input.warehouse.id, city: input.warehouse.city },
    }));
    await tell({ status: 'label_sent', event: `return ${input.returnId}: label ${label.trackingNumber} sent`, trackingNumber: label.trackingNumber, labelUrl: label.labelUrl });

    const arrived = await condition(() => events.some((e) => e.status === 'delivered'), input.shipByMs, { summary: 'return parcel deadline' });
    if (!arrived) {
      await tell({ status: 'expired', event: `return ${input.returnId} expired: the parcel did not arrive in time` });
      return 'expired';
    }
    await tell({ status: 'received', event: `return ${input.returnId}: parcel received at ${input.warehouse.id}`, actor: `carrier:${input.carrier}` });
  }

  await condition(() => inspection !== undefined);
  const verdict = inspection!;
  if (!verdict.accept) {
    await tell({ status: 'rejected', event: `return ${input.returnId} rejected at inspection: ${verdict.reason ?? 'no reason given'}`, actor: verdict.actor });
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
      await steps.run('refund capture', () => acts.refundCapture({ captureId: c.captureId, amount, key: `${input.returnId}:refund:${c.captureId}` }));
      refundCaptures.push({ captureId: c.captureId, amount });
      left -= take;
    }
  }
  const refunded = input.cod ? input.refundDue : fromMinor(toMinor(input.refundDue) - left);
  await tell({ status: 'accepted', event: `return ${input.returnId} accepted: restocked, ${input.cod ? 'refund instruction for' : 'refunded'} ${refunded}`, actor: verdict.actor, refunded, refundCaptures });
  return 'accepted';
}
