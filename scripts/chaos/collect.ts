/**
 * Gathers the facts the invariant checker judges: the order projection, stock, reservations,
 * adjustments, refund instructions and channel pushes from PostgreSQL; payments, bookings, pick
 * orders and channel ledgers from the sandbox's control routes; every workflow's execution status
 * from Temporal's visibility.
 */
import { Client, Connection } from '@temporalio/client';
import type { Sql } from '../../db/client';
import type {
  AdjustmentFacts,
  BookingFacts,
  OrderFacts,
  PaymentEntry,
  PickFacts,
  ReservationFacts,
  RunFacts,
  StockFacts,
} from './invariants';
import { http } from './workload';

interface DetailJson {
  cancelledLines?: { lineNo: number; quantity: number }[];
  shipments?: {
    shipmentId: string;
    warehouseId: string;
    status: string;
    bookingId?: string;
    carrier?: string;
    lines?: { lineNo: number; sku: string; quantity: number }[];
  }[];
  payment?: { captures?: { shipmentId: string; captureId: string; amount: string }[] };
  returns?: { returnId: string; status: string; refunded?: string; lines?: { lineNo: number; sku: string; quantity: number }[] }[];
}

async function sandboxJson<T>(sandboxUrl: string, path: string): Promise<T> {
  const a = await http(`${sandboxUrl}${path}`, { timeoutMs: 120_000 });
  if (a.status !== 200) throw new Error(`GET ${path} → ${a.status}: ${JSON.stringify(a.body).slice(0, 300)}`);
  return a.body as T;
}

/** Stock as it stands (the seed snapshot before the run, the final state after it). */
export async function readStock(sql: Sql): Promise<StockFacts[]> {
  const rows = await sql<
    { sku: string; warehouse_id: string; on_hand: number; reserved: number }[]
  >`select sku, warehouse_id, on_hand, reserved from stock order by sku, warehouse_id`;
  return rows.map((r) => ({ sku: r.sku, warehouseId: r.warehouse_id, onHand: r.on_hand, reserved: r.reserved }));
}

/** Every workflow the namespace has, with its execution status. */
export async function listWorkflows(address: string, namespace: string): Promise<{ workflowId: string; type: string; status: string }[]> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace });
    const out: { workflowId: string; type: string; status: string }[] = [];
    for await (const w of client.workflow.list()) out.push({ workflowId: w.workflowId, type: w.type, status: w.status.name });
    return out;
  } finally {
    await connection.close();
  }
}

export interface CollectInput {
  sql: Sql;
  sandboxUrl: string;
  temporalAddress: string;
  accepted: string[];
  seedStock: StockFacts[];
  /** Adjustments up to this id were there before the run (none normally). */
  adjustmentsAfterId: number;
}

