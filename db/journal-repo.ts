/**
 * The accounting journal in PostgreSQL: entries written with the order's steps (in the step's
 * transaction, once per fact), read back by time for the export.
 */
import type { TransactionSql } from 'postgres';
import { journalLines, quoteOfFact, vatWithin, type MoneyFact } from '../domain/journal';
import { fromMinor } from '../domain/money';
import { currencyStep, type OrderTaxQuote } from '../domain/tax';
import type { Sql } from './client';

export interface JournalRow {
  journalId: string;
  entryKey: string;
  lineNo: number;
  orderId: string;
  channel: string;
  currency: string;
  kind: string;
  ref: string | null;
  account: string;
  debit: string;
  credit: string;
  occurredAt: Date;
}

/** What a fact refers to outside the OMS: the gateway's capture, the shipment, the return. */
function refOf(f: MoneyFact): string {
  switch (f.kind) {
    case 'authorised':
    case 'released':
      return f.authorizationId;
    case 'captured':
      return f.captureId;
    case 'refunded':
      return f.ref;
    case 'cod_collected':
    case 'cod_remitted':
      return f.shipmentId;
  }
}

/** What the journal needs of the order a fact belongs to. */
export interface JournalOrder {
  channel: string;
  currency: string;
  tax: OrderTaxQuote | null;
  /** Units ordered per line, by position: what a sale's or a refund's units are a part of. */
  ordered: readonly number[];
}

/** Writes the entries of an order's money facts (each once: its key is the order's and the fact's). */
export async function writeJournal(
  tx: TransactionSql,
  orderId: string,
  order: JournalOrder,
  at: string,
  facts: readonly MoneyFact[],
): Promise<void> {
  const step = currencyStep(order.currency);
  const rows = facts.flatMap((f) =>
    journalLines(f, vatWithin(quoteOfFact(f, order.tax, order.ordered), step)).map((l, i) => ({
      entry_key: `${orderId}:${f.key}`,
      line_no: i + 1,
      order_id: orderId,
      channel: order.channel,
      currency: order.currency,
      kind: f.kind,
      ref: refOf(f),
      account: l.account,
      debit: fromMinor(l.debit),
      credit: fromMinor(l.credit),
      occurred_at: at,
    })),
  );
  if (rows.length) await tx`insert into journal_lines ${tx(rows)} on conflict (entry_key, line_no) do nothing`;
}

/** One day and channel of the reconciliation: money moved, by kind (decimal strings). */
export interface ReconciliationDay {
  day: string;
  channel: string;
  currency: string;
  captured: string;
  refundedGateway: string;
  refundedBankTransfer: string;
  codCollected: string;
  codRemitted: string;
  /** Issued sale invoices less issued adjustments, of the sales and refunds of that day. */
  invoiced: string;
}

/** An order whose money does not add up: what is off and by how much (positive: owed to us). */
export interface ReconciliationDifference {
  orderId: string;
  channel: string;
  currency: string;
  kind:
    | 'cod_not_remitted'
    | 'cod_overpaid'
    | 'authorisation_still_held'
    | 'not_invoiced'
    | 'over_invoiced'
    | 'tax_not_committed'
    | 'tax_over_committed';
  amount: string;
  status: string;
}

/** The VAT of a period by rate, as its issued e-invoices state it, beside the journal's VAT of the period. */
export interface VatSummary {
  currency: string;
  rates: { rate: number | 'exempt'; net: string; vat: string; gross: string }[];
  total: { net: string; vat: string; gross: string };
  /** VAT payable the journal recorded in the period (2100, credits less debits). */
  journalVat: string;
}

