/**
 * E-invoices in PostgreSQL (migration 0021): planned with the step that told the money fact
 * (domain/invoices.ts, in the step's transaction, once per fact), issued by the worker's relay
 * (worker/invoicing.ts) which leases due rows like every outbox here, and read by the API.
 */
import { randomUUID } from 'node:crypto';
import type { TransactionSql } from 'postgres';
import { planInvoices, type InvoiceLine, type KnownInvoice } from '../domain/invoices';
import type { MoneyFact } from '../domain/journal';
import { fromMinor, toMinor } from '../domain/money';
import type { CanonicalOrder } from '../domain/order';
import type { OrderTaxQuote } from '../domain/tax';
import type { Sql } from './client';
import { OutboxTable, type ClaimedRow } from './outbox-repo';
import { customerCodeOf, writeTaxDocuments } from './tax-documents-repo';

/** The buyer as the invoice names them (the order's customer; the address on one line). */
export interface InvoiceBuyer {
  name: string;
  taxCode?: string;
  email?: string;
  address?: string;
}

/** An invoice line as stored and shown: amounts as decimal strings. */
export interface StoredLine {
  no: number;
  sku: string;
  rate: number | 'exempt';
  net: string;
  vat: string;
  gross: string;
}

/** `replaced`: an issued invoice another one replaced (migration 0025); it no longer counts. */
export type InvoiceStatus = 'pending' | 'submitted' | 'issued' | 'rejected' | 'replaced';

export interface InvoiceRow {
  invoiceKey: string;
  orderId: string;
  factKey: string;
  kind: 'sale' | 'adjustment' | 'replacement';
  originalKey: string | null;
  /** Why a replacement replaced its original (printed on it). */
  note: string | null;
  currency: string;
  net: string;
  vat: string;
  gross: string;
  lines: StoredLine[];
  buyer: InvoiceBuyer;
  status: InvoiceStatus;
  series: string | null;
  number: string | null;
  authorityCode: string | null;
  issuedAt: Date | null;
  reason: { code: string; message: string } | null;
  hasDocument: boolean;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
}

const toStored = (l: InvoiceLine): StoredLine => ({ ...l, net: fromMinor(l.net), vat: fromMinor(l.vat), gross: fromMinor(l.gross) });
const fromStored = (l: StoredLine): InvoiceLine => ({ ...l, net: toMinor(l.net), vat: toMinor(l.vat), gross: toMinor(l.gross) });

function buyerOf(o: Pick<CanonicalOrder, 'customer' | 'shippingAddress'>): InvoiceBuyer {
  const a = o.shippingAddress;
  const address = [a.line1, a.line2, a.ward, a.district, a.city, a.region, a.country].filter(Boolean).join(', ');
  return {
    name: o.customer.name,
    ...(o.customer.taxCode ? { taxCode: o.customer.taxCode } : {}),
    ...(o.customer.email ? { email: o.customer.email } : {}),
    address,
  };
}

/**
 * Plans and writes the invoices an order's money facts call for (each fact once: a step written
 * again finds its invoices there), and their tax documents. Runs in the step's transaction, after
 * the journal.
 */
export async function writeInvoices(
  tx: TransactionSql,
  orderId: string,
  order: { currency: string; tax: OrderTaxQuote | null; canonical: CanonicalOrder },
  facts: readonly MoneyFact[],
): Promise<void> {
  if (!facts.some((f) => f.kind === 'captured' || f.kind === 'cod_collected' || f.kind === 'refunded')) return;
  const known = await tx<(Omit<KnownInvoice, 'gross' | 'lines'> & { gross: string; lines: StoredLine[] })[]>`
    select invoice_key as "invoiceKey", fact_key as "factKey", kind, original_key as "originalKey", status, gross::text as gross, lines
    from invoices where order_id = ${orderId} order by created_at, invoice_key`;
  const { invoices } = planInvoices(
    orderId,
    facts,
    known.map((k) => ({ ...k, originalKey: k.originalKey ?? undefined, gross: toMinor(k.gross), lines: k.lines.map(fromStored) })),
    { quote: order.tax, currency: order.currency, ordered: order.canonical.lines.map((l) => l.quantity) },
  );
  // The same sales and returns, as the tax service is told them.
  await writeTaxDocuments(
    tx,
    orderId,
    { currency: order.currency, customerCode: customerCodeOf(order.canonical.customer.taxCode) },
    invoices,
  );
  const buyer = buyerOf(order.canonical);
  for (const i of invoices)
    await tx`insert into invoices (invoice_key, order_id, fact_key, kind, original_key, shipment_id, currency, net, vat, gross, lines, buyer)
      values (${i.invoiceKey}, ${orderId}, ${i.factKey}, ${i.kind}, ${i.originalKey ?? null}, ${i.shipmentId ?? null}, ${order.currency},
        ${fromMinor(i.net)}, ${fromMinor(i.vat)}, ${fromMinor(i.gross)}, ${tx.json(i.lines.map(toStored) as never)}, ${tx.json(buyer as never)})
      on conflict (invoice_key) do nothing`;
  // The plan is the first state of each invoice in the event feed.
  for (const i of invoices) await logState(tx, i.invoiceKey);
}

