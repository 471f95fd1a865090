/**
 * Messages of the order and shipment workflows. The API and tests import these same
 * definitions, so a renamed message breaks the build instead of silently missing.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Allocation } from '../domain/allocation';
import type { OrderStatus } from '../domain/order';

export interface Actor {
  actor: string;
}

export interface ShipmentView {
  shipmentId: string;
  warehouseId: string;
  lines: { lineNo: number; sku: string; quantity: number }[];
  status: ShipmentStatus;
  carrier?: string;
  bookingId?: string;
  trackingNumber?: string;
  labelUrl?: string;
  captured?: string;
  /** The warehouse's pick order, so a restarted shipment workflow can still cancel it. */
  pickOrderId?: string;
  needsAttention: boolean;
  attentionReason?: string;
  /** The shipment was already with the carrier when the order's cancellation reached it. */
  cancelRefused?: boolean;
  /** SLA escalation: 0 (none) or the level reached since the parcel last moved, and why. */
  escalationLevel?: number;
  escalationReason?: string;
  /** Cash on delivery: what the carrier owes, what it has remitted, and whether that settles it. */
  cod?: { due: string; remitted: string; settled: boolean };
  /** Returned to the sender: what the order did about it. */
  rts?: 'reshipped' | 'refunded';
}

export type ShipmentStatus =
  | 'pending'
  | 'picking'
  | 'packed'
  | 'booked'
  | 'picked_up'
  | 'in_transit'
  | 'delivered'
  | 'delivery_failed'
  | 'returned_to_sender'
  | 'cancelled';

/** Carrier statuses only move forward: an old event arriving late never moves a shipment back. */
export const SHIPMENT_RANK: Record<ShipmentStatus, number> = {
  pending: 0,
  picking: 1,
  packed: 2,
  booked: 3,
  picked_up: 4,
  in_transit: 5,
  delivery_failed: 6,
  returned_to_sender: 7,
  delivered: 8,
  cancelled: 9,
};

export interface PaymentView {
  method: 'prepaid' | 'cod';
  authorizationId?: string;
  authorized?: string;
  /** When the gateway lets the authorisation lapse; a capture after it re-authorises first. */
  expiresAt?: string;
  captures: { shipmentId: string; captureId: string; amount: string }[];
  voided?: boolean;
  /** After a partial cancellation: the authorised amount that will never be captured, released. */
  remainderReleased?: string;
  codEligible?: boolean;
}

export type ReturnStatus = 'requested' | 'label_sent' | 'in_transit' | 'received' | 'accepted' | 'rejected' | 'expired';

export interface ReturnView {
  returnId: string;
  lines: { lineNo: number; sku: string; quantity: number }[];
  reason: string;
  status: ReturnStatus;
  trackingNumber?: string;
  labelUrl?: string;
  /** What this return refunds when accepted (the lines' share of what was paid). */
  refundDue: string;
  refunded?: string;
  inspection?: string;
  needsAttention?: boolean;
  /** An exchange ships a replacement (reserved at request time) once the parcel is back, instead of a refund. */
  exchange?: { status: 'requested' | 'reserved' | 'no_stock' | 'shipping' | 'released'; shipmentId?: string };
}

export interface OrderState {
  orderId: string;
  status: OrderStatus;
  seq: number;
  total: string | undefined;
  needsAttention: boolean;
  attentionReason: string | undefined;
  escalationLevel: number;
  /** What the order waits for now, in words, and until when. */
  waitingFor: string | undefined;
  waitingUntil: string | undefined;
  reasons: string[];
  payment: PaymentView;
  allocations: Allocation[];
  allocationWarehouses: { id: string; distanceKm: number | null; reason: string }[];
  shipments: ShipmentView[];
  shortages: { sku: string; requested: number; available: number }[];
  returns: ReturnView[];
  /** Units cancelled line by line while the rest of the order carried on. */
  cancelledLines?: LineQuantity[];
}

export const orderStateQuery = defineQuery<OrderState>('orderState');
export const releaseHoldUpdate = defineUpdate<OrderState, [Actor & { note?: string }]>('releaseHold');
export const rejectHoldUpdate = defineUpdate<OrderState, [Actor & { reason: string }]>('rejectHold');
/** Ops pause an order before its next step (until a release); refused once shipments are being prepared. */
export const holdOrderUpdate = defineUpdate<{ status: OrderStatus }, [Actor & { reason: string }]>('holdOrder');
/** Resume every step that needs attention; refused when nothing does. */
export const retryUpdate = defineUpdate<{ retried: string[] }, [Actor]>('retry');
/** Sent by a restock to orders waiting for the SKU. */
export const stockAvailableSignal = defineSignal<[{ sku: string }]>('stockAvailable');