export class JournalRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * The VAT of [from, to) per currency and rate, from the invoices issued in it (sales and
   * replacements standing, less adjustments; a replaced invoice no longer counts, and its
   * replacement stays in the period its sale was first issued in, so a closed period does not
   * move), as a VAT return declares it, and the journal's VAT of the same window to hold it against.
   */
  async vatSummary(f: { from: string; to: string }): Promise<VatSummary[]> {
    const s = this.sql;
    // Per currency and rate, and per currency (rate null): the totals summed where the rates are.
    const rows = await s<{ currency: string; rate: string | null; net: string; vat: string; gross: string }[]>`
      select i.currency, l ->> 'rate' as rate,
        sum(case when i.kind = 'adjustment' then -1 else 1 end * (l ->> 'net')::numeric)::text as net,
        sum(case when i.kind = 'adjustment' then -1 else 1 end * (l ->> 'vat')::numeric)::text as vat,
        sum(case when i.kind = 'adjustment' then -1 else 1 end * (l ->> 'gross')::numeric)::text as gross
      from invoices i cross join lateral jsonb_array_elements(i.lines) l
        -- An adjustment in its own issue period; a sale or a replacement in its sale's first one.
        cross join lateral (select case when i.kind = 'adjustment' then i.issued_at else (select min(x.issued_at) from invoices x
          where x.order_id = i.order_id and x.fact_key = i.fact_key and x.kind <> 'adjustment') end as at) f
      where i.status = 'issued' and i.issued_at >= ${f.from} and f.at >= ${f.from} and f.at < ${f.to}
      group by grouping sets ((1, 2), (1))`;
    const journal = await s<{ currency: string; vat: string }[]>`
      select currency, sum(credit - debit)::text as vat from journal_lines
      where account = '2100 VAT payable' and occurred_at >= ${f.from} and occurred_at < ${f.to} group by 1`;
    const currencies = [...new Set([...rows.map((r) => r.currency), ...journal.map((j) => j.currency)])].sort();
    // Rates high to low, goods outside VAT last, as a VAT return lists them.
    const order = (r: number | 'exempt') => (r === 'exempt' ? -1 : r);
    return currencies.map((currency) => {
      const total = rows.find((r) => r.currency === currency && r.rate === null);
      return {
        currency,
        rates: rows
          .filter((r) => r.currency === currency && r.rate !== null)
          .map((r) => ({ rate: r.rate === 'exempt' ? ('exempt' as const) : Number(r.rate), net: r.net, vat: r.vat, gross: r.gross }))
          .sort((a, b) => order(b.rate) - order(a.rate)),
        total: { net: total?.net ?? '0.00', vat: total?.vat ?? '0.00', gross: total?.gross ?? '0.00' },
        journalVat: journal.find((j) => j.currency === currency)?.vat ?? '0.00',
      };
    });
  }

  /** Lines in [from, to), oldest first, after a position (the previous page's last `journalId`). */
  async lines(f: { from?: string | undefined; to?: string | undefined; after?: string | undefined; limit: number }): Promise<JournalRow[]> {
    const s = this.sql;
    return s<JournalRow[]>`
      select journal_id::text as "journalId", entry_key as "entryKey", line_no as "lineNo", order_id as "orderId", channel, currency,
        kind, ref, account, debit::text as debit, credit::text as credit, occurred_at as "occurredAt"
      from journal_lines where true
      ${f.from ? s`and occurred_at >= ${f.from}` : s``}
      ${f.to ? s`and occurred_at < ${f.to}` : s``}
      ${f.after ? s`and journal_id > ${f.after}` : s``}
      order by journal_id limit ${f.limit}`;
  }

  /**
   * The reconciliation of [from, to): per day (UTC) and channel, what was captured, refunded,
   * collected by carriers and remitted; and every order of those days whose money does not add
   * up as of now — cash a carrier still owes (or paid over too much) after delivery,
   * authorisations still held for an order that has ended, and what the buyer paid that issued
   * invoices do not cover (an invoice pending or rejected) or that they cover twice, and VAT in
   * the journal that the tax service does not hold committed (a document pending or refused), or
   * more than the journal's.
   */
  async reconciliation(f: { from: string; to: string }): Promise<{ days: ReconciliationDay[]; differences: ReconciliationDifference[] }> {
    const s = this.sql;
    const days = await s<ReconciliationDay[]>`
      select to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD') as day, channel, currency,
        sum(debit) filter (where kind = 'captured' and account = '1100 payment gateway clearing')::text as captured,
        sum(credit) filter (where kind = 'refunded' and account = '1100 payment gateway clearing')::text as "refundedGateway",
        sum(credit) filter (where kind = 'refunded' and account = '2200 refunds payable (bank transfer)')::text as "refundedBankTransfer",
        sum(debit) filter (where kind = 'cod_collected' and account = '1200 carrier COD receivable')::text as "codCollected",
        sum(debit) filter (where kind = 'cod_remitted' and account = '1000 bank')::text as "codRemitted"
      from journal_lines where occurred_at >= ${f.from} and occurred_at < ${f.to}
      group by 1, 2, 3 order by 1, 2, 3`;
    // Invoiced: the issued invoices of the sales and refunds of those days (planned with them, in the
    // same transaction), each on the day of its money fact's first invoice — a replacement on its sale's.
    const invoiced = await s<{ day: string; channel: string; currency: string; invoiced: string }[]>`
      select to_char(f.at at time zone 'UTC', 'YYYY-MM-DD') as day, o.channel, i.currency,
        sum(case when i.kind = 'adjustment' then -i.gross else i.gross end)::text as invoiced
      from invoices i join orders o using (order_id)
        cross join lateral (select min(x.created_at) as at from invoices x where x.order_id = i.order_id and x.fact_key = i.fact_key) f
      where i.status = 'issued' and i.created_at >= ${f.from} and f.at >= ${f.from} and f.at < ${f.to}
      group by 1, 2, 3`;
    const differences = await s<ReconciliationDifference[]>`
      with touched as (select distinct order_id from journal_lines where occurred_at >= ${f.from} and occurred_at < ${f.to}),
      balances as (
        select j.order_id, j.channel, j.currency,
          sum(j.debit - j.credit) filter (where j.account = '1200 carrier COD receivable') as cod,
          sum(j.debit - j.credit) filter (where j.account = '9100 authorisations held (memo)') as held,
          coalesce(sum(j.debit) filter (where (j.kind, j.account) in (('captured', '1100 payment gateway clearing'), ('cod_collected', '1200 carrier COD receivable'))), 0)
            - coalesce(sum(j.credit) filter (where j.kind = 'refunded' and j.account in ('1100 payment gateway clearing', '2200 refunds payable (bank transfer)')), 0) as paid,
          coalesce(sum(j.credit - j.debit) filter (where j.account = '2100 VAT payable'), 0) as vat
        from journal_lines j join touched t using (order_id) group by 1, 2, 3),
      taxed as (
        select d.order_id, coalesce(sum(case when d.kind = 'sale' then d.tax else -d.tax end) filter (where d.status in ('committed', 'variance')), 0) as net
        from tax_documents d join touched t using (order_id) group by 1),
      invoiced as (
        select i.order_id, coalesce(sum(case when i.kind = 'adjustment' then -i.gross else i.gross end) filter (where i.status = 'issued'), 0) as net
        from invoices i join touched t using (order_id) group by 1)
      select b.order_id as "orderId", b.channel, b.currency, d.kind, d.amount::text as amount, o.status
      from balances b join orders o using (order_id) left join invoiced inv using (order_id) left join taxed tx using (order_id)
      cross join lateral (values
        ('cod_not_remitted', case when b.cod > 0 then b.cod end),
        ('cod_overpaid', case when b.cod < 0 then -b.cod end),
        ('authorisation_still_held', case when b.held <> 0 and o.status in ('DELIVERED', 'COMPLETED', 'CANCELLED', 'REJECTED', 'REFUNDED', 'RETURNED') then b.held end),
        ('not_invoiced', case when b.paid > coalesce(inv.net, 0) then b.paid - coalesce(inv.net, 0) end),
        ('over_invoiced', case when b.paid < coalesce(inv.net, 0) then coalesce(inv.net, 0) - b.paid end),
        ('tax_not_committed', case when b.vat > coalesce(tx.net, 0) then b.vat - coalesce(tx.net, 0) end),
        ('tax_over_committed', case when b.vat < coalesce(tx.net, 0) then coalesce(tx.net, 0) - b.vat end)
      ) as d(kind, amount)
      where d.amount is not null
      order by b.order_id, d.kind`;
    const zero = (v: string | null) => v ?? '0.00';
    const dayKey = (d: { day: string; channel: string; currency: string }) => `${d.day} ${d.channel} ${d.currency}`;
    const invoicedOn = new Map(invoiced.map((i) => [dayKey(i), i.invoiced]));
    return {
      days: days.map((d) => ({
        ...d,
        invoiced: zero(invoicedOn.get(dayKey(d)) ?? null),
        captured: zero(d.captured),
        refundedGateway: zero(d.refundedGateway),
        refundedBankTransfer: zero(d.refundedBankTransfer),
        codCollected: zero(d.codCollected),
        codRemitted: zero(d.codRemitted),
      })),
      differences,
    };
  }
}
