/**
 * The e-invoice provider's API as the OMS calls it (the sandbox emulates one: sandbox/einvoice.ts).
 * Every request is signed with the seller's key — `X-Timestamp` and `X-Signature`, hex
 * HMAC-SHA256 over `timestamp.METHOD.path.body` — besides its bearer key; the invoice's own key
 * is what the provider deduplicates on, so sending one again is safe.
 */
import { createHmac } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { beginOutboundCall, callJson, transientAnswer, type OutsideSystem } from '../http';

export interface ProviderLine {
  no: number;
  name: string;
  vatRate: 0 | 5 | 8 | 10 | 'KCT';
  net: string;
  vat: string;
  gross: string;
}

export interface ProviderInvoiceRequest {
  invoiceKey: string;
  /** The seller's reference: the order id. */
  reference: string;
  /** `replacement`: replaces the issued invoice `originalKey`, saying why (`note`). */
  type: 'original' | 'adjustment' | 'replacement';
  originalKey?: string;
  note?: string;
  currency: string;
  buyer: { name: string; taxCode?: string; email?: string; address?: string };
  lines: ProviderLine[];
  totals: { net: string; vat: string; gross: string };
}

export interface ProviderInvoiceState {
  invoiceKey: string;
  status: 'processing' | 'issued' | 'rejected';
  series?: string;
  number?: string;
  authorityCode?: string;
  issuedAt?: string;
  reason?: { code: string; message: string };
}

/** The signature headers of one request. */
export function signRequest(key: string, method: string, path: string, body: string, now = Date.now()): Record<string, string> {
  const ts = String(Math.floor(now / 1000));
  return { 'X-Timestamp': ts, 'X-Signature': createHmac('sha256', key).update(`${ts}.${method}.${path}.${body}`).digest('hex') };
}

export interface InvoiceProvider {
  /** Hands the invoice over; the provider answers `processing` (or what it decided already, for a key it has). */
  submit(r: ProviderInvoiceRequest): Promise<ProviderInvoiceState>;
  lookup(invoiceKey: string): Promise<ProviderInvoiceState>;
  /** The issued invoice's document, as the provider returns it. */
  document(invoiceKey: string): Promise<string>;
}

export function createInvoiceProvider(system: OutsideSystem): InvoiceProvider {
  const sign = (method: string, path: string, body: string) => signRequest(system.apiKey, method, path, body);
  const at = (key: string) => `/invoices/${encodeURIComponent(key)}`;
  return {
    submit: (r) => callJson<ProviderInvoiceState>(system, '/invoices', { body: r, sign }),
    lookup: (key) => callJson<ProviderInvoiceState>(system, at(key), { sign }),
    async document(key) {
      const url = `${system.baseUrl}${at(key)}/document`;
      const call = beginOutboundCall(system.timeoutMs ?? 10_000);
      let res: Response;
      let text: string;
      try {
        res = await fetch(url, {
          headers: { Authorization: `Bearer ${system.apiKey}`, ...sign('GET', new URL(url).pathname, '') },
          signal: call.signal,
        });
        text = await res.text();
      } catch (err) {
        throw call.failure(err, `${at(key)}/document`);
      } finally {
        call.done();
      }
      if (res.ok) return text;
      if (res.status === 429 || res.status >= 500)
        throw transientAnswer(`${at(key)}/document`, res.status, `http_${res.status}`, res.headers.get('Retry-After'));
      throw ApplicationFailure.nonRetryable(`${at(key)}/document: ${res.status}`, `http_${res.status}`);
    },
  };
}
