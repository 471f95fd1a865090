/**
 * Stock, reservations and warehouse load. PostgreSQL is the lock: each reservation is one
 * conditional update per (sku, warehouse) inside one transaction, and the CHECK constraints
 * refuse anything that would over-reserve even if this code were wrong.
 */
import type { Allocation, WarehouseStock } from '../domain/allocation';
import type { TransactionSql } from 'postgres';
import type { Sql } from './client';

/** Another order took the stock or the capacity between planning and reserving. */
export class LostRaceError extends Error {
  override name = 'LostRaceError';
}

export interface StockRow {
  sku: string;
  warehouseId: string;
  onHand: number;
  reserved: number;
  safetyStock: number;
  atp: number;
  updatedAt: Date;
}

export class InventoryRepo {
  constructor(private readonly sql: Sql) {}

  /** Every active warehouse with its capacity left on `day` and ATP for `skus`. */
  async loadNetwork(skus: string[], day: string): Promise<WarehouseStock[]> {
    const rows = await this.sql<
      {
        id: string;
        lat: number;
        lng: number;
        regions_served: string[];
        active: boolean;
        capacity_left: number;
        sku: string | null;
        atp: number | null;
      }[]
    >`
      select w.id, w.lat, w.lng, w.regions_served, w.active,
             w.daily_capacity - coalesce(l.orders, 0) as capacity_left,
             s.sku, greatest(s.on_hand - s.reserved - s.safety_stock, 0) as atp
      from warehouses w
      left join warehouse_load l on l.warehouse_id = w.id and l.day = ${day}
      left join stock s on s.warehouse_id = w.id and s.sku = any(${skus})
      where w.active`;
    const byId = new Map<string, WarehouseStock>();
    for (const r of rows) {
      let w = byId.get(r.id);
      if (!w) {
        w = { id: r.id, lat: r.lat, lng: r.lng, regionsServed: r.regions_served, active: r.active, capacityLeft: r.capacity_left, atp: {} };
        byId.set(r.id, w);
      }
      if (r.sku) w.atp[r.sku] = r.atp ?? 0;
    }
    return [...byId.values()];
  }

  async reservationsOf(orderId: string, states: string[] = ['reserved', 'committed']): Promise<Allocation[]> {
    const rows = await this.sql<{ line_no: number; sku: string; warehouse_id: string; quantity: number }[]>`
      select line_no, sku, warehouse_id, quantity from reservations
      where order_id = ${orderId} and state = any(${states}) order by line_no, warehouse_id`;
    return rows.map((r) => ({ lineNo: r.line_no, sku: r.sku, warehouseId: r.warehouse_id, quantity: r.quantity }));
  }

