/**
 * The channel status-push outbox (see 0014_status_pushes.sql): a row per recorded status, sent
 * by the worker processes' relays in seq order per order — only the oldest row of an order is
 * ever claimed, so a newer status never overtakes an older one that is still being retried.
 */
import { randomUUID } from 'node:crypto';
import type { PendingQuery, Row } from 'postgres';
import type { Sql } from './client';
import { OutboxTable, type ClaimedRow, type Queryable } from './outbox-repo';

export interface PendingPush extends ClaimedRow {
  orderId: string;
  seq: number;
  channel: string;
  input: unknown;
}

/** A step's push: the order, the step's seq, the channel and what it is told. */
export interface StepPush {
  orderId: string;
  seq: number;
  channel: string;
  input: unknown;
}

/**
 * The number a step's push is told under, as the CTEs `cur_shift` and `numbered` (no row when
 * `needed` fails) of the statement that writes the step.
 *
 * It is seq + the order's shift (status_push_shifts, migration 0029). When `bump` holds — the
 * step replaces one a lost workflow task wrote under the same seq, or it closes the order — it is
 * also above every number the channel was told or has queued for the order, and the shift grows
 * to match (`shifted` in {@link pushQueueCtes}), so the order's later steps follow it.
 */
export function pushNumberCtes(
  q: Queryable,
  p: StepPush,
  o: { bump: PendingQuery<Row[]>; needed: PendingQuery<Row[]> },
): PendingQuery<Row[]> {
  // Read only when the step bumps (a CASE branch not taken is not evaluated).
  const top = q`coalesce(greatest((select max(seq) from status_pushes where order_id = ${p.orderId}),
                                  (select seq from channel_status_pushes where channel = ${p.channel} and order_id = ${p.orderId})), 0)`;
  return q`cur_shift as (select coalesce((select shift from status_push_shifts where order_id = ${p.orderId}), 0) as s),
           numbered as (
             select case when ${o.bump} then greatest(${p.seq} + s, ${top} + 1) else ${p.seq} + s end as n
             from cur_shift where ${o.needed})`;
}

/** A queued push no relay holds: never claimed, or its lease ran out (the relay died with it). */
export const unheldPush = (q: Queryable) => q`(claimed_until is null or claimed_until < clock_timestamp())`;

/**
 * Queues a step's push under its number (`numbered`) when `when` holds, as the CTEs `dropped`,
 * `pushed` and `shifted`. Pushes of this step or a later one that no relay holds are dropped: an
 * order's local activities run one at a time in seq order, so a lost task wrote them. Two writers
 * handed the same number (a lost task's activity still running) fail on the unique key, and the
 * local activity's retry numbers afresh.
 */
export function pushQueueCtes(q: Queryable, p: StepPush, when: PendingQuery<Row[]>): PendingQuery<Row[]> {
  const unheld = unheldPush(q);
  return q`dropped as (
             delete from status_pushes where order_id = ${p.orderId} and coalesce(step_seq, seq) >= ${p.seq} and ${unheld} and ${when}),
           pushed as (
             insert into status_pushes (push_id, order_id, seq, step_seq, channel, input)
             select ${p.orderId}::text || ':' || n, ${p.orderId}, n, ${p.seq}, ${p.channel},
                    jsonb_set(${q.json(p.input as never)}::jsonb, '{seq}', to_jsonb(n))
             from numbered where ${when}),
           shifted as (
             insert into status_push_shifts (order_id, shift)
             select ${p.orderId}, n - ${p.seq} from numbered, cur_shift where ${when} and n - ${p.seq} > s
             on conflict (order_id) do update set shift = greatest(status_push_shifts.shift, excluded.shift))`;
}

export class StatusPushesRepo extends OutboxTable<PendingPush> {
  constructor(sql: Sql) {
    super(sql, 'status_pushes', 'push_id');
  }

  /** Up to `limit` due rows, each the oldest of its order, leased for `leaseMs`; rows another relay holds are skipped. */
  async claim(limit: number, leaseMs: number): Promise<PendingPush[]> {
    const token = randomUUID();
    const s = this.sql;
    return s<PendingPush[]>`
      with heads as (
        select distinct on (order_id) push_id from status_pushes order by order_id, seq),
      due as (
        select p.push_id from status_pushes p join heads h on h.push_id = p.push_id
        where (p.claimed_until is null or p.claimed_until < clock_timestamp()) and p.next_attempt_at <= clock_timestamp()
        order by p.next_attempt_at, p.created_at limit ${limit}
        for update of p skip locked)
      update status_pushes w set claimed_until = clock_timestamp() + make_interval(secs => ${leaseMs / 1000}), claim_token = ${token}
      from due where w.push_id = due.push_id
      returning w.push_id as key, w.order_id as "orderId", w.seq, w.channel, w.input, w.attempts,
        w.created_at as "createdAt", w.claim_token as "claimToken"`;
  }
}