export async function collectFacts(i: CollectInput): Promise<RunFacts> {
  const { sql } = i;
  const orderRows = await sql<
    {
      order_id: string;
      channel: string;
      channel_order_id: string;
      status: string;
      seq: number;
      needs_attention: boolean;
      attention_reason: string | null;
      payment_method: 'prepaid' | 'cod';
      total: string;
      lines: { sku: string; quantity: number }[];
      detail: DetailJson;
    }[]
  >`select order_id, channel, channel_order_id, status, seq, needs_attention, attention_reason, payment_method, total::text as total,
              canonical -> 'lines' as lines, detail from orders order by order_id`;
  const orders: OrderFacts[] = orderRows.map((r) => ({
    orderId: r.order_id,
    channel: r.channel,
    channelOrderId: r.channel_order_id,
    status: r.status,
    seq: r.seq,
    needsAttention: r.needs_attention,
    attentionReason: r.attention_reason,
    paymentMethod: r.payment_method,
    total: r.total,
    lines: r.lines.map((l, idx) => ({ lineNo: idx + 1, sku: l.sku, quantity: l.quantity })),
    cancelledLines: r.detail.cancelledLines ?? [],
    shipments: (r.detail.shipments ?? []).map((s) => ({
      shipmentId: s.shipmentId,
      warehouseId: s.warehouseId,
      status: s.status,
      bookingId: s.bookingId,
      carrier: s.carrier,
      lines: s.lines ?? [],
    })),
    captures: r.detail.payment?.captures ?? [],
    returns: (r.detail.returns ?? []).map((x) => ({ returnId: x.returnId, status: x.status, refunded: x.refunded, lines: x.lines ?? [] })),
  }));
  const stock = await readStock(sql);
  const adjustments: AdjustmentFacts[] = (
    await sql<{ sku: string; warehouse_id: string; on_hand_before: number; on_hand_after: number; ref: string | null }[]>`
    select sku, warehouse_id, on_hand_before, on_hand_after, ref from stock_adjustments where id > ${i.adjustmentsAfterId} order by id`
  ).map((a) => ({ sku: a.sku, warehouseId: a.warehouse_id, before: a.on_hand_before, after: a.on_hand_after, ref: a.ref }));
  const reservations: ReservationFacts[] = (
    await sql<
      {
        order_id: string;
        line_no: number;
        warehouse_id: string;
        sku: string;
        quantity: number;
        state: 'reserved' | 'released' | 'committed';
      }[]
    >`
    select order_id, line_no, warehouse_id, sku, quantity, state from reservations`
  ).map((r) => ({ key: r.order_id, lineNo: r.line_no, warehouseId: r.warehouse_id, sku: r.sku, quantity: r.quantity, state: r.state }));
  const refundInstructions = (
    await sql<
      { return_id: string; order_id: string; amount: string }[]
    >`select return_id, order_id, amount::text as amount from refund_instructions`
  ).map((r) => ({ returnId: r.return_id, orderId: r.order_id, amount: r.amount }));
  const omsPushes = (
    await sql<
      { channel: string; order_id: string; seq: number; status: string; shift: number }[]
    >`select channel, order_id, seq, status, coalesce(s.shift, 0) as shift from channel_status_pushes left join status_push_shifts s using (order_id)`
  ).map((p) => ({ channel: p.channel, orderId: p.order_id, seq: p.seq, status: p.status, shift: p.shift }));

  const payments = (await sandboxJson<{ entries: PaymentEntry[] }>(i.sandboxUrl, '/sandbox/ledger/payments')).entries;
  const carriers = await sandboxJson<{ bookings: BookingFacts[]; forgotten?: BookingFacts[] }>(i.sandboxUrl, '/sandbox/ledger/carriers');
  const bookings: BookingFacts[] = [
    ...carriers.bookings.map((b) => ({
      bookingId: b.bookingId,
      carrier: b.carrier,
      kind: b.kind,
      orderId: b.orderId,
      shipmentId: b.shipmentId,
      returnId: b.returnId,
      status: b.status,
    })),
    ...(carriers.forgotten ?? []).map((b) => ({
      bookingId: b.bookingId,
      carrier: b.carrier,
      kind: b.kind,
      orderId: b.orderId,
      shipmentId: b.shipmentId,
      returnId: b.returnId,
      status: b.status,
      forgotten: true,
    })),
  ];
  const picks: PickFacts[] = (await sandboxJson<{ pickOrders: PickFacts[] }>(i.sandboxUrl, '/sandbox/ledger/wms')).pickOrders.map((p) => ({
    pickOrderId: p.pickOrderId,
    orderId: p.orderId,
    shipmentId: p.shipmentId,
    status: p.status,
  }));
  const ch = await sandboxJson<{
    latest: Record<string, { status: string; seq: number; channel: string }>;
    orders: Record<string, { channel: string; status: string }>;
    calls: { channel: string; channelOrderId: string; action: string; status: string }[];
  }>(i.sandboxUrl, '/sandbox/ledger/channels');
  const workflows = await listWorkflows(i.temporalAddress, 'default');
  return {
    accepted: i.accepted,
    orders,
    seedStock: i.seedStock,
    stock,
    adjustments,
    reservations,
    payments,
    refundInstructions,
    bookings,
    picks,
    channels: {
      omsPushes,
      feedLatest: ch.latest,
      platformOrders: Object.entries(ch.orders).map(([channelOrderId, o]) => ({ channel: o.channel, channelOrderId, status: o.status })),
      calls: ch.calls.map((c) => ({ channel: c.channel, channelOrderId: c.channelOrderId, action: c.action, status: c.status })),
    },
    workflows,
  };
}

