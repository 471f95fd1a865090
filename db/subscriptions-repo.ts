/**
 * Subscribers to the event feed (0017_subscriptions.sql). A subscription is an outbox row that
 * stays: a relay claims the subscriptions that have events past their position, delivers a batch,
 * and `done` moves the position to the batch's last event instead of deleting the row.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Sql } from './client';
import { OutboxTable, type ClaimedRow } from './outbox-repo';

export interface Subscription {
  subscriptionId: string;
  url: string;
  channel: string | null;
  position: string;
  createdAt: Date;
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  delivered: number;
  lastDeliveredAt: Date | null;
  /** A replay of a range under way: delivering up to `until`, then on from `resumeAt` (where the subscriber had been). */
  replay: { until: string; resumeAt: string } | null;
}

export interface ClaimedSubscription extends ClaimedRow {
  url: string;
  secret: string;
  channel: string | null;
  position: string;
  /** A replay of a range under way: deliver no event past this; at it, go on from where the subscriber had been. */
  replayUntil: string | null;
  /** Set by the delivery: the position of the last event the subscriber took, and how many. */
  deliveredTo?: { position: string; count: number };
}

const cols = (s: Sql) =>
  s`subscription_id as "subscriptionId", url, channel, position::text as position, created_at as "createdAt", attempts,
    next_attempt_at as "nextAttemptAt", last_error as "lastError", delivered::int as delivered, last_delivered_at as "lastDeliveredAt",
    case when replay_until is null then null
         else jsonb_build_object('until', replay_until::text, 'resumeAt', resume_at::text) end as replay`;

/**
 * Whether the feed holds an event past subscription `s`'s position that it would be sent (its
 * channel's, if it has one): as `EventsRepo.after` reads them, so a claim never finds an event the
 * delivery cannot show (and claims again, for ever).
 */
const hasEventsPast = (sql: Sql) =>
  sql`(exists (select 1 from order_timeline t where t.feed_id > s.position
                and (s.channel is null or exists (select 1 from orders o where o.order_id = t.order_id and o.channel = s.channel)))
       or exists (select 1 from feed_events e where e.feed_id > s.position
                and exists (select 1 from orders o where o.order_id = e.order_id and (s.channel is null or o.channel = s.channel)))
       or (s.channel is null and exists (select 1 from stock_adjustments a where a.feed_id > s.position)))`;

export class SubscriptionsRepo extends OutboxTable<ClaimedSubscription> {
  constructor(sql: Sql) {
    super(sql, 'subscriptions', 'subscription_id');
  }

  /** A new subscriber from the feed's start or from now; its secret is returned here only. */
  async create(s: { url: string; channel?: string | undefined; from: 'start' | 'now' }): Promise<Subscription & { secret: string }> {
    const id = `sub_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
    const secret = `whsec_${randomBytes(24).toString('base64url')}`;
    const [row] = await this.sql<Subscription[]>`
      insert into subscriptions (subscription_id, url, secret, channel, position)
      values (${id}, ${s.url}, ${secret}, ${s.channel ?? null},
              ${
                s.from === 'start'
                  ? this.sql`0`
                  : this.sql`greatest(coalesce((select max(feed_id) from order_timeline), 0),
                      coalesce((select max(feed_id) from stock_adjustments), 0), coalesce((select max(feed_id) from feed_events), 0))`
              })
      returning ${cols(this.sql)}`;
    return { ...row!, secret };
  }

  async list(): Promise<Subscription[]> {
    return this.sql<Subscription[]>`select ${cols(this.sql)} from subscriptions order by created_at, subscription_id`;
  }

  async remove(id: string): Promise<boolean> {
    return (await this.sql`delete from subscriptions where subscription_id = ${id} returning 1`).length > 0;
  }

  /**
   * Ops: deliver again the events after `after` (at once, whatever the backoff; a delivery in
   * flight does not move it on). With `until`, only up to it: then the subscriber goes on from
   * the furthest it had been, so nothing past `until` comes twice. An `until` at or past that
   * point is a replay from `after` on; an `after` past where the subscriber is moves nothing
   * forward (those events have not gone out yet).
   */
  async rewind(id: string, after: bigint, until?: bigint): Promise<Subscription | undefined> {
    const s = this.sql;
    const furthest = s`greatest(position, coalesce(resume_at, position))`;
    const ranged = until === undefined ? s`false` : s`${until.toString()}::bigint < ${furthest}`;
    // Never forward: events past where the subscriber is have not gone out yet, and go out in turn.
    const [row] = await s<Subscription[]>`
      update subscriptions set position = least(${after.toString()}::bigint, position),
        replay_until = case when ${ranged} then ${until?.toString() ?? null}::bigint end,
        resume_at = case when ${ranged} then ${furthest} end,
        attempts = 0, next_attempt_at = clock_timestamp(), last_error = null, claimed_until = null, claim_token = null
      where subscription_id = ${id} returning ${cols(s)}`;
    return row;
  }

  /** Up to `limit` due subscriptions with events past their position, leased for `leaseMs`. */
  async claim(limit: number, leaseMs: number): Promise<ClaimedSubscription[]> {
    const token = randomUUID();
    const s = this.sql;
    return s<ClaimedSubscription[]>`
      with due as (
        select subscription_id from subscriptions s
        where (claimed_until is null or claimed_until < clock_timestamp()) and next_attempt_at <= clock_timestamp()
          and ${hasEventsPast(s)}
        order by next_attempt_at limit ${limit}
        for update skip locked)
      update subscriptions w set claimed_until = clock_timestamp() + make_interval(secs => ${leaseMs / 1000}), claim_token = ${token}
      from due where w.subscription_id = due.subscription_id
      returning w.subscription_id as key, w.url, w.secret, w.channel, w.position::text as position, w.replay_until::text as "replayUntil", w.attempts,
        w.created_at as "createdAt", w.claim_token as "claimToken"`;
  }

  /**
   * Delivered: the position moves to the batch's last event — past the end of a replayed range,
   * on to where the subscriber had been (a rewind meanwhile wins: the lease was taken from it).
   */
  override async done(p: ClaimedSubscription): Promise<void> {
    const to = p.deliveredTo;
    const s = this.sql;
    const rangeDone = to ? s`(replay_until is not null and ${to.position}::bigint >= replay_until)` : s`false`;
    await s`
      update subscriptions set claimed_until = null, claim_token = null, attempts = 0, last_error = null
        ${
          to
            ? s`, position = case when ${rangeDone} then resume_at else ${to.position}::bigint end,
                resume_at = case when ${rangeDone} then null else resume_at end,
                replay_until = case when ${rangeDone} then null else replay_until end,
                delivered = delivered + ${to.count}, last_delivered_at = case when ${to.count} > 0 then clock_timestamp() else last_delivered_at end`
            : s``
        }
      where subscription_id = ${p.key} and claim_token = ${p.claimToken}`;
  }
}
