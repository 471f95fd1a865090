/**
 * What the OMS keeps about its conversations with sales channels: webhooks already accepted
 * (dedupe) and the newest status each channel was told per order (ordering).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { Sql } from '../../db/client';
import { OutboundLeases } from '../../db/outbound-leases';
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
  private readonly leases: OutboundLeases;
  constructor(private readonly sql: Sql) {
    this.leases = new OutboundLeases(sql);
  }

  /** True when this event was accepted before (a replay): its row is written only once it was acted on. */
  async eventSeen(channel: string, eventId: string): Promise<boolean> {
    return (await this.sql`select 1 from channel_events where channel = ${channel} and event_id = ${eventId}`).length > 0;
  }

  /**
   * Records a webhook once it was acted on (intake recorded, workflow started — or, for a status
   * that starts nothing, as that acknowledgement itself); false when a concurrent delivery of the
   * same event recorded it first. Never written before the effect: a crash in between leaves no
   * row, so the platform's retry is acted on rather than taken for a replay.
   */
  async recordEvent(e: ChannelEvent): Promise<boolean> {
    const rows = await this.sql`
      insert into channel_events (channel, event_id, channel_order_id, native_status, action, order_id, raw)
      values (${e.channel}, ${e.eventId}, ${e.channelOrderId}, ${e.nativeStatus}, ${e.action}, ${e.orderId}, ${e.raw === undefined ? null : this.sql.json(e.raw as never)})
      on conflict do nothing returning 1`;
    return rows.length > 0;
  }

  async orderExists(orderId: string): Promise<boolean> {
    return (await this.sql`select 1 from orders where order_id = ${orderId}`).length > 0;
  }

  /**
   * Runs `send` for status `seq` of an order unless the channel was already told this or a later
   * status. Pushes of one order are serialised by a lease (db/outbound-leases.ts) so a retried old
   * push can never land after a newer one — a lease row, not a lock: no transaction or advisory
   * lock stays open across the HTTP call, and a dead pusher's lease expires after `leaseMs`
   * (the caller's HTTP timeouts keep `send` shorter). The pushed seq is recorded after the push
   * and never moves back. 'stale' when it was skipped.
   */
  async pushInOrder(
    channel: string, orderId: string, seq: number, status: string, send: () => Promise<void>,
    opts: { leaseMs: number; signal?: AbortSignal | undefined; onWait?: () => void },
  ): Promise<'pushed' | 'stale'> {
    const key = `status-push:${channel}:${orderId}`;
    const giveUpAt = Date.now() + opts.leaseMs + 5000;
    let lease = await this.leases.tryAcquire(key, opts.leaseMs);
    while (!lease) {
      // The holder's lease runs out by then: still held means something is wrong; Temporal retries.
      if (Date.now() > giveUpAt) throw ApplicationFailure.retryable(`another status push of ${orderId} to ${channel} is in flight`, 'ChannelPushBusy');
      opts.onWait?.();
      try {
        await sleep(50, undefined, opts.signal ? { signal: opts.signal } : {});
      } catch (err) {
        throw opts.signal?.aborted && opts.signal.reason instanceof Error ? opts.signal.reason : err;
      }
      lease = await this.leases.tryAcquire(key, opts.leaseMs);
    }
    try {
      const [last] = await this.sql<{ seq: number }[]>`select seq from channel_status_pushes where channel = ${channel} and order_id = ${orderId}`;
      if (last && last.seq >= seq) return 'stale';
      await send();
      await this.sql`insert into channel_status_pushes (channel, order_id, seq, status) values (${channel}, ${orderId}, ${seq}, ${status})
                     on conflict (channel, order_id) do update set seq = excluded.seq, status = excluded.status, pushed_at = now()
                     where channel_status_pushes.seq < excluded.seq`;
      return 'pushed';
    } finally {
      await this.leases.release(lease).catch(() => undefined);
    }
  }

  /** The native order as taken in and the order's parcels: what native pushes may need. */
  async pushContext(orderId: string): Promise<PushContext> {
    const [intake] = await this.sql<{ raw: unknown }[]>`select raw from order_intake_log where order_id = ${orderId} and not duplicate order by id limit 1`;
    const shipments = await this.sql<{ carrier: string | null; trackingNumber: string | null }[]>`
      select carrier, tracking_number as "trackingNumber" from shipments where order_id = ${orderId} order by shipment_id`;
    return { native: intake?.raw, shipments: [...shipments] };
  }
}
