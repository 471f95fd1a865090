/**
 * The event feed: the order timeline's steps in the one order they were written (`feed_id`),
 * read only up to where every writing transaction has ended (migration 0016).
 */
import type { CanonicalOrder } from '../domain/order';
import type { Sql } from './client';

export interface FeedRow {
  position: string;
  orderId: string;
  channel: string;
  channelOrderId: string;
  seq: number;
  status: string;
  event: string;
  detail: Record<string, unknown>;
  actor: string;
  at: Date;
  customer: CanonicalOrder['customer'];
  shippingAddress: CanonicalOrder['shippingAddress'];
}

export class EventsRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Up to `limit` steps after position `after`, oldest first. A step whose transaction is still
   * open, or was written by one that started before a transaction still open, waits for the next
   * read: positions are handed out before commit, so a later position can commit first.
   */
  async after(after: bigint, limit: number, channel?: string): Promise<FeedRow[]> {
    const s = this.sql;
    return s<FeedRow[]>`
      select t.feed_id::text as position, t.order_id as "orderId", o.channel, o.channel_order_id as "channelOrderId", t.seq,
             t.status, t.event, t.detail, t.actor, t.at,
             o.canonical -> 'customer' as customer, o.canonical -> 'shippingAddress' as "shippingAddress"
        from order_timeline t join orders o on o.order_id = t.order_id
       where t.feed_id > ${after.toString()}::bigint
         and t.feed_tx < pg_snapshot_xmin(pg_current_snapshot())
         ${channel ? s`and o.channel = ${channel}` : s``}
       order by t.feed_id
       limit ${limit}`;
  }
}

/** An event as the feed and its deliveries show it (version 1); `scrub` takes personal data out of the text. */
export function toFeedEvent(r: FeedRow, scrub: <T>(value: T) => T) {
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
