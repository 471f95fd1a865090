/**
 * The order projection and timeline. Writes are guarded by the workflow's sequence number: a
 * late or repeated write (an activity retried after a newer one landed) never overwrites.
 */
import type { PendingQuery, Row, TransactionSql } from 'postgres';
import type { CanonicalOrder } from '../domain/order';
import type { MoneyFact } from '../domain/journal';
import type { OrderTaxQuote } from '../domain/tax';
import { bookOrHold } from './back-office-repo';
import type { Sql } from './client';
import type { Queryable } from './outbox-repo';
import { pushNumberCtes, pushQueueCtes, unheldPush, type StepPush } from './status-pushes-repo';
import type { StartKind } from './workflow-starts-repo';

/** The statuses an order workflow ends on: nothing it writes comes after them. */
const CLOSING = new Set(['REJECTED', 'CANCELLED', 'COMPLETED']);

export interface StatusWrite {
  orderId: string;
  seq: number;
  status: string;
  needsAttention: boolean;
  attentionReason: string | null;
  escalationLevel: number;
  detail: Record<string, unknown>;
  event: string;
  eventDetail: Record<string, unknown>;
  actor: string;
  at: string;
  /** The channel's status push, queued with the status (status_pushes) instead of sent by the workflow. */
  push?: { channel: string; input: unknown } | undefined;
  /** The order's shipments run inside its workflow (`orderWorkflowV3`): carrier events go to the order. */
  shipmentsInOrder?: true | undefined;
  /** Shipment rows changed by this step, written with it (shipments that run in the order's workflow). */
  shipments?: ShipmentRow[] | undefined;
  /** Money facts learned since the last step: their journal entries are written with it, once each. */
  money?: MoneyFact[] | undefined;
}

/** A shipment as the `shipments` table keeps it: what the carrier webhook route and reports read. */
export interface ShipmentRow {
  shipmentId: string;
  orderId: string;
  warehouseId: string;
  carrier?: string | undefined;
  bookingId?: string | undefined;
  trackingNumber?: string | undefined;
  status: string;
  statusRank: number;
  deliverBy?: string | undefined;
}

/**
 * Upserts a shipment's row; its status only moves forward, what it knew is kept. A status it had
 * not had before is a `shipment.status` event of the feed, written in the same statement.
 */
async function upsertShipment(sql: Sql | TransactionSql, s: ShipmentRow): Promise<void> {
  await sql`
    with before as (select status from shipments where shipment_id = ${s.shipmentId}),
    up as (
    insert into shipments (shipment_id, order_id, warehouse_id, carrier, booking_id, tracking_number, status, status_rank, deliver_by)
    values (${s.shipmentId}, ${s.orderId}, ${s.warehouseId}, ${s.carrier ?? null}, ${s.bookingId ?? null}, ${s.trackingNumber ?? null}, ${s.status}, ${s.statusRank}, ${s.deliverBy ?? null}::timestamptz)
    on conflict (shipment_id) do update set carrier = coalesce(excluded.carrier, shipments.carrier), deliver_by = coalesce(excluded.deliver_by, shipments.deliver_by),
      booking_id = coalesce(excluded.booking_id, shipments.booking_id), tracking_number = coalesce(excluded.tracking_number, shipments.tracking_number),
      status = case when excluded.status_rank >= shipments.status_rank then excluded.status else shipments.status end,
      status_rank = greatest(excluded.status_rank, shipments.status_rank), updated_at = now()
    returning *)
    insert into feed_events (order_id, type, subject, data)
    select up.order_id, 'shipment.status', up.shipment_id, jsonb_build_object('shipmentId', up.shipment_id, 'warehouseId', up.warehouse_id,
        'carrier', up.carrier, 'bookingId', up.booking_id, 'trackingNumber', up.tracking_number, 'status', up.status,
        'deliverBy', up.deliver_by)
    from up where up.status is distinct from (select status from before)`;
}

