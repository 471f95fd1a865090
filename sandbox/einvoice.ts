/**
 * Emulated e-invoice provider (`/einvoice/v1`), with the habits of the licensed providers a
 * Vietnamese seller issues VAT invoices through:
 * - every request is signed: `X-Timestamp` (unix seconds, within 5 minutes) and `X-Signature`,
 *   hex HMAC-SHA256 with the seller's API key over `timestamp.METHOD.path.body`; a bad or stale
 *   signature is 401 with nothing done;
 * - idempotency by the seller's invoice key: the same key with the same invoice answers what it
 *   answered before; the same key with another invoice is 409 `invoice_key_reused` — unless the
 *   tax authority rejected the first, which may then be sent again corrected;
 * - issue is asynchronous: a submission answers 202 `processing`; the tax authority's check
 *   happens later (`autoProgress.stepMs` after it, decided when looked up, so it outlives a
 *   restart) and the lookup then says `issued` (series, number, the authority's code) or
 *   `rejected` with a reason: a buyer tax code the authority does not know (in this sandbox,
 *   any starting `000`), an adjustment of an invoice that is not issued, or one that takes more
 *   off an invoice than is left on it;
 * - a replacement (`type: 'replacement'`, a `note` saying why) replaces an issued invoice: once
 *   issued, the original's status is `replaced` and nothing more may adjust or replace it; an
 *   invoice that adjustments reduce is adjusted, not replaced (`original_adjusted`);
 * - malformed invoices (lines that do not add up to the totals) are 400 at once, with the reason;
 * - the issued invoice is downloadable (`/invoices/:key/document`) as the XML the provider keeps.
 * Faults: `einvoice` `issue` and `lookup`, matched on the invoice's `reference` (the order id).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { DECIMAL_RE, fromMinor, json, nowIso, stableStringify, toMinor, toResponse, type SandboxEnv } from './common';
import { preEffect, readFault } from './faults';

/** How far a request's timestamp may be from the provider's clock. */
export const SIGNATURE_WINDOW_S = 300;
/** The sandbox seller's invoice series: VAT invoice (1), coded by the tax authority (C), year, seller's symbol. */
const seriesFor = (at: Date) => `1C${String(at.getUTCFullYear()).slice(2)}TOM`;

