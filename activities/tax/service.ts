/**
 * The tax-service adapter: where the OMS commits the tax of each sale and refunds it on each
 * return (docs/back-office.md). Two providers:
 * - `local-vn-vat`, the default: the local rule set (domain/tax.ts) checks each document's tax
 *   against its own calculation and keeps it — for a seller without a tax service;
 * - an Avalara-style tax service over HTTP (`OMS_TAX_URL`; the sandbox emulates one,
 *   sandbox/tax.ts): a sale is a committed `SalesInvoice`, a return a committed `ReturnInvoice`
 *   with negative amounts that names the sale. Each line carries the tax the buyer was charged
 *   (the journal's VAT, as invoiced) as a tax-amount override, so what is committed is what the
 *   books say, and the service answers what it would have calculated beside it. The document's
 *   code is what the service deduplicates on, so committing one again is safe.
 * The quote at intake stays the local rule set's: intake answers on PostgreSQL alone.
 */
import { ApplicationFailure } from '@temporalio/common';
import { computeTax, type TaxCategory } from '../../domain/tax';
import { fromMinor, toMinor } from '../../domain/money';
import { callJson, type OutsideSystem } from '../http';

/** One line of a tax document: decimal strings, as stored. */
export interface TaxDocumentLine {
  no: number;
  sku: string;
  /** Percent, or `exempt` (outside VAT). */
  rate: number | 'exempt';
  gross: string;
  tax: string;
}

export interface TaxDocument {
  code: string;
  orderId: string;
  kind: 'sale' | 'return';
  /** The sale a return refunds tax against. */
  originalCode?: string;
  currency: string;
  /** The document's tax date (YYYY-MM-DD): when the sale or refund happened. */
  date: string;
  customerCode: string;
  lines: TaxDocumentLine[];
}

/** What the provider recorded: the tax kept and the tax it calculates itself, per line (positive amounts). */
export interface TaxCommitted {
  provider: string;
  ref: string;
  tax: string;
  taxCalculated: string;
  lines: { no: number; tax: string; taxCalculated: string }[];
}

export interface TaxService {
  readonly provider: string;
  /** Commits a sale's tax, or refunds a return's against its sale. Idempotent by the document's code. */
  commit(d: TaxDocument): Promise<TaxCommitted>;
}

const CATEGORY_OF_RATE: Readonly<Record<string, TaxCategory>> = { '10': 'standard', '8': 'reduced', '5': 'essential', '0': 'zero' };
const categoryOf = (rate: number | 'exempt'): TaxCategory => {
  const c = rate === 'exempt' ? 'exempt' : CATEGORY_OF_RATE[String(rate)];
  if (!c) throw ApplicationFailure.nonRetryable(`no VAT category has a rate of ${rate}%`, 'invalid_tax_code');
  return c;
};
const sumOf = (xs: readonly string[]) => fromMinor(xs.reduce((a, x) => a + toMinor(x), 0));

/** The local rule set as the provider: each line's tax calculated from its gross (prices include VAT). */
export function localTaxService(): TaxService {
  return {
    provider: 'local-vn-vat',
    commit(d) {
      const q = computeTax(
        d.lines.map((l) => ({ lineNo: l.no, category: categoryOf(l.rate), amount: toMinor(l.gross) })),
        { pricesIncludeTax: true, currency: d.currency },
      );
      const lines = d.lines.map((l, i) => ({ no: l.no, tax: l.tax, taxCalculated: fromMinor(q.lines[i]!.tax) }));
      return Promise.resolve({
        provider: 'local-vn-vat',
        ref: d.code,
        tax: sumOf(lines.map((l) => l.tax)),
        taxCalculated: sumOf(lines.map((l) => l.taxCalculated)),
        lines,
      });
    },
  };
}

const TAX_CODES: Readonly<Record<string, string>> = { '10': 'VN-VAT-10', '8': 'VN-VAT-8', '5': 'VN-VAT-5', '0': 'VN-VAT-0' };
const taxCodeOf = (rate: number | 'exempt') => (rate === 'exempt' ? 'VN-VAT-EXEMPT' : (TAX_CODES[String(rate)] ?? `VN-VAT-${rate}`));
const negate = (s: string) => (toMinor(s) === 0 ? s : `-${s}`);
const positive = (s: string) => s.replace(/^-/, '');

interface ServiceTransaction {
  code: string;
  status: string;
  totalTax: string;
  totalTaxCalculated: string;
  lines: { lineNumber: string; tax: string; taxCalculated: string }[];
}

/**
 * An Avalara-style tax service: HTTP Basic with `account:licenceKey` (the system's key), the
 * seller's company code, transactions created committed.
 */
export function createTaxServiceClient(system: OutsideSystem, companyCode: string): TaxService {
  const authorization = `Basic ${Buffer.from(system.apiKey).toString('base64')}`;
  return {
    provider: 'tax-service',
    async commit(d) {
      const ret = d.kind === 'return';
      const t = await callJson<ServiceTransaction>(system, '/transactions/create', {
        authorization,
        body: {
          type: ret ? 'ReturnInvoice' : 'SalesInvoice',
          code: d.code,
          companyCode,
          date: d.date,
          customerCode: d.customerCode,
          purchaseOrderNo: d.orderId,
          currencyCode: d.currency,
          ...(d.originalCode ? { referenceCode: d.originalCode } : {}),
          commit: true,
          lines: d.lines.map((l) => ({
            number: String(l.no),
            itemCode: l.sku,
            taxCode: taxCodeOf(l.rate),
            amount: ret ? negate(l.gross) : l.gross,
            taxIncluded: true,
            taxOverride: { type: 'TaxAmount', taxAmount: ret ? negate(l.tax) : l.tax, reason: 'VAT charged to the buyer, as invoiced' },
          })),
        },
      });
      return {
        provider: 'tax-service',
        ref: t.code,
        tax: positive(t.totalTax),
        taxCalculated: positive(t.totalTaxCalculated),
        lines: t.lines.map((l) => ({ no: Number(l.lineNumber), tax: positive(l.tax), taxCalculated: positive(l.taxCalculated) })),
      };
    },
  };
}

/** The provider the configuration names: the tax service when one is set, else the local rule set. */
export function taxServiceFor(system: (OutsideSystem & { companyCode: string }) | undefined): TaxService {
  return system ? createTaxServiceClient(system, system.companyCode) : localTaxService();
}