/** What the order detail keeps of a return (workflows/messages.ts ReturnView) that its feed events show. */
interface ReturnFeedState {
  returnId: string;
  status: string;
  lines: { lineNo: number; sku: string; quantity: number }[];
  trackingNumber?: string;
  refundDue?: string;
  refunded?: string;
  exchange?: { status: string };
}

/**
 * A return that is new, or whose status moved, with this step is a `return.status` event of the
 * feed (no reason text: people write it, and it may carry personal data).
 */
async function logReturns(tx: TransactionSql, orderId: string, before: ReturnFeedState[], after: ReturnFeedState[]): Promise<void> {
  const was = new Map(before.map((r) => [r.returnId, r.status]));
  const moved = after.filter((r) => was.get(r.returnId) !== r.status);
  if (!moved.length) return;
  await tx`insert into feed_events ${tx(
    moved.map((r) => ({
      order_id: orderId,
      type: 'return.status',
      subject: r.returnId,
      data: tx.json({
        returnId: r.returnId,
        status: r.status,
        lines: r.lines.map((l) => ({ lineNo: l.lineNo, sku: l.sku, quantity: l.quantity })),
        trackingNumber: r.trackingNumber ?? null,
        refundDue: r.refundDue ?? null,
        refunded: r.refunded ?? null,
        exchange: r.exchange?.status ?? null,
      }),
    })),
  )}`;
}

export interface OrderRow {
  orderId: string;
  channel: string;
  channelOrderId: string;
  customerId: string;
  status: string;
  seq: number;
  needsAttention: boolean;
  attentionReason: string | null;
  escalationLevel: number;
  currency: string;
  total: string;
  paymentMethod: string;
  placedAt: Date;
  createdAt: Date;
  updatedAt: Date;
  canonical: CanonicalOrder;
  detail: Record<string, unknown>;
  /** The tax quoted at intake; null for orders taken in before tax was quoted. */
  tax: OrderTaxQuote | null;
  /**
   * created_at to the microsecond: the paging key. A JS Date keeps only milliseconds, and
   * postgres.js turns a timestamptz parameter into a Date, so the key travels as text.
   */
  createdAtExact: string;
}

export interface TimelineEntry {
  seq: number;
  status: string;
  event: string;
  detail: Record<string, unknown>;
  actor: string;
  at: Date;
}

export interface OrderFilter {
  status?: string | undefined;
  channel?: string | undefined;
  customerId?: string | undefined;
  needsAttention?: boolean | undefined;
  from?: string | undefined;
  to?: string | undefined;
  /** Customer-service search. Phone and e-mail match the canonical order's customer, normalised in SQL (0006_search). */
  channelOrderId?: string | undefined;
  phone?: string | undefined;
  email?: string | undefined;
  after?: { createdAt: string; orderId: string } | undefined;
  limit: number;
}

const cols = (s: Sql) => s`order_id as "orderId", channel, channel_order_id as "channelOrderId", customer_id as "customerId", status, seq,
  needs_attention as "needsAttention", attention_reason as "attentionReason", escalation_level as "escalationLevel", currency,
  total::text as total, payment_method as "paymentMethod", placed_at as "placedAt", created_at as "createdAt", updated_at as "updatedAt", canonical, detail, tax,
  to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "createdAtExact"`;