const money = z.string().regex(DECIMAL_RE, 'must be a decimal amount');
const lineSchema = z.object({
  no: z.number().int().min(1),
  name: z.string().min(1).max(500),
  vatRate: z.union([z.literal(0), z.literal(5), z.literal(8), z.literal(10), z.literal('KCT')]),
  net: money,
  vat: money,
  gross: money,
});
const invoiceSchema = z.object({
  invoiceKey: z.string().min(1).max(120),
  reference: z.string().min(1).max(120),
  type: z.enum(['original', 'adjustment', 'replacement']),
  originalKey: z.string().min(1).max(120).optional(),
  note: z.string().min(1).max(500).optional(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  buyer: z.object({
    name: z.string().min(1).max(400),
    taxCode: z
      .string()
      .regex(/^\d{10}(-\d{3})?$/, 'must be a 10-digit tax code, with a 3-digit branch suffix or none')
      .optional(),
    email: z.string().max(200).optional(),
    address: z.string().max(800).optional(),
  }),
  lines: z.array(lineSchema).min(1).max(500),
  totals: z.object({ net: money, vat: money, gross: money }),
});
type InvoiceRequest = z.infer<typeof invoiceSchema>;

export interface ProviderInvoice {
  invoiceKey: string;
  fingerprint: string;
  request: InvoiceRequest;
  status: 'processing' | 'issued' | 'rejected' | 'replaced';
  /** The invoice that replaced this one. */
  replacedBy?: string;
  submittedAt: string;
  series?: string;
  number?: string;
  authorityCode?: string;
  issuedAt?: string;
  reason?: { code: string; message: string };
  /** Submissions of this key (a rejected invoice may be sent again). */
  submissions: number;
}

const sign = (key: string, payload: string) => createHmac('sha256', key).update(payload).digest('hex');

/** Lines that add up: each line's net + VAT is its gross, and the lines sum to the totals. */
function arithmeticProblem(r: InvoiceRequest): string | undefined {
  for (const l of r.lines) if (toMinor(l.net) + toMinor(l.vat) !== toMinor(l.gross)) return `line ${l.no}: net + vat is not gross`;
  for (const k of ['net', 'vat', 'gross'] as const) {
    const total = r.lines.reduce((a, l) => a + toMinor(l[k]), 0);
    if (total !== toMinor(r.totals[k])) return `totals.${k} is ${r.totals[k]} but the lines add up to ${fromMinor(total)}`;
  }
  if (toMinor(r.totals.gross) <= 0) return 'an invoice of nothing';
  return undefined;
}

/** Builds the e-invoice provider API and its ledger route over the stored state. */
export function createEInvoice(env: SandboxEnv, key: string) {
  const invoices = env.state.map<ProviderInvoice>('einvoice.invoice');
  const counters = env.state.map<{ series: string; last: number }>('einvoice.counter');
  const save = (i: ProviderInvoice) => env.state.put('einvoice.invoice', i.invoiceKey, i);

  /** What an adjustment may still take off an original: its gross less the adjustments issued against it. */
  const openOn = (originalKey: string) =>
    toMinor(invoices.get(originalKey)!.request.totals.gross) -
    [...invoices.values()]
      .filter((i) => i.request.originalKey === originalKey && i.status === 'issued')
      .reduce((a, i) => a + toMinor(i.request.totals.gross), 0);

  /** The tax authority's check, once its time has come: issued with the next number, or rejected with a reason. */
  const settle = (i: ProviderInvoice): ProviderInvoice => {
    if (i.status !== 'processing' || Date.now() < Date.parse(i.submittedAt) + env.config.autoProgress.stepMs) return i;
    const r = i.request;
    const reject = (code: string, message: string) => ({ ...i, status: 'rejected' as const, reason: { code, message } });
    let next: ProviderInvoice;
    const original = r.originalKey ? invoices.get(r.originalKey) : undefined;
    if (r.buyer.taxCode?.startsWith('000')) next = reject('buyer_tax_code_unknown', `the tax authority has no taxpayer ${r.buyer.taxCode}`);
    else if (original?.status === 'replaced')
      next = reject('original_replaced', `invoice ${r.originalKey!} was replaced by ${original.replacedBy ?? '?'}: it no longer counts`);
    else if (r.type !== 'original' && original?.status !== 'issued')
      next = reject('original_not_issued', `invoice ${r.originalKey ?? '?'} is not an issued invoice`);
    else if (r.type === 'replacement' && openOn(r.originalKey!) !== toMinor(original!.request.totals.gross))
      next = reject('original_adjusted', `invoice ${r.originalKey!} has adjustments: it is adjusted, not replaced`);
    else if (r.type === 'adjustment' && toMinor(r.totals.gross) > openOn(r.originalKey!))
      next = reject(
        'adjustment_exceeds_original',
        `${r.totals.gross} is more than the ${fromMinor(openOn(r.originalKey!))} left on ${r.originalKey}`,
      );
    else {
      const at = new Date();
      const series = seriesFor(at);
      const counter = { series, last: (counters.get(series)?.last ?? 0) + 1 };
      counters.set(series, counter);
      env.state.put('einvoice.counter', series, counter);
      const number = String(counter.last).padStart(8, '0');
      next = {
        ...i,
        status: 'issued',
        series,
        number,
        issuedAt: at.toISOString(),
        authorityCode: `M1-${series.slice(2, 4)}-SBX01-${number.padStart(11, '0')}`,
      };
    }
    invoices.set(i.invoiceKey, next);
    save(next);
    if (next.status === 'issued' && r.type === 'replacement') {
      const replaced = { ...original!, status: 'replaced' as const, replacedBy: i.invoiceKey };
      invoices.set(replaced.invoiceKey, replaced);
      save(replaced);
    }
    return next;
  };

  const view = (i: ProviderInvoice) => ({
    invoiceKey: i.invoiceKey,
    status: i.status,
    ...(i.series ? { series: i.series, number: i.number, authorityCode: i.authorityCode, issuedAt: i.issuedAt } : {}),
    ...(i.reason ? { reason: i.reason } : {}),
    ...(i.replacedBy ? { replacedBy: i.replacedBy } : {}),
  });

  const api = new Hono();
  // Signed requests only: the signature covers the timestamp, the method, the path and the body.
  api.use('*', async (c, next) => {
    const ts = c.req.header('X-Timestamp') ?? '';
    const given = c.req.header('X-Signature') ?? '';
    if (!/^\d{1,12}$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > SIGNATURE_WINDOW_S)
      return json(401, { error: 'stale_or_missing_timestamp' });
    const body = c.req.method === 'GET' ? '' : await c.req.raw.clone().text();
    const want = Buffer.from(sign(key, `${ts}.${c.req.method}.${new URL(c.req.url).pathname}.${body}`));
    const got = Buffer.from(given);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return json(401, { error: 'bad_signature' });
    return next();
  });

  api.post('/invoices', async (c) => {
    let raw: unknown;
    try {
      raw = JSON.parse(await c.req.text());
    } catch {
      return json(400, { error: 'invalid_request', detail: 'body is not valid JSON' });
    }
    const p = invoiceSchema.safeParse(raw);
    if (!p.success)
      return json(400, { error: 'invalid_request', detail: p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
    const r = p.data;
    const missing =
      r.type !== 'original' && !r.originalKey
        ? `an ${r.type} names the invoice it ${r.type === 'adjustment' ? 'adjusts' : 'replaces'} (originalKey)`
        : r.type === 'replacement' && !r.note
          ? 'a replacement says why it replaces the original (note)'
          : undefined;
    if (missing) return json(400, { error: 'invalid_request', detail: missing });
    const problem = arithmeticProblem(r);
    if (problem) return json(400, { error: 'invoice_does_not_add_up', detail: problem });
    const fault = env.faults.take('einvoice', 'issue', { orderId: r.reference });
    const pre = await preEffect(fault, env.stopSignal);
    if (pre) return toResponse(pre);
    const fingerprint = stableStringify(raw);
    const known = invoices.get(r.invoiceKey);
    let answer: ProviderInvoice;
    if (known && known.status !== 'rejected') {
      if (known.fingerprint !== fingerprint)
        return json(409, { error: 'invoice_key_reused', detail: `${r.invoiceKey} was issued for another invoice` });
      answer = settle(known);
    } else if (known && known.fingerprint === fingerprint) {
      answer = known; // the same rejected invoice again: the same answer
    } else {
      answer = {
        invoiceKey: r.invoiceKey,
        fingerprint,
        request: r,
        status: 'processing',
        submittedAt: nowIso(),
        submissions: (known?.submissions ?? 0) + 1,
      };
      invoices.set(r.invoiceKey, answer);
      save(answer);
    }
    const out = toResponse({ status: answer.status === 'processing' ? 202 : 200, body: view(answer) });
    // After the effect: the invoice is with the provider, the answer lost on the way.
    return fault?.action === 'lose_response' ? json(500, { error: 'internal' }) : out;
  });

  const lookup = async (c: Context) => {
    const k = c.req.param('invoiceKey') ?? '';
    const known = invoices.get(k);
    if (!known) return { response: json(404, { error: 'invoice_not_found' }) };
    const pre = await readFault(env.faults, 'einvoice', 'lookup', { orderId: known.request.reference }, env.stopSignal);
    if (pre) return { response: toResponse(pre) };
    return { invoice: settle(known) };
  };
  api.get('/invoices/:invoiceKey', async (c) => {
    const l = await lookup(c);
    return l.response ?? json(200, view(l.invoice));
  });
  api.get('/invoices/:invoiceKey/document', async (c) => {
    const l = await lookup(c);
    if (l.response) return l.response;
    if (l.invoice.status !== 'issued' && l.invoice.status !== 'replaced')
      return json(409, { error: 'not_issued', status: l.invoice.status });
    return new Response(documentXml(l.invoice), { status: 200, headers: { 'Content-Type': 'application/xml; charset=UTF-8' } });
  });

  const control = new Hono();
  control.get('/ledger/invoices', (c) => {
    const reference = c.req.query('reference');
    return json(200, { invoices: [...invoices.values()].filter((i) => !reference || i.request.reference === reference).map(settle) });
  });
  return {
    api,
    control,
    reset: () => {
      invoices.clear();
      counters.clear();
    },
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The invoice as the provider keeps it: header, buyer, lines and totals (shaped after a VAT e-invoice, not the official schema). */
function documentXml(i: ProviderInvoice): string {
  const r = i.request;
  const el = (name: string, v: string | undefined) => (v === undefined ? '' : `<${name}>${esc(v)}</${name}>`);
  const lines = r.lines
    .map(
      (l) =>
        `<Line>${el('No', String(l.no))}${el('Name', l.name)}${el('VatRate', String(l.vatRate))}${el('Net', l.net)}${el('Vat', l.vat)}${el('Gross', l.gross)}</Line>`,
    )
    .join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<Invoice>` +
    `<Header>${el('Type', r.type)}${el('Series', i.series)}${el('Number', i.number)}${el('AuthorityCode', i.authorityCode)}${el('IssuedAt', i.issuedAt)}` +
    `${el('Currency', r.currency)}${el('SellerKey', r.invoiceKey)}${el(r.type === 'replacement' ? 'Replaces' : 'Adjusts', r.originalKey)}${el('Note', r.note)}</Header>` +
    `<Buyer>${el('Name', r.buyer.name)}${el('TaxCode', r.buyer.taxCode)}${el('Address', r.buyer.address)}${el('Email', r.buyer.email)}</Buyer>` +
    `<Lines>${lines}</Lines><Totals>${el('Net', r.totals.net)}${el('Vat', r.totals.vat)}${el('Gross', r.totals.gross)}</Totals></Invoice>\n`
  );
}
