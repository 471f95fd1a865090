/**
 * The event feed: the order timeline's steps, the logged stock changes and the states of an
 * order's things in the one order they were committed (`feed_id`, one sequence for all, numbered
 * as each writing transaction commits: migrations 0016, 0018, 0021 and 0028).
 */
import type { CanonicalOrder } from '../domain/order';
import type { Sql } from './client';
import type { ReservationEventType, StockAdjustment } from './inventory-repo';
import type { TimelineEntry } from './orders-repo';

/** A timeline step (orders-repo's TimelineEntry) with its order's ids, as the feed reads it. */
export interface StepRow extends TimelineEntry {
  kind: 'step';
  position: string;
  orderId: string;
  channel: string;
  channelOrderId: string;
  customer: CanonicalOrder['customer'];
  shippingAddress: CanonicalOrder['shippingAddress'];
}

/** A logged stock change (inventory-repo's StockAdjustment) as the feed reads it. */
export interface StockFeedRow extends Pick<StockAdjustment, 'sku' | 'warehouseId' | 'onHandBefore' | 'onHandAfter' | 'reason' | 'actor'> {
  kind: 'stock';
  position: string;
  adjustmentId: string;
  at: Date;
}

/** The invoice as an `invoice.status` event shows it. */
export interface InvoiceState {
  invoiceKey: string;
  kind: 'sale' | 'adjustment' | 'replacement';
  originalKey: string | null;
  status: 'pending' | 'submitted' | 'issued' | 'rejected' | 'replaced';
  currency: string;
  net: string;
  vat: string;
  gross: string;
  series: string | null;
  number: string | null;
  reason: { code: string; message: string } | null;
}

/** The shipment as a `shipment.status` event shows it. */
export interface ShipmentState {
  shipmentId: string;
  warehouseId: string;
  carrier: string | null;
  bookingId: string | null;
  trackingNumber: string | null;
  status: string;
  deliverBy: string | null;
}

/** The return as a `return.status` event shows it (no reason text: people write it). */
export interface ReturnState {
  returnId: string;
  status: 'requested' | 'label_sent' | 'in_transit' | 'received' | 'accepted' | 'rejected' | 'expired';
  lines: { lineNo: number; sku: string; quantity: number }[];
  trackingNumber: string | null;
  refundDue: string | null;
  refunded: string | null;
  exchange: string | null;
}

/**
 * A state a thing of an order reached (`feed_events`): an invoice planned, issued, rejected or
 * sent again (db/invoices-repo.ts); a shipment's status moving on (orders-repo.ts `upsertShipment`);
 * a return new or moving on with a step (orders-repo.ts `applyStatus`); stock reserved for the
 * order, released or handed over (inventory-repo.ts).
 */
export interface ThingFeedRow {
  kind: 'thing';
  position: string;
  orderId: string;
  channel: string;
  channelOrderId: string;
  at: Date;
  thing:
    | { type: 'invoice.status'; data: InvoiceState }
    | { type: 'shipment.status'; data: ShipmentState }
    | { type: 'return.status'; data: ReturnState }
    | { type: ReservationEventType; data: ReservationState };
}

/**
 * Stock an order holds, as a `stock.reserved` / `stock.released` / `stock.committed` event shows
 * it: the units of each line at each warehouse that the step reserved, gave back, or handed over.
 */
export interface ReservationState {
  lines: { lineNo: number; sku: string; warehouseId: string; quantity: number }[];
  /** Stock held under another key than the order's: an exchange's replacement (the return's id), a parcel sent again. */
  reservation?: string;
}

export type FeedRow = StepRow | StockFeedRow | ThingFeedRow;