/** Appends an invoice's state as it is now to the event feed, unless it is the state last appended (in the caller's transaction). */
async function logState(q: Sql | TransactionSql, key: string): Promise<void> {
  await q`insert into feed_events (order_id, type, subject, data)
    select order_id, 'invoice.status', invoice_key, jsonb_build_object('invoiceKey', invoice_key, 'kind', kind, 'originalKey', original_key,
        'status', status, 'currency', currency, 'net', net::text, 'vat', vat::text, 'gross', gross::text, 'series', series,
        'number', number, 'reason', reason)
    from invoices i where invoice_key = ${key}
      and i.status is distinct from (select e.data ->> 'status' from feed_events e where e.subject = i.invoice_key order by e.feed_id desc limit 1)`;
}

/** A due invoice as the relay holds it. */
export interface PendingInvoice extends ClaimedRow {
  orderId: string;
  status: 'pending' | 'submitted';
}

/**
 * When a prepaid sale is invoiced: at its handover (the capture, the default), or once its parcel
 * is delivered — or has ended otherwise (back at the sender, cancelled), when a refund follows.
 */
export type PrepaidInvoiceAt = 'handover' | 'delivery';

/** The relay's store: due invoices (an adjustment only once its original is issued), leased. */
export class InvoiceOutbox extends OutboxTable<PendingInvoice> {
  constructor(
    sql: Sql,
    private readonly prepaidAt: PrepaidInvoiceAt = 'handover',
  ) {
    super(sql, 'invoices', 'invoice_key');
  }

  async claim(limit: number, leaseMs: number): Promise<PendingInvoice[]> {
    const token = randomUUID();
    return this.sql<PendingInvoice[]>`
      with due as (
        select i.invoice_key from invoices i
        where i.status in ('pending', 'submitted') and i.next_attempt_at <= clock_timestamp()
          and (i.claimed_until is null or i.claimed_until < clock_timestamp())
          and (i.original_key is null or exists (select 1 from invoices o where o.invoice_key = i.original_key and o.status = 'issued'))
          and (${this.prepaidAt === 'handover'} or i.shipment_id is null
            or exists (select 1 from shipments s where s.shipment_id = i.shipment_id
              and s.status in ('delivered', 'returned_to_sender', 'cancelled')))
        order by i.next_attempt_at, i.created_at limit ${limit}
        for update of i skip locked)
      update invoices w set claimed_until = clock_timestamp() + make_interval(secs => ${leaseMs / 1000}), claim_token = ${token}
      from due where w.invoice_key = due.invoice_key
      returning w.invoice_key as key, w.order_id as "orderId", w.status, w.attempts, w.created_at as "createdAt", w.claim_token as "claimToken"`;
  }

  /** Handled this time (the handler moved its status on): the lease goes. */
  override done(p: PendingInvoice): Promise<void> {
    return this.dropLease(p);
  }

  /** Invoices stay once issued or rejected: only those on their way are work. */
  protected override pending() {
    return this.sql`status in ('pending', 'submitted')`;
  }

  /** What the relay sends: the invoice and, for an adjustment, the original's number. */
  async request(key: string): Promise<InvoiceRow | undefined> {
    const [row] = await this.sql<InvoiceRow[]>`select ${cols(this.sql)} from invoices where invoice_key = ${key}`;
    return row;
  }

  /** The provider has it and is checking it: look it up after `afterMs`. */
  async submitted(p: PendingInvoice, afterMs: number): Promise<void> {
    await this.sql`update invoices set status = 'submitted', last_error = null, updated_at = clock_timestamp(),
        next_attempt_at = clock_timestamp() + make_interval(secs => ${afterMs / 1000})
      where invoice_key = ${p.key} and claim_token = ${p.claimToken}`;
  }

