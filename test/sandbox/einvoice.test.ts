/**
 * The emulated e-invoice provider, driven over real HTTP by the OMS's own client
 * (activities/invoicing/provider.ts): signed requests, idempotency by the seller's invoice key,
 * asynchronous issue with a lookup, rejections with reasons, and state that outlives a restart.
 */
import { describe, expect, it } from 'vitest';
import { createInvoiceProvider, signRequest, type ProviderInvoiceRequest } from '../../activities/invoicing/provider';
import { DEV_SANDBOX_KEY, type Sandbox } from '../../sandbox/server';
import { refusal, sleep, useSandboxes, waitFor } from './helpers';

// Long enough that a lookup right after a submission lands inside the check even on a busy machine.
const STEP_MS = 400;
const sandboxes = useSandboxes({ autoProgress: { enabled: false, stepMs: STEP_MS } });
const sandbox = (stateDir?: string) => sandboxes.start(stateDir);
const providerAt = (sb: Sandbox) => createInvoiceProvider({ baseUrl: `${sb.url}/einvoice/v1`, apiKey: DEV_SANDBOX_KEY });

const sale = (key: string, over: Partial<ProviderInvoiceRequest> = {}): ProviderInvoiceRequest => ({
  invoiceKey: key,
  reference: 'order-1',
  type: 'original',
  currency: 'VND',
  buyer: { name: 'Công ty TNHH Ví Dụ', taxCode: '0312345678', address: '1 Lê Lợi, Quận 1, TP HCM, VN' },
  lines: [
    { no: 1, name: 'TEA', vatRate: 10, net: '100000.00', vat: '10000.00', gross: '110000.00' },
    { no: 2, name: 'BOOK', vatRate: 5, net: '100000.00', vat: '5000.00', gross: '105000.00' },
  ],
  totals: { net: '200000.00', vat: '15000.00', gross: '215000.00' },
  ...over,
});
const adjustment = (key: string, originalKey: string, gross: string): ProviderInvoiceRequest => ({
  ...sale(key),
  type: 'adjustment',
  originalKey,
  lines: [{ no: 1, name: 'TEA', vatRate: 'KCT', net: gross, vat: '0.00', gross }],
  totals: { net: gross, vat: '0.00', gross },
});

async function issued(sb: Sandbox, key: string) {
  const p = providerAt(sb);
  return waitFor(async () => {
    const s = await p.lookup(key);
    return s.status !== 'processing' && s;
  }, 3000);
}