/** Shipment → order: progress of one shipment — the shipment's view as it stands, and what just happened. */
export interface ShipmentProgress extends Pick<
  ShipmentView,
  | 'shipmentId'
  | 'status'
  | 'carrier'
  | 'bookingId'
  | 'trackingNumber'
  | 'labelUrl'
  | 'needsAttention'
  | 'attentionReason'
  | 'pickOrderId'
  | 'cancelRefused'
  | 'escalationLevel'
  | 'escalationReason'
  | 'cod'
> {
  event: string;
  eventDetail?: Record<string, unknown>;
  actor: string;
  captured?: { captureId: string; amount: string };
  /** The shipment's share authorised again (the order's authorisation had lapsed, or was about to): a hold of its own. */
  authorised?: { authorizationId: string; amount: string };
  /** A hold given up for the shipment's share: released on an authorisation (its share captured from a newer one), or lapsed there. */
  released?: { authorizationId: string; amount: string; lapsed?: boolean };
  /**
   * Counts the shipment's messages. Two sent at once (the SLA watcher and the main loop) may
   * arrive in either order; the order takes the shipment's state only from the newest.
   */
  seq?: number;
}
export const shipmentProgressSignal = defineSignal<[ShipmentProgress]>('shipmentProgress');

/** A carrier tracking event, from the webhook route (or the workflow's own polling). */
export interface CarrierEvent {
  eventId: string;
  status: string;
  occurredAt: string;
  codAmount?: string;
  /** Which shipment, when the event is sent to the order's workflow its shipment runs in (`orderWorkflowV3`). */
  shipmentId?: string;
}
export const carrierEventSignal = defineSignal<[CarrierEvent]>('carrierEvent');
export const retryShipmentSignal = defineSignal<[Actor]>('retryShipment');
/** Order → shipment: undo everything not yet handed to the carrier. */
export const cancelShipmentSignal = defineSignal<[Actor & { reason: string }]>('cancelShipment');

export interface LineQuantity {
  lineNo: number;
  quantity: number;
}
export interface LineCancelResult {
  status: OrderStatus;
  cancelled: LineQuantity[];
  /** Units whose shipment reached the carrier before the cancellation did (a return is the way). */
  refused: LineQuantity[];
  /** True when the answer came before the shipments finished undoing (the timeline will tell). */
  pending: boolean;
}
/** Cancel some units of some lines before their shipment is handed over; the rest carries on. */
export const cancelLinesUpdate = defineUpdate<LineCancelResult, [Actor & { reason: string; lines: LineQuantity[] }]>('cancelLines');

/** Cancel the order (what is not with the carrier yet); refused (with the reason) once all of it is. */
export interface CancelOrderResult {
  status: OrderStatus;
  /** When part of the order was already with the carrier: the shipments that were cancelled (the rest carries on). */
  cancelledShipments?: string[];
}
export const cancelOrderUpdate = defineUpdate<CancelOrderResult, [Actor & { reason: string }]>('cancelOrder');
export interface ReturnRequest {
  lines: { lineNo: number; quantity: number }[];
  reason: string;
  exchange?: boolean;
}
/** Open a return within the window; refused with the reason otherwise. */
export const requestReturnUpdate = defineUpdate<{ returnId: string }, [Actor & ReturnRequest]>('requestReturn');
export interface Inspection {
  returnId: string;
  accept: boolean;
  reason?: string;
}
/** The warehouse's verdict on a received return. */
export const inspectReturnUpdate = defineUpdate<{ returnId: string }, [Actor & Inspection]>('inspectReturn');
/** Return → order: progress of one return. */
export interface ReturnProgress {
  returnId: string;
  status: ReturnStatus;
  event: string;
  actor: string;
  needsAttention?: boolean;
  trackingNumber?: string;
  labelUrl?: string;
  refunded?: string;
  refundCaptures?: { captureId: string; amount: string }[];
}
export const returnProgressSignal = defineSignal<[ReturnProgress]>('returnProgress');
/** Order → return: the inspection result. */
export const inspectionSignal = defineSignal<[Actor & { accept: boolean; reason?: string }]>('inspection');

export const shipmentStateQuery = defineQuery<ShipmentView>('shipmentState');

/**
 * Channel → order: the sales channel cancelled the order, the buyer asked it to, or the buyer
 * asked it for a return or refund (a marketplace webhook). Before anything was handed to the
 * carrier a cancellation cancels the order (actor `channel`); after it, and for return
 * requests, the order is flagged for ops with the platform's reason.
 */
export interface ChannelOrderEvent {
  kind: 'cancelled' | 'cancel_request' | 'return_request';
  reason: string;
  nativeStatus: string;
  eventId: string;
  /** The platform's id of the buyer's request (to answer it), when it has one. */
  platformRequestId?: string;
}
export const channelOrderEventSignal = defineSignal<[ChannelOrderEvent]>('channelOrderEvent');