export class OrdersRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Records an intake; `created` is false for a channel order seen before (even concurrently).
   * `alsoInTx` runs in the same transaction for a new order, or for one whose workflow has not
   * written its first step yet (its start may never have been asked for, by code before the outbox).
   */
  async recordIntake(
    orderId: string,
    order: CanonicalOrder,
    total: string,
    raw: unknown,
    /** The workflow to ask for with a new order (or one whose workflow has not written a step yet). */
    start?: { workflowId: string; kind: StartKind; taskQueue: string; input: unknown },
    /** The order's tax as quoted at intake (domain/tax.ts), kept with a new order. */
    tax?: OrderTaxQuote,
  ): Promise<{ created: boolean; status: string }> {
    // One statement, so one round trip and one commit: the order, its raw payload in the intake
    // log and the start request are written together or not at all. Its sub-selects read the
    // order as it was before the statement: for a new order nothing, for a repeat its status.
    const s = this.sql;
    const [row] = await s<{ created: boolean; status: string | null }[]>`
      with known as (select status, seq from orders where order_id = ${orderId}),
      inserted as (
        insert into orders (order_id, channel, channel_order_id, customer_id, status, currency, total, payment_method, placed_at, canonical, tax)
        values (${orderId}, ${order.channel}, ${order.channelOrderId}, ${order.customer.id}, 'RECEIVED', ${order.currency}, ${total},
                ${order.payment.method}, ${order.placedAt}, ${s.json(order)}, ${tax ? s.json(tax as never) : null})
        on conflict do nothing returning 1),
      logged as (
        insert into order_intake_log (order_id, channel, raw, duplicate)
        select ${orderId}, ${order.channel}, ${s.json(raw as never)}, not exists (select 1 from inserted)),
      started as (
        insert into workflow_starts (workflow_id, kind, task_queue, input)
        select ${start?.workflowId ?? ''}, ${start?.kind ?? 'order'}, ${start?.taskQueue ?? ''}, ${s.json((start?.input ?? null) as never)}
        where ${start !== undefined} and coalesce((select seq from known), 0) = 0
        on conflict (workflow_id) do nothing)
      select exists (select 1 from inserted) as created, (select status from known) as status`;
    return { created: row!.created, status: row!.created ? 'RECEIVED' : (row!.status ?? 'RECEIVED') };
  }

  /**
   * Applies a status change unless a newer one is stored; the timeline keeps every step once.
   *
   * The writes come from the order workflow's local activities, one after the other, and a local
   * activity runs before its workflow task is committed. When that task never commits (the worker
   * dies, the server loses an update it carried) the workflow goes on from its history and may
   * write a *different* step under the same seq. So a write replaces what an earlier one left at
   * its seq (a retry of the same step changes nothing), and a closing status (REJECTED, CANCELLED,
   * COMPLETED) also drops what such a lost task left beyond it: the workflow's own story wins.
   */
  /** `held`: the step's money facts could not be booked (the error); they wait for ops, the step is written. */
  async applyStatus(w: StatusWrite): Promise<{ applied: boolean; held?: string }> {
    const closing = CLOSING.has(w.status);
    const returns = (w.detail.returns as ReturnFeedState[] | undefined) ?? [];
    const push: StepPush | undefined = w.push && { orderId: w.orderId, seq: w.seq, channel: w.push.channel, input: w.push.input };
    // Most steps only write the timeline, queue the push and move the order: one statement, so one
    // round trip and its commit where the transaction below takes five. Its parts see the rows as
    // they were before it; the push and the move follow the step written (`written`), as below.
    // Not for a step the report triggers stamp (migration 0004): they read the step's time from
    // the timeline, which a trigger of the same statement is not sure to see.
    if (!closing && !w.shipmentsInOrder && !w.shipments?.length && !w.money?.length && !returns.length && !stampsReports(w)) {
      const s = this.sql;
      const [row] = await s<{ applied: boolean }[]>`
        with ${stepCtes(s, w, push, false)},
        moved as (update orders o set ${statusSet(s, w)} where o.order_id = ${w.orderId}
                  and (o.seq < ${w.seq} or (o.seq = ${w.seq} and exists (select 1 from written))) returning 1)
        select exists (select 1 from moved) as applied`;
      return { applied: row?.applied ?? false };
    }
    return this.sql.begin(async (tx) => {
      // What a lost task wrote beyond a closing step is not the order's story: off the timeline,
      // and off the queue unless a relay holds it (numbered above, then, by `stepCtes`).
      if (closing) {
        await tx`delete from order_timeline where order_id = ${w.orderId} and seq > ${w.seq}`;
        await tx`delete from status_pushes where order_id = ${w.orderId} and coalesce(step_seq, seq) > ${w.seq} and ${unheldPush(tx)}`;
      }
      const [step] = await tx<{ wrote: boolean }[]>`with ${stepCtes(tx, w, push, closing)} select exists (select 1 from written) as wrote`;
      const wrote = step?.wrote === true;
      if (w.shipmentsInOrder) await tx`update orders set shipments_in_order = true where order_id = ${w.orderId}`;
      for (const s of w.shipments ?? []) await upsertShipment(tx, s);
      // The journal, invoices and tax documents of the step's money facts; a defect there keeps
      // the facts aside for ops and never holds the order (back-office-repo.ts).
      const booked = w.money?.length ? await bookOrHold(tx, { orderId: w.orderId, seq: w.seq, at: w.at, facts: w.money }) : {};
      // A step that shows returns also reads them as they stood before (the subquery reads the row
      // before this update), for the return events; a step without any reads nothing more.
      const updated = await tx<{ returnsBefore: ReturnFeedState[] | null }[]>`
        update orders o set ${statusSet(tx, w)}
        ${returns.length ? tx`from (select detail -> 'returns' as returns from orders where order_id = ${w.orderId}) prev` : tx``}
        where o.order_id = ${w.orderId} and (o.seq < ${w.seq} or (o.seq = ${w.seq} and ${wrote}) or ${closing})
        returning ${returns.length ? tx`prev.returns` : tx`null::jsonb`} as "returnsBefore"`;
      if (updated[0] && returns.length) await logReturns(tx, w.orderId, updated[0].returnsBefore ?? [], returns);
      return { applied: updated.length > 0, ...booked };
    });
  }

  async get(orderId: string): Promise<OrderRow | undefined> {
    const [row] = await this.sql<OrderRow[]>`select ${cols(this.sql)} from orders where order_id = ${orderId}`;
    return row;
  }

  async timeline(orderId: string): Promise<TimelineEntry[]> {
    return this.sql<
      TimelineEntry[]
    >`select seq, status, event, detail, actor, at from order_timeline where order_id = ${orderId} order by seq`;
  }

  /** Newest first, keyset-paged on (created_at, order_id) so pages stay stable while orders arrive. */
  async list(f: OrderFilter): Promise<OrderRow[]> {
    const s = this.sql;
    return s<OrderRow[]>`select ${cols(s)} from orders where true
      ${f.status ? s`and status = ${f.status}` : s``}
      ${f.channel ? s`and channel = ${f.channel}` : s``}
      ${f.customerId ? s`and customer_id = ${f.customerId}` : s``}
      ${f.needsAttention !== undefined ? s`and needs_attention = ${f.needsAttention}` : s``}
      ${f.from ? s`and created_at >= ${f.from}` : s``}
      ${f.to ? s`and created_at < ${f.to}` : s``}
      ${f.channelOrderId ? s`and channel_order_id = ${f.channelOrderId}` : s``}
      ${f.phone ? s`and oms_phone_key(canonical -> 'customer' ->> 'phone') = oms_phone_key(${f.phone}::text)` : s``}
      ${f.email ? s`and oms_email_key(canonical -> 'customer' ->> 'email') = oms_email_key(${f.email}::text)` : s``}
      ${f.after ? s`and (created_at, order_id) < ((${f.after.createdAt}::text)::timestamptz, ${f.after.orderId})` : s``}
      order by created_at desc, order_id desc limit ${f.limit}`;
  }

  async countRecentByCustomer(customerId: string, sinceIso: string, excludeOrderId: string): Promise<number> {
    const [row] = await this.sql<{ n: number }[]>`
      select count(*)::int as n from orders where customer_id = ${customerId} and created_at >= ${sinceIso} and order_id <> ${excludeOrderId}`;
    return row?.n ?? 0;
  }

  async blocklistHits(order: CanonicalOrder): Promise<string[]> {
    const rows = await this.sql<{ kind: string; reason: string }[]>`
      select kind, reason from risk_blocklist where (kind = 'customer' and value = ${order.customer.id})
        or (kind = 'email' and value = ${order.customer.email?.toLowerCase() ?? ''})
        or (kind = 'phone' and value = ${order.customer.phone?.replace(/\s/g, '') ?? ''})`;
    return rows.map((r) => `blocklisted ${r.kind}: ${r.reason}`);
  }

  async upsertShipment(s: ShipmentRow): Promise<void> {
    await upsertShipment(this.sql, s);
  }

  async shipmentByBooking(carrier: string, bookingId: string): Promise<{ shipmentId: string; orderId: string } | undefined> {
    const [row] = await this.sql<{ shipmentId: string; orderId: string }[]>`
      select shipment_id as "shipmentId", order_id as "orderId" from shipments where carrier = ${carrier} and booking_id = ${bookingId}`;
    return row;
  }

  /**
   * The shipment whose booking has this tracking number at this carrier. Carriers' webhooks name
   * the parcel by its tracking code (GHN OrderCode, VTP ORDER_NUMBER), not by our booking id.
   * The newest wins should a carrier ever reuse a code.
   */
  async shipmentByTracking(
    carrier: string,
    trackingNumber: string,
  ): Promise<{ shipmentId: string; orderId: string; bookingId: string | null } | undefined> {
    const [row] = await this.sql<{ shipmentId: string; orderId: string; bookingId: string | null }[]>`
      select shipment_id as "shipmentId", order_id as "orderId", booking_id as "bookingId" from shipments
      where carrier = ${carrier} and tracking_number = ${trackingNumber} order by updated_at desc limit 1`;
    return row;
  }

  /**
   * The workflow a carrier event for this shipment goes to: its order's, when the order's shipments
   * run inside it (`orderWorkflowV3`), else the shipment's own (orders taken in before).
   */
  async shipmentWorkflow(shipmentId: string, orderId?: string): Promise<{ workflowId: string; inOrder: boolean }> {
    // Only shipments run inside their order; a return parcel is a workflow of its own.
    if (!/-shipment-\d+$/.test(shipmentId)) return { workflowId: shipmentId, inOrder: false };
    const owner = orderId ?? shipmentId.replace(/-shipment-\d+$/, '');
    const [row] = await this.sql<{ inOrder: boolean }[]>`select shipments_in_order as "inOrder" from orders where order_id = ${owner}`;
    return row?.inOrder ? { workflowId: owner, inOrder: true } : { workflowId: shipmentId, inOrder: false };
  }

  /** True when this carrier event was applied before (its row is written only after the signal went through). */
  async carrierEventSeen(carrier: string, eventId: string): Promise<boolean> {
    return (await this.sql`select 1 from carrier_events where carrier = ${carrier} and event_id = ${eventId}`).length > 0;
  }

  /**
   * Records a carrier event once its effect (the signal to the shipment) has happened; false when
   * a concurrent delivery of the same event recorded it first. Written after the effect, never
   * before: a crash in between leaves no row, so the carrier's retry is applied, not swallowed.
   * `bookingId` is the carrier's code for the parcel as the webhook named it (its tracking code).
   */
  async recordCarrierEvent(carrier: string, eventId: string, bookingId: string, status: string): Promise<boolean> {
    const rows = await this
      .sql`insert into carrier_events (carrier, event_id, booking_id, status) values (${carrier}, ${eventId}, ${bookingId}, ${status})
                                on conflict do nothing returning 1`;
    return rows.length > 0;
  }
}

