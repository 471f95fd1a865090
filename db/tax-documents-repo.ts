/**
 * Tax documents in PostgreSQL (migration 0022): one per sale and per return the e-invoices
 * record, written beside them in the step's transaction (invoices-repo.ts `writeInvoices`),
 * committed to the tax service by the worker's relay (worker/tax-commits.ts) under the lease
 * every outbox here uses, and read by the API.
 */
import { randomUUID } from 'node:crypto';
import type { TransactionSql } from 'postgres';
import type { PlannedInvoice } from '../domain/invoices';
import { fromMinor } from '../domain/money';
import type { Sql } from './client';
import { OutboxTable, type ClaimedRow } from './outbox-repo';

export type TaxDocumentStatus = 'pending' | 'committed' | 'variance' | 'refused';

/** A line as stored and shown: the tax charged and, once committed, the tax the provider calculates. */
export interface StoredTaxLine {
  no: number;
  sku: string;
  rate: number | 'exempt';
  gross: string;
  tax: string;
  taxCalculated?: string;
}

export interface TaxDocumentRow {
  code: string;
  orderId: string;
  kind: 'sale' | 'return';
  originalCode: string | null;
  customerCode: string;
  currency: string;
  gross: string;
  tax: string;
  lines: StoredTaxLine[];
  status: TaxDocumentStatus;
  provider: string | null;
  taxCalculated: string | null;
  serviceRef: string | null;
  committedAt: Date | null;
  reason: { code: string; message: string } | null;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
}

/** The customer as the tax service knows them: a business buyer by its tax code, everyone else as retail. */
export const customerCodeOf = (taxCode: string | undefined): string => taxCode ?? 'RETAIL';

/**
 * The tax documents of newly planned invoices: a sale commits the tax of a sale invoice, a
 * return refunds the tax of an adjustment against the sale it reduces. In the step's transaction.
 */
export async function writeTaxDocuments(
  tx: TransactionSql,
  orderId: string,
  order: { currency: string; customerCode: string },
  invoices: readonly PlannedInvoice[],
): Promise<void> {
  for (const i of invoices) {
    const lines: StoredTaxLine[] = i.lines.map((l) => ({
      no: l.no,
      sku: l.sku,
      rate: l.rate,
      gross: fromMinor(l.gross),
      tax: fromMinor(l.vat),
    }));
    // A return refunds against its sale's document (an invoice replaced since changed the buyer's
    // details, not the tax); a sale invoiced before tax documents existed (migration 0022) has
    // none, so neither has its return: nothing was committed to refund.
    const original = i.saleKey ?? i.originalKey ?? null;
    await tx`insert into tax_documents (doc_code, order_id, kind, original_code, customer_code, currency, gross, tax, lines)
      select ${i.invoiceKey}, ${orderId}, ${i.kind === 'sale' ? 'sale' : 'return'}, ${original}, ${order.customerCode},
        ${order.currency}, ${fromMinor(i.gross)}, ${fromMinor(i.vat)}, ${tx.json(lines as never)}
      where ${original}::text is null or exists (select 1 from tax_documents where doc_code = ${original})
      on conflict (doc_code) do nothing`;
  }
}

const cols = (s: Sql) => s`doc_code as code, order_id as "orderId", kind, original_code as "originalCode", customer_code as "customerCode",
  currency, gross::text as gross, tax::text as tax, lines, status, provider, tax_calculated::text as "taxCalculated",
  service_ref as "serviceRef", committed_at as "committedAt", reason, attempts, last_error as "lastError", created_at as "createdAt"`;

/** A due document as the relay holds it. */
export interface PendingTaxDocument extends ClaimedRow {
  orderId: string;
}

/** The relay's store: pending documents (a return only once its sale is committed), leased. */
export class TaxOutbox extends OutboxTable<PendingTaxDocument> {
  constructor(sql: Sql) {
    super(sql, 'tax_documents', 'doc_code');
  }

