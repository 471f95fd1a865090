/**
 * The e-invoice relay against a provider that misbehaves after it has taken an invoice: lookups
 * that fail (500, a timeout) are retried until the check is decided; a provider that answers a
 * lookup with its own "no such invoice" (404 `invoice_not_found`, as when it lost the submission)
 * is sent the invoice again under the same key — and the provider's own ledger still holds one
 * invoice for the order, issued once. Real stack and sandbox provider.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvoiceOutbox } from '../../db/invoices-repo';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { placeAndDeliver, startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    invoicing: { lookupMs: 100, retryMinMs: 100, retryMaxMs: 500, attemptTimeoutMs: 2000 },
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } },
  });
  await seedNetwork(stack.db.sql, { 'REL-1': { 'WH-HCM': 20 } });
});
afterAll(async () => {
  await stack?.close();
});

interface Invoice {
  invoiceKey: string;
  status: string;
  attempts: number;
  number: string | null;
}
const fault = (body: Record<string, unknown>) =>
  fetch(`${stack.sandboxUrl}/sandbox/faults`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
const issuedOf = (id: string) =>
  eventually(
    async () => {
      const { items } = (await (await stack.api(`/v1/orders/${id}/invoices`, { key: TEST_KEYS.finance })).json()) as { items: Invoice[] };
      return items.length === 1 && items[0]!.status === 'issued' ? items[0]! : undefined;
    },
    { what: `${id}: its invoice issued`, timeoutMs: 30_000 },
  );
const providerLedger = async (id: string) =>
  (
    (await (await fetch(`${stack.sandboxUrl}/sandbox/ledger/invoices?reference=${id}`)).json()) as {
      invoices: { invoiceKey: string; status: string; number?: string; submissions: number }[];
    }
  ).invoices;

describe('the e-invoice relay after the provider took an invoice', () => {
  it('lookups that fail are retried; a lookup answered "no such invoice" sends it again, and the provider holds it once', async () => {
    const failing = makeOrder({ sku: 'REL-1', quantity: 1 });
    const lost = makeOrder({ sku: 'REL-1', quantity: 1 });
    const failingId = `order-web-${failing.channelOrderId}`;
    const lostId = `order-web-${lost.channelOrderId}`;
    expect((await fault({ service: 'einvoice', op: 'lookup', match: { orderId: failingId }, action: 'error500', times: 2 })).status).toBe(
      201,
    );
    expect(
      (await fault({ service: 'einvoice', op: 'lookup', match: { orderId: failingId }, action: 'timeout', delayMs: 4000, times: 1 }))
        .status,
    ).toBe(201);
    expect(
      (
        await fault({
          service: 'einvoice',
          op: 'lookup',
          match: { orderId: lostId },
          action: 'refuse',
          status: 404,
          error: 'invoice_not_found',
          times: 1,
        })
      ).status,
    ).toBe(201);
    await placeAndDeliver(stack, [failing, lost]);

    const a = await issuedOf(failingId);
    // One submission and at least four lookups: two answered 500, one cut off by the attempt's deadline.
    expect(a.attempts).toBeGreaterThanOrEqual(4);
    const b = await issuedOf(lostId);
    expect(b.attempts).toBeGreaterThanOrEqual(3);
    for (const [id, inv] of [
      [failingId, a],
      [lostId, b],
    ] as const) {
      const ledger = await providerLedger(id);
      expect(ledger).toHaveLength(1);
      expect(ledger[0]).toMatchObject({ invoiceKey: inv.invoiceKey, status: 'issued', number: inv.number, submissions: 1 });
    }
    // Issued invoices stay as the record, but are no longer the relay's work.
    const outbox = new InvoiceOutbox(stack.db.sql);
    expect(await outbox.isPending(a.invoiceKey)).toBe(false);
    const [rows] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from invoices where status = 'issued'`;
    expect(rows!.n).toBeGreaterThanOrEqual(2);
    expect((await outbox.stats()).pending).toBe(0);
    // Every fault was used: the paths above were taken, not skipped.
    const faults = (await (await fetch(`${stack.sandboxUrl}/sandbox/faults`)).json()) as { faults: { matched: number; applied: number }[] };
    expect(faults.faults.every((f) => f.applied >= 1)).toBe(true);
  }, 90_000);
});
