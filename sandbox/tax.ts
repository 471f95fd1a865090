/**
 * Emulated tax service (`/tax/v2`), shaped after the Avalara-style transaction APIs a seller
 * commits its tax through, with their habits:
 * - HTTP Basic authentication with the account id and licence key (`Authorization: Basic
 *   base64(account:licenceKey)`); anything else is 401 with nothing done;
 * - `POST /transactions/create` calculates the tax of every line itself, from the line's amount,
 *   whether the amount includes tax, and the line's tax code (`VN-VAT-10`, `-8`, `-5`, `-0`,
 *   `-EXEMPT`; any other is 400 `invalid_tax_code`), rounded half away from zero to what the
 *   currency can carry (VND: whole đồng). A line may override the tax with the amount the seller
 *   charged (`taxOverride: { type: 'TaxAmount' }`); the answer then carries both the tax kept and
 *   the tax the service calculated, so a seller sees where its own arithmetic parts from the
 *   service's;
 * - `commit: true` records the transaction (`Committed`), idempotent by its `code`: the same
 *   transaction again answers what was recorded; another transaction under a code already
 *   committed is 409 `document_code_conflict`. `commit: false` is an estimate, never kept;
 * - a `ReturnInvoice` carries negative amounts and names the committed `SalesInvoice` it refunds
 *   (`referenceCode`): an unknown or uncommitted original is 400 `original_not_committed`, a
 *   return of more than is left on the original 400 `return_exceeds_original`;
 * - committed transactions outlive a restart; `GET /companies/:company/transactions/:code` reads one;
 * - its rates move when the law does (the 8% reduced rate has an end date): `POST /sandbox/tax/rates`.
 * Faults: `tax` `create`, matched on the transaction's `purchaseOrderNo` (the order id).
 * The arithmetic here is the service's own, written apart from the OMS's rule set (domain/tax.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import { json, nowIso, stableStringify, toResponse, type SandboxEnv } from './common';
import { preEffect } from './faults';

/** The sandbox seller's account with the tax service (its licence key is the sandbox merchant key). */
export const SANDBOX_TAX_ACCOUNT = 'oms-sandbox';
export const SANDBOX_TAX_COMPANY = 'OMS-VN';

/** Percent by tax code: Vietnamese VAT as the service knows it today (a service updates its rates when the law changes). */
const RATES: Readonly<Record<string, number>> = {
  'VN-VAT-10': 10,
  'VN-VAT-8': 8,
  'VN-VAT-5': 5,
  'VN-VAT-0': 0,
  'VN-VAT-EXEMPT': 0,
};
/** Decimals a currency carries, where fewer than two. */
const DIGITS: Readonly<Record<string, number>> = { VND: 0, JPY: 0, KRW: 0 };

const SIGNED_DECIMAL = /^-?\d{1,15}(\.\d{1,2})?$/;
const amount = z.string().regex(SIGNED_DECIMAL, 'must be a decimal amount');
const lineSchema = z.object({
  number: z.string().min(1).max(50),
  itemCode: z.string().min(1).max(120),
  description: z.string().max(500).optional(),
  taxCode: z.string().min(1).max(25),
  amount,
  taxIncluded: z.boolean(),
  taxOverride: z.object({ type: z.literal('TaxAmount'), taxAmount: amount, reason: z.string().min(1).max(200) }).optional(),
});
const transactionSchema = z.object({
  type: z.enum(['SalesInvoice', 'ReturnInvoice', 'SalesOrder']),
  code: z.string().min(1).max(120),
  companyCode: z.string().min(1).max(50),
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date (YYYY-MM-DD)'),
  customerCode: z.string().min(1).max(120),
  purchaseOrderNo: z.string().max(120).optional(),
  currencyCode: z.string().regex(/^[A-Z]{3}$/),
  referenceCode: z.string().max(120).optional(),
  commit: z.boolean(),
  lines: z.array(lineSchema).min(1).max(1000),
});
type TransactionRequest = z.infer<typeof transactionSchema>;

export interface TaxTransaction {
  id: number;
  code: string;
  type: TransactionRequest['type'];
  status: 'Committed' | 'Temporary';
  fingerprint: string;
  purchaseOrderNo?: string | undefined;
  referenceCode?: string | undefined;
  currencyCode: string;
  date: string;
  committedAt?: string;
  totalAmount: string;
  totalTax: string;
  totalTaxCalculated: string;
  lines: { lineNumber: string; itemCode: string; taxCode: string; rate: number; lineAmount: string; tax: string; taxCalculated: string }[];
}