  async claim(limit: number, leaseMs: number): Promise<PendingTaxDocument[]> {
    const token = randomUUID();
    return this.sql<PendingTaxDocument[]>`
      with due as (
        select d.doc_code from tax_documents d
        where d.status = 'pending' and d.next_attempt_at <= clock_timestamp()
          and (d.claimed_until is null or d.claimed_until < clock_timestamp())
          and (d.original_code is null
            or exists (select 1 from tax_documents o where o.doc_code = d.original_code and o.status in ('committed', 'variance')))
        order by d.next_attempt_at, d.created_at limit ${limit}
        for update of d skip locked)
      update tax_documents w set claimed_until = clock_timestamp() + make_interval(secs => ${leaseMs / 1000}), claim_token = ${token}
      from due where w.doc_code = due.doc_code
      returning w.doc_code as key, w.order_id as "orderId", w.attempts, w.created_at as "createdAt", w.claim_token as "claimToken"`;
  }

  /** Handled this time (the handler moved its status on): the lease goes, the document stays. */
  override done(p: PendingTaxDocument): Promise<void> {
    return this.dropLease(p);
  }

  /** Documents stay once committed or refused: only pending ones are work. */
  protected override pending() {
    return this.sql`status = 'pending'`;
  }

  async request(code: string): Promise<TaxDocumentRow | undefined> {
    const [row] = await this.sql<TaxDocumentRow[]>`select ${cols(this.sql)} from tax_documents where doc_code = ${code}`;
    return row;
  }

  /** Committed by the provider: its calculation kept beside the tax charged, `variance` when they part by more than rounding. */
  async committed(
    p: PendingTaxDocument,
    c: { provider: string; ref: string; taxCalculated: string; lines: StoredTaxLine[]; variance: boolean },
  ): Promise<void> {
    await this.sql`update tax_documents set status = ${c.variance ? 'variance' : 'committed'}, provider = ${c.provider},
        service_ref = ${c.ref}, tax_calculated = ${c.taxCalculated}, lines = ${this.sql.json(c.lines as never)},
        committed_at = clock_timestamp(), reason = null, last_error = null, updated_at = clock_timestamp()
      where doc_code = ${p.key} and claim_token = ${p.claimToken}`;
  }

  /** Refused by the provider (the document itself, not the OMS's credentials): parked with the reason for an ops retry. */
  async refused(p: PendingTaxDocument, reason: { code: string; message: string }): Promise<void> {
    await this.sql`update tax_documents set status = 'refused', reason = ${this.sql.json(reason)}, updated_at = clock_timestamp()
      where doc_code = ${p.key} and claim_token = ${p.claimToken}`;
  }
}

export class TaxDocumentsRepo {
  constructor(private readonly sql: Sql) {}

  async forOrder(orderId: string): Promise<TaxDocumentRow[]> {
    return this.sql<
      TaxDocumentRow[]
    >`select ${cols(this.sql)} from tax_documents where order_id = ${orderId} order by created_at, doc_code`;
  }

  /** Documents in a state (every `refused` or `variance` one, for finance), paged by code. */
  async byStatus(status: TaxDocumentStatus, f: { after?: string | undefined; limit: number }): Promise<TaxDocumentRow[]> {
    return this.sql<TaxDocumentRow[]>`select ${cols(this.sql)} from tax_documents where status = ${status}
      ${f.after ? this.sql`and doc_code > ${f.after}` : this.sql``} order by doc_code limit ${f.limit}`;
  }

  /** A refused document sent again (an ops retry, after the cause is mended). Answers the row, or why not. */
  async retry(orderId: string, code: string): Promise<TaxDocumentRow | 'not_found' | 'not_refused'> {
    const [row] = await this.sql<{ status: TaxDocumentStatus; updated: boolean }[]>`
      with d as (select status from tax_documents where order_id = ${orderId} and doc_code = ${code}),
      u as (update tax_documents set status = 'pending', attempts = 0, next_attempt_at = clock_timestamp(), last_error = null,
          updated_at = clock_timestamp()
        where order_id = ${orderId} and doc_code = ${code} and status = 'refused' returning 1)
      select d.status, exists (select 1 from u) as updated from d`;
    if (!row) return 'not_found';
    if (!row.updated) return 'not_refused';
    const [after] = await this.sql<TaxDocumentRow[]>`select ${cols(this.sql)} from tax_documents where doc_code = ${code}`;
    return after!;
  }
}
