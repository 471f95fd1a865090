/**
 * The emulated tax service, driven over real HTTP by the OMS's own adapter
 * (activities/tax/service.ts): Basic authentication, its own calculation beside the tax the
 * seller charged, idempotency by the document's code, returns against committed sales only,
 * rates that move, and state that outlives a restart. The service's arithmetic is written apart
 * from the OMS's rule set, so where both agree on random lines, neither only agrees with itself.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTaxServiceClient, localTaxService, type TaxDocument } from '../../activities/tax/service';
import { DEV_SANDBOX_KEY, type Sandbox } from '../../sandbox/server';
import { SANDBOX_TAX_ACCOUNT, SANDBOX_TAX_COMPANY } from '../../sandbox/tax';
import { refusal, useSandboxes } from './helpers';

const sandboxes = useSandboxes();
const sandbox = (stateDir?: string) => sandboxes.start(stateDir);
const serviceAt = (sb: Sandbox, key = `${SANDBOX_TAX_ACCOUNT}:${DEV_SANDBOX_KEY}`, company = SANDBOX_TAX_COMPANY) =>
  createTaxServiceClient({ baseUrl: `${sb.url}/tax/v2`, apiKey: key }, company);

const sale = (code: string, over: Partial<TaxDocument> = {}): TaxDocument => ({
  code,
  orderId: 'order-web-1',
  kind: 'sale',
  currency: 'VND',
  date: '2026-12-03',
  customerCode: 'RETAIL',
  lines: [
    { no: 1, sku: 'TEA', rate: 10, gross: '110000.00', tax: '10000.00' },
    { no: 2, sku: 'RICE', rate: 8, gross: '99999.00', tax: '7407.00' },
    { no: 3, sku: 'SEEDS', rate: 'exempt', gross: '50000.00', tax: '0.00' },
  ],
  ...over,
});
const refund = (code: string, originalCode: string, gross: string, tax: string): TaxDocument => ({
  ...sale(code),
  kind: 'return',
  originalCode,
  lines: [{ no: 1, sku: 'TEA', rate: 10, gross, tax }],
});
const ledger = async (sb: Sandbox) =>
  ((await (await fetch(`${sb.url}/sandbox/ledger/tax`)).json()) as { transactions: { code: string; type: string; totalTax: string }[] })
    .transactions;

describe('the sandbox tax service', () => {
  it('refuses another account, another licence key or a Bearer key — and keeps nothing', async () => {
    const sb = await sandbox();
    expect((await refusal(serviceAt(sb, `${SANDBOX_TAX_ACCOUNT}:not-the-key`).commit(sale('t-1')))).type).toBe('unauthorized');
    expect((await refusal(serviceAt(sb, `someone-else:${DEV_SANDBOX_KEY}`).commit(sale('t-1')))).type).toBe('unauthorized');
    const bearer = await fetch(`${sb.url}/tax/v2/transactions/create`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${DEV_SANDBOX_KEY}`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(bearer.status).toBe(401);
    expect(await ledger(sb)).toEqual([]);
  });

  it('calculates every line itself and keeps the tax the seller charged beside it', async () => {
    const sb = await sandbox();
    const s = serviceAt(sb);
    // 110,000 đ at 10% holds 10,000; 99,999 đ at 8% holds 99,999 − 92,592 = 7,407; goods outside VAT none.
    const c = await s.commit(sale('t-calc'));
    expect(c).toMatchObject({ provider: 'tax-service', ref: 't-calc', tax: '17407.00', taxCalculated: '17407.00' });
    expect(c.lines).toEqual([
      { no: 1, tax: '10000.00', taxCalculated: '10000.00' },
      { no: 2, tax: '7407.00', taxCalculated: '7407.00' },
      { no: 3, tax: '0.00', taxCalculated: '0.00' },
    ]);
    // A seller that charged less than the law: the service keeps what was charged and says what it calculates.
    const under = await s.commit(sale('t-under', { lines: [{ no: 1, sku: 'TEA', rate: 10, gross: '110000.00', tax: '9000.00' }] }));
    expect(under).toMatchObject({ tax: '9000.00', taxCalculated: '10000.00' });
    // Cents where the currency has them: 10.00 USD at 10% holds 0.91.
    const usd = await s.commit(sale('t-usd', { currency: 'USD', lines: [{ no: 1, sku: 'TEA', rate: 10, gross: '10.00', tax: '0.91' }] }));
    expect(usd.taxCalculated).toBe('0.91');
  });

  it('agrees with the local rule set on random lines, rates and currencies (two calculations written apart)', async () => {
    const sb = await sandbox();
    const s = serviceAt(sb);
    const local = localTaxService();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('VND', 'USD'),
        fc.array(fc.tuple(fc.constantFrom<10 | 8 | 5 | 0 | 'exempt'>(10, 8, 5, 0, 'exempt'), fc.integer({ min: 1, max: 50_000_000 })), {
          minLength: 1,
          maxLength: 5,
        }),
        async (currency, ls) => {
          const doc = sale(`t-prop-${++n}`, {
            currency,
            lines: ls.map(([rate, units], i) => {
              const gross = currency === 'VND' ? `${units}.00` : `${Math.floor(units / 100)}.${String(units % 100).padStart(2, '0')}`;
              return { no: i + 1, sku: `S${i}`, rate, gross: gross === '0.00' ? '0.01' : gross, tax: '0.00' };
            }),
          });
          const [theirs, ours] = [await s.commit(doc), await local.commit(doc)];
          expect(theirs.lines.map((l) => l.taxCalculated)).toEqual(ours.lines.map((l) => l.taxCalculated));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('is idempotent by the code: the same document again is the same answer, another under its code is 409, a lost answer commits once', async () => {
    const sb = await sandbox();
    const s = serviceAt(sb);
    const first = await s.commit(sale('t-idem'));
    expect(await s.commit(sale('t-idem'))).toEqual(first);
    const other = await refusal(
      s.commit(sale('t-idem', { lines: [{ no: 1, sku: 'TEA', rate: 10, gross: '220000.00', tax: '20000.00' }] })),
    );
    expect(other.type).toBe('document_code_conflict');
    // The service commits, then the answer is lost: the OMS's next try finds it committed, once.
    await fetch(`${sb.url}/sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ service: 'tax', op: 'create', match: { orderId: 'order-web-2' }, action: 'lose_response', times: 1 }),
    });
    const lost = sale('t-lost', { orderId: 'order-web-2' });
    await expect(s.commit(lost)).rejects.toThrow(/500/);
    expect((await s.commit(lost)).ref).toBe('t-lost');
    expect((await ledger(sb)).map((t) => t.code).sort()).toEqual(['t-idem', 't-lost']);
  });

  it('refunds tax only against a committed sale, and never more than is left on it', async () => {
    const sb = await sandbox();
    const s = serviceAt(sb);
    expect((await refusal(s.commit(refund('r-0', 't-nope', '11000.00', '1000.00')))).type).toBe('original_not_committed');
    await s.commit(sale('t-sold'));
    expect((await refusal(s.commit(refund('r-1', 't-sold', '300000.00', '10000.00')))).type).toBe('return_exceeds_original');
    const r = await s.commit(refund('r-2', 't-sold', '110000.00', '10000.00'));
    expect(r).toMatchObject({ tax: '10000.00', taxCalculated: '10000.00' });
    await s.commit(refund('r-3', 't-sold', '149999.00', '7407.00'));
    expect((await refusal(s.commit(refund('r-4', 't-sold', '1.00', '0.00')))).type).toBe('return_exceeds_original');
    const kept = await ledger(sb);
    expect(kept.map((t) => [t.code, t.type, t.totalTax])).toEqual([
      ['t-sold', 'SalesInvoice', '17407.00'],
      ['r-2', 'ReturnInvoice', '-10000.00'],
      ['r-3', 'ReturnInvoice', '-7407.00'],
    ]);
  });

  it('refuses a tax code it does not know, a company it does not know, and a tax larger than its line', async () => {
    const sb = await sandbox();
    const odd = sale('t-odd', { lines: [{ no: 1, sku: 'TEA', rate: 7, gross: '107000.00', tax: '7000.00' }] });
    expect((await refusal(serviceAt(sb).commit(odd))).type).toBe('invalid_tax_code');
    expect((await refusal(serviceAt(sb, undefined, 'NOPE').commit(sale('t-co')))).type).toBe('company_not_found');
    const over = sale('t-over', { lines: [{ no: 1, sku: 'TEA', rate: 10, gross: '1000.00', tax: '2000.00' }] });
    expect((await refusal(serviceAt(sb).commit(over))).type).toBe('invalid_tax_override');
    expect(await ledger(sb)).toEqual([]);
  });

  it('moves a rate when told (a reduced rate ending): the same line is then calculated at the new rate', async () => {
    const sb = await sandbox();
    const s = serviceAt(sb);
    const rice = (code: string) => sale(code, { lines: [{ no: 1, sku: 'RICE', rate: 8, gross: '108000.00', tax: '8000.00' }] });
    expect((await s.commit(rice('t-before'))).taxCalculated).toBe('8000.00');
    const moved = await fetch(`${sb.url}/sandbox/tax/rates`, { method: 'POST', body: JSON.stringify({ 'VN-VAT-8': 10 }) });
    expect(moved.status).toBe(200);
    expect(await s.commit(rice('t-after'))).toMatchObject({ tax: '8000.00', taxCalculated: '9818.00' });
  });

  it('remembers committed transactions across a restart: the same document answers the same, returns go on against it', async () => {
    const dir = sandboxes.stateDir('tax-state-');
    let sb = await sandbox(dir);
    const first = await serviceAt(sb).commit(sale('t-kept'));
    await sandboxes.stop(sb);
    sb = await sandbox(dir);
    const s = serviceAt(sb);
    expect(await s.commit(sale('t-kept'))).toEqual(first);
    const read = await fetch(`${sb.url}/tax/v2/companies/${SANDBOX_TAX_COMPANY}/transactions/t-kept`, {
      headers: { Authorization: `Basic ${Buffer.from(`${SANDBOX_TAX_ACCOUNT}:${DEV_SANDBOX_KEY}`).toString('base64')}` },
    });
    expect(((await read.json()) as { status: string }).status).toBe('Committed');
    expect((await s.commit(refund('r-kept', 't-kept', '110000.00', '10000.00'))).tax).toBe('10000.00');
  });
});
