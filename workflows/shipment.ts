/**
 * One shipment of an order: pick and pack at the warehouse, book the carrier, wait for the
 * handover (commit stock, capture this shipment's share), then track until delivered. Carrier
 * events arrive as signals (webhooks) or by polling carriers that have none.
 */
import { condition, getExternalWorkflowHandle, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Address } from '../domain/order';
import type { OrderSettings } from '../domain/settings';
import { createStepRunner } from './attention';
import {
  carrierEventSignal, retryShipmentSignal, SHIPMENT_RANK, shipmentProgressSignal, shipmentStateQuery,
  type CarrierEvent, type ShipmentProgress, type ShipmentStatus, type ShipmentView,
} from './messages';
import { stepProfile, bookkeepingProfile } from './profiles';

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
  /** Prepaid: this shipment's share of the authorisation, captured at handover. */
  capture?: { authorizationId: string; amount: string } | undefined;
  settings: OrderSettings;
}

const TRACKED: ShipmentStatus[] = ['picked_up', 'in_transit', 'delivered', 'delivery_failed', 'returned_to_sender'];

export async function shipmentWorkflow(input: ShipmentInput): Promise<ShipmentView> {
  const acts = proxyActivities<Activities>(stepProfile(input.settings));
  const books = proxyLocalActivities<Activities>(bookkeepingProfile);
  const parent = getExternalWorkflowHandle(input.orderId);
  const view: ShipmentView = {
    shipmentId: input.shipmentId, warehouseId: input.warehouse.id, status: 'pending', needsAttention: false,
    lines: input.lines.map(({ lineNo, sku, quantity }) => ({ lineNo, sku, quantity })),
  };
  const seenEvents = new Set<string>();
  const inbox: CarrierEvent[] = [];

  const tell = async (p: Omit<ShipmentProgress, 'shipmentId' | 'status' | 'needsAttention' | 'actor'> & { actor?: string }) => {
    const progress: ShipmentProgress = {
      shipmentId: input.shipmentId, status: view.status, needsAttention: view.needsAttention, actor: p.actor ?? 'system',
      ...(view.attentionReason ? { attentionReason: view.attentionReason } : {}),
      ...(view.carrier ? { carrier: view.carrier } : {}), ...(view.bookingId ? { bookingId: view.bookingId } : {}),
      ...(view.trackingNumber ? { trackingNumber: view.trackingNumber } : {}), ...(view.labelUrl ? { labelUrl: view.labelUrl } : {}),
      event: p.event, ...(p.eventDetail ? { eventDetail: p.eventDetail } : {}), ...(p.captured ? { captured: p.captured } : {}),
    };
    await parent.signal(shipmentProgressSignal, progress);
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

  setHandler(shipmentStateQuery, () => view);
  setHandler(retryShipmentSignal, ({ actor }) => steps.requestRetry(actor));
  setHandler(carrierEventSignal, (e) => {
    if (seenEvents.has(e.eventId)) return;
    seenEvents.add(e.eventId);
    inbox.push(e);
  });

  const advance = (status: ShipmentStatus) => {
    if (SHIPMENT_RANK[status] <= SHIPMENT_RANK[view.status]) return false;
    view.status = status;
    return true;
  };

  // Pick and pack.
  advance('picking');
  await tell({ event: `shipment ${input.shipmentId}: picking at ${input.warehouse.id}` });
  const pick = await steps.run('pick and pack', () => acts.createPickOrder({
    orderId: input.orderId, shipmentId: input.shipmentId, warehouseId: input.warehouse.id, lines: input.lines,
  }));
  advance('packed');

  // Book the carrier; record the booking so the webhook route can find this workflow.
  const booking = await steps.run('book carrier', () => acts.bookShipment({
    carrier: input.carrier, orderId: input.orderId, shipmentId: input.shipmentId,
    from: { warehouseId: input.warehouse.id, city: input.warehouse.city },
    to: { name: input.address.name, phone: input.recipientPhone, line1: input.address.line1, city: input.address.city, region: input.address.region, country: input.address.country },
    weightGrams: pick.weightGrams, codAmount: input.codAmount,
  }));
  Object.assign(view, { carrier: booking.carrier, bookingId: booking.bookingId, trackingNumber: booking.trackingNumber, labelUrl: booking.labelUrl });
  advance('booked');
  await books.recordShipment({
    shipmentId: input.shipmentId, orderId: input.orderId, warehouseId: input.warehouse.id, carrier: booking.carrier,
    bookingId: booking.bookingId, trackingNumber: booking.trackingNumber, status: 'booked', statusRank: SHIPMENT_RANK.booked,
  });
  await tell({ event: `shipment ${input.shipmentId}: booked with ${booking.carrier}, tracking ${booking.trackingNumber}`, eventDetail: { weightGrams: pick.weightGrams } });

  let handedOver = false;
  let pollDelay = input.settings.trackingPollMs;
  while (view.status !== 'delivered') {
    if (input.pushCarrier) {
      await condition(() => inbox.length > 0);
    } else if (inbox.length === 0) {
      // No webhooks from this carrier: poll, backing off while nothing changes.
      const got = await condition(() => inbox.length > 0, pollDelay);
      if (!got) {
        const tracking = await steps.run('track shipment', () => acts.trackShipment({ carrier: booking.carrier, bookingId: booking.bookingId }));
        for (const e of tracking.events) if (!seenEvents.has(e.eventId)) { seenEvents.add(e.eventId); inbox.push(e); }
        pollDelay = inbox.length ? input.settings.trackingPollMs : Math.min(pollDelay * 2, input.settings.trackingPollMs * 8);
        if (inbox.length === 0) continue;
      }
    }
    const event = inbox.shift()!;
    const status = event.status as ShipmentStatus;
    if (!TRACKED.includes(status)) continue;
    const moved = advance(status);
    await tell({
      event: moved ? `shipment ${input.shipmentId}: ${status.replace(/_/g, ' ')}` : `shipment ${input.shipmentId}: late ${status.replace(/_/g, ' ')} event ignored`,
      eventDetail: { eventId: event.eventId, occurredAt: event.occurredAt, ...(moved ? {} : { current: view.status }) },
      actor: `carrier:${booking.carrier}`,
    });
    if (!handedOver && SHIPMENT_RANK[view.status] >= SHIPMENT_RANK.picked_up && view.status !== 'cancelled') {
      // Handover: the units have left the building, and this shipment's share of the money is due.
      handedOver = true;
      await books.commitStock({ orderId: input.orderId, warehouseId: input.warehouse.id });
      await books.recordShipment({ shipmentId: input.shipmentId, orderId: input.orderId, warehouseId: input.warehouse.id, status: view.status, statusRank: SHIPMENT_RANK[view.status] });
      if (input.capture) {
        const capture = input.capture;
        const captured = await steps.run('capture payment', () => acts.capturePayment({
          authorizationId: capture.authorizationId, amount: capture.amount, key: `${input.shipmentId}:capture`,
        }));
        view.captured = captured.amount;
        await tell({ event: `shipment ${input.shipmentId}: captured ${captured.amount}`, captured: { captureId: captured.captureId, amount: captured.amount } });
      }
    }
  }
  await books.recordShipment({ shipmentId: input.shipmentId, orderId: input.orderId, warehouseId: input.warehouse.id, status: view.status, statusRank: SHIPMENT_RANK[view.status] });
  return view;
}
