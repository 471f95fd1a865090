/**
 * The worker's e-invoice relay: issues the invoices the orders' money facts planned
 * (db/invoices-repo.ts) through the e-invoice provider (activities/invoicing/provider.ts).
 * Every worker process runs one; leases share the backlog. An invoice is submitted, then looked
 * up until the provider's tax-authority check has decided: issued (its number and document are
 * kept) or rejected (the reason is kept, the invoice waits for an ops retry, and the order shows
 * it). An adjustment or a replacement waits until the invoice it adjusts or replaces is issued;
 * a replacement issued marks its original `replaced`. Provider failures and timeouts
 * are retried with backoff; sending an invoice again is safe (the provider deduplicates on its key).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Sql } from '../db/client';
import { InvoiceOutbox, type InvoiceRow, type PendingInvoice, type PrepaidInvoiceAt } from '../db/invoices-repo';
import type { InvoiceProvider, ProviderInvoiceRequest, ProviderInvoiceState, ProviderLine } from '../activities/invoicing/provider';
import type { Logger } from '../lib/logger';
import { DEFAULT_SERVICE_RELAY, OutboxRelay, type RelayOptions } from '../lib/outbox-relay';

export const DEFAULT_INVOICE_RELAY: RelayOptions & { lookupMs: number; prepaidAt: PrepaidInvoiceAt } = {
  ...DEFAULT_SERVICE_RELAY,
  /** How long after a submission (or a `processing` lookup) the provider is asked again. */
  lookupMs: 500,
  /** A prepaid sale is invoiced at its handover, or once delivered (OMS_INVOICE_PREPAID_AT). */
  prepaidAt: 'handover',
};

/** The request the provider gets for a stored invoice. */
export function providerRequest(i: InvoiceRow): ProviderInvoiceRequest {
  const lines = i.lines.map((l): ProviderLine => ({
    no: l.no,
    name: l.sku === 'shipping' ? 'Shipping' : l.sku,
    vatRate: l.rate === 'exempt' ? 'KCT' : (l.rate as ProviderLine['vatRate']),
    net: l.net,
    vat: l.vat,
    gross: l.gross,
  }));
  return {
    invoiceKey: i.invoiceKey,
    reference: i.orderId,
    type: i.kind === 'sale' ? 'original' : i.kind,
    ...(i.originalKey ? { originalKey: i.originalKey } : {}),
    ...(i.note ? { note: i.note } : {}),
    currency: i.currency,
    buyer: i.buyer,
    lines,
    totals: { net: i.net, vat: i.vat, gross: i.gross },
  };
}

export class InvoiceRelay extends OutboxRelay<PendingInvoice> {
  private readonly outbox: InvoiceOutbox;
  private readonly lookupMs: number;

  constructor(
    private readonly deps: { sql: Sql; logger: Logger; provider: InvoiceProvider },
    options: Partial<typeof DEFAULT_INVOICE_RELAY> = {},
  ) {
    const o = { ...DEFAULT_INVOICE_RELAY, ...options };
    const outbox = new InvoiceOutbox(deps.sql, o.prepaidAt);
    super(outbox, o, deps.logger, 'e-invoice');
    this.outbox = outbox;
    this.lookupMs = o.lookupMs;
  }

  protected async handle(row: PendingInvoice): Promise<void> {
    const invoice = await this.outbox.request(row.key);
    if (!invoice || (invoice.status !== 'pending' && invoice.status !== 'submitted')) return;
    let state: ProviderInvoiceState;
    try {
      state =
        invoice.status === 'pending'
          ? await this.deps.provider.submit(providerRequest(invoice))
          : await this.deps.provider.lookup(invoice.invoiceKey);
    } catch (err) {
      const refusal = err instanceof ApplicationFailure && err.nonRetryable ? (err.type ?? 'refused') : undefined;
      // Lost by the provider after it took it: send it again (its key makes that safe).
      if (refusal === 'invoice_not_found') return this.outbox.resubmit(row);
      // A refusal of the invoice itself parks it with the reason; a refused key is the OMS's
      // configuration, retried until someone mends it.
      if (!refusal || refusal === 'unauthorized' || refusal.startsWith('stale') || refusal === 'bad_signature') throw err;
      return this.reject(row, invoice, { code: refusal, message: (err as Error).message });
    }
    if (state.status === 'processing') return this.outbox.submitted(row, this.lookupMs);
    if (state.status === 'rejected') return this.reject(row, invoice, state.reason ?? { code: 'rejected', message: 'no reason given' });
    const document = await this.deps.provider.document(invoice.invoiceKey);
    await this.outbox.issued(row, {
      series: state.series!,
      number: state.number!,
      authorityCode: state.authorityCode!,
      issuedAt: state.issuedAt!,
      document,
    });
  }

  private async reject(row: PendingInvoice, invoice: InvoiceRow, reason: { code: string; message: string }): Promise<void> {
    await this.outbox.rejected(row, reason);
    this.deps.logger.warn('e-invoice rejected; it waits for an ops retry', {
      orderId: invoice.orderId,
      invoiceKey: invoice.invoiceKey,
      reason: reason.code,
    });
  }

  protected describe(row: PendingInvoice): Record<string, unknown> {
    return { orderId: row.orderId, invoiceKey: row.key, status: row.status };
  }
}