/**
 * The step's write to the timeline and, when it has a push, the push queued with it, as CTEs of
 * one statement; `written` has a row when the step was written.
 *
 * A step is written once per (order, seq): the same step again (a retried local activity)
 * changes nothing, another step under that seq replaces it (see `applyStatus`) and is numbered
 * anew for the event feed. Its push is queued when it is written, numbered above what the channel
 * heard when it replaces a step or closes the order (`pushNumberCtes`). The same step again is
 * pushed again only when the shift grew since it was pushed (migration 0030).
 */
function stepCtes(q: Queryable, w: StatusWrite, push: StepPush | undefined, closing: boolean) {
  if (!push) return q`written as (${timelineUpsert(q, w, q`0`)})`;
  const differs = q`(status, event) is distinct from (${w.status}::text, ${w.event}::text)`;
  return q`prior as (select status, event, push_shift from order_timeline where order_id = ${w.orderId} and seq = ${w.seq}),
           ${pushNumberCtes(q, push, {
             bump: closing ? q`true` : q`exists (select 1 from prior where ${differs})`,
             needed: q`not exists (select 1 from prior where not ${differs} and push_shift >= s)`,
           })},
           written as (${timelineUpsert(q, w, q`coalesce((select n from numbered), ${w.seq}) - ${w.seq}`)}),
           ${pushQueueCtes(q, push, q`exists (select 1 from written)`)}`;
}

