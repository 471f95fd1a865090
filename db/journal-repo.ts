/**
 * The accounting journal in PostgreSQL: entries written with the order's steps (in the step's
 * transaction, once per fact), read back by time for the export.
 */
import type { TransactionSql } from 'postgres';
import { journalLines, vatWithin, type MoneyFact } from '../domain/journal';
import { fromMinor } from '../domain/money';
import type { OrderTaxQuote } from '../domain/tax';
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

/** Writes the entries of an order's money facts (each once: its key is the order's and the fact's). */
export async function writeJournal(tx: TransactionSql, orderId: string, at: string, facts: readonly MoneyFact[]): Promise<void> {
  const [order] = await tx<{ channel: string; currency: string; tax: OrderTaxQuote | null }[]>`
    select channel, currency, tax from orders where order_id = ${orderId}`;
  if (!order) return;
  const vatOf = vatWithin(order.tax);
  const rows = facts.flatMap((f) =>
    journalLines(f, vatOf).map((l, i) => ({
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

export class JournalRepo {
  constructor(private readonly sql: Sql) {}

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
}
