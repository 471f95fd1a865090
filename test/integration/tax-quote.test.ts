/**
 * VAT quoted at intake (docs/back-office.md, Tax): admins give products their VAT category through
 * the catalog API; an order taken in through the real API carries its quote — per line by the
 * category, shipping as a service, the discount shared — and the quote adds up to the order's
 * total. Real PostgreSQL and Temporal behind the real app; the order goes on to be delivered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } } });
  await seedNetwork(stack.db.sql, { 'TAX-TEE': { 'WH-HCM': 10 }, 'TAX-RICE': { 'WH-HCM': 10 } });
});
afterAll(async () => {
  await stack?.close();
});

interface Quote {
  total: string;
  status: string;
  tax: {
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
});
