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
 * Queues the push of an order's status `seq` when `when` holds (a condition on the statement it is
 * part of; always, by default); a step written again under that seq replaces it (orders-repo.ts).
 */
export function enqueuePush(
  q: Queryable,
  p: { orderId: string; seq: number; channel: string; input: unknown },
  when: PendingQuery<Row[]> = q`true`,
): PendingQuery<Row[]> {
  return q`insert into status_pushes (push_id, order_id, seq, channel, input)
          select ${`${p.orderId}:${p.seq}`}, ${p.orderId}, ${p.seq}, ${p.channel}, ${q.json(p.input as never)} where ${when}
          on conflict (push_id) do update set channel = excluded.channel, input = excluded.input, attempts = 0,
            next_attempt_at = clock_timestamp(), last_error = null`;
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
