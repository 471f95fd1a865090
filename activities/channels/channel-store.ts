/**
 * What the OMS keeps about its conversations with sales channels: webhooks already accepted
 * (dedupe) and the newest status each channel was told per order (ordering).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { Sql } from '../../db/client';
import { OutboundLeases } from '../../db/outbound-leases';
import type { Disposition, PayloadNote, PushContext } from './adapters';

/** One kind of surprise a channel's payloads carried (see db/migrations/0011). */
export interface PayloadNoteRow {
  channel: string;
  path: string;
  value: string;
  note: string;
  count: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
  lastEventId: string | null;
  lastOrderId: string | null;
}
import { mayStillLand } from './channel-http';

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

/**
 * What keeps a last-write-wins platform's last word the newest status when a request's answer
 * never comes (see {@link ChannelStore.pushInOrder}).
 */
export interface InDoubtPolicy {
  /** The longest the push's calls may take together (each is cut at the client timeout). */
  sendMs: number;
  /** How long the platform may still apply a request after we gave up on it: its own request timeout. */
  platformTimeoutMs: number;
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

  /**
   * Keeps what a platform sent that the OMS accepted though it did not expect it (payload notes),
   * one row per channel, path and value, counted. Paths lose their array indexes
   * (`line_items.*.sku`) so one new value is one row however many lines carry it.
   */
  async recordNotes(channel: string, notes: PayloadNote[], eventId: string, orderId: string | null): Promise<void> {
    const rows = new Map<string, { path: string; value: string; note: string }>();
    for (const n of notes) {
      const path = n.path.replace(/\.\d+(?=\.|$)/g, '.*');
      rows.set(`${path}\u0000${n.value}`, { path, value: n.value, note: n.note });
    }
    for (const r of rows.values()) {
      await this.sql`
        insert into channel_payload_notes (channel, path, value, note, last_event_id, last_order_id)
        values (${channel}, ${r.path}, ${r.value}, ${r.note}, ${eventId}, ${orderId})
        on conflict (channel, path, value) do update set count = channel_payload_notes.count + 1, last_seen_at = now(),
          note = excluded.note, last_event_id = excluded.last_event_id, last_order_id = excluded.last_order_id`;
    }
  }

  /** The payload notes, newest first. */
  async payloadNotes(channel?: string): Promise<PayloadNoteRow[]> {
    return [
      ...(await this.sql<PayloadNoteRow[]>`
      select channel, path, value, note, count, first_seen_at as "firstSeenAt", last_seen_at as "lastSeenAt", last_event_id as "lastEventId", last_order_id as "lastOrderId"
      from channel_payload_notes ${channel ? this.sql`where channel = ${channel}` : this.sql``}
      order by last_seen_at desc, channel, path, value limit 500`),
    ];
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
   *
   * The lease alone does not order what the platform applies: a request whose answer never came
   * (our timeout, an abort, a reset, a pusher that died) may still be applied by the platform
   * later, at any moment up to its own request timeout, after the lease was given back and a
   * newer push went out. With `inDoubt` (last-write-wins platforms) such a request holds the
   * order's lane: no push of another seq goes out until it can no longer land (a row in
   * `channel_push_doubts`, written before the send so a dead pusher leaves it too). The blocked
   * push fails retryably, with Temporal's next retry set for when the lane opens.
   *
   * Why time and not the alternatives: repeating the request with its idempotency key until a
   * definite answer would prove the original finished only on a platform that dedupes on the
   * key and makes a repeat wait for the original — the sandbox does, but the marketplaces' order
   * updates take no idempotency key (Shopify calls them idempotent by nature), so there a
   * repeat's answer says nothing about the original still in flight. Letting the newer push go
   * and re-asserting it after the window would need something to come back later (the workflow
   * awaits only the activity) and leaves the platform stale in between. Waiting out the window
   * needs one timestamp and is correct for any platform whose request timeout we know; it only
   * delays the pushes after an unanswered one, which are rare.
   */
  async pushInOrder(
    channel: string,
    orderId: string,
    seq: number,
    status: string,
    send: () => Promise<void>,
    opts: { leaseMs: number; signal?: AbortSignal | undefined; onWait?: () => void; inDoubt?: InDoubtPolicy | undefined },
  ): Promise<'pushed' | 'stale'> {
    const key = `status-push:${channel}:${orderId}`;
    const giveUpAt = Date.now() + opts.leaseMs + 5000;
    let lease = await this.leases.tryAcquire(key, opts.leaseMs);
    while (!lease) {
      // The holder's lease runs out by then: still held means something is wrong; Temporal retries.
      if (Date.now() > giveUpAt)
        throw ApplicationFailure.retryable(`another status push of ${orderId} to ${channel} is in flight`, 'ChannelPushBusy');
      opts.onWait?.();
      try {
        await sleep(50, undefined, opts.signal ? { signal: opts.signal } : {});
      } catch (err) {
        throw opts.signal?.aborted && opts.signal.reason instanceof Error ? opts.signal.reason : err;
      }
      lease = await this.leases.tryAcquire(key, opts.leaseMs);
    }
    let released = false;
    try {
      // Stale: an older seq, or this very step again. The same seq with another status is a step
      // the workflow wrote again after a task that never committed (orders-repo.ts): it replaces.
      // Read once the lease is ours (its own statement, so it sees the last holder's record).
      const [last] = await this.sql<
        { seq: number; status: string }[]
      >`select seq, status from channel_status_pushes where channel = ${channel} and order_id = ${orderId}`;
      if (last && (last.seq > seq || (last.seq === seq && last.status === status))) return 'stale';
      const attempt = opts.inDoubt ? await this.beginAttempt(channel, orderId, seq, opts.inDoubt) : undefined;
      try {
        await send();
      } catch (err) {
        // If this write fails, the row keeps its longer, pessimistic window: safe.
        if (attempt)
          await this.settleAttempt(channel, orderId, attempt, mayStillLand(err) ? opts.inDoubt!.platformTimeoutMs : undefined).catch(
            () => undefined,
          );
        throw err;
      }
      const recorded = this
        .sql`insert into channel_status_pushes (channel, order_id, seq, status) values (${channel}, ${orderId}, ${seq}, ${status})
                     on conflict (channel, order_id) do update set seq = excluded.seq, status = excluded.status, pushed_at = now()
                     where channel_status_pushes.seq <= excluded.seq`;
      if (attempt) {
        await recorded;
        await this.settleAttempt(channel, orderId, attempt).catch(() => undefined);
      } else {
        // Recorded and the lease given back in one round trip, so a crash between the two cannot
        // leave the lease to expire. If this fails, the lease is given back on its own below.
        await this.sql`with recorded as (${recorded}), released as (${this.leases.give(lease)}) select 1`;
        released = true;
      }
      return 'pushed';
    } finally {
      if (!released) await this.leases.release(lease).catch(() => undefined);
    }
  }

