/** Carriers: book a pickup (label + tracking number), cancel it, or read its tracking. */
import { callJson, systemFor, type OutsideSystem } from '../http';

export interface Booking {
  bookingId: string;
  carrier: string;
  trackingNumber: string;
  labelUrl: string;
  status: string;
}
export interface TrackingEvent {
  eventId: string;
  status: string;
  occurredAt: string;
  codAmount?: string;
}

/** Carriers that push tracking webhooks; the others are polled by the shipment workflow. */
export const PUSH_CARRIERS = new Set(['ghn']);

export function createCarrierActivities(carriers: Record<string, OutsideSystem>) {
  return {
    async bookShipment(input: {
      carrier: string;
      orderId: string;
      shipmentId: string;
      from: { warehouseId: string; city: string };
      to: { name: string; phone?: string | undefined; line1: string; city: string; region?: string | undefined; country: string };
      weightGrams: number;
      codAmount?: string | undefined;
      /** A booking made again after the carrier forgot the first one needs a key of its own. */
      attempt?: number;
    }): Promise<Booking> {
      const { carrier, attempt, ...body } = input;
      return callJson(systemFor(carriers, 'carrier', carrier), `/v1/shipments`, {
        body,
        idempotencyKey: `${input.shipmentId}:book${attempt ? `:${attempt}` : ''}`,
      });
    },
    /** A return label: the customer hands the parcel to the carrier, which brings it to the warehouse. */
    async bookReturnLabel(input: {
      carrier: string;
      orderId: string;
      returnId: string;
      from: { name: string; line1: string; city: string; country: string };
      to: { warehouseId: string; city: string };
    }): Promise<Booking> {
      const { carrier, ...body } = input;
      return callJson(systemFor(carriers, 'carrier', carrier), `/v1/returns`, { body, idempotencyKey: `${input.returnId}:label` });
    },
    async cancelBooking(input: { carrier: string; bookingId: string; shipmentId: string }): Promise<{ status: string }> {
      return callJson(systemFor(carriers, 'carrier', input.carrier), `/v1/shipments/${encodeURIComponent(input.bookingId)}/cancel`, {
        body: {},
        idempotencyKey: `${input.shipmentId}:cancel`,
      });
    },
    async trackShipment(input: { carrier: string; bookingId: string }): Promise<{ status: string; events: TrackingEvent[] }> {
      return callJson(systemFor(carriers, 'carrier', input.carrier), `/v1/shipments/${encodeURIComponent(input.bookingId)}`);
    },
  };
}
