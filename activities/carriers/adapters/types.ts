/**
 * The one interface every carrier webhook adapter implements. A carrier pushes tracking events in
 * its own format and authenticates them its own way; its adapter checks that authentication,
 * reads the native body tolerantly, and maps it onto the tracking vocabulary the shipment and
 * return workflows already speak (the statuses of `CarrierEvent` in workflows/messages.ts).
 */
import type { z } from '@hono/zod-openapi';

/**
 * What the shipment and return workflows understand, as the sandbox and the polling path send it.
 * `cancelled` is recorded but moves nothing (a booking is cancelled by the OMS, not by the
 * carrier's word); `cod_remitted` reports cash the carrier paid over (its `codAmount`).
 */
export const TRACKING_STATUSES = [
  'picked_up',
  'in_transit',
  'delivered',
  'delivery_failed',
  'returned_to_sender',
  'cancelled',
  'cod_remitted',
] as const;
export type TrackingStatus = (typeof TRACKING_STATUSES)[number];

/** The carriers that have a webhook adapter. */
export const WEBHOOK_CARRIERS = ['ghn', 'vtp'] as const;
export type WebhookCarrier = (typeof WEBHOOK_CARRIERS)[number];

/** The parts of an HTTP request an adapter may authenticate by. */
export interface InboundWebhook {
  rawBody: string;
  header(name: string): string | undefined;
  /** A query parameter of the URL the carrier called (the callback URL we registered with it). */
  query(name: string): string | undefined;
}

/**
 * Something the carrier sent that the adapter did not expect but accepted (an unknown status, a
 * null or unreadable value in a field it reads). Logged and answered, never a reason to refuse.
 * `value` is an enum word or a placeholder (`null`, `number`), never personal data.
 */
export interface PayloadNote {
  path: string;
  value: string;
  note: string;
}

/** One internal event read from a webhook. */
export interface TrackingEvent {
  /**
   * Derived from the carrier, its tracking code, the event's type, the native status and its
   * time: the same event sent again has the same id (carriers send none of their own).
   */
  eventId: string;
  /** The native status as sent (GHN `Status`, VTP `ORDER_STATUS`), with the GHN `Type` where it matters. */
  nativeStatus: string;
  /** What it means here; null when the event is acknowledged without effect (or not known). */
  status: TrackingStatus | null;
  /** Why an event has no effect: a known status that moves nothing, or one the adapter does not know. */
  noEffect?: 'known' | 'unknown';
  /** ISO 8601 (UTC). The received time when the carrier's own is missing or unreadable. */
  occurredAt: string;
  /** Cash on delivery as a decimal string ("3000000.00"): for `cod_remitted`, the amount paid over. */
  codAmount?: string;
  /** The carrier's failure reason (code and words), when it gave one. */
  reason?: string;
}

/** A webhook, understood. */
export interface CarrierWebhook {
  /** The carrier's code for the parcel: our booking's tracking number (GHN `OrderCode`, VTP `ORDER_NUMBER`). */
  trackingCode: string;
  /** What the carrier echoed as our reference (GHN `ClientOrderCode`, VTP `ORDER_REFERENCE`), if anything. */
  reference?: string;
  /** Usually one; a GHN snapshot that also reports a COD transfer carries two. */
  events: TrackingEvent[];
  notes: PayloadNote[];
}

/** One failing field of a native payload, by its path in that payload (`DATA.ORDER_NUMBER`). */
export interface FieldIssue {
  path: string;
  message: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

export interface CarrierAdapter {
  readonly carrier: WebhookCarrier;
  /** For docs and logs: where the secret travels. */
  readonly auth: { in: 'query' | 'header'; name: string; scheme: string };
  /**
   * What to answer for an event about a parcel the OMS cannot find: `retry` (409, the carrier
   * sends it again: it may have raced the booking's answer) or `acknowledge` (200, logged).
   */
  readonly unknownParcel: 'retry' | 'acknowledge';
  /** Checks the carrier's secret, in constant time. */
  authenticate(req: InboundWebhook, secret: string): boolean;
  /** Reads the native body; refuses only what cannot be acted on (no tracking code, no status). */
  parseWebhook(body: unknown): Parsed<CarrierWebhook>;
  /** The native status vocabulary → the tracking vocabulary (null: known, no effect; undefined: not known). */
  statusOf(nativeStatus: string): TrackingStatus | null | undefined;
  /** The native body, for the OpenAPI document. */
  readonly schema: z.ZodType;
}
