/**
 * When a prepaid sale is invoiced (OMS_INVOICE_PREPAID_AT, docs/back-office.md): with `delivery`,
 * the sale invoice planned at the handover waits while the parcel travels — the sandbox provider's
 * own ledger has nothing for it — and is issued once the carrier reports the delivery; a parcel
 * that comes back to the sender instead is invoiced and adjusted to nothing. The carrier is moved
 * by hand (`/sandbox/carriers/:booking/advance`). Real stack.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toMinor } from '../../domain/money';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    invoicing: { prepaidAt: 'delivery', pollMs: 100 },
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 50 } },
  });
  await seedNetwork(stack.db.sql, { 'INV-T': { 'WH-HCM': 20 } });
});
afterAll(async () => {
  await stack?.close();
});

interface OrderBody {
  status: string;
  shipments: { bookingId?: string; status: string }[];
  payment: { captures: unknown[] };
}
interface Invoice {
  kind: string;
  status: string;
  gross: string;
}
const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
const until = (id: string, pred: (o: OrderBody) => boolean, what: string) =>
  eventually(async () => ((o) => (pred(o) ? o : undefined))(await getOrder(id)), { what: `${id}: ${what}`, timeoutMs: 45_000 });
const invoices = async (id: string) =>
  ((await (await stack.api(`/v1/orders/${id}/invoices`, { key: TEST_KEYS.finance })).json()) as { items: Invoice[] }).items;
const advance = (bookingId: string, status: string) =>
  fetch(`${stack.sandboxUrl}/sandbox/carriers/${bookingId}/advance`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ status }),
  });
const providerLedger = async (id: string) =>
  ((await (await fetch(`${stack.sandboxUrl}/sandbox/ledger/invoices?reference=${id}`)).json()) as { invoices: unknown[] }).invoices;
async function placeAndHandOver(): Promise<{ id: string; bookingId: string }> {
  const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder({ sku: 'INV-T', quantity: 1 }) });
  expect(res.status).toBe(201);
  const { orderId: id } = (await res.json()) as { orderId: string };
  const booked = await until(id, (o) => o.shipments[0]?.status === 'booked', 'booked');
  const bookingId = booked.shipments[0]!.bookingId!;
  await advance(bookingId, 'picked_up');
  await until(id, (o) => o.payment.captures.length === 1, 'captured at the handover');
  return { id, bookingId };
}

describe('prepaid sales invoiced on delivery', () => {
  it('the sale invoice waits while the parcel travels and is issued once it is delivered', async () => {
    const { id, bookingId } = await placeAndHandOver();
    const planned = await eventually(async () => ((i) => (i.length ? i : undefined))(await invoices(id)), { what: 'the sale planned' });
    expect(planned).toEqual([expect.objectContaining({ kind: 'sale', status: 'pending', gross: '100000.00' })]);
    await advance(bookingId, 'in_transit');
    await until(id, (o) => o.shipments[0]?.status === 'in_transit', 'in transit');
    // Many relay rounds later (it polls every 100 ms), still waiting; the provider has seen nothing.
    await sleep(1500);
    expect((await invoices(id)).map((i) => i.status)).toEqual(['pending']);
    expect(await providerLedger(id)).toEqual([]);

    await advance(bookingId, 'delivered');
    const issued = await eventually(async () => ((i) => (i[0]?.status === 'issued' ? i : undefined))(await invoices(id)), {
      what: 'the sale invoice issued after the delivery',
    });
    expect(issued).toHaveLength(1);
    expect(await providerLedger(id)).toHaveLength(1);
  }, 90_000);

  it('a parcel back at the sender: invoiced when it ends there, and adjusted to nothing by the refund', async () => {
    const { id, bookingId } = await placeAndHandOver();
    await advance(bookingId, 'returned_to_sender');
    await until(id, (o) => o.status === 'CANCELLED', 'cancelled after the parcel came back');
    const both = await eventually(
      async () => ((i) => (i.length === 2 && i.every((x) => x.status === 'issued') ? i : undefined))(await invoices(id)),
      { what: 'the sale and its adjustment issued' },
    );
    expect(both.map((i) => i.kind)).toEqual(['sale', 'adjustment']);
    expect(both.reduce((a, i) => a + (i.kind === 'sale' ? 1 : -1) * toMinor(i.gross), 0)).toBe(0);
  }, 90_000);
});
