/**
 * VAT quoted at intake (docs/back-office.md, Tax): admins give products their VAT category through
 * the catalog API; an order taken in through the real API carries its quote — per line by the
 * category, shipping as a service, the discount shared — and the quote adds up to the order's
 * total. Real PostgreSQL and Temporal behind the real app; the order goes on to be delivered.
 * Prices without tax (a B2B price list, a store that adds tax at checkout): the tax goes on top,
 * the gateway charges it, and the journal, the e-invoice and the tax service carry it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toMinor } from '../../domain/money';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
beforeAll(async () => {
  // The POS sells from a wholesale price list: its prices exclude tax unless an order says otherwise.
  stack = await startTestStack({
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } },
    orderSettings: { pricesExcludeTax: ['pos'] },
  });
  await seedNetwork(stack.db.sql, { 'TAX-TEE': { 'WH-HCM': 10 }, 'TAX-RICE': { 'WH-HCM': 10 } });
});
afterAll(async () => {
  await stack?.close();
});

/** A B2B order: 2 × 100,000 đ T-shirt (10%), 1 × 100,000 đ rice (5%), shipping 30,000 đ, prices without tax. */
const b2bOrder = (over: Parameters<typeof makeOrder>[0] = {}) =>
  makeOrder({
    lines: [
      { sku: 'TAX-TEE', quantity: 2, unitPrice: '100000.00' },
      { sku: 'TAX-RICE', quantity: 1, unitPrice: '100000.00' },
    ],
    shippingFee: '30000.00',
    pricesIncludeTax: false,
    ...over,
  });

interface Quote {
  total: string;
  status: string;
  tax: {
    provider: string;
    pricesIncludeTax: boolean;
    lines: { sku: string; category: string; rate: number; net: string; tax: string; gross: string }[];
    gross: string;
    tax: string;
  } | null;
}