/** Cents (two decimals) of a signed decimal string, exactly. */
function cents(s: string): bigint {
  const neg = s.startsWith('-');
  const [w, f = ''] = (neg ? s.slice(1) : s).split('.');
  const v = BigInt(w!) * 100n + BigInt((f + '00').slice(0, 2));
  return neg ? -v : v;
}
function decimal(c: bigint): string {
  const neg = c < 0n;
  const a = neg ? -c : c;
  return `${neg ? '-' : ''}${a / 100n}.${String(a % 100n).padStart(2, '0')}`;
}
/** n ÷ d rounded half away from zero (d > 0). */
function divRound(n: bigint, d: bigint): bigint {
  const q = ((n < 0n ? -n : n) * 2n + d) / (2n * d);
  return n < 0n ? -q : q;
}

/** The tax of one line as the service calculates it, in cents. */
function calculate(amountCents: bigint, rate: number, taxIncluded: boolean, currency: string): bigint {
  const unit = 10n ** BigInt(2 - Math.min(DIGITS[currency] ?? 2, 2)); // cents per smallest unit
  if (rate === 0) return 0n;
  if (taxIncluded) {
    const net = divRound(amountCents * 100n, BigInt(100 + rate) * unit) * unit;
    return amountCents - net;
  }
  return divRound(amountCents * BigInt(rate), 100n * unit) * unit;
}

function problem(r: TransactionRequest, rates: Readonly<Record<string, number>>): { code: string; detail: string } | undefined {
  for (const l of r.lines) {
    if (!(l.taxCode in rates)) return { code: 'invalid_tax_code', detail: `line ${l.number}: no tax code ${l.taxCode}` };
    const a = cents(l.amount);
    if (r.type === 'ReturnInvoice' ? a > 0n : a < 0n)
      return {
        code: 'invalid_amount_sign',
        detail: `line ${l.number}: a ${r.type} carries ${r.type === 'ReturnInvoice' ? 'negative' : 'positive'} amounts`,
      };
    if (l.taxOverride) {
      const t = cents(l.taxOverride.taxAmount);
      const abs = (x: bigint) => (x < 0n ? -x : x);
      if ((t !== 0n && t < 0n !== a < 0n) || abs(t) > abs(a))
        return { code: 'invalid_tax_override', detail: `line ${l.number}: a tax of ${l.taxOverride.taxAmount} on ${l.amount}` };
    }
  }
  if (r.type === 'ReturnInvoice' && !r.referenceCode)
    return { code: 'missing_reference', detail: 'a ReturnInvoice names the SalesInvoice it refunds (referenceCode)' };
  return undefined;
}