export class EventsRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Up to `limit` events after position `after`, oldest first. Positions are numbered in commit
   * order (migration 0028), so no transaction still open can hold one below a committed event:
   * a reader paging on with the last position it read never skips one.
   * With `channel`, that channel's order steps and invoices only (stock belongs to no channel);
   * with `upTo`, none past that position (a replayed range).
   */
  async after(after: bigint, limit: number, channel?: string, upTo?: bigint): Promise<FeedRow[]> {
    const s = this.sql;
    const from = after.toString();
    const until = (id: ReturnType<Sql>) => (upTo === undefined ? s`` : s`and ${id} <= ${upTo.toString()}::bigint`);
    const rows = await s<
      (Omit<StepRow, 'kind'> & Omit<StockFeedRow, 'kind'> & { kind: FeedRow['kind']; thing: ThingFeedRow['thing'] | null })[]
    >`
      select * from ((select 'step' as kind, t.feed_id, t.feed_id::text as position, t.order_id as "orderId", o.channel, o.channel_order_id as "channelOrderId",
              t.seq, t.status, t.event, t.detail, t.actor, t.at,
              o.canonical -> 'customer' as customer, o.canonical -> 'shippingAddress' as "shippingAddress",
              null::text as "adjustmentId", null::text as sku, null::text as "warehouseId", null::int as "onHandBefore",
              null::int as "onHandAfter", null::text as reason, null::jsonb as thing
         from order_timeline t join orders o on o.order_id = t.order_id
        where t.feed_id > ${from}::bigint ${until(s`t.feed_id`)} and t.feed_final ${channel ? s`and o.channel = ${channel}` : s``}
        order by t.feed_id limit ${limit})
      ${
        channel
          ? s``
          : s`union all
      (select 'stock', a.feed_id, a.feed_id::text, null, null, null, null, null, null, '{}'::jsonb, a.actor, a.created_at, null, null,
              a.id::text, a.sku, a.warehouse_id, a.on_hand_before, a.on_hand_after, a.reason, null
         from stock_adjustments a
        where a.feed_id > ${from}::bigint ${until(s`a.feed_id`)} and a.feed_final
        order by a.feed_id limit ${limit})`
      }
      union all
      (select 'thing', e.feed_id, e.feed_id::text, e.order_id, o.channel, o.channel_order_id, null, null, null, '{}'::jsonb, 'system', e.at,
              null, null, null, null, null, null, null, null, jsonb_build_object('type', e.type, 'data', e.data)
         from feed_events e join orders o on o.order_id = e.order_id
        where e.feed_id > ${from}::bigint ${until(s`e.feed_id`)} and e.feed_final ${channel ? s`and o.channel = ${channel}` : s``}
        order by e.feed_id limit ${limit})) e
      order by feed_id limit ${limit}`;
    return rows.map((r): FeedRow => {
      const { kind, position, actor, at } = r;
      if (kind === 'thing')
        return { kind, position, orderId: r.orderId, channel: r.channel, channelOrderId: r.channelOrderId, at, thing: r.thing! };
      return kind === 'step'
        ? {
            kind,
            position,
            orderId: r.orderId,
            channel: r.channel,
            channelOrderId: r.channelOrderId,
            seq: r.seq,
            status: r.status,
            event: r.event,
            detail: r.detail,
            actor,
            at,
            customer: r.customer,
            shippingAddress: r.shippingAddress,
          }
        : {
            kind,
            position,
            adjustmentId: r.adjustmentId,
            sku: r.sku,
            warehouseId: r.warehouseId,
            onHandBefore: r.onHandBefore,
            onHandAfter: r.onHandAfter,
            reason: r.reason,
            actor,
            at,
          };
    });
  }
}

/** An order step as the feed and its deliveries show it (version 1); `scrub` takes personal data out of the text. */
export function stepEvent(r: StepRow, scrub: <T>(value: T) => T) {
  return {
    position: r.position,
    eventId: `${r.orderId}:${r.seq}`,
    type: 'order.step' as const,
    version: 1 as const,
    orderId: r.orderId,
    channel: r.channel,
    channelOrderId: r.channelOrderId,
    seq: r.seq,
    status: r.status,
    event: scrub(r.event),
    detail: scrub(r.detail),
    actor: r.actor,
    at: r.at.toISOString(),
  };
}

/** A logged change of a SKU's on-hand count as the feed shows it (version 1). */
export function stockEvent(r: StockFeedRow) {
  return {
    position: r.position,
    eventId: `stock:${r.adjustmentId}`,
    type: 'stock.adjusted' as const,
    version: 1 as const,
    sku: r.sku,
    warehouseId: r.warehouseId,
    onHandBefore: r.onHandBefore,
    onHandAfter: r.onHandAfter,
    reason: r.reason,
    actor: r.actor,
    at: r.at.toISOString(),
  };
}

/**
 * A thing's state as the feed shows it (version 1): an invoice's (`invoice.status`: planned as
 * `pending`, `issued` with its number, `rejected` with the reason, `pending` again after an ops
 * retry) or a shipment's (`shipment.status`). No buyer data in either.
 */
export function thingEvent(r: ThingFeedRow) {
  const base = {
    position: r.position,
    eventId: `${r.thing.type}:${r.position}`,
    version: 1 as const,
    orderId: r.orderId,
    channel: r.channel,
    channelOrderId: r.channelOrderId,
  };
  const at = r.at.toISOString();
  switch (r.thing.type) {
    case 'invoice.status':
      return { ...base, type: r.thing.type, ...r.thing.data, at };
    case 'shipment.status':
      return { ...base, type: r.thing.type, ...r.thing.data, at };
    case 'return.status':
      return { ...base, type: r.thing.type, ...r.thing.data, at };
    case 'stock.reserved':
    case 'stock.released':
    case 'stock.committed':
      return { ...base, type: r.thing.type, ...r.thing.data, at };
  }
}

/** Any feed row as its event; order steps scrubbed by `scrubFor` (their customer and address known). */
export function toFeedEvent(r: FeedRow, scrubFor: (r: StepRow) => <T>(value: T) => T) {
  return r.kind === 'step' ? stepEvent(r, scrubFor(r)) : r.kind === 'thing' ? thingEvent(r) : stockEvent(r);
}