describe('VAT at intake', () => {
  it('products carry a VAT category; a bad one names the field', async () => {
    const body = { name: 'Gạo ST25 5kg', unitPrice: '105000.00', weightGrams: 5000, taxCategory: 'essential' };
    const put = await stack.api('/v1/products/TAX-RICE', { method: 'PUT', key: TEST_KEYS.admin, json: body });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ sku: 'TAX-RICE', taxCategory: 'essential' });
    const bad = await stack.api('/v1/products/TAX-RICE', { method: 'PUT', key: TEST_KEYS.admin, json: { ...body, taxCategory: 'luxury' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['taxCategory']);
    // Left out: the standard rate.
    const tee = await stack.api('/v1/products/TAX-TEE', {
      method: 'PUT',
      key: TEST_KEYS.admin,
      json: { name: 'Áo thun', unitPrice: '110000.00', weightGrams: 200 },
    });
    expect(await tee.json()).toMatchObject({ taxCategory: 'standard' });
  });

  it('an order carries its quote, which adds up to its total, and goes on to be delivered', async () => {
    const order = makeOrder({
      lines: [
        { sku: 'TAX-TEE', quantity: 2, unitPrice: '110000.00' },
        { sku: 'TAX-RICE', quantity: 1, unitPrice: '105000.00' },
      ],
      shippingFee: '33000.00',
      discount: '34800.00',
    });
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
    expect(res.status).toBe(201);
    const { orderId } = (await res.json()) as { orderId: string };
    const got = (await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.web })).json()) as Quote;
    expect(got.total).toBe('323200.00');
    expect(got.tax!.gross).toBe(got.total);
    expect(got.tax!.lines).toEqual([
      { lineNo: 1, sku: 'TAX-TEE', category: 'standard', rate: 10, net: '180559.00', tax: '18056.00', gross: '198615.00' },
      { lineNo: 2, sku: 'TAX-RICE', category: 'essential', rate: 5, net: '90279.00', tax: '4514.00', gross: '94793.00' },
    ]);
    expect(got.tax!.tax).toBe('25278.00'); // 18,056 + 4,514 + 2,708 on shipping
    await eventually(
      async () =>
        ((await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.cs })).json()) as Quote).status === 'DELIVERED' || undefined,
      { what: `${orderId} delivered`, timeoutMs: 60_000 },
    );
  }, 90_000);

  it('prices without tax: the VAT goes on top, the gateway charges it, the journal, the invoice and the tax service carry it', async () => {
    const order = b2bOrder();
    order.customer.taxCode = '0312345678';
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
    expect(res.status).toBe(201);
    const { orderId } = (await res.json()) as { orderId: string };
    const got = (await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.web })).json()) as Quote;
    // 200,000 at 10% + 100,000 at 5% + shipping 30,000 at 10%: 20,000 + 5,000 + 3,000 on top of 330,000.
    expect(got.tax).toMatchObject({ provider: 'local-vn-vat', pricesIncludeTax: false, tax: '28000.00', gross: '358000.00' });
    expect(got.total).toBe('358000.00');
    expect(got.tax!.lines.map((l) => [l.sku, l.net, l.tax, l.gross])).toEqual([
      ['TAX-TEE', '200000.00', '20000.00', '220000.00'],
      ['TAX-RICE', '100000.00', '5000.00', '105000.00'],
    ]);
    await eventually(
      async () =>
        ((await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.cs })).json()) as Quote).status === 'DELIVERED' || undefined,
      { what: `${orderId} delivered`, timeoutMs: 60_000 },
    );
    // The gateway's own ledger: the buyer was charged the prices and the tax on top.
    const { entries } = (await (await fetch(`${stack.sandboxUrl}/sandbox/ledger/payments?orderId=${orderId}`)).json()) as {
      entries: { type: string; amount: string }[];
    };
    expect(entries.filter((e) => e.type === 'capture').reduce((a, e) => a + toMinor(e.amount), 0)).toBe(toMinor('358000.00'));
    // The journal's VAT, the invoice's and the tax committed are the 28,000 on top.
    const journal = (await (await stack.api('/v1/accounting/journal?limit=1000', { key: TEST_KEYS.finance })).json()) as {
      items: { orderId: string; account: string; debit: string; credit: string }[];
    };
    const vat = journal.items
      .filter((l) => l.orderId === orderId && l.account === '2100 VAT payable')
      .reduce((a, l) => a + toMinor(l.credit) - toMinor(l.debit), 0);
    expect(vat).toBe(toMinor('28000.00'));
    const settled = await eventually(
      async () => {
        const inv = (await (await stack.api(`/v1/orders/${orderId}/invoices`, { key: TEST_KEYS.finance })).json()) as {
          items: { status: string; gross: string; vat: string; buyerTaxCode: string | null }[];
        };
        const tax = (await (await stack.api(`/v1/orders/${orderId}/tax-documents`, { key: TEST_KEYS.finance })).json()) as {
          items: { status: string; tax: string; taxCalculated: string | null }[];
        };
        return inv.items[0]?.status === 'issued' && tax.items[0] && tax.items[0].status !== 'pending' ? { inv, tax } : undefined;
      },
      { what: `${orderId}: invoiced and its tax committed` },
    );
    expect(settled.inv.items).toEqual([expect.objectContaining({ gross: '358000.00', vat: '28000.00', buyerTaxCode: '0312345678' })]);
    // The tax service calculates the same VAT from the invoice's lines: committed, no variance.
    expect(settled.tax.items).toEqual([expect.objectContaining({ status: 'committed', tax: '28000.00', taxCalculated: '28000.00' })]);
  }, 90_000);

  it("a channel's own tax on top is taken as charged; tax on top of prices that include it is refused", async () => {
    const order = b2bOrder({ taxOnTop: '30000.00', total: '360000.00' });
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
    expect(res.status).toBe(201);
    const { orderId } = (await res.json()) as { orderId: string };
    const got = (await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.web })).json()) as Quote;
    expect(got.total).toBe('360000.00');
    expect(got.tax).toMatchObject({ provider: 'channel', pricesIncludeTax: false, tax: '30000.00', gross: '360000.00' });
    // Laid over the lines in proportion to the rule set's tax (20,000 : 5,000 : 3,000), in whole đồng.
    expect(got.tax!.lines.map((l) => l.tax)).toEqual(['21429.00', '5357.00']);
    const mixed = await stack.api('/v1/orders', {
      method: 'POST',
      key: TEST_KEYS.web,
      json: makeOrder({ sku: 'TAX-TEE', taxOnTop: '10000.00' }),
    });
    expect(mixed.status).toBe(400);
    expect(((await mixed.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['taxOnTop']);
  });

  it('a channel whose prices exclude tax (OMS_PRICES_EXCLUDE_TAX): its orders get the tax on top unless they say otherwise', async () => {
    const take = async (over: Parameters<typeof makeOrder>[0]) => {
      const res = await stack.api('/v1/orders', {
        method: 'POST',
        key: TEST_KEYS.pos,
        json: makeOrder({ channel: 'pos', sku: 'TAX-TEE', ...over }),
      });
      expect(res.status).toBe(201);
      const { orderId } = (await res.json()) as { orderId: string };
      return (await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.cs })).json()) as Quote;
    };
    // 100,000 đ before tax at 10%: 110,000 đ to pay.
    expect(await take({})).toMatchObject({ total: '110000.00', tax: { pricesIncludeTax: false, tax: '10000.00', gross: '110000.00' } });
    // An order that says its prices include tax is taken at its word.
    expect(await take({ pricesIncludeTax: true })).toMatchObject({
      total: '100000.00',
      tax: { pricesIncludeTax: true, tax: '9091.00', gross: '100000.00' },
    });
    // The web channel is not in the setting: its prices include tax, as before.
    const web = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder({ sku: 'TAX-TEE' }) });
    const { orderId } = (await web.json()) as { orderId: string };
    expect(await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.cs })).json()).toMatchObject({
      total: '100000.00',
      tax: { pricesIncludeTax: true },
    });
  });
});