  async issued(
    p: PendingInvoice,
    i: { series: string; number: string; authorityCode: string; issuedAt: string; document: string },
  ): Promise<void> {
    await this.inState(
      p,
      (tx) => tx`update invoices set status = 'issued', series = ${i.series}, number = ${i.number}, authority_code = ${i.authorityCode},
        issued_at = ${i.issuedAt}, document = ${i.document}, reason = null, last_error = null, updated_at = clock_timestamp()
      where invoice_key = ${p.key} and claim_token = ${p.claimToken} returning 1`,
      // An issued replacement: the invoice it replaces no longer counts.
      (tx) => tx<{ key: string }[]>`update invoices o set status = 'replaced', updated_at = clock_timestamp()
        from invoices r where r.invoice_key = ${p.key} and r.kind = 'replacement' and o.invoice_key = r.original_key and o.status = 'issued'
        returning o.invoice_key as key`,
    );
  }

  /** The provider does not know a submitted invoice: it is sent again at once. */
  async resubmit(p: PendingInvoice): Promise<void> {
    await this.sql`update invoices set status = 'pending', next_attempt_at = clock_timestamp(), updated_at = clock_timestamp()
      where invoice_key = ${p.key} and claim_token = ${p.claimToken}`;
  }

  /** A state change under the lease (and what follows from it), appended to the event feed in the same transaction. */
  private async inState(
    p: PendingInvoice,
    change: (tx: TransactionSql) => PromiseLike<readonly unknown[]>,
    then?: (tx: TransactionSql) => PromiseLike<readonly { key: string }[]>,
  ): Promise<void> {
    await this.sql.begin(async (tx) => {
      if (!(await change(tx)).length) return;
      await logState(tx, p.key);
      for (const other of (await then?.(tx)) ?? []) await logState(tx, other.key);
    });
  }

  async rejected(p: PendingInvoice, reason: { code: string; message: string }): Promise<void> {
    await this.inState(
      p,
      (tx) => tx`update invoices set status = 'rejected', reason = ${this.sql.json(reason)}, updated_at = clock_timestamp()
      where invoice_key = ${p.key} and claim_token = ${p.claimToken} returning 1`,
    );
  }
}

/**
 * Takes the order's row lock for the rest of the transaction: the order's steps (which plan its
 * invoices, db/back-office-repo.ts) hold it while they write, so a replacement or a retry decided
 * here never crosses an adjustment being planned.
 */
async function lockOrder(tx: TransactionSql, orderId: string): Promise<void> {
  await tx`select 1 from orders where order_id = ${orderId} for update`;
}

const cols = (s: Sql) => s`invoice_key as "invoiceKey", order_id as "orderId", fact_key as "factKey", kind, original_key as "originalKey",
  note, currency, net::text as net, vat::text as vat, gross::text as gross, lines, buyer, status, series, number, authority_code as "authorityCode",
  issued_at as "issuedAt", reason, document is not null as "hasDocument", attempts, last_error as "lastError", created_at as "createdAt"`;

export class InvoicesRepo {
  constructor(private readonly sql: Sql) {}

  async forOrder(orderId: string): Promise<InvoiceRow[]> {
    return this.sql<InvoiceRow[]>`select ${cols(this.sql)} from invoices where order_id = ${orderId} order by created_at, invoice_key`;
  }

  /** Invoices in a state (e.g. every `rejected` one, for finance and ops), oldest first, paged by key. */
  async byStatus(status: InvoiceStatus, f: { after?: string | undefined; limit: number }): Promise<InvoiceRow[]> {
    return this.sql<InvoiceRow[]>`select ${cols(this.sql)} from invoices where status = ${status}
      ${f.after ? this.sql`and invoice_key > ${f.after}` : this.sql``} order by invoice_key limit ${f.limit}`;
  }

  async document(orderId: string, invoiceKey: string): Promise<{ status: InvoiceStatus; document: string | null } | undefined> {
    const [row] = await this.sql<{ status: InvoiceStatus; document: string | null }[]>`
      select status, document from invoices where order_id = ${orderId} and invoice_key = ${invoiceKey}`;
    return row;
  }