/** Builds the tax service API and its ledger route over the stored state. */
export function createTaxService(env: SandboxEnv, licenceKey: string) {
  const transactions = env.state.map<TaxTransaction>('tax.transaction');
  // The rates in force: a test moves one as a law would (`POST /sandbox/tax/rates`), between an order's quote and its commit.
  let rates: Record<string, number> = { ...RATES };
  const save = (t: TaxTransaction) => env.state.put('tax.transaction', t.code, t);
  const expected = Buffer.from(`Basic ${Buffer.from(`${SANDBOX_TAX_ACCOUNT}:${licenceKey}`).toString('base64')}`);

  /** What a return may still refund of a committed sale: its amount less the returns committed against it. */
  const leftOn = (code: string) =>
    cents(transactions.get(code)!.totalAmount) +
    [...transactions.values()]
      .filter((t) => t.type === 'ReturnInvoice' && t.referenceCode === code && t.status === 'Committed')
      .reduce((a, t) => a + cents(t.totalAmount), 0n);

  const api = new Hono();
  api.use('*', async (c, next) => {
    const got = Buffer.from(c.req.header('Authorization') ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) return json(401, { error: 'unauthorized' });
    return next();
  });

  api.post('/transactions/create', async (c) => {
    let raw: unknown;
    try {
      raw = JSON.parse(await c.req.text());
    } catch {
      return json(400, { error: 'invalid_request', detail: 'body is not valid JSON' });
    }
    const p = transactionSchema.safeParse(raw);
    if (!p.success)
      return json(400, { error: 'invalid_request', detail: p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
    const r = p.data;
    if (r.companyCode !== SANDBOX_TAX_COMPANY) return json(400, { error: 'company_not_found', detail: `no company ${r.companyCode}` });
    const bad = problem(r, rates);
    if (bad) return json(400, { error: bad.code, detail: bad.detail });
    const fault = env.faults.take('tax', 'create', { orderId: r.purchaseOrderNo });
    const pre = await preEffect(fault, env.stopSignal);
    if (pre) return toResponse(pre);
    const fingerprint = stableStringify(raw);
    const known = transactions.get(r.code);
    if (r.commit && known) {
      if (known.fingerprint !== fingerprint)
        return json(409, { error: 'document_code_conflict', detail: `${r.code} is committed as another transaction` });
      return json(200, view(known));
    }
    const lines = r.lines.map((l) => {
      const a = cents(l.amount);
      const rate = rates[l.taxCode]!;
      const calculated = calculate(a, rate, l.taxIncluded, r.currencyCode);
      const tax = l.taxOverride ? cents(l.taxOverride.taxAmount) : calculated;
      return { lineNumber: l.number, itemCode: l.itemCode, taxCode: l.taxCode, rate, a, tax, calculated };
    });
    const total = lines.reduce((s, l) => s + l.a, 0n);
    if (r.commit && r.type === 'ReturnInvoice') {
      const original = transactions.get(r.referenceCode!);
      if (original?.type !== 'SalesInvoice' || original.status !== 'Committed')
        return json(400, { error: 'original_not_committed', detail: `${r.referenceCode} is not a committed SalesInvoice` });
      if (-total > leftOn(r.referenceCode!))
        return json(400, {
          error: 'return_exceeds_original',
          detail: `${decimal(-total)} is more than the ${decimal(leftOn(r.referenceCode!))} left on ${r.referenceCode}`,
        });
    }
    const t: TaxTransaction = {
      id: transactions.size + 1,
      code: r.code,
      type: r.type,
      status: r.commit && r.type !== 'SalesOrder' ? 'Committed' : 'Temporary',
      fingerprint,
      purchaseOrderNo: r.purchaseOrderNo,
      referenceCode: r.referenceCode,
      currencyCode: r.currencyCode,
      date: r.date,
      totalAmount: decimal(total),
      totalTax: decimal(lines.reduce((s, l) => s + l.tax, 0n)),
      totalTaxCalculated: decimal(lines.reduce((s, l) => s + l.calculated, 0n)),
      lines: lines.map((l) => ({
        lineNumber: l.lineNumber,
        itemCode: l.itemCode,
        taxCode: l.taxCode,
        rate: l.rate,
        lineAmount: decimal(l.a),
        tax: decimal(l.tax),
        taxCalculated: decimal(l.calculated),
      })),
    };
    if (t.status === 'Committed') {
      t.committedAt = nowIso();
      transactions.set(t.code, t);
      save(t);
    }
    const out = json(t.status === 'Committed' ? 201 : 200, view(t));
    // After the effect: the transaction is committed, the answer lost on the way.
    return fault?.action === 'lose_response' ? json(500, { error: 'internal' }) : out;
  });

  api.get('/companies/:company/transactions/:code', (c) => {
    const t = c.req.param('company') === SANDBOX_TAX_COMPANY ? transactions.get(c.req.param('code')) : undefined;
    return t ? json(200, view(t)) : json(404, { error: 'entity_not_found' });
  });

  const control = new Hono();
  control.get('/ledger/tax', (c) => {
    const order = c.req.query('purchaseOrderNo');
    return json(200, { transactions: [...transactions.values()].filter((t) => !order || t.purchaseOrderNo === order).map(view) });
  });
  control.get('/tax/rates', () => json(200, rates));
  control.post('/tax/rates', async (c) => {
    const p = z
      .partialRecord(z.enum(Object.keys(RATES) as [string, ...string[]]), z.number().int().min(0).max(100))
      .safeParse(await c.req.json());
    if (!p.success) return json(400, { error: 'invalid_request', detail: p.error.issues.map((i) => i.message).join('; ') });
    rates = { ...rates, ...(p.data as Record<string, number>) };
    return json(200, rates);
  });
  return {
    api,
    control,
    reset: () => {
      transactions.clear();
      rates = { ...RATES };
    },
  };
}

/** A transaction as the service shows it (without the fingerprint it deduplicates by). */
function view(t: TaxTransaction): Omit<TaxTransaction, 'fingerprint'> {
  return Object.fromEntries(Object.entries(t).filter(([k]) => k !== 'fingerprint')) as Omit<TaxTransaction, 'fingerprint'>;
}