  /**
   * Before a send to a last-write-wins platform, holding the order's lease: refuses while a
   * request of another seq of this order may still land there (a repeat of the same seq changes
   * nothing the platform will end on); else records this attempt as able to land until the
   * longest the send can take plus the platform's timeout. Durations are on the database's clock.
   */
  private async beginAttempt(channel: string, orderId: string, seq: number, p: InDoubtPolicy): Promise<string> {
    const [blocking] = await this.sql<{ seq: number; until: Date; waitMs: number }[]>`
      select seq, may_land_until as until, ceil(extract(epoch from may_land_until - clock_timestamp()) * 1000)::int as "waitMs"
      from channel_push_doubts
      where channel = ${channel} and order_id = ${orderId} and seq <> ${seq} and may_land_until > clock_timestamp()
      order by may_land_until desc limit 1`;
    if (blocking) {
      throw ApplicationFailure.create({
        type: 'ChannelPushInDoubt',
        message: `status push ${seq} of ${orderId} to ${channel} waits: push ${blocking.seq} got no answer and may still land there until ${blocking.until.toISOString()}`,
        nonRetryable: false,
        nextRetryDelay: Math.max(blocking.waitMs, 0) + 250,
        details: [{ blockedBy: blocking.seq, mayLandUntil: blocking.until.toISOString() }],
      });
    }
    await this
      .sql`delete from channel_push_doubts where channel = ${channel} and order_id = ${orderId} and may_land_until <= clock_timestamp()`;
    const attempt = randomUUID();
    await this.sql`insert into channel_push_doubts (channel, order_id, attempt_id, seq, may_land_until)
                   values (${channel}, ${orderId}, ${attempt}, ${seq}, clock_timestamp() + make_interval(secs => ${(p.sendMs + p.platformTimeoutMs) / 1000}))`;
    return attempt;
  }

  /**
   * After a send: the platform answered, so nothing of this attempt can land later (forgotten),
   * or no answer came, so it may land until the platform's timeout from now (when we gave up).
   */
  private async settleAttempt(channel: string, orderId: string, attempt: string, stillLandsForMs?: number): Promise<void> {
    if (stillLandsForMs === undefined) {
      await this.sql`delete from channel_push_doubts where channel = ${channel} and order_id = ${orderId} and attempt_id = ${attempt}`;
      return;
    }
    await this
      .sql`update channel_push_doubts set may_land_until = least(may_land_until, clock_timestamp() + make_interval(secs => ${stillLandsForMs / 1000}))
                   where channel = ${channel} and order_id = ${orderId} and attempt_id = ${attempt}`;
  }

  /** The native order as taken in and the order's parcels: what native pushes may need. */
  async pushContext(orderId: string): Promise<PushContext> {
    const [intake] = await this.sql<
      { raw: unknown }[]
    >`select raw from order_intake_log where order_id = ${orderId} and not duplicate order by id limit 1`;
    const shipments = await this.sql<{ carrier: string | null; trackingNumber: string | null }[]>`
      select carrier, tracking_number as "trackingNumber" from shipments where order_id = ${orderId} order by shipment_id`;
    return { native: intake?.raw, shipments: [...shipments] };
  }
}
