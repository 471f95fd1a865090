/**
 * The back office never holds an order: when the journal, the invoices or the tax documents cannot
 * book a step's money facts (here: the order's stored tax quote is corrupt, so every fact's VAT
 * fails to compute), the order goes on — authorised, captured, shipped, delivered — its facts wait
 * with the error, listed for ops; once the quote is mended, an ops booking writes the journal
 * (balanced), the invoice and the tax document, each once. Before this, the step's write failed
 * and was retried forever: the order stopped at its payment, nobody told. Real stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toMinor } from '../../domain/money';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { placeAndDeliver, startTestStack, TEST_KEYS, type TestStack } from '../support/harness';
import { bookOrHold } from '../../db/back-office-repo';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } } });
  await seedNetwork(stack.db.sql, { 'HELD-1': { 'WH-HCM': 10 } });
});
afterAll(async () => {
  await stack?.close();
});

interface Held {
  heldId: string;
  orderId: string;
  seq: number;
  facts: { kind: string; key: string }[];
  error: string;
  bookedAt: string | null;
}
const heldOf = async (orderId: string, open = true) =>
  ((await (await stack.api(`/v1/accounting/held?open=${open}`, { key: TEST_KEYS.ops })).json()) as { items: Held[] }).items.filter(
    (h) => h.orderId === orderId,
  );
const journalOf = async (orderId: string) =>
  (
    (await (await stack.api('/v1/accounting/journal?limit=1000', { key: TEST_KEYS.finance })).json()) as {
      items: { orderId: string; kind: string; debit: string; credit: string }[];
    }
  ).items.filter((l) => l.orderId === orderId);

describe('money facts the back office cannot book', () => {
  it('the order goes on without them; they wait with the error; booked by ops once the cause is mended, each once', async () => {
    // A risk hold stops the order before its payment, so the quote is corrupted before any money fact.
    const order = makeOrder({ sku: 'HELD-1', quantity: 1 });
    await stack.db.sql`insert into risk_blocklist (kind, value, reason) values ('customer', ${order.customer.id}, 'test hold')`;
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
    expect(res.status).toBe(201);
    const { orderId } = (await res.json()) as { orderId: string };
    const status = async () =>
      ((await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.ops })).json()) as { status: string }).status;
    await eventually(async () => (await status()) === 'ON_HOLD' || undefined, { what: `${orderId} on hold` });
    const [stored] = await stack.db.sql<{ tax: unknown }[]>`select tax from orders where order_id = ${orderId}`;
    const quote = stored!.tax;
    await stack.db.sql`update orders set tax = ${stack.db.sql.json({ ...(quote as object), tax: 'ten thousand', gross: '?' })}
      where order_id = ${orderId}`;
    const release = await stack.api(`/v1/orders/${orderId}/release`, { method: 'POST', key: TEST_KEYS.ops, json: { decision: 'release' } });
    expect(release.status).toBe(200);

    // Authorised, captured at handover, delivered: the order is not held by its books.
    await eventually(async () => (['DELIVERED', 'COMPLETED'].includes(await status()) ? true : undefined), {
      what: `${orderId} delivered`,
      timeoutMs: 60_000,
    });
    const held = await eventually(
      async () => {
        const h = await heldOf(orderId);
        return h.flatMap((x) => x.facts.map((f) => f.kind)).includes('captured') ? h : undefined;
      },
      { what: 'the capture held' },
    );
    expect(held.every((h) => /not a decimal amount/.test(h.error))).toBe(true);
    expect(held.flatMap((h) => h.facts.map((f) => f.kind))).toEqual(expect.arrayContaining(['authorised', 'captured']));
    expect(await journalOf(orderId)).toEqual([]);
    // Channels and customer service do not see the back office's troubles.
    expect((await stack.api('/v1/accounting/held', { key: TEST_KEYS.cs })).status).toBe(403);

    // Booking before the cause is mended: still refused, the error answered, nothing written.
    const early = await stack.api(`/v1/accounting/held/${held[0]!.heldId}/book`, { method: 'POST', key: TEST_KEYS.ops });
    expect(early.status).toBe(409);
    expect(((await early.json()) as { detail: string }).detail).toMatch(/still cannot be booked: not a decimal amount/);
    expect(await journalOf(orderId)).toEqual([]);

    // The quote mended: every held step booked — the journal balanced, its invoice and tax document planned, once.
    await stack.db.sql`update orders set tax = ${stack.db.sql.json(quote as never)} where order_id = ${orderId}`;
    for (const h of held) {
      const booked = await stack.api(`/v1/accounting/held/${h.heldId}/book`, { method: 'POST', key: TEST_KEYS.finance });
      expect(booked.status).toBe(200);
      expect(((await booked.json()) as Held).bookedAt).not.toBeNull();
    }
    const lines = await journalOf(orderId);
    expect([...new Set(lines.map((l) => l.kind))].sort()).toEqual(['authorised', 'captured']);
    expect(lines.reduce((a, l) => a + toMinor(l.debit) - toMinor(l.credit), 0)).toBe(0);
    expect(await heldOf(orderId)).toEqual([]);
    expect((await heldOf(orderId, false)).length).toBe(held.length);
    const again = await stack.api(`/v1/accounting/held/${held[0]!.heldId}/book`, { method: 'POST', key: TEST_KEYS.ops });
    expect(again.status).toBe(409);
    expect((await journalOf(orderId)).length).toBe(lines.length);
    const invoices = await eventually(
      async () => {
        const r = (await (await stack.api(`/v1/orders/${orderId}/invoices`, { key: TEST_KEYS.finance })).json()) as {
          items: { kind: string; gross: string; status: string }[];
        };
        return r.items.length === 1 && r.items[0]!.status === 'issued' ? r.items : undefined;
      },
      { what: 'the sale invoice issued' },
    );
    expect(invoices[0]).toMatchObject({ kind: 'sale', gross: '100000.00' });
    expect((await stack.api('/v1/accounting/held/999999/book', { method: 'POST', key: TEST_KEYS.ops })).status).toBe(404);
  }, 90_000);

  it('a refund of a sale invoiced before tax documents existed is booked, without a tax document for it', async () => {
    const [orderId] = await placeAndDeliver(stack, [makeOrder({ sku: 'HELD-1', quantity: 1 })]);
    const sql = stack.db.sql;
    await eventually(async () => ((await sql`select 1 from tax_documents where order_id = ${orderId!}`).length ? true : undefined), {
      what: 'the sale taxed',
    });
    // As if the sale had been invoiced before migration 0022: its invoice, no tax document.
    await sql`delete from tax_documents where order_id = ${orderId!}`;
    const refund = {
      kind: 'refunded' as const,
      key: 'refund:r-old:cap',
      amount: '40000.00',
      via: 'gateway' as const,
      ref: 'cap',
      why: 'return',
    };
    const r = await sql.begin((tx) => bookOrHold(tx, { orderId: orderId!, seq: 9999, at: new Date().toISOString(), facts: [refund] }));
    expect(r).toEqual({});
    expect(await heldOf(orderId!)).toEqual([]);
    expect((await journalOf(orderId!)).filter((l) => l.kind === 'refunded').length).toBeGreaterThan(0);
    const kinds = await sql<{ kind: string }[]>`select kind from invoices where order_id = ${orderId!} order by created_at`;
    expect(kinds.map((k) => k.kind)).toEqual(['sale', 'adjustment']);
    expect(await sql`select 1 from tax_documents where order_id = ${orderId!}`).toHaveLength(0);
  }, 90_000);
});