  /**
   * Reserves a plan all-or-nothing. Idempotent per order: if the order already holds
   * reservations they are returned and nothing is reserved again.
   */
  async reserve(orderId: string, allocations: Allocation[], day: string): Promise<{ allocations: Allocation[]; reused: boolean }> {
    return this.sql.begin(async (tx) => {
      // Two runs of the same activity for one order queue here instead of both reserving.
      await tx`select pg_advisory_xact_lock(hashtext(${orderId}))`;
      const existing = await tx<{ line_no: number; sku: string; warehouse_id: string; quantity: number }[]>`
        select line_no, sku, warehouse_id, quantity from reservations where order_id = ${orderId} and state in ('reserved', 'committed')`;
      if (existing.length > 0) {
        return {
          allocations: existing.map((r) => ({ lineNo: r.line_no, sku: r.sku, warehouseId: r.warehouse_id, quantity: r.quantity })),
          reused: true,
        };
      }
      // Lock rows in one global order so concurrent reservations never deadlock.
      const sorted = [...allocations].sort(
        (a, b) => a.sku.localeCompare(b.sku) || a.warehouseId.localeCompare(b.warehouseId) || a.lineNo - b.lineNo,
      );
      for (const a of sorted) {
        const updated = await tx`
          update stock set reserved = reserved + ${a.quantity}, updated_at = now()
          where sku = ${a.sku} and warehouse_id = ${a.warehouseId} and on_hand - reserved - safety_stock >= ${a.quantity}
          returning 1`;
        if (updated.length === 0) throw new LostRaceError(`${a.sku}@${a.warehouseId}`);
        // Over a row released before (a lost task's reservation, undone by undoLostCuts): reserved again.
        const row = await tx`insert into reservations (order_id, line_no, warehouse_id, sku, quantity)
                 values (${orderId}, ${a.lineNo}, ${a.warehouseId}, ${a.sku}, ${a.quantity})
                 on conflict (order_id, line_no, warehouse_id) do update
                 set sku = excluded.sku, quantity = excluded.quantity, state = 'reserved', updated_at = now()
                 where reservations.state = 'released'
                 returning 1`;
        // A live row is returned above, before anything is reserved; one here would leave units reserved for no row.
        if (row.length === 0) throw new Error(`reservation ${orderId}/${a.lineNo}@${a.warehouseId} is live already`);
      }
      // One place of the day's capacity per warehouse, once per order: a run reserving again after
      // a lost workflow task takes none more.
      for (const wh of [...new Set(sorted.map((a) => a.warehouseId))].sort()) {
        const [load] = await tx<{ counted: boolean; took: boolean }[]>`
          with counted as (
            insert into warehouse_load_orders (warehouse_id, day, order_id) values (${wh}, ${day}, ${orderId})
            on conflict do nothing returning 1),
          took as (
            insert into warehouse_load as l (warehouse_id, day, orders) select ${wh}, ${day}, 1 from counted
            on conflict (warehouse_id, day) do update set orders = l.orders + 1
            where l.orders < (select daily_capacity from warehouses where id = ${wh})
            returning 1)
          select exists (select 1 from counted) as counted, exists (select 1 from took) as took`;
        if (load?.counted && !load.took) throw new LostRaceError(`capacity@${wh}`);
      }
      await tx`delete from backorders where order_id = ${orderId}`;
      await logReservation(tx, orderId, 'stock.reserved', allocations);
      return { allocations, reused: false };
    });
  }

  /** Gives reserved units back (cancel, expiry). Idempotent: released rows are not released again. */
  async release(orderId: string, warehouseId?: string): Promise<number> {
    const rows = await this.sql<{ released: string | null }[]>`
      with r as (
        update reservations set state = 'released', updated_at = now()
        where order_id = ${orderId} and state = 'reserved' ${warehouseId ? this.sql`and warehouse_id = ${warehouseId}` : this.sql``}
        returning line_no, sku, warehouse_id, quantity
      ), logged as (${reservationEvent(this.sql, orderId, 'stock.released')}), agg as (select sku, warehouse_id, sum(quantity)::int as q from r group by sku, warehouse_id),
      upd as (update stock s set reserved = s.reserved - agg.q, updated_at = now() from agg
              where s.sku = agg.sku and s.warehouse_id = agg.warehouse_id returning agg.q)
      select sum(q)::text as released from upd`;
    return Number(rows[0]?.released ?? 0);
  }