  /**
   * Replaces an issued invoice that named the buyer wrongly: a new invoice of the same sale (same
   * lines and amounts) with the buyer's details corrected and `note` saying why, issued by the
   * relay like any other; once it is issued the original is `replaced`. Refused — answered why —
   * for an invoice that is not an issued sale (or replacement), one replaced already, or one a
   * refund has adjusted (its adjustments name it; adjust, do not replace).
   */
  async replace(
    orderId: string,
    invoiceKey: string,
    change: { note: string; buyer: { name?: string; taxCode?: string | null; address?: string; email?: string } },
  ): Promise<InvoiceRow | 'not_found' | 'not_replaceable' | 'not_issued' | 'replaced' | 'adjusted' | { retry: string }> {
    return this.sql.begin(async (tx) => {
      // One at a time with the order's steps, which plan adjustments: an invoice is never adjusted and replaced at once.
      await lockOrder(tx, orderId);
      const [row] = await tx<{ kind: InvoiceRow['kind']; status: InvoiceStatus; factKey: string; buyer: InvoiceBuyer }[]>`
        select kind, status, fact_key as "factKey", buyer from invoices where order_id = ${orderId} and invoice_key = ${invoiceKey} for update`;
      if (!row) return 'not_found' as const;
      if (row.kind === 'adjustment') return 'not_replaceable' as const;
      const [others] = await tx<{ replacing: number; rejected: string | null; adjusting: number; chain: number }[]>`
        select count(*) filter (where kind = 'replacement' and original_key = ${invoiceKey} and status <> 'rejected')::int as replacing,
          min(invoice_key) filter (where kind = 'replacement' and original_key = ${invoiceKey} and status = 'rejected') as rejected,
          count(*) filter (where kind = 'adjustment' and original_key = ${invoiceKey})::int as adjusting,
          count(*) filter (where kind = 'replacement' and fact_key = ${row.factKey})::int as chain
        from invoices where order_id = ${orderId}`;
      if (row.status === 'replaced' || others!.replacing > 0) return 'replaced' as const;
      if (row.status !== 'issued') return 'not_issued' as const;
      if (others!.adjusting > 0) return 'adjusted' as const;
      if (others!.rejected) return { retry: others!.rejected };
      const { taxCode, ...rest } = change.buyer;
      const buyer: InvoiceBuyer = { ...row.buyer, ...rest };
      if (taxCode === null) delete buyer.taxCode;
      else if (taxCode !== undefined) buyer.taxCode = taxCode;
      const key = `${orderId}:${row.factKey}:r${others!.chain + 1}`;
      await tx`insert into invoices (invoice_key, order_id, fact_key, kind, original_key, currency, net, vat, gross, lines, buyer, note)
        select ${key}, order_id, fact_key, 'replacement', invoice_key, currency, net, vat, gross, lines, ${tx.json(buyer as never)}, ${change.note}
        from invoices where invoice_key = ${invoiceKey}`;
      await logState(tx, key);
      const [after] = await tx<InvoiceRow[]>`select ${cols(tx as unknown as Sql)} from invoices where invoice_key = ${key}`;
      return after!;
    });
  }

  /**
   * A rejected invoice sent again (an ops retry), with the buyer's tax code corrected when given
   * (null: sent without one). Answers the row, or why not: unknown, or not rejected.
   */
  async retry(
    orderId: string,
    invoiceKey: string,
    taxCode?: string | null,
  ): Promise<InvoiceRow | 'not_found' | 'not_rejected' | 'original_moved_on'> {
    return this.sql.begin(async (tx) => {
      await lockOrder(tx, orderId);
      const [row] = await tx<{ status: InvoiceStatus; kind: InvoiceRow['kind']; originalKey: string | null }[]>`
        select status, kind, original_key as "originalKey" from invoices where order_id = ${orderId} and invoice_key = ${invoiceKey} for update`;
      if (!row) return 'not_found' as const;
      if (row.status !== 'rejected') return 'not_rejected' as const;
      // A replacement whose original was adjusted since (refunds went to it) can no longer replace it.
      if (row.kind === 'replacement') {
        const [o] = await tx<{ ok: boolean }[]>`select status = 'issued'
            and not exists (select 1 from invoices a where a.original_key = ${row.originalKey} and a.kind = 'adjustment') as ok
          from invoices where invoice_key = ${row.originalKey}`;
        if (!o?.ok) return 'original_moved_on' as const;
      }
      const buyer = taxCode === undefined ? tx`buyer` : taxCode === null ? tx`buyer - 'taxCode'` : tx`buyer || ${tx.json({ taxCode })}`;
      await tx`update invoices set status = 'pending', buyer = ${buyer}, attempts = 0, next_attempt_at = clock_timestamp(),
          last_error = null, updated_at = clock_timestamp() where invoice_key = ${invoiceKey}`;
      await logState(tx, invoiceKey);
      const [after] = await tx<InvoiceRow[]>`select ${cols(tx as unknown as Sql)} from invoices where invoice_key = ${invoiceKey}`;
      return after!;
    });
  }
}
