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

/**
 * Queues the push of an order's step `seq` when `when` holds (a condition on the statement it is
 * part of; always, by default), as the CTEs `pushed` and `shifted` of that statement.
 *
 * The channel is told it under the number seq + the order's shift (status_push_shifts, migration
 * 0029). When `bump` holds — the step replaces one a lost workflow task wrote under the same seq,
 * or it closes the order — the number is also above any the channel was told or has queued for
 * this order, and the shift grows to match, so the workflow's own story is the one the channel
 * ends on however far the lost task got. A retried write of the same step queues nothing (its
 * `when` fails), so it keeps its number.
 */
export function pushCtes(
  q: Queryable,
  p: { orderId: string; seq: number; channel: string; input: unknown },
  o: { when?: PendingQuery<Row[]>; bump: PendingQuery<Row[]> | boolean },
): PendingQuery<Row[]> {
  const shift = q`coalesce((select shift from status_push_shifts where order_id = ${p.orderId}), 0)`;
  // Read only when the step bumps (a CASE branch not taken is not evaluated).
  const top = q`coalesce(greatest((select max(seq) from status_pushes where order_id = ${p.orderId}),
                                  (select seq from channel_status_pushes where channel = ${p.channel} and order_id = ${p.orderId})), 0)`;
  const bump = typeof o.bump === 'boolean' ? q`${o.bump}` : o.bump;
  return q`numbered as (
             select case when ${bump} then greatest(${p.seq} + ${shift}, ${top} + 1) else ${p.seq} + ${shift} end as n),
           pushed as (
             insert into status_pushes (push_id, order_id, seq, channel, input)
             select ${p.orderId}::text || ':' || n, ${p.orderId}, n, ${p.channel}, jsonb_set(${q.json(p.input as never)}::jsonb, '{seq}', to_jsonb(n))
             from numbered where ${o.when ?? q`true`}
             on conflict (push_id) do update set channel = excluded.channel, input = excluded.input, attempts = 0,
               next_attempt_at = clock_timestamp(), last_error = null
             returning seq),
           shifted as (
             insert into status_push_shifts (order_id, shift) select ${p.orderId}, seq - ${p.seq} from pushed where seq - ${p.seq} > ${shift}
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
