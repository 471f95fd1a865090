/**
 * What the OMS keeps about its conversations with sales channels: webhooks already accepted
 * (dedupe) and the newest status each channel was told per order (ordering).
 */
import type { Sql } from '../../db/client';
import type { Disposition, PushContext } from './adapters';

export interface ChannelEvent {
  channel: string;
  eventId: string;
  channelOrderId: string;
  nativeStatus: string;
  action: Disposition;
  orderId: string;
  /** Thin notifications only: full orders go to the intake log. */
  raw?: unknown;
}

export class ChannelStore {
  constructor(private readonly sql: Sql) {}

  /** Records a webhook; false when this event was accepted before (a replay). */
  async recordEvent(e: ChannelEvent): Promise<boolean> {
    const rows = await this.sql`
      insert into channel_events (channel, event_id, channel_order_id, native_status, action, order_id, raw)
      values (${e.channel}, ${e.eventId}, ${e.channelOrderId}, ${e.nativeStatus}, ${e.action}, ${e.orderId}, ${e.raw === undefined ? null : this.sql.json(e.raw as never)})
      on conflict do nothing returning 1`;
    return rows.length > 0;
  }

  /** Undoes {@link recordEvent} when the event could not be acted on, so the platform's retry is. */
  async forgetEvent(channel: string, eventId: string): Promise<void> {
    await this.sql`delete from channel_events where channel = ${channel} and event_id = ${eventId}`;
  }

  async orderExists(orderId: string): Promise<boolean> {
    return (await this.sql`select 1 from orders where order_id = ${orderId}`).length > 0;
  }

  /**
   * Runs `send` for status `seq` of an order unless the channel was already told this or a later
   * status. Pushes of one order are serialised by an advisory lock held across the call, so a
   * retried old push can never land after a newer one; 'stale' when it was skipped.
   */
  async pushInOrder(channel: string, orderId: string, seq: number, status: string, send: () => Promise<void>): Promise<'pushed' | 'stale'> {
    return this.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext(${channel}), hashtext(${orderId}))`;
      const [last] = await tx<{ seq: number }[]>`select seq from channel_status_pushes where channel = ${channel} and order_id = ${orderId}`;
      if (last && last.seq >= seq) return 'stale' as const;
      await send();
      await tx`insert into channel_status_pushes (channel, order_id, seq, status) values (${channel}, ${orderId}, ${seq}, ${status})
               on conflict (channel, order_id) do update set seq = excluded.seq, status = excluded.status, pushed_at = now()`;
      return 'pushed' as const;
    });
  }

  /** The native order as taken in and the order's parcels: what native pushes may need. */
  async pushContext(orderId: string): Promise<PushContext> {
    const [intake] = await this.sql<{ raw: unknown }[]>`select raw from order_intake_log where order_id = ${orderId} and not duplicate order by id limit 1`;
    const shipments = await this.sql<{ carrier: string | null; trackingNumber: string | null }[]>`
      select carrier, tracking_number as "trackingNumber" from shipments where order_id = ${orderId} order by shipment_id`;
    return { native: intake?.raw, shipments: [...shipments] };
  }
}
