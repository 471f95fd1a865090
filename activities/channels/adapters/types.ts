/**
 * The one interface every sales-channel adapter implements. A channel either sends the whole
 * order in its webhook (`full`: Shopify, the canonical web/POS feed) or a thin, signed
 * notification whose order is then pulled from its order-detail API (`thin`: Shopee, Lazada,
 * TikTok Shop). Everything channel-specific — signatures, payload shapes, status vocabulary,
 * the shape of status and stock pushes — lives behind this interface, one module per channel.
 */
import type { CanonicalOrder, Channel } from '../../../domain/order';
import type { InboundRequest, Parsed } from './common';

/**
 * What a native order status means for the OMS, decided in one place per adapter:
 * - `intake`: an order to fulfil now (paid, or COD confirmed): start the order;
 * - `wait`: not yet an order to fulfil (unpaid, platform hold): acknowledge, start nothing;
 * - `cancel_request`: the buyer asks to cancel and the seller must answer: the OMS cancels the
 *   order when nothing was handed over yet (and accepts on the platform), else flags it;
 * - `cancelled`: the platform cancelled the order: the OMS cancels it too when nothing was
 *   handed over yet, else flags it for ops with the platform's reason;
 * - `return_request`: the buyer asks the platform for a return or refund: flagged for ops;
 * - `track`: a later stage the platform reports on its own (shipped, delivered…), or a status
 *   the adapter does not know (noted for ops): record it;
 * - `ignore`: not about an order at all (a test ping, an authorisation notice, a message type
 *   the OMS does not subscribe to): acknowledge, record nothing but a note.
 */
export type Disposition = 'intake' | 'wait' | 'cancel_request' | 'cancelled' | 'return_request' | 'track' | 'ignore';

/**
 * Something a platform sent that the adapter did not expect but accepted: an unknown status or
 * enum value, a null where a value was documented, a message type it does not act on. Kept for
 * ops (channel_payload_notes), never a reason to refuse the payload. `value` is an enum word or
 * a placeholder such as `null`, never personal data.
 */
export interface PayloadNote {
  path: string;
  value: string;
  note: string;
}

/** The seller's app registration and authorisation on a platform. */
export interface ChannelCredentials {
  /** App secret / partner key: signs webhooks and API calls (OMS_CHANNEL_SECRETS). */
  secret: string;
  /** Public app id: Shopee partner_id, Lazada/TikTok app_key, Shopify shop domain. */
  appKey: string;
  /** The seller's shop on the platform: Shopee shop_id, TikTok shop_cipher, Lazada seller_id. */
  shopId: string;
  /** OAuth access token of the seller's authorisation. */
  accessToken: string;
}

/** One call to a platform's API, built and signed by its adapter. */
export interface ChannelRequest {
  method: 'GET' | 'POST' | 'PUT';
  /** Path on the platform's API host; the sandbox serves it under `/channels/<channel>`. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** The exact body text: some platforms sign it. */
  body?: string;
  /** What the call does (`ship_order`, `cancel_order`, `get_order_detail`), for logs. */
  action: string;
}

/** A webhook, understood. */
export interface Notification {
  /** The channel's event id (or order id + status + time where it has none): the dedupe key. */
  eventId: string;
  channelOrderId: string;
  nativeStatus: string;
  disposition: Disposition;
  /** Full-order channels only: the order itself, already canonical. */
  order?: CanonicalOrder;
  /** Why the platform cancelled, or what the buyer asked for, in the platform's words. */
  reason?: string;
  /** The platform's id of the buyer's request (a TikTok Shop cancellation id), needed to answer it. */
  platformRequestId?: string;
  /** What was accepted though unexpected. */
  notes?: PayloadNote[];
}

/** The result of pulling one order from a thin channel's order-detail API. */
export interface PulledOrder {
  channelOrderId: string;
  nativeStatus: string;
  disposition: Disposition;
  /** Mapped only when the order is to be taken in (`intake`). */
  order?: CanonicalOrder;
  /** The native order document as pulled (kept in the intake log; status pushes read ids from it). */
  native: unknown;
  notes?: PayloadNote[];
}

/** What the order workflow hands to `pushOrderStatus`. */
export interface StatusPushInput {
  channel: string;
  orderId: string;
  channelOrderId: string;
  status: string;
  seq: number;
  occurredAt: string;
  detail?: Record<string, unknown>;
}

/** Facts a native push may need beyond the status: the channel's own order and our parcels. */
export interface PushContext {
  /** The native order as taken in (from the intake log), when we have it. */
  native?: unknown;
  shipments: { carrier: string | null; trackingNumber: string | null }[];
}

export interface StockLevel {
  sku: string;
  available: number;
}

/** An error the platform answered inside a 200 (Shopee, Lazada, TikTok wrap errors in the body). */
export interface PlatformError {
  code: string;
  message: string;
  retryable: boolean;
}

export interface ChannelAdapter {
  readonly channel: Channel;
  readonly delivery: 'full' | 'thin';
  /**
   * True when the channel keeps the status with the highest seq itself (our own feed), so the
   * order in which status pushes land there does not matter. The marketplaces keep the last write.
   */
  readonly keepsHighestSeq?: boolean;
  /** For docs: where the webhook signature travels and how it is made. */
  readonly signature: { header: string; scheme: string };
  /** Checks the webhook's signature over the raw body, in constant time. */
  verifyWebhook(req: InboundRequest, creds: ChannelCredentials): boolean;
  /** Validates the native webhook payload; issues name the failing fields. */
  parseWebhook(body: unknown, req: InboundRequest): Parsed<Notification>;
  /** The platform's status vocabulary → what it means here; a status it does not know is `track` (and noted). */
  dispositionOf(nativeStatus: string): Disposition;
  /** Thin channels: the signed calls that fetch one order (Lazada needs two). */
  orderDetailRequests?(channelOrderId: string, creds: ChannelCredentials, nowMs: number): ChannelRequest[];
  /** Thin channels: the answers of those calls → the order, mapped when it is to be taken in. */
  parseOrderDetail?(responses: unknown[], channelOrderId: string): Parsed<PulledOrder>;
  /** An error the platform reported inside a successful HTTP answer, if any. */
  platformError(json: unknown): PlatformError | undefined;
  /** Our status → the calls that tell the platform (none when the platform has no such step). */
  statusPush(input: StatusPushInput, ctx: PushContext, creds: ChannelCredentials, nowMs: number): ChannelRequest[];
  /** The body of a stock-level update in the platform's shape. */
  stockUpdateBody(items: StockLevel[]): unknown;
  /** The signed call carrying {@link stockUpdateBody}. */
  stockUpdateRequest(items: StockLevel[], creds: ChannelCredentials, nowMs: number): ChannelRequest;
}
