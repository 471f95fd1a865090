/**
 * The KPI summary over the order projection, in one SQL statement (one snapshot).
 * Every figure is about one cohort: the orders received (created_at) in [from, to), optionally of
 * one channel. It reads the moments the 0004_reports triggers stamp on orders and shipments, through
 * the covering indexes of that migration. Definitions: docs/design.md, "Reports".
 */
import type { Sql } from './client';

export interface ReportFilter {
  from: string;
  to: string;
  channel?: string | undefined;
}

/** Seconds from intake to a moment, over the orders that reached it. */
export interface Timing {
  orders: number;
  medianSeconds: number | null;
  p90Seconds: number | null;
}
/** `count` of `of`; `rate` is null when `of` is 0. */
export interface Rate {
  count: number;
  of: number;
  rate: number | null;
}
export interface CarrierOnTime {
  carrier: string;
  delivered: number;
  measured: number;
  onTime: number;
  rate: number | null;
}
export interface CodOutstanding {
  currency: string;
  orders: number;
  amount: string;
}

export interface Summary {
  orders: {
    total: number;
    byStatus: Record<string, number>;
    byChannel: Record<string, { total: number; byStatus: Record<string, number> }>;
  };
  intakeToHandover: Timing;
  intakeToDelivery: Timing;
  slaBreachRate: Rate;
  cancelRate: Rate;
  returnRate: Rate;
  carrierOnTime: CarrierOnTime[];
  codOutstanding: CodOutstanding[];
}

interface Row {
  orders: number;
  handedOver: number;
  handoverPct: number[] | null;
  delivered: number;
  deliveryPct: number[] | null;
  breached: number;
  cancelled: number;
  returned: number;
  grid: { channel: string; status: string; orders: number }[];
  carriers: { carrier: string; delivered: number; measured: number; onTime: number }[];
  cod: CodOutstanding[];
}

const rate = (count: number, of: number): Rate => ({ count, of, rate: of > 0 ? count / of : null });
/** Interpolated percentiles come back as floats; the API speaks whole milliseconds. */
const seconds = (x: number | null | undefined) => (x === null || x === undefined ? null : Math.round(x * 1000) / 1000);
const timing = (orders: number, pct: number[] | null): Timing => ({
  orders,
  medianSeconds: seconds(pct?.[0]),
  p90Seconds: seconds(pct?.[1]),
});

export class ReportsRepo {
  constructor(private readonly sql: Sql) {}

  async summary(f: ReportFilter): Promise<Summary> {
    const [r] = await this.run<Row>(f);
    if (!r) throw new Error('the summary query returned no row');
    const byStatus: Record<string, number> = {};
    const byChannel: Summary['orders']['byChannel'] = {};
    for (const g of r.grid) {
      byStatus[g.status] = (byStatus[g.status] ?? 0) + g.orders;
      const ch = (byChannel[g.channel] ??= { total: 0, byStatus: {} });
      ch.total += g.orders;
      ch.byStatus[g.status] = g.orders;
    }
    return {
      orders: { total: r.orders, byStatus, byChannel },
      intakeToHandover: timing(r.handedOver, r.handoverPct),
      intakeToDelivery: timing(r.delivered, r.deliveryPct),
      slaBreachRate: rate(r.breached, r.orders),
      cancelRate: rate(r.cancelled, r.orders),
      returnRate: rate(r.returned, r.delivered),
      carrierOnTime: r.carriers.map((c) => ({ ...c, rate: c.measured > 0 ? c.onTime / c.measured : null })),
      codOutstanding: r.cod,
    };
  }

  /** The plan PostgreSQL runs for `summary` (EXPLAIN ANALYZE), for the benchmark's proof of index use. */
  async explainSummary(f: ReportFilter): Promise<string[]> {
    const rows = await this.run<{ 'QUERY PLAN': string }>(f, true);
    return rows.map((r) => r['QUERY PLAN']);
  }

  /**
   * One pass over the window's slice of orders_report_idx, grouped by channel, status and currency
   * (a few hundred groups at most) with every count and sum a KPI needs and the durations collected
   * for the percentiles; the KPIs are then read off those groups. Shipments: one pass over
   * shipments_report_idx. The percentiles sort every duration of the window (about 30 MB at a
   * million orders): enough memory for this one statement keeps that sort, and the grouping, off disk.
   */
  private async run<T extends object>(f: ReportFilter, explain = false): Promise<T[]> {
    return (await this.sql.begin(async (s) => {
      await s`set local work_mem = '64MB'`;
      return s<T[]>`${explain ? s`explain (analyze, buffers, costs off)` : s``}
      with g as (
        select channel, status, currency, count(*) as n,
          count(handed_over_at) as handed_over,
          count(delivered_at) as delivered,
          count(*) filter (where max_escalation_level > 0 or delivered_late) as breached,
          count(cancelled_at) as cancelled,
          count(*) filter (where return_requested_at is not null and delivered_at is not null) as returned,
          count(*) filter (where cod_due) as cod_orders,
          sum(total - coalesce(cod_remitted_amount, 0)) filter (where cod_due) as cod_amount,
          array_agg(date_part('epoch', handed_over_at - created_at)) filter (where handed_over_at is not null) as to_handover,
          array_agg(date_part('epoch', delivered_at - created_at)) filter (where delivered_at is not null) as to_delivery
        from (select *, payment_method = 'cod' and delivered_at is not null and coalesce(cod_remitted_amount, 0) < total as cod_due
              from orders where created_at >= ${f.from} and created_at < ${f.to} ${f.channel ? s`and channel = ${f.channel}` : s``}) o
        group by channel, status, currency)
      select t.*, hp."handoverPct", dp."deliveryPct", gr.grid, k.carriers, c.cod
      from (select coalesce(sum(n), 0)::int as orders, coalesce(sum(handed_over), 0)::int as "handedOver",
              coalesce(sum(delivered), 0)::int as delivered, coalesce(sum(breached), 0)::int as breached,
              coalesce(sum(cancelled), 0)::int as cancelled, coalesce(sum(returned), 0)::int as returned from g) t,
        (select percentile_cont(array[0.5, 0.9]) within group (order by x) as "handoverPct" from g, unnest(g.to_handover) x) hp,
        (select percentile_cont(array[0.5, 0.9]) within group (order by x) as "deliveryPct" from g, unnest(g.to_delivery) x) dp,
        (select coalesce(json_agg(json_build_object('channel', channel, 'status', status, 'orders', n) order by channel, status), '[]'::json) as grid
           from (select channel, status, sum(n)::int as n from g group by channel, status) x) gr,
        (select coalesce(json_agg(json_build_object('currency', currency, 'orders', n, 'amount', amount::text) order by currency), '[]'::json) as cod
           from (select currency, sum(cod_orders)::int as n, sum(cod_amount) as amount from g group by currency having sum(cod_orders) > 0) x) c,
        (select coalesce(json_agg(json_build_object('carrier', carrier, 'delivered', n, 'measured', measured, 'onTime', on_time) order by carrier), '[]'::json) as carriers
           from (select carrier, count(*)::int as n, count(deliver_by)::int as measured, count(*) filter (where delivered_at <= deliver_by)::int as on_time
                 from shipments
                 where delivered_at is not null and carrier is not null and order_created_at >= ${f.from} and order_created_at < ${f.to}
                   ${f.channel ? s`and order_channel = ${f.channel}` : s``}
                 group by carrier) x) k`;
    })) as T[];
  }
}