describe('the sandbox e-invoice provider', () => {
  it('refuses a request that is unsigned, signed with another key, signed for another body or too old — and keeps nothing', async () => {
    const sb = await sandbox();
    const url = `${sb.url}/einvoice/v1/invoices`;
    const path = '/einvoice/v1/invoices';
    const body = JSON.stringify(sale('k-sig'));
    const post = (headers: Record<string, string>) =>
      fetch(url, {
        method: 'POST',
        body,
        headers: { Authorization: `Bearer ${DEV_SANDBOX_KEY}`, 'Content-Type': 'application/json', ...headers },
      });
    expect((await post({})).status).toBe(401);
    expect((await post(signRequest('another-key', 'POST', path, body))).status).toBe(401);
    expect((await post(signRequest(DEV_SANDBOX_KEY, 'POST', path, JSON.stringify(sale('k-other'))))).status).toBe(401);
    const stale = await post(signRequest(DEV_SANDBOX_KEY, 'POST', path, body, Date.now() - 10 * 60_000));
    expect(stale.status).toBe(401);
    expect(await stale.json()).toEqual({ error: 'stale_or_missing_timestamp' });
    const ledger = (await (await fetch(`${sb.url}/sandbox/ledger/invoices`)).json()) as { invoices: unknown[] };
    expect(ledger.invoices).toEqual([]);
    // Signed properly, the same body is taken.
    expect((await post(signRequest(DEV_SANDBOX_KEY, 'POST', path, body))).status).toBe(202);
  });

  it('issues asynchronously: processing first, then a series and the next number; the document is downloadable', async () => {
    const sb = await sandbox();
    const p = providerAt(sb);
    expect(await p.submit(sale('k-1'))).toEqual({ invoiceKey: 'k-1', status: 'processing' });
    expect((await p.lookup('k-1')).status).toBe('processing');
    await expect(p.document('k-1')).rejects.toThrow(/409/);
    await p.submit(sale('k-2'));
    const first = await issued(sb, 'k-1');
    const second = await issued(sb, 'k-2');
    expect(first).toMatchObject({ status: 'issued', series: expect.stringMatching(/^1C\d{2}TOM$/) as unknown, number: '00000001' });
    expect(second.number).toBe('00000002');
    const xml = await p.document('k-1');
    expect(xml).toContain('<Number>00000001</Number>');
    expect(xml).toContain('<TaxCode>0312345678</TaxCode>');
    expect(xml).toContain('<Gross>215000.00</Gross>');
  });

  it('deduplicates by the seller key: the same invoice again answers the same, another invoice under the key is refused', async () => {
    const sb = await sandbox();
    const p = providerAt(sb);
    await p.submit(sale('k-dup'));
    const done = await issued(sb, 'k-dup');
    expect(await p.submit(sale('k-dup'))).toEqual(done);
    const reused = await refusal(
      p.submit(
        sale('k-dup', {
          totals: { net: '1.00', vat: '0.00', gross: '1.00' },
          lines: [{ no: 1, name: 'x', vatRate: 0, net: '1.00', vat: '0.00', gross: '1.00' }],
        }),
      ),
    );
    expect(reused.type).toBe('invoice_key_reused');
    expect(reused.nonRetryable).toBe(true);
    const ledger = (await (await fetch(`${sb.url}/sandbox/ledger/invoices`)).json()) as { invoices: { number?: string }[] };
    expect(ledger.invoices.map((i) => i.number)).toEqual(['00000001']);
  });

  it('refuses at once an invoice whose lines do not add up, saying which', async () => {
    const sb = await sandbox();
    const bad = sale('k-bad', { totals: { net: '200000.00', vat: '15000.00', gross: '215001.00' } });
    const err = await refusal(providerAt(sb).submit(bad));
    expect(err.type).toBe('invoice_does_not_add_up');
  });

  it('rejects after its check: a buyer tax code the authority does not know; sent again corrected, the key is issued', async () => {
    const sb = await sandbox();
    const p = providerAt(sb);
    await p.submit(sale('k-tax', { buyer: { name: 'Hộ kinh doanh', taxCode: '0001234567' } }));
    expect(await issued(sb, 'k-tax')).toMatchObject({ status: 'rejected', reason: { code: 'buyer_tax_code_unknown' } });
    await p.submit(sale('k-tax', { buyer: { name: 'Hộ kinh doanh', taxCode: '0312345678' } }));
    expect(await issued(sb, 'k-tax')).toMatchObject({ status: 'issued', number: '00000001' });
  });

  it('adjustments: of an issued invoice up to what is left on it; more, or of an invoice not issued, is rejected with the reason', async () => {
    const sb = await sandbox();
    const p = providerAt(sb);
    await p.submit(sale('k-orig'));
    await p.submit(adjustment('k-early', 'k-orig', '10000.00'));
    expect(await issued(sb, 'k-early')).toMatchObject({ status: 'rejected', reason: { code: 'original_not_issued' } });
    await issued(sb, 'k-orig');
    await p.submit(adjustment('k-adj-1', 'k-orig', '200000.00'));
    expect(await issued(sb, 'k-adj-1')).toMatchObject({ status: 'issued' });
    await p.submit(adjustment('k-adj-2', 'k-orig', '15001.00'));
    expect(await issued(sb, 'k-adj-2')).toMatchObject({ status: 'rejected', reason: { code: 'adjustment_exceeds_original' } });
    await p.submit(adjustment('k-adj-3', 'k-orig', '15000.00'));
    expect(await issued(sb, 'k-adj-3')).toMatchObject({ status: 'issued' });
    expect(await p.document('k-adj-3')).toContain('<Adjusts>k-orig</Adjusts>');
  });

  it('replacements: of an issued invoice, saying why; the original then no longer counts — not adjusted, not replaced again', async () => {
    const sb = await sandbox();
    const p = providerAt(sb);
    const replacement = (key: string, originalKey: string, over: Partial<ProviderInvoiceRequest> = {}) =>
      sale(key, { type: 'replacement', originalKey, note: 'the buyer gave its parent company’s tax code', ...over });
    // Without saying why: refused at once.
    expect((await refusal(p.submit(replacement('k-r0', 'k-first', { note: undefined })))).type).toBe('invalid_request');
    await p.submit(sale('k-first', { buyer: { name: 'Công ty Mẹ', taxCode: '0312345678' } }));
    await p.submit(replacement('k-r-early', 'k-first'));
    expect(await issued(sb, 'k-r-early')).toMatchObject({ status: 'rejected', reason: { code: 'original_not_issued' } });
    await issued(sb, 'k-first');
    await p.submit(replacement('k-r1', 'k-first', { buyer: { name: 'Công ty Con', taxCode: '0312345678-001' } }));
    expect(await issued(sb, 'k-r1')).toMatchObject({ status: 'issued', number: '00000002' });
    expect(await p.lookup('k-first')).toMatchObject({ status: 'replaced', replacedBy: 'k-r1' });
    const xml = await p.document('k-r1');
    expect(xml).toContain('<Replaces>k-first</Replaces>');
    expect(xml).toContain('<TaxCode>0312345678-001</TaxCode>');
    // The replaced invoice takes no adjustment and no second replacement; its replacement does.
    await p.submit(adjustment('k-adj-old', 'k-first', '1000.00'));
    expect(await issued(sb, 'k-adj-old')).toMatchObject({ status: 'rejected', reason: { code: 'original_replaced' } });
    await p.submit(replacement('k-r2', 'k-first'));
    expect(await issued(sb, 'k-r2')).toMatchObject({ status: 'rejected', reason: { code: 'original_replaced' } });
    await p.submit(adjustment('k-adj-new', 'k-r1', '1000.00'));
    expect(await issued(sb, 'k-adj-new')).toMatchObject({ status: 'issued' });
    // An invoice adjustments reduce is adjusted, not replaced.
    await p.submit(replacement('k-r3', 'k-r1'));
    expect(await issued(sb, 'k-r3')).toMatchObject({ status: 'rejected', reason: { code: 'original_adjusted' } });
  });

  it('remembers across a restart: issued invoices keep their numbers, one in its check is decided after, numbering goes on', async () => {
    const dir = sandboxes.stateDir('einvoice-state-');
    let sb = await sandbox(dir);
    let p = providerAt(sb);
    await p.submit(sale('k-a'));
    const a = await issued(sb, 'k-a');
    await p.submit(sale('k-b'));
    await sandboxes.stop(sb);
    await sleep(STEP_MS);
    sb = await sandbox(dir);
    p = providerAt(sb);
    expect(await p.lookup('k-a')).toEqual(a);
    expect(await issued(sb, 'k-b')).toMatchObject({ status: 'issued', number: '00000002' });
    expect(await p.submit(sale('k-a'))).toEqual(a);
    await p.submit(sale('k-c'));
    expect((await issued(sb, 'k-c')).number).toBe('00000003');
  });
});