  /**
   * Cuts made before shipping (`<order>:cut-N`, a partial cancellation giving back reserved units)
   * that a run asking to reserve does not know: a workflow task that reserved and then cut was lost,
   * and its run reserves again. Undone: the order's reserved units go back to stock and those refs
   * are forgotten, so the run reserves its lines afresh and the cancellation, when the run meets it
   * again, gives its units back again. The number of cuts undone.
   */
  async undoLostCuts(orderId: string): Promise<number> {
    const prefix = `${orderId}:cut-`;
    // Almost every reservation finds none: one round trip, and the transaction only when there are some.
    const [any] = await this.sql<{ found: boolean }[]>`
      select exists (select 1 from reservation_cuts where order_id = ${orderId} and starts_with(ref, ${prefix})) as found`;
    if (!any?.found) return 0;
    return this.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext(${orderId}))`;
      const refs = await tx`delete from reservation_cuts where order_id = ${orderId} and starts_with(ref, ${prefix}) returning ref`;
      if (refs.length) await new InventoryRepo(tx as unknown as Sql).release(orderId);
      return refs.length;
    });
  }

  /**
   * Gives back some units of some lines (a partial cancellation), once per `ref`: a retried call
   * finds its ref and changes nothing. A line cut to zero units is released outright.
   */
  async releaseUnits(input: {
    orderId: string;
    warehouseId: string;
    lines: { lineNo: number; quantity: number }[];
    ref: string;
  }): Promise<{ released: number; applied: boolean }> {
    return this.sql.begin(async (tx) => {
      const claimed = await tx`insert into reservation_cuts (ref, order_id, units) values (${input.ref}, ${input.orderId}, 0)
                               on conflict (ref) do nothing returning ref`;
      if (!claimed.length) return { released: 0, applied: false };
      let released = 0;
      const cuts: Allocation[] = [];
      for (const l of input.lines) {
        const rows = await tx<{ sku: string; cut: number }[]>`
          update reservations r set
            quantity = case when r.quantity > ${l.quantity} then r.quantity - ${l.quantity} else r.quantity end,
            state = case when r.quantity > ${l.quantity} then r.state else 'released' end,
            updated_at = now()
          from (select quantity as before from reservations
                where order_id = ${input.orderId} and line_no = ${l.lineNo} and warehouse_id = ${input.warehouseId} and state = 'reserved' for update) b
          where r.order_id = ${input.orderId} and r.line_no = ${l.lineNo} and r.warehouse_id = ${input.warehouseId} and r.state = 'reserved'
          returning r.sku, least(b.before, ${l.quantity})::int as cut`;
        const row = rows[0];
        if (!row) continue;
        await tx`update stock set reserved = reserved - ${row.cut}, updated_at = now() where sku = ${row.sku} and warehouse_id = ${input.warehouseId}`;
        released += row.cut;
        cuts.push({ lineNo: l.lineNo, sku: row.sku, warehouseId: input.warehouseId, quantity: row.cut });
      }
      await tx`update reservation_cuts set units = ${released} where ref = ${input.ref}`;
      await logReservation(tx, input.orderId, 'stock.released', cuts);
      return { released, applied: true };
    });
  }

  /** Handover: the units leave the building; on hand and reserved both drop. Idempotent. */
  async commit(orderId: string, warehouseId: string): Promise<number> {
    const rows = await this.sql<{ committed: string | null }[]>`
      with r as (
        update reservations set state = 'committed', updated_at = now()
        where order_id = ${orderId} and warehouse_id = ${warehouseId} and state = 'reserved'
        returning line_no, sku, warehouse_id, quantity
      ), logged as (${reservationEvent(this.sql, orderId, 'stock.committed')}), agg as (select sku, warehouse_id, sum(quantity)::int as q from r group by sku, warehouse_id),
      upd as (update stock s set on_hand = s.on_hand - agg.q, reserved = s.reserved - agg.q, updated_at = now() from agg
              where s.sku = agg.sku and s.warehouse_id = agg.warehouse_id returning agg.q)
      select sum(q)::text as committed from upd`;
    return Number(rows[0]?.committed ?? 0);
  }

  /** Sets on hand with a reason; refuses to drop below what is reserved. */
  async setOnHand(input: {
    sku: string;
    warehouseId: string;
    onHand: number;
    safetyStock?: number | undefined;
    reason: string;
    actor: string;
  }): Promise<{ before: number; after: number; row: StockRow }> {
    return this.sql.begin(async (tx) => {
      await tx`insert into stock (sku, warehouse_id) values (${input.sku}, ${input.warehouseId}) on conflict do nothing`;
      const [current] = await tx<{ on_hand: number; reserved: number }[]>`
        select on_hand, reserved from stock where sku = ${input.sku} and warehouse_id = ${input.warehouseId} for update`;
      if (input.onHand < current!.reserved) {
        throw new StockConflictError(`on hand ${input.onHand} would be below the ${current!.reserved} units reserved for orders`);
      }
      await tx`update stock set on_hand = ${input.onHand}, safety_stock = coalesce(${input.safetyStock ?? null}, safety_stock), updated_at = now()
               where sku = ${input.sku} and warehouse_id = ${input.warehouseId}`;
      await tx`insert into stock_adjustments (sku, warehouse_id, on_hand_before, on_hand_after, reason, actor)
               values (${input.sku}, ${input.warehouseId}, ${current!.on_hand}, ${input.onHand}, ${input.reason}, ${input.actor})`;
      const [row] = await tx<StockRow[]>`${stockSelect(tx)} where s.sku = ${input.sku} and s.warehouse_id = ${input.warehouseId}`;
      return { before: current!.on_hand, after: input.onHand, row: row! };
    });
  }

  /** Puts returned units back on hand, once per `ref` (return + line) however often it is called. */
  async restock(input: {
    sku: string;
    warehouseId: string;
    quantity: number;
    ref: string;
    reason: string;
    actor: string;
  }): Promise<{ applied: boolean }> {
    return this.sql.begin(async (tx) => {
      await tx`insert into stock (sku, warehouse_id) values (${input.sku}, ${input.warehouseId}) on conflict do nothing`;
      const [current] = await tx<
        { on_hand: number }[]
      >`select on_hand from stock where sku = ${input.sku} and warehouse_id = ${input.warehouseId} for update`;
      const logged = await tx`insert into stock_adjustments (sku, warehouse_id, on_hand_before, on_hand_after, reason, actor, ref)
        values (${input.sku}, ${input.warehouseId}, ${current!.on_hand}, ${current!.on_hand + input.quantity}, ${input.reason}, ${input.actor}, ${input.ref})
        on conflict (ref) where ref is not null do nothing returning 1`;
      if (logged.length === 0) return { applied: false };
      await tx`update stock set on_hand = on_hand + ${input.quantity}, updated_at = now() where sku = ${input.sku} and warehouse_id = ${input.warehouseId}`;
      return { applied: true };
    });
  }

  async stockOf(sku: string): Promise<StockRow[]> {
    return this.sql<StockRow[]>`${stockSelect(this.sql)} where s.sku = ${sku} order by s.warehouse_id`;
  }

  async listStock(filter: {
    sku?: string | undefined;
    warehouseId?: string | undefined;
    after?: { sku: string; warehouseId: string } | undefined;
    limit: number;
  }): Promise<StockRow[]> {
    const s = this.sql;
    return s<StockRow[]>`${stockSelect(s)}
      where true ${filter.sku ? s`and s.sku = ${filter.sku}` : s``} ${filter.warehouseId ? s`and s.warehouse_id = ${filter.warehouseId}` : s``}
      ${filter.after ? s`and (s.sku, s.warehouse_id) > (${filter.after.sku}, ${filter.after.warehouseId})` : s``}
      order by s.sku, s.warehouse_id limit ${filter.limit}`;
  }

  /** Orders waiting for `sku`, oldest first: a restock wakes them in arrival order. */
  async backordersFor(sku: string): Promise<string[]> {
    const rows = await this.sql<{ order_id: string }[]>`select order_id from backorders where sku = ${sku} order by created_at, order_id`;
    return rows.map((r) => r.order_id);
  }

  async recordBackorder(orderId: string, shortages: { sku: string; requested: number }[]): Promise<void> {
    for (const s of shortages) {
      await this.sql`insert into backorders (order_id, sku, quantity) values (${orderId}, ${s.sku}, ${s.requested})
                     on conflict (order_id, sku) do update set quantity = excluded.quantity`;
    }
  }

  async clearBackorder(orderId: string): Promise<void> {
    await this.sql`delete from backorders where order_id = ${orderId}`;
  }

  /** Whether the product and (when given) the warehouse exist: an unknown one is a 404, not an empty answer. */
  async known(sku: string, warehouseId?: string): Promise<{ product: boolean; warehouse: boolean }> {
    const [r] = await this.sql<{ product: boolean; warehouse: boolean }[]>`
      select exists (select 1 from products where sku = ${sku}) as product,
             ${warehouseId ? this.sql`exists (select 1 from warehouses where id = ${warehouseId})` : this.sql`true`} as warehouse`;
    return r!;
  }

  /**
   * On-hand changes of a SKU (manual sets, return restocks), newest first, keyset-paged on
   * (created_at, id). Reservations, releases and handovers are not adjustments: they move stock
   * for an order and are traced through the order's reservations.
   */
  async adjustments(f: {
    sku: string;
    warehouseId?: string | undefined;
    after?: { createdAt: string; id: string } | undefined;
    limit: number;
  }): Promise<StockAdjustment[]> {
    const s = this.sql;
    return s<StockAdjustment[]>`
      select id::text as id, sku, warehouse_id as "warehouseId", on_hand_before as "onHandBefore", on_hand_after as "onHandAfter",
             reason, actor, ref, created_at as "createdAt",
             to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "createdAtExact"
      from stock_adjustments
      where sku = ${f.sku} ${f.warehouseId ? s`and warehouse_id = ${f.warehouseId}` : s``}
      ${f.after ? s`and (created_at, id) < ((${f.after.createdAt}::text)::timestamptz, ${f.after.id}::bigint)` : s``}
      order by created_at desc, id desc limit ${f.limit}`;
  }
}

export interface StockAdjustment {
  id: string;
  sku: string;
  warehouseId: string;
  onHandBefore: number;
  onHandAfter: number;
  reason: string;
  actor: string;
  ref: string | null;
  createdAt: Date;
  /** created_at to the microsecond (the paging key; a Date keeps milliseconds only). */
  createdAtExact: string;
}

export class StockConflictError extends Error {
  override name = 'StockConflictError';
}

function stockSelect(sql: Sql | TransactionSql) {
  return sql`select s.sku, s.warehouse_id as "warehouseId", s.on_hand as "onHand", s.reserved, s.safety_stock as "safetyStock",
                    greatest(s.on_hand - s.reserved - s.safety_stock, 0) as atp, s.updated_at as "updatedAt"
             from stock s`;
}

/** What an order's stock events say (`stock.reserved`, `stock.released`, `stock.committed`). */
export type ReservationEventType = 'stock.reserved' | 'stock.released' | 'stock.committed';

/** The event feed's `subject` of a reservation key's stock. */
const reservationSubject = (key: string) => `reservation:${key}`;

/**
 * The order a reservation key belongs to, in SQL: the key itself when it is an order's id; else
 * the order of an exchange's replacement (reserved under the return's id, `<orderId>-return-<n>`)
 * or of a parcel sent again (`<orderId>-shipment-<n>-reship`), as workflows/order names them.
 */
const orderOfKey = (sql: Sql | TransactionSql, key: string) =>
  sql`coalesce((select order_id from orders where order_id = ${key}),
               (select order_id from orders where order_id = regexp_replace(${key}, '-(return-[0-9]+|shipment-[0-9]+-reship)$', '')),
               ${key})`;

/** Which reservation an event is of, when it is not the order's own (an exchange's, a parcel sent again). */
const reservationOf = (sql: Sql | TransactionSql, key: string) =>
  sql`case when exists (select 1 from orders where order_id = ${key}) then '{}'::jsonb else jsonb_build_object('reservation', ${key}::text) end`;

/** Appends one stock event of a reservation to the event feed (in the caller's transaction); nothing when no unit moved. */
async function logReservation(tx: TransactionSql, key: string, type: ReservationEventType, lines: Allocation[]): Promise<void> {
  const moved = lines.filter((l) => l.quantity > 0).sort((a, b) => a.lineNo - b.lineNo || a.warehouseId.localeCompare(b.warehouseId));
  if (!moved.length) return;
  const data = { lines: moved.map((l) => ({ lineNo: l.lineNo, sku: l.sku, warehouseId: l.warehouseId, quantity: l.quantity })) };
  await tx`insert into feed_events (order_id, type, subject, data)
    values (${orderOfKey(tx, key)}, ${type}, ${reservationSubject(key)}, ${tx.json(data)}::jsonb || ${reservationOf(tx, key)})`;
}

/**
 * The same, as a statement of a `with` whose CTE `r` returned the reservations it changed
 * (line_no, sku, warehouse_id, quantity): one event for all of them, none if there were none.
 */
function reservationEvent(sql: Sql, key: string, type: ReservationEventType) {
  return sql`insert into feed_events (order_id, type, subject, data)
    select ${orderOfKey(sql, key)}, ${type}, ${reservationSubject(key)}, jsonb_build_object('lines', jsonb_agg(
      jsonb_build_object('lineNo', line_no, 'sku', sku, 'warehouseId', warehouse_id, 'quantity', quantity) order by line_no, warehouse_id))
      || ${reservationOf(sql, key)}
    from r having count(*) > 0`;
}