/**
 * A step into the timeline: inserted, or replacing another step under its seq (then renumbered
 * for the event feed), or — the same step — only marked as pushed under a greater `pushShift`.
 */
function timelineUpsert(q: Queryable, w: StatusWrite, pushShift: PendingQuery<Row[]>) {
  const differs = q`(order_timeline.status, order_timeline.event) is distinct from (excluded.status, excluded.event)`;
  const ifDiffers = (column: string, value: PendingQuery<Row[]>) =>
    q`${q(column)} = case when ${differs} then ${value} else ${q('order_timeline.' + column)} end`;
  return q`insert into order_timeline (order_id, seq, status, event, detail, actor, at, push_shift)
           values (${w.orderId}, ${w.seq}, ${w.status}, ${w.event}, ${q.json(w.eventDetail as never)}, ${w.actor}, ${w.at}, ${pushShift})
           on conflict (order_id, seq) do update set status = excluded.status, event = excluded.event,
             ${ifDiffers('detail', q`excluded.detail`)}, ${ifDiffers('actor', q`excluded.actor`)}, ${ifDiffers('at', q`excluded.at`)},
             ${ifDiffers('feed_id', q`nextval('order_timeline_feed_seq')`)}, ${ifDiffers('feed_tx', q`pg_current_xact_id()`)},
             ${ifDiffers('feed_final', q`false`)}, push_shift = excluded.push_shift
           where ${differs} or order_timeline.push_shift < excluded.push_shift
           returning 1`;
}

/** What a step sets on the order's row (`update orders o set …`). */
function statusSet(q: Queryable, w: StatusWrite) {
  return q`status = ${w.status}, seq = ${w.seq}, needs_attention = ${w.needsAttention}, attention_reason = ${w.attentionReason},
           escalation_level = ${w.escalationLevel}, detail = ${q.json(w.detail as never)}, updated_at = now()`;
}

/** Order statuses and shipment statuses the report triggers stamp with the step's timeline time (migration 0004). */
const REPORT_STATUSES = new Set(['SHIPPED', 'DELIVERED', 'CANCELLED', 'RETURN_REQUESTED', 'RETURNED', 'REFUNDED']);
const HANDED_OVER = new Set(['picked_up', 'in_transit', 'delivery_failed', 'returned_to_sender', 'delivered']);

/** Whether a report trigger may read this step's time from the timeline as it is written. */
function stampsReports(w: StatusWrite): boolean {
  const shipments = w.detail.shipments;
  return (
    REPORT_STATUSES.has(w.status) ||
    (Array.isArray(shipments) && shipments.some((x: { status?: unknown }) => HANDED_OVER.has(String(x?.status))))
  );
}