/** Why an order did not finish: what its workflow is doing, as Temporal says it. */
export interface StuckOrder {
  orderId: string;
  status: string;
  why: string;
}

/**
 * Describes unfinished orders: a failing workflow task, pending activities, or plain waiting — and
 * for a shipment waiting on its carrier, what the carrier's ledger says (status, webhooks sent).
 */
export async function diagnose(client: Client, sql: Sql, sandboxUrl: string, orderIds: string[]): Promise<StuckOrder[]> {
  const out: StuckOrder[] = [];
  for (const orderId of orderIds) {
    try {
      const [row] = await sql<{ status: string; shipments: { shipmentId: string; status: string; bookingId?: string }[] | null }[]>`
        select status, detail -> 'shipments' as shipments from orders where order_id = ${orderId}`;
      const ledger = (await http(`${sandboxUrl}/sandbox/ledger/carriers?orderId=${encodeURIComponent(orderId)}`, { timeoutMs: 10_000 }))
        .body as
        | {
            bookings?: { bookingId: string; status: string }[];
            webhooks?: { bookingId: string; status: string; attempt: number; responseStatus: number | null }[];
          }
        | undefined;
      const carrierSide = (row?.shipments ?? [])
        .filter((s) => s.bookingId && !['delivered', 'cancelled'].includes(s.status))
        .map((s) => {
          const b = ledger?.bookings?.find((x) => x.bookingId === s.bookingId);
          const hooks = (ledger?.webhooks ?? []).filter((w) => w.bookingId === s.bookingId);
          const unanswered = hooks.filter((w) => w.responseStatus === null || w.responseStatus >= 300);
          const lastOk = hooks.filter((w) => w.responseStatus !== null && w.responseStatus < 300).pop();
          return (
            `${s.shipmentId} is ${s.status} here, ${b?.status ?? 'unknown'} at the carrier; ${hooks.length} webhook attempts, ${unanswered.length} not answered 2xx` +
            `${lastOk ? `, last one delivered: ${lastOk.status}` : ', none delivered'}`
          );
        });
      const handle = client.workflow.getHandle(orderId);
      const d = await handle.describe();
      const pending = d.raw.pendingActivities ?? [];
      const history = await handle.fetchHistory();
      const events = history.events ?? [];
      const last = events[events.length - 1];
      const failedTask = [...events].reverse().find((e) => e.workflowTaskFailedEventAttributes);
      const lastFailedIsLatest = failedTask !== undefined && events.indexOf(failedTask) >= events.length - 3;
      const why = lastFailedIsLatest
        ? `workflow task failing: ${failedTask.workflowTaskFailedEventAttributes?.failure?.message ?? '?'}`.slice(0, 400)
        : pending.length
          ? `pending activities: ${pending.map((a) => `${a.activityType?.name ?? '?'} (attempt ${a.attempt ?? 0}${a.lastFailure?.message ? `, last failure: ${a.lastFailure.message}` : ''})`).join('; ')}`.slice(
              0,
              400,
            )
          : `waiting; last event #${last?.eventId?.toString() ?? '?'} ${eventName(last)} (the workflow's current details: ${(await handle.query<{ waitingFor?: string }>('orderState').catch(() => undefined))?.waitingFor ?? '?'})`;
      out.push({ orderId, status: `${d.status.name}, order ${row?.status ?? '?'}`, why: [why, ...carrierSide].join('; ') });
    } catch (err) {
      out.push({ orderId, status: '?', why: `could not describe: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  return out;
}

/** "workflowTaskCompleted" for an event carrying workflowTaskCompletedEventAttributes. */
function eventName(e: object | undefined): string {
  const key = e ? Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]) : undefined;
  return key?.replace(/EventAttributes$/, '') ?? '?';
}
