/**
 * The accounting journal and the e-invoices through the real stack: orders run their lives
 * (split shipments, a return with refund, a cancellation that voids, a line cut, an exchange,
 * COD paid over short by the carrier), and the journal read back through
 * `GET /v1/accounting/journal` balances per order and per day, and its gateway account equals
 * what the sandbox payment gateway's own ledger says was captured less refunded — the gateway's
 * books, not ours. The invoices the sandbox e-invoice provider issued (its own ledger, numbers
 * it gave) less their adjustments add up to what the buyer finally paid.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanonicalOrder } from '../../domain/order';
import { ACCOUNTS } from '../../domain/journal';
import { fromMinor, toMinor } from '../../domain/money';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';
import { DEV_SANDBOX_KEY } from '../../sandbox/server';
import { SANDBOX_TAX_ACCOUNT, SANDBOX_TAX_COMPANY } from '../../sandbox/tax';

interface Line {
  position: string;
  entry: string;
  orderId: string;
  kind: string;
  account: string;
  debit: string;
  credit: string;
  occurredAt: string;
}
interface OrderBody {
  status: string;
  waitingFor: string | null;
  shipments: { shipmentId: string; bookingId?: string; status: string; cod?: { remitted: string } }[];
  returns: { returnId: string; status: string }[];
}

const CENTRAL = { name: 'Trần Thị Bình', line1: '5 Bạch Đằng', city: 'Da Nang', country: 'VN' };

function client(stack: () => TestStack) {
  const getOrder = async (id: string) => (await (await stack().api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
  const until = (id: string, pred: (o: OrderBody) => boolean, what: string) =>
    eventually(
      async () => {
        const o = await getOrder(id);
        return pred(o) ? o : undefined;
      },
      { what: `${id}: ${what}`, timeoutMs: 45_000 },
    );
  const submit = async (order: CanonicalOrder) => {
    const res = await stack().api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: order });
    expect(res.status).toBe(201);
    return ((await res.json()) as { orderId: string }).orderId;
  };
  const sandbox = async (path: string, body?: unknown) =>
    (await (
      await fetch(
        stack().sandboxUrl + path,
        body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
      )
    ).json()) as Record<string, unknown>;
  /** Every line of the journal, page by page (small pages, so paging is exercised). */
  const journal = async (): Promise<Line[]> => {
    const lines: Line[] = [];
    let after: string | null = null;
    do {
      const res = await stack().api(`/v1/accounting/journal?limit=7${after ? `&after=${after}` : ''}`, { key: TEST_KEYS.finance });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: Line[]; next: string | null };
      lines.push(...page.items);
      after = page.next;
    } while (after);
    return lines;
  };
  /** What the gateway's own ledger says this order was captured less refunded (minor units). */
  const gatewayNet = async (orderId: string) => {
    const { entries } = (await sandbox(`/sandbox/ledger/payments?orderId=${orderId}`)) as { entries: { type: string; amount: string }[] };
    const sum = (t: string) => entries.filter((e) => e.type === t).reduce((a, e) => a + toMinor(e.amount), 0);
    return sum('capture') - sum('refund');
  };
  /** The gateway's own ledger of these orders: captured and refunded (minor units). */
  const gatewaySums = async (orderIds: string[]) => {
    let captured = 0;
    let refunded = 0;
    for (const id of orderIds) {
      const { entries } = (await sandbox(`/sandbox/ledger/payments?orderId=${id}`)) as { entries: { type: string; amount: string }[] };
      for (const e of entries) {
        if (e.type === 'capture') captured += toMinor(e.amount);
        if (e.type === 'refund') refunded += toMinor(e.amount);
      }
    }
    return { captured, refunded };
  };
  /** The reconciliation of the last day and the next (a run across midnight UTC stays in it). */
  const reconcile = async (key: string = TEST_KEYS.finance) => {
    const now = Date.now();
    const res = await stack().api(
      `/v1/accounting/reconciliation?from=${new Date(now - 86_400_000).toISOString()}&to=${new Date(now + 86_400_000).toISOString()}`,
      { key },
    );
    expect(res.status).toBe(200);
    return (await res.json()) as {
      days: Record<'day' | 'channel' | 'captured' | 'refundedGateway' | 'refundedBankTransfer' | 'codCollected' | 'codRemitted', string>[];
      differences: { orderId: string; kind: string; amount: string; status: string }[];
    };
  };
  /** An order's invoices as finance reads them. */
  const invoices = async (orderId: string, key: string = TEST_KEYS.finance) => {
    const res = await stack().api(`/v1/orders/${orderId}/invoices`, { key });
    expect(res.status).toBe(200);
    return ((await res.json()) as { items: Invoice[] }).items;
  };
  /** Waits until each order has `counts[id]` invoices, every one of them issued. */
  const issuedInvoices = (counts: Record<string, number>) =>
    eventually(
      async () => {
        const all: Record<string, Invoice[]> = {};
        for (const [id, n] of Object.entries(counts)) {
          const items = await invoices(id);
          if (items.length !== n || items.some((i) => i.status !== 'issued')) return undefined;
          all[id] = items;
        }
        return all;
      },
      { what: `invoices issued: ${JSON.stringify(counts)}`, timeoutMs: 30_000 },
    );
  /** The provider's own ledger of an order's invoices: what it issued, sales less adjustments (minor units). */
  const providerNet = async (orderId: string) => {
    const { invoices: issued } = (await sandbox(`/sandbox/ledger/invoices?reference=${orderId}`)) as {
      invoices: { status: string; number?: string; request: { type: string; totals: { gross: string } } }[];
    };
    // Issued originals and replacements less issued adjustments (a replaced invoice no longer counts).
    return issued
      .filter((i) => i.status === 'issued')
      .reduce((a, i) => a + (i.request.type === 'adjustment' ? -1 : 1) * toMinor(i.request.totals.gross), 0);
  };
  /** An order's tax documents as finance reads them. */
  const taxDocuments = async (orderId: string, key: string = TEST_KEYS.finance) => {
    const res = await stack().api(`/v1/orders/${orderId}/tax-documents`, { key });
    expect(res.status).toBe(200);
    return ((await res.json()) as { items: TaxDocument[] }).items;
  };
  /** Waits until each order has `counts[id]` tax documents, none of them pending any more. */
  const settledTax = (counts: Record<string, number>) =>
    eventually(
      async () => {
        const all: Record<string, TaxDocument[]> = {};
        for (const [id, n] of Object.entries(counts)) {
          const items = await taxDocuments(id);
          if (items.length !== n || items.some((d) => d.status === 'pending')) return undefined;
          all[id] = items;
        }
        return all;
      },
      { what: `tax documents settled: ${JSON.stringify(counts)}`, timeoutMs: 30_000 },
    );
  /** The tax service's own ledger of an order: tax committed on sales less tax refunded on returns (minor units). */
  const serviceTaxNet = async (orderId: string) => {
    const { transactions } = (await sandbox(`/sandbox/ledger/tax?purchaseOrderNo=${orderId}`)) as {
      transactions: { status: string; totalTax: string }[];
    };
    // A return's tax is negative there.
    const signed = (x: string) => (x.startsWith('-') ? -toMinor(x.slice(1)) : toMinor(x));
    return transactions.filter((t) => t.status === 'Committed').reduce((a, t) => a + signed(t.totalTax), 0);
  };
  /** Asks for a return of `quantity` of a line (an exchange or a refund), waits for the parcel back and accepts it. */
  const returnAccepted = async (id: string, quantity: number, reason: string, exchange = false, lineNo = 1) => {
    const ask = await stack().api(`/v1/orders/${id}/returns`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { lines: [{ lineNo, quantity }], reason, ...(exchange ? { exchange } : {}) },
    });
    expect(ask.status).toBe(201);
    const { returnId } = (await ask.json()) as { returnId: string };
    await until(id, (o) => o.returns.find((r) => r.returnId === returnId)?.status === 'received', 'parcel back');
    const inspected = await stack().api(`/v1/orders/${id}/returns/${returnId}/inspection`, {
      method: 'POST',
      key: TEST_KEYS.ops,
      json: { result: 'accept' },
    });
    expect(inspected.status).toBe(200);
    return returnId;
  };
  /**
   * The tax the service itself calculates on goods of one rate worth `gross` (tax included), as an
   * estimate it does not keep (`SalesOrder`, `commit: false`): an outside figure to hold ours to.
   */
  const serviceEstimate = async (gross: string, taxCode: string) => {
    const res = await fetch(`${stack().sandboxUrl}/tax/v2/transactions/create`, {
      method: 'POST',
      headers: {
        Authorization: `Basic ${Buffer.from(`${SANDBOX_TAX_ACCOUNT}:${DEV_SANDBOX_KEY}`).toString('base64')}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({
        type: 'SalesOrder',
        code: `estimate-${gross}-${taxCode}`,
        companyCode: SANDBOX_TAX_COMPANY,
        date: new Date().toISOString().slice(0, 10),
        customerCode: 'RETAIL',
        currencyCode: 'VND',
        commit: false,
        lines: [{ number: '1', itemCode: 'goods', taxCode, amount: gross, taxIncluded: true }],
      }),
    });
    expect(res.status).toBe(200);
    return toMinor(((await res.json()) as { totalTaxCalculated: string }).totalTaxCalculated);
  };
  /** The whole event feed, page by page. */
  const feed = async () => {
    const items: (Record<string, unknown> & { type: string; orderId?: string; status?: string; position: string })[] = [];
    for (let after = '0'; ;) {
      const page = (await (await stack().api(`/v1/events?after=${after}&limit=500`, { key: TEST_KEYS.ops })).json()) as {
        items: typeof items;
      };
      if (!page.items.length) return items;
      items.push(...page.items);
      after = page.items.at(-1)!.position;
    }
  };
  return {
    getOrder,
    until,
    submit,
    sandbox,
    journal,
    gatewayNet,
    gatewaySums,
    reconcile,
    invoices,
    issuedInvoices,
    taxDocuments,
    settledTax,
    serviceTaxNet,
    serviceEstimate,
    providerNet,
    feed,
    returnAccepted,
  };
}

interface Invoice {
  invoiceKey: string;
  note: string | null;
  lines: { sku: string; rate: number | 'exempt'; gross: string; vat: string }[];
  kind: 'sale' | 'adjustment';
  originalKey: string | null;
  status: string;
  gross: string;
  vat: string;
  number: string | null;
  buyerTaxCode: string | null;
  reason: { code: string } | null;
  attempts: number;
  document: string | null;
}

interface TaxDocument {
  code: string;
  kind: 'sale' | 'return';
  originalCode: string | null;
  status: string;
  tax: string;
  taxCalculated: string | null;
  provider: string | null;
  reason: { code: string } | null;
  attempts: number;
}

/** Tax committed on sales less tax refunded on returns (minor units). */
const taxNet = (docs: TaxDocument[]) => docs.reduce((a, d) => a + (d.kind === 'sale' ? 1 : -1) * toMinor(d.tax), 0);

/** Sales (and replacements) still standing less adjustments (minor units): a replaced invoice no longer counts. */
const invoicedNet = (items: Invoice[]) =>
  items.reduce((a, i) => a + (i.kind === 'adjustment' ? -1 : i.status === 'replaced' ? 0 : 1) * toMinor(i.gross), 0);

/** A column of the reconciliation summed over its days, for one channel (minor units). */
const column = (days: Record<string, string>[], channel: string, name: string) =>
  days.filter((d) => d.channel === channel).reduce((a, d) => a + toMinor(d[name]!), 0);

const net = (lines: Line[], account?: string) =>
  lines.filter((l) => !account || l.account === account).reduce((a, l) => a + toMinor(l.debit) - toMinor(l.credit), 0);
const kinds = (lines: Line[], orderId: string) => [...new Set(lines.filter((l) => l.orderId === orderId).map((l) => l.kind))].sort();

/** Balanced per order and per day (UTC), to the unit; every entry balanced on its own. */
function expectBalanced(lines: Line[]): void {
  const groups = (key: (l: Line) => string) => {
    const m = new Map<string, Line[]>();
    for (const l of lines) m.set(key(l), [...(m.get(key(l)) ?? []), l]);
    return m;
  };
  for (const [order, ls] of groups((l) => l.orderId)) expect(net(ls), `order ${order}`).toBe(0);
  for (const [day, ls] of groups((l) => l.occurredAt.slice(0, 10))) expect(net(ls), `day ${day}`).toBe(0);
  for (const [entry, ls] of groups((l) => l.entry)) expect(net(ls), `entry ${entry}`).toBe(0);
}

describe('the journal across prepaid lives (the carrier moves parcels on its own)', () => {
  let stack: TestStack;
  const c = client(() => stack);
  beforeAll(async () => {
    stack = await startTestStack({
      returnWindows: { default: 120_000 },
      orderSettings: { returnShipByMs: 5000 },
      sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } },
    });
    await seedNetwork(stack.db.sql, {
      'SKU-J1': { 'WH-HCM': 50 },
      'SKU-J2': { 'WH-HN': 50 },
      'SKU-J0': { 'WH-HCM': 0 },
      'SKU-JR': { 'WH-HCM': 50 },
      'SKU-JE': { 'WH-HN': 50 },
    });
    // Rice: the reduced rate (8%); a book: essential (5%).
    await stack.db.sql`update products set tax_category = 'reduced' where sku = 'SKU-JR'`;
    await stack.db.sql`update products set tax_category = 'essential' where sku = 'SKU-JE'`;
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('split shipments, a return refunded, a backorder cancelled: balanced, and the gateway account is the gateway ledger', async () => {
    const split = await c.submit(
      makeOrder({
        shippingAddress: CENTRAL,
        lines: [
          { sku: 'SKU-J1', quantity: 2, unitPrice: '110000.00' },
          { sku: 'SKU-J2', quantity: 1, unitPrice: '54000.00' },
        ],
        shippingFee: '22000.00',
        discount: '7000.00',
      }),
    );
    const returned = await c.submit(makeOrder({ sku: 'SKU-J1', quantity: 3 }));
    const backordered = await c.submit(makeOrder({ sku: 'SKU-J0', quantity: 1 }));

    const s = await c.until(split, (o) => o.waitingFor === 'the return window to close', 'delivered, window open');
    expect(s.shipments).toHaveLength(2);
    await c.until(returned, (o) => o.waitingFor === 'the return window to close', 'delivered, window open');
    await c.returnAccepted(returned, 2, 'too big');
    await c.until(returned, (o) => o.status === 'PARTIALLY_REFUNDED' || o.status === 'REFUNDED', 'refunded');
    await c.until(backordered, (o) => o.status === 'BACKORDERED', 'backordered');
    const cancel = await stack.api(`/v1/orders/${backordered}/cancel`, { method: 'POST', key: TEST_KEYS.cs, json: { reason: 'too slow' } });
    expect(cancel.status).toBe(200);
    await c.until(backordered, (o) => o.status === 'CANCELLED', 'cancelled');

    const lines = await eventually(
      async () => {
        const ls = await c.journal();
        return kinds(ls, returned).includes('refunded') && kinds(ls, backordered).includes('released') ? ls : undefined;
      },
      { what: 'the refund and the void in the journal' },
    );
    expectBalanced(lines);
    expect(kinds(lines, split)).toEqual(['authorised', 'captured']);
    expect(lines.filter((l) => l.orderId === split && l.kind === 'captured' && l.account === ACCOUNTS.gateway)).toHaveLength(2);
    expect(kinds(lines, returned)).toEqual(['authorised', 'captured', 'refunded']);
    expect(kinds(lines, backordered)).toEqual(['authorised', 'released']);
    for (const id of [split, returned, backordered]) {
      const ledger = await c.gatewayNet(id);
      expect(
        net(
          lines.filter((l) => l.orderId === id),
          ACCOUNTS.gateway,
        ),
        `gateway account of ${id}`,
      ).toBe(ledger);
    }
    // The split order: its two captures are its total; their VAT is its quote's, to a đồng per capture.
    const quoted = (await (await stack.api(`/v1/orders/${split}`, { key: TEST_KEYS.ops })).json()) as {
      total: string;
      tax: { tax: string };
    };
    expect(
      fromMinor(
        net(
          lines.filter((l) => l.orderId === split),
          ACCOUNTS.gateway,
        ),
      ),
    ).toBe(quoted.total);
    const vat = -net(
      lines.filter((l) => l.orderId === split),
      ACCOUNTS.vat,
    );
    expect(vat).toBeLessThanOrEqual(toMinor(quoted.tax.tax));
    // Floored to the đồng per capture (captures are whole đồng): at most a đồng short each.
    expect(vat).toBeGreaterThanOrEqual(toMinor(quoted.tax.tax) - 2 * 100);
    // Nothing held any more once the backorder was cancelled and every capture used its hold.
    expect(
      net(
        lines.filter((l) => l.orderId !== split && l.orderId !== returned),
        ACCOUNTS.authorisations,
      ),
    ).toBe(0);

    // CSV: the same lines, a header first.
    const csv = await stack.api(`/v1/accounting/journal?format=csv&limit=1000`, { key: TEST_KEYS.finance });
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = (await csv.text()).trim().split('\r\n');
    expect(rows[0]).toBe('position,entry,lineNo,orderId,channel,currency,kind,ref,account,debit,credit,occurredAt');
    expect(rows).toHaveLength(lines.length + 1);
    // A step written again (a retried local activity) writes no entry twice: keys are unique.
    expect(new Set(lines.map((l) => `${l.entry}|${l.position}`)).size).toBe(lines.length);

    // E-invoices: one per capture (two for the split order), an adjustment of the refunded one, none
    // for the voided backorder. What the invoices say the buyer owes is what the gateway kept, and
    // what the provider's own ledger issued; each adjustment reduces the invoice it names.
    const inv = await c.issuedInvoices({ [split]: 2, [returned]: 2, [backordered]: 0 });
    expect(inv[split]!.map((i) => i.kind)).toEqual(['sale', 'sale']);
    expect(inv[returned]!.map((i) => i.kind)).toEqual(['sale', 'adjustment']);
    expect(inv[returned]![1]!.originalKey).toBe(inv[returned]![0]!.invoiceKey);
    for (const id of [split, returned, backordered]) {
      expect(invoicedNet(inv[id]!), `invoiced for ${id}`).toBe(await c.gatewayNet(id));
      expect(await c.providerNet(id), `the provider's ledger for ${id}`).toBe(await c.gatewayNet(id));
    }
    // The split order's invoices carry its VAT as the journal does, entry for entry.
    expect(inv[split]!.reduce((a, i) => a + toMinor(i.vat), 0)).toBe(vat);
    const doc = await stack.api(inv[returned]![1]!.document!, { key: TEST_KEYS.finance });
    expect(doc.headers.get('content-type')).toMatch(/^application\/xml/);
    const xml = await doc.text();
    expect(xml).toContain(`<Number>${inv[returned]![1]!.number!}</Number>`);
    expect(xml).toContain(`<Adjusts>${inv[returned]![0]!.invoiceKey}</Adjusts>`);

    // Tax: a document per invoice, committed to the tax service — the sale's tax committed, the
    // return's refunded against it. What the service holds for each order (its own ledger) is the
    // journal's VAT, and its own calculation agrees line by line within rounding (no variance).
    const taxed = await c.settledTax({ [split]: 2, [returned]: 2, [backordered]: 0 });
    for (const id of [split, returned]) {
      const journalVat = -net(
        lines.filter((l) => l.orderId === id),
        ACCOUNTS.vat,
      );
      expect(journalVat, `VAT of ${id}`).toBeGreaterThan(0);
      expect(taxed[id]!.map((d) => [d.status, d.provider])).toEqual(taxed[id]!.map(() => ['committed', 'tax-service']));
      expect(taxNet(taxed[id]!), `tax committed for ${id}`).toBe(journalVat);
      expect(await c.serviceTaxNet(id), `the tax service's ledger for ${id}`).toBe(journalVat);
    }
    expect(taxed[returned]!.map((d) => d.kind)).toEqual(['sale', 'return']);
    expect(taxed[returned]![1]!.originalCode).toBe(taxed[returned]![0]!.code);

    // The reconciliation: what the web channel captured and refunded is the gateway's ledger; nothing is off.
    const rec = await c.reconcile();
    const ledger = await c.gatewaySums([split, returned, backordered]);
    expect(column(rec.days, 'web', 'captured')).toBe(ledger.captured);
    expect(column(rec.days, 'web', 'refundedGateway')).toBe(ledger.refunded);
    expect(ledger.refunded).toBeGreaterThan(0);
    expect(column(rec.days, 'web', 'invoiced')).toBeGreaterThanOrEqual(ledger.captured - ledger.refunded);
    expect(rec.differences.filter((d) => [split, returned, backordered].includes(d.orderId))).toEqual([]);
  });

  it('a line cancelled before it ships and an exchange: the cut unit is neither captured nor left held, the replacement is free of charge', async () => {
    const cutOrder = makeOrder({
      shippingAddress: CENTRAL,
      lines: [
        { sku: 'SKU-J1', quantity: 2, unitPrice: '110000.00' },
        { sku: 'SKU-J2', quantity: 1, unitPrice: '54000.00' },
      ],
    });
    // A slow gateway keeps the order authorising while the line is cancelled: before it ships
    // whatever the machine's speed (the carrier here picks a parcel up 50 ms after its booking).
    await c.sandbox('/sandbox/faults', {
      service: 'payments',
      op: 'authorize',
      match: { orderId: `order-web-${cutOrder.channelOrderId}` },
      action: 'timeout',
      delayMs: 2000,
      times: 1,
    });
    const cut = await c.submit(cutOrder);
    const cancelLine = await stack.api(`/v1/orders/${cut}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { reason: 'no longer needed', lines: [{ lineNo: 2, quantity: 1 }] },
    });
    expect(cancelLine.status).toBe(200);
    const exchanged = await c.submit(makeOrder({ sku: 'SKU-J1', quantity: 1 }));
    await c.until(exchanged, (o) => o.waitingFor === 'the return window to close', 'delivered, window open');
    await c.returnAccepted(exchanged, 1, 'wrong size', true);
    await c.until(
      exchanged,
      (o) => o.shipments.length === 2 && o.shipments.every((s) => s.status === 'delivered'),
      'replacement delivered',
    );
    await c.until(cut, (o) => o.waitingFor === 'the return window to close', 'delivered, window open');

    const lines = await c.journal();
    expectBalanced(lines);
    // The cut unit is never captured. Cut before the authorisation, it was not authorised either;
    // cut after it, the remainder the authorisation held for it was released.
    const mine = lines.filter((l) => l.orderId === cut);
    const authorised = mine
      .filter((l) => l.kind === 'authorised' && l.account === ACCOUNTS.authorisations)
      .reduce((a, l) => a + toMinor(l.debit), 0);
    const captured = mine.filter((l) => l.kind === 'captured' && l.account === ACCOUNTS.gateway).reduce((a, l) => a + toMinor(l.debit), 0);
    expect(captured).toBe(toMinor('220000.00'));
    expect(kinds(lines, cut)).toEqual(authorised > captured ? ['authorised', 'captured', 'released'] : ['authorised', 'captured']);
    // The exchange moved goods, not money: one capture, no refund.
    expect(kinds(lines, exchanged)).toEqual(['authorised', 'captured']);
    for (const id of [cut, exchanged]) {
      const own = lines.filter((l) => l.orderId === id);
      expect(net(own, ACCOUNTS.gateway), `gateway account of ${id}`).toBe(await c.gatewayNet(id));
      // Nothing is held at the gateway any more: every unit authorised was captured or released.
      expect(net(own, ACCOUNTS.authorisations), `held for ${id}`).toBe(0);
    }
    // One sale invoice each: the cut unit was never invoiced, the exchange moved no money.
    const inv = await c.issuedInvoices({ [cut]: 1, [exchanged]: 1 });
    expect(invoicedNet(inv[cut]!)).toBe(toMinor('220000.00'));
    for (const id of [cut, exchanged]) expect(invoicedNet(inv[id]!)).toBe(await c.gatewayNet(id));
    await c.settledTax({ [cut]: 1, [exchanged]: 1 });
    expect((await c.reconcile()).differences.filter((d) => d.orderId === cut || d.orderId === exchanged)).toEqual([]);
  });

  it("mixed rates: each parcel carries its own goods' VAT and invoices its own goods; a line cut before it ships takes its VAT along", async () => {
    // T-shirts (10%) ship from Ho Chi Minh City, a book (5%) from Hanoi; shipping is a 10% service.
    const split = await c.submit(
      makeOrder({
        shippingAddress: CENTRAL,
        lines: [
          { sku: 'SKU-J1', quantity: 2, unitPrice: '110000.00' },
          { sku: 'SKU-JE', quantity: 1, unitPrice: '105000.00' },
        ],
        shippingFee: '33000.00',
      }),
    );
    // T-shirts and rice (8%) from one warehouse; the rice is cut before anything ships.
    const cut = await c.submit(
      makeOrder({
        lines: [
          { sku: 'SKU-J1', quantity: 2, unitPrice: '110000.00' },
          { sku: 'SKU-JR', quantity: 1, unitPrice: '108000.00' },
        ],
      }),
    );
    // The same parcels priced before tax (a B2B price list): the tax is added on top, and each parcel's
    // share of the total weighs its goods with their own tax.
    const onTop = await c.submit(
      makeOrder({
        shippingAddress: CENTRAL,
        lines: [
          { sku: 'SKU-J1', quantity: 2, unitPrice: '100000.00' },
          { sku: 'SKU-JE', quantity: 1, unitPrice: '100000.00' },
        ],
        shippingFee: '30000.00',
        pricesIncludeTax: false,
      }),
    );
    const cancelLine = await stack.api(`/v1/orders/${cut}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { reason: 'no rice after all', lines: [{ lineNo: 2, quantity: 1 }] },
    });
    expect(cancelLine.status).toBe(200);
    await c.until(split, (o) => o.waitingFor === 'the return window to close', 'delivered, window open');
    await c.until(onTop, (o) => o.waitingFor === 'the return window to close', 'delivered, window open');
    await c.returnAccepted(split, 1, 'duplicate gift', false, 2);
    await c.until(split, (o) => o.returns.some((r) => r.status === 'accepted'), 'the book refunded');
    await c.until(cut, (o) => o.waitingFor === 'the return window to close', 'delivered, window open');

    const inv = await c.issuedInvoices({ [split]: 3, [cut]: 1, [onTop]: 2 });
    const skus = (i: Invoice) => i.lines.map((l) => l.sku);
    const sales = inv[split]!.filter((i) => i.kind === 'sale');
    const tshirts = sales.find((i) => skus(i)[0] === 'SKU-J1');
    const book = sales.find((i) => i !== tshirts);
    const bookBack = inv[split]!.find((i) => i.kind === 'adjustment');
    // Each sale invoice lists its own parcel's goods (and its share of shipping), nothing else.
    expect(skus(tshirts!)).toEqual(['SKU-J1', 'shipping']);
    expect(skus(book!)).toEqual(['SKU-JE', 'shipping']);
    // The T-shirt parcel holds only 10% goods: its VAT is what the tax service calculates on 10% goods of
    // its gross, to the đồng — not the order's average rate.
    expect(Math.abs(toMinor(tshirts!.vat) - (await c.serviceEstimate(tshirts!.gross, 'VN-VAT-10')))).toBeLessThanOrEqual(100);
    // The book's return adjusts the book's invoice (not the older T-shirt one), with the book on it.
    expect(bookBack).toMatchObject({ kind: 'adjustment', originalKey: book!.invoiceKey });
    expect(skus(bookBack!)).toEqual(['SKU-JE', 'shipping']);
    // The cut order captured its T-shirts only: invoiced without the rice, at 10% on all of it.
    const [sale] = inv[cut]!;
    expect(skus(sale!)).toEqual(['SKU-J1']);
    expect(sale!.gross).toBe('220000.00');
    expect(toMinor(sale!.vat)).toBe(await c.serviceEstimate('220000.00', 'VN-VAT-10'));

    // Priced before tax: 200,000 + 20,000 (10%) of T-shirts, 100,000 + 5,000 (5%) of book, 30,000 + 3,000
    // of shipping — 358,000 đ in all. The T-shirt parcel captured its goods' gross and its part of the
    // shipping (by the goods' gross), all at 10%; the book's parcel the rest, the book at 5%. Before,
    // both split the total by net value (2 : 1) and carried the order's average rate.
    const onTopInv = inv[onTop]!;
    expect(onTopInv.map((i) => i.kind)).toEqual(['sale', 'sale']);
    const t = onTopInv.find((i) => skus(i)[0] === 'SKU-J1')!;
    const b = onTopInv.find((i) => i !== t)!;
    expect(skus(t)).toEqual(['SKU-J1', 'shipping']);
    expect(skus(b)).toEqual(['SKU-JE', 'shipping']);
    expect(toMinor(t.gross) + toMinor(b.gross)).toBe(toMinor('358000.00'));
    // 220,000 of 325,000 of goods' gross carries 220/325 of the 33,000 of shipping: 22,338 đ.
    expect(t.gross).toBe('242338.00');
    expect(Math.abs(toMinor(t.vat) - (await c.serviceEstimate(t.gross, 'VN-VAT-10')))).toBeLessThanOrEqual(100);
    const bookLine = b.lines.find((l) => l.sku === 'SKU-JE')!;
    expect(bookLine.rate).toBe(5);
    expect(Math.abs(toMinor(bookLine.vat) - (await c.serviceEstimate(bookLine.gross, 'VN-VAT-5')))).toBeLessThanOrEqual(100);
    // Together, the tax the buyer was charged on top, but for the đồng each parcel rounds down.
    expect(Math.abs(toMinor(t.vat) + toMinor(b.vat) - toMinor('28000.00'))).toBeLessThanOrEqual(200);

    // The journal's VAT, the tax committed less refunded and the service's own ledger agree, no variance.
    const taxed = await c.settledTax({ [split]: 3, [cut]: 1, [onTop]: 2 });
    const lines = await c.journal();
    expectBalanced(lines);
    for (const id of [split, cut, onTop]) {
      const journalVat = -net(
        lines.filter((l) => l.orderId === id),
        ACCOUNTS.vat,
      );
      expect(taxed[id]!.map((d) => d.status)).toEqual(taxed[id]!.map(() => 'committed'));
      expect(taxNet(taxed[id]!), `tax committed for ${id}`).toBe(journalVat);
      expect(await c.serviceTaxNet(id), `the tax service's ledger for ${id}`).toBe(journalVat);
      expect(invoicedNet(inv[id]!)).toBe(await c.gatewayNet(id));
    }
    expect(
      -net(
        lines.filter((l) => l.orderId === cut),
        ACCOUNTS.vat,
      ),
    ).toBe(toMinor(sale!.vat));
  });

  it('a COD order returned: refunded by bank transfer, its sale invoice adjusted by what was refunded', async () => {
    const id = await c.submit(makeOrder({ sku: 'SKU-J1', quantity: 2, payment: { method: 'cod' } }));
    await c.until(id, (o) => o.waitingFor === 'the return window to close', 'delivered, window open');
    const returnId = await c.returnAccepted(id, 1, 'changed my mind');
    const lines = await eventually(
      async () => {
        const ls = (await c.journal()).filter((l) => l.orderId === id);
        return ls.some((l) => l.kind === 'refunded') ? ls : undefined;
      },
      { what: 'the bank-transfer refund in the journal' },
    );
    expectBalanced(lines);
    expect(kinds(lines, id)).toEqual(['cod_collected', 'refunded']);
    // Nothing went through the gateway: the refund is owed by bank transfer.
    expect(net(lines, ACCOUNTS.gateway)).toBe(0);
    expect(await c.gatewayNet(id)).toBe(0);
    const owed = -net(lines, ACCOUNTS.refundsPayable);
    expect(owed).toBe(toMinor('100000.00'));
    const inv = await c.issuedInvoices({ [id]: 2 });
    expect(inv[id]!.map((i) => [i.kind, i.gross])).toEqual([
      ['sale', '200000.00'],
      ['adjustment', '100000.00'],
    ]);
    expect(invoicedNet(inv[id]!)).toBe(toMinor('200000.00') - owed);
    expect(await c.providerNet(id)).toBe(toMinor('100000.00'));
    // The tax of the cash refunded by bank transfer is refunded at the tax service too.
    const taxed = await c.settledTax({ [id]: 2 });
    expect(taxed[id]!.map((d) => [d.kind, d.status])).toEqual([
      ['sale', 'committed'],
      ['return', 'committed'],
    ]);
    expect(taxNet(taxed[id]!)).toBe(-net(lines, ACCOUNTS.vat));
    expect(await c.serviceTaxNet(id)).toBe(-net(lines, ACCOUNTS.vat));
    // The return's statuses are events of the feed, in order, the refund on the accepted one; the
    // buyer's reason is not in them.
    const returns = (await c.feed()).filter((e) => e.type === 'return.status' && e.orderId === id);
    const order = ['requested', 'label_sent', 'in_transit', 'received', 'accepted'];
    const statuses = returns.map((e) => e.status!);
    expect(statuses[0]).toBe('requested');
    expect(statuses).toContain('received');
    expect(statuses.at(-1)).toBe('accepted');
    expect(statuses.map((x) => order.indexOf(x))).toEqual([...new Set(statuses.map((x) => order.indexOf(x)))].sort((a, b) => a - b));
    expect(returns.at(-1)).toMatchObject({ returnId, refunded: '100000.00', lines: [{ lineNo: 1, sku: 'SKU-J1', quantity: 1 }] });
    expect(JSON.stringify(returns)).not.toContain('changed my mind');
    const rec = await c.reconcile();
    expect(rec.differences.filter((d) => d.orderId === id && d.kind.includes('invoiced'))).toEqual([]);
  });

  it('e-invoices: a provider failing is retried; a rejection waits with its reason, listed, until an ops retry with the tax code mended', async () => {
    // The provider answers 500 twice for the first order: its invoice goes out on the third try.
    const flaky = makeOrder({ sku: 'SKU-J1', quantity: 1 });
    const business = makeOrder({ sku: 'SKU-J1', quantity: 1 });
    business.customer.taxCode = '0001234567';
    const flakyId = `order-web-${flaky.channelOrderId}`;
    const fault = await c.sandbox('/sandbox/faults', {
      service: 'einvoice',
      op: 'issue',
      match: { orderId: flakyId },
      action: 'error500',
      times: 2,
    });
    expect(fault.faultId).toBeTruthy();
    const [a, b] = [await c.submit(flaky), await c.submit(business)];
    expect(a).toBe(flakyId);
    const inv = await c.issuedInvoices({ [a]: 1 });
    expect(inv[a]![0]!.attempts).toBeGreaterThanOrEqual(3);
    expect(invoicedNet(inv[a]!)).toBe(await c.gatewayNet(a));

    // The authority does not know the buyer's tax code: rejected, the reason kept, nothing issued.
    const [rejected] = await eventually(
      async () => {
        const items = await c.invoices(b);
        return items[0]?.status === 'rejected' ? items : undefined;
      },
      { what: 'the invoice rejected' },
    );
    expect(rejected).toMatchObject({
      buyerTaxCode: '0001234567',
      reason: { code: 'buyer_tax_code_unknown' },
      number: null,
      document: null,
    });
    const listed = (await (await stack.api('/v1/accounting/invoices?status=rejected', { key: TEST_KEYS.ops })).json()) as {
      items: Invoice[];
    };
    expect(listed.items.map((i) => i.invoiceKey)).toContain(rejected!.invoiceKey);
    const notIssued = await stack.api(`/v1/orders/${b}/invoices/${encodeURIComponent(rejected!.invoiceKey)}/document`, {
      key: TEST_KEYS.finance,
    });
    expect(notIssued.status).toBe(409);
    // What the buyer paid and no issued invoice covers is a difference of the reconciliation (its
    // tax, committed with the sale whatever the invoice's fate, is not).
    await c.settledTax({ [b]: 1 });
    expect((await c.reconcile()).differences.filter((d) => d.orderId === b)).toEqual([
      expect.objectContaining({ kind: 'not_invoiced', amount: fromMinor(await c.gatewayNet(b)) }),
    ]);

    // Only ops, finance and admin retry; a bad code is refused; an invoice not rejected has nothing to retry.
    const retryPath = `/v1/orders/${b}/invoices/${encodeURIComponent(rejected!.invoiceKey)}/retry`;
    expect((await stack.api(retryPath, { method: 'POST', key: TEST_KEYS.cs, json: {} })).status).toBe(403);
    expect((await stack.api(retryPath, { method: 'POST', key: TEST_KEYS.ops, json: { buyerTaxCode: '12AB' } })).status).toBe(400);
    const notRejected = `/v1/orders/${a}/invoices/${encodeURIComponent(inv[a]![0]!.invoiceKey)}/retry`;
    expect((await stack.api(notRejected, { method: 'POST', key: TEST_KEYS.ops, json: {} })).status).toBe(409);
    const retried = await stack.api(retryPath, { method: 'POST', key: TEST_KEYS.ops, json: { buyerTaxCode: '0312345678' } });
    expect(retried.status).toBe(200);
    expect(((await retried.json()) as Invoice).status).toBe('pending');
    const fixed = await c.issuedInvoices({ [b]: 1 });
    expect(fixed[b]![0]).toMatchObject({ buyerTaxCode: '0312345678', reason: null });
    expect(await (await stack.api(fixed[b]![0]!.document!, { key: TEST_KEYS.cs })).text()).toContain('<TaxCode>0312345678</TaxCode>');
    expect((await c.reconcile()).differences.filter((d) => d.orderId === b)).toEqual([]);
    // Each state it went through is an event of the feed, in order. The feed serves an event once no
    // earlier write can still commit before it (its horizon), which may be a moment after the API shows it.
    const states = await eventually(
      async () => {
        const s = (await c.feed()).filter((e) => e.type === 'invoice.status' && e.orderId === b).map((e) => e.status);
        return s.at(-1) === 'issued' ? s : undefined;
      },
      { what: 'the issued invoice in the feed' },
    );
    expect(states).toEqual(['pending', 'rejected', 'pending', 'issued']);

    // Channels never see invoices; customer service and ops read them; unknown invoices are 404.
    expect((await stack.api(`/v1/orders/${b}/invoices`, { key: TEST_KEYS.web })).status).toBe(403);
    expect((await stack.api(`/v1/orders/${b}/invoices`, { key: TEST_KEYS.ops })).status).toBe(200);
    expect((await stack.api(`/v1/accounting/invoices`, { key: TEST_KEYS.cs })).status).toBe(403);
    expect((await stack.api(`/v1/orders/${b}/invoices/nope/document`, { key: TEST_KEYS.finance })).status).toBe(404);
  });

  it('e-invoices: an issued invoice naming the buyer wrongly is replaced; the replacement counts, and a later refund adjusts it', async () => {
    // A business buyer gave its parent company's tax code; the invoice was issued to the parent.
    const order = makeOrder({ sku: 'SKU-J1', quantity: 2 });
    order.customer = { ...order.customer, name: 'Công ty Mẹ', taxCode: '0312345678' };
    const id = await c.submit(order);
    await c.until(id, (o) => o.waitingFor === 'the return window to close', 'delivered, window open');
    const [sale] = (await c.issuedInvoices({ [id]: 1 }))[id]!;
    const replace = (key: string, body: unknown, apiKey: string = TEST_KEYS.finance) =>
      stack.api(`/v1/orders/${id}/invoices/${encodeURIComponent(key)}/replace`, { method: 'POST', key: apiKey, json: body });
    const fix = { note: 'the buyer is the branch, not its parent', buyer: { name: 'Công ty Con', taxCode: '0312345678-001' } };
    // Customer service and channels do not replace invoices; a replacement says why and what changes.
    expect((await replace(sale!.invoiceKey, fix, TEST_KEYS.cs)).status).toBe(403);
    expect((await replace(sale!.invoiceKey, fix, TEST_KEYS.web)).status).toBe(403);
    expect((await replace(sale!.invoiceKey, { buyer: fix.buyer })).status).toBe(400);
    expect((await replace(sale!.invoiceKey, { note: 'nothing to change', buyer: {} })).status).toBe(400);
    expect((await replace(`${id}:capture:none`, fix)).status).toBe(404);
    // First with a mistyped code: the tax authority rejects the replacement; the original still stands.
    const res = await replace(sale!.invoiceKey, { ...fix, buyer: { ...fix.buyer, taxCode: '0001234567' } });
    expect(res.status).toBe(201);
    const replacement = (await res.json()) as Invoice;
    expect(replacement).toMatchObject({ kind: 'replacement', originalKey: sale!.invoiceKey, status: 'pending', note: fix.note });
    expect(replacement.gross).toBe(sale!.gross);
    expect(replacement.lines).toEqual(sale!.lines);
    // Once is enough: a second replacement of the same invoice is refused while the first stands.
    expect((await replace(sale!.invoiceKey, fix)).status).toBe(409);
    await eventually(async () => (await c.invoices(id)).map((i) => i.status).join() === 'issued,rejected' || undefined, {
      what: 'the replacement rejected, the original standing',
    });
    // Rejected, it is sent again mended — not replaced by yet another one.
    const again = await replace(sale!.invoiceKey, fix);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { detail: string }).detail).toContain(replacement.invoiceKey);
    const retried = await stack.api(`/v1/orders/${id}/invoices/${encodeURIComponent(replacement.invoiceKey)}/retry`, {
      method: 'POST',
      key: TEST_KEYS.ops,
      json: { buyerTaxCode: fix.buyer.taxCode },
    });
    expect(retried.status).toBe(200);

    // Issued by the provider, the replacement counts and the original no longer does — ours and theirs.
    const after = await eventually(
      async () => {
        const items = await c.invoices(id);
        return items.map((i) => i.status).join() === 'replaced,issued' ? items : undefined;
      },
      { what: 'the replacement issued, the original replaced' },
    );
    expect(after[1]!.buyerTaxCode).toBe('0312345678-001');
    const xml = await (await stack.api(after[1]!.document!, { key: TEST_KEYS.finance })).text();
    expect(xml).toContain(`<Replaces>${sale!.invoiceKey}</Replaces>`);
    expect(xml).toContain('<Name>Công ty Con</Name>');
    expect(invoicedNet(after)).toBe(await c.gatewayNet(id));
    expect(await c.providerNet(id)).toBe(await c.gatewayNet(id));
    const { invoices: ledger } = (await c.sandbox(`/sandbox/ledger/invoices?reference=${id}`)) as {
      invoices: { invoiceKey: string; status: string; replacedBy?: string }[];
    };
    expect(ledger.find((i) => i.invoiceKey === sale!.invoiceKey)).toMatchObject({ status: 'replaced', replacedBy: replacement.invoiceKey });

    // A return: its refund adjusts the replacement; its tax is refunded against the sale's tax document.
    await c.returnAccepted(id, 1, 'one is enough');
    const all = await eventually(
      async () => {
        const items = await c.invoices(id);
        return items.length === 3 && items[2]!.status === 'issued' ? items : undefined;
      },
      { what: 'the refund adjusted' },
    );
    expect(all[2]).toMatchObject({ kind: 'adjustment', originalKey: replacement.invoiceKey });
    expect(invoicedNet(all)).toBe(await c.gatewayNet(id));
    expect(await c.providerNet(id)).toBe(await c.gatewayNet(id));
    // An invoice a refund adjusted is adjusted, not replaced.
    expect((await replace(replacement.invoiceKey, fix)).status).toBe(409);
    const taxed = await c.settledTax({ [id]: 2 });
    expect(taxed[id]!.map((d) => [d.kind, d.status, d.originalCode])).toEqual([
      ['sale', 'committed', null],
      ['return', 'committed', sale!.invoiceKey],
    ]);
    const lines = (await c.journal()).filter((l) => l.orderId === id);
    expect(taxNet(taxed[id]!)).toBe(-net(lines, ACCOUNTS.vat));
    expect(await c.serviceTaxNet(id)).toBe(-net(lines, ACCOUNTS.vat));
    expect((await c.reconcile()).differences.filter((d) => d.orderId === id)).toEqual([]);
    // The feed tells the original's fate.
    const states = await eventually(
      async () => {
        const s = (await c.feed()).filter((e) => e.type === 'invoice.status' && e.invoiceKey === sale!.invoiceKey).map((e) => e.status);
        return s.at(-1) === 'replaced' ? s : undefined;
      },
      { what: "the original's replacement in the feed" },
    );
    expect(states).toEqual(['pending', 'issued', 'replaced']);
  });

  it('tax: a failing service is retried; a refusal waits with its reason until an ops retry; a rate moved after the quote is a variance', async () => {
    const flaky = makeOrder({ sku: 'SKU-J1', quantity: 1 });
    const refused = makeOrder({ sku: 'SKU-J1', quantity: 1 });
    const [flakyId, refusedId] = [`order-web-${flaky.channelOrderId}`, `order-web-${refused.channelOrderId}`];
    await c.sandbox('/sandbox/faults', { service: 'tax', op: 'create', match: { orderId: flakyId }, action: 'error500', times: 2 });
    await c.sandbox('/sandbox/faults', {
      service: 'tax',
      op: 'create',
      match: { orderId: refusedId },
      action: 'refuse',
      status: 400,
      error: 'customer_exemption_invalid',
      times: 1,
    });
    // The reduced rate ends at the tax service between the order's quote (8%) and its commit.
    const rice = await c.submit(makeOrder({ lines: [{ sku: 'SKU-JR', quantity: 1, unitPrice: '108000.00' }] }));
    const quoted = (await (await stack.api(`/v1/orders/${rice}`, { key: TEST_KEYS.ops })).json()) as { tax: { tax: string } };
    expect(quoted.tax.tax).toBe('8000.00');
    await c.sandbox('/sandbox/tax/rates', { 'VN-VAT-8': 10 });
    try {
      expect(await c.submit(flaky)).toBe(flakyId);
      expect(await c.submit(refused)).toBe(refusedId);
      const docs = await c.settledTax({ [flakyId]: 1, [refusedId]: 1, [rice]: 1 });
      expect(docs[flakyId]![0]).toMatchObject({ status: 'committed' });
      expect(docs[flakyId]![0]!.attempts).toBeGreaterThanOrEqual(3);

      // The rice was charged (and invoiced, and journalled) at 8%; the service now calculates 10%.
      expect(docs[rice]![0]).toMatchObject({ status: 'variance', tax: '8000.00', taxCalculated: '9818.00' });
      const variances = (await (await stack.api('/v1/accounting/tax-documents?status=variance', { key: TEST_KEYS.finance })).json()) as {
        items: TaxDocument[];
      };
      expect(variances.items.map((d) => d.code)).toEqual([docs[rice]![0]!.code]);

      // Refused: the reason kept, listed, and the VAT the journal holds is not committed.
      const [no] = docs[refusedId]!;
      expect(no).toMatchObject({ status: 'refused', reason: { code: 'customer_exemption_invalid' }, taxCalculated: null });
      const listed = (await (await stack.api('/v1/accounting/tax-documents?status=refused', { key: TEST_KEYS.ops })).json()) as {
        items: TaxDocument[];
      };
      expect(listed.items.map((d) => d.code)).toEqual([no!.code]);
      expect((await c.reconcile()).differences.filter((d) => d.orderId === refusedId)).toEqual([
        expect.objectContaining({ kind: 'tax_not_committed', amount: no!.tax }),
      ]);

      // Only finance, ops and admin retry, and only a refused document; then it is committed.
      const retryPath = `/v1/orders/${refusedId}/tax-documents/${encodeURIComponent(no!.code)}/retry`;
      expect((await stack.api(retryPath, { method: 'POST', key: TEST_KEYS.cs })).status).toBe(403);
      const notRefused = `/v1/orders/${flakyId}/tax-documents/${encodeURIComponent(docs[flakyId]![0]!.code)}/retry`;
      expect((await stack.api(notRefused, { method: 'POST', key: TEST_KEYS.finance })).status).toBe(409);
      expect((await stack.api(`/v1/orders/${refusedId}/tax-documents/nope/retry`, { method: 'POST', key: TEST_KEYS.ops })).status).toBe(
        404,
      );
      const again = await stack.api(retryPath, { method: 'POST', key: TEST_KEYS.ops });
      expect(again.status).toBe(200);
      expect(((await again.json()) as TaxDocument).status).toBe('pending');
      const fixed = await c.settledTax({ [refusedId]: 1 });
      expect(fixed[refusedId]![0]).toMatchObject({ status: 'committed', reason: null });
      expect(await c.serviceTaxNet(refusedId)).toBe(toMinor(no!.tax));
      expect((await c.reconcile()).differences.filter((d) => d.orderId === refusedId)).toEqual([]);

      // Channels never see tax documents; customer service reads them.
      expect((await stack.api(`/v1/orders/${rice}/tax-documents`, { key: TEST_KEYS.web })).status).toBe(403);
      expect((await stack.api(`/v1/orders/${rice}/tax-documents`, { key: TEST_KEYS.cs })).status).toBe(200);
      expect((await stack.api('/v1/accounting/tax-documents', { key: TEST_KEYS.cs })).status).toBe(403);
    } finally {
      await c.sandbox('/sandbox/tax/rates', { 'VN-VAT-8': 8 });
    }
  });

  it("the VAT summary by rate is what the e-invoice provider's own ledger issued, rate by rate, and the journal's VAT", async () => {
    // Every order of this stack so far, from the provider's side: issued originals and replacements
    // less issued adjustments (a replaced invoice no longer counts), per VAT rate as printed.
    const now = Date.now();
    const window = `from=${new Date(now - 86_400_000).toISOString()}&to=${new Date(now + 86_400_000).toISOString()}`;
    const theirs = async () => {
      const { invoices: all } = (await c.sandbox('/sandbox/ledger/invoices')) as {
        invoices: {
          status: string;
          request: { type: string; currency: string; lines: { vatRate: number | 'KCT'; vat: string; gross: string }[] };
        }[];
      };
      const byRate = new Map<string, { vat: number; gross: number }>();
      for (const i of all.filter((x) => x.status === 'issued' && x.request.currency === 'VND'))
        for (const l of i.request.lines) {
          const rate = l.vatRate === 'KCT' ? 'exempt' : String(l.vatRate);
          const sign = i.request.type === 'adjustment' ? -1 : 1;
          const r = byRate.get(rate) ?? { vat: 0, gross: 0 };
          byRate.set(rate, { vat: r.vat + sign * toMinor(l.vat), gross: r.gross + sign * toMinor(l.gross) });
        }
      return byRate;
    };
    const signed = (x: string) => (x.startsWith('-') ? -toMinor(x.slice(1)) : toMinor(x));
    const summary = await eventually(
      async () => {
        const res = await stack.api(`/v1/accounting/vat-summary?${window}`, { key: TEST_KEYS.finance });
        expect(res.status).toBe(200);
        const body = (await res.json()) as {
          currencies: {
            currency: string;
            rates: { rate: number | 'exempt'; net: string; vat: string; gross: string }[];
            total: { vat: string };
            journalVat: string;
          }[];
        };
        const vnd = body.currencies.find((x) => x.currency === 'VND')!;
        const ours = new Map(vnd.rates.map((r) => [String(r.rate), { vat: signed(r.vat), gross: signed(r.gross) }]));
        // Until the relay has marked every invoice the provider issued, the two differ.
        expect(ours).toEqual(await theirs());
        return vnd;
      },
      { what: "the VAT summary equal to the provider's ledger", timeoutMs: 30_000 },
    );
    // Several rates (the T-shirts' 10%, the book's 5%, the rice's 8%), and the VAT the books hold for them.
    expect(summary.rates.map((r) => r.rate)).toEqual(expect.arrayContaining([10, 8, 5]));
    expect(signed(summary.total.vat)).toBe(summary.rates.reduce((a, r) => a + signed(r.vat), 0));
    for (const r of summary.rates) expect(signed(r.net) + signed(r.vat)).toBe(signed(r.gross));
    expect(summary.journalVat).toBe(summary.total.vat);
  });

  it('finance and admin read the journal; ops, cs and channels do not', async () => {
    for (const [key, status] of [
      [TEST_KEYS.finance, 200],
      [TEST_KEYS.admin, 200],
      [TEST_KEYS.ops, 403],
      [TEST_KEYS.cs, 403],
      [TEST_KEYS.web, 403],
    ] as const)
      expect((await stack.api('/v1/accounting/journal', { key })).status, key).toBe(status);
    expect((await stack.api('/v1/accounting/journal')).status).toBe(401);
    expect((await stack.api('/v1/accounting/journal?from=yesterday', { key: TEST_KEYS.finance })).status).toBe(400);
    for (const [key, status] of [
      [TEST_KEYS.admin, 200],
      [TEST_KEYS.ops, 403],
      [TEST_KEYS.web, 403],
    ] as const)
      for (const path of ['reconciliation', 'vat-summary'])
        expect((await stack.api(`/v1/accounting/${path}?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z`, { key })).status).toBe(status);
    // A window backwards, or longer than 93 days: 400 with the reason.
    for (const q of ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z']) {
      const res = await stack.api(`/v1/accounting/reconciliation?${q}`, { key: TEST_KEYS.finance });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/not one to report on/);
      expect((await stack.api(`/v1/accounting/vat-summary?${q}`, { key: TEST_KEYS.finance })).status).toBe(400);
    }
    // Year 0 is an ISO 8601 instant but not a PostgreSQL one: refused as input, never a 500.
    const year0 = await stack.api('/v1/accounting/journal?from=0000-01-01T00:00:00Z', { key: TEST_KEYS.finance });
    expect(year0.status).toBe(400);
  });
});

describe('the journal of a COD order the carrier pays over short', () => {
  let stack: TestStack;
  const c = client(() => stack);
  beforeAll(async () => {
    stack = await startTestStack({
      returnWindows: { default: 120_000 },
      orderSettings: {
        sla: { shipByMs: { default: 600_000 }, deliverByMs: { default: 600_000 }, graceMs: 1000, stepMs: 60_000, codRemitByMs: 600_000 },
      },
      sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
    });
    await seedNetwork(stack.db.sql, { 'SKU-JC': { 'WH-HCM': 50 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('a prepaid parcel back to the sender: the capture refunded in the journal and at the gateway, its invoice adjusted to nothing', async () => {
    const id = await c.submit(makeOrder({ sku: 'SKU-JC', quantity: 2 }));
    const booked = await c.until(id, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const bookingId = booked.shipments[0]!.bookingId!;
    await c.sandbox(`/sandbox/carriers/${bookingId}/advance`, { status: 'picked_up' });
    await c.until(id, (o) => o.shipments[0]?.status === 'picked_up', 'handed over');
    await c.sandbox(`/sandbox/carriers/${bookingId}/advance`, { status: 'returned_to_sender' });
    await c.until(id, (o) => o.status === 'CANCELLED', 'cancelled after the parcel came back');
    const lines = await eventually(
      async () => {
        const ls = (await c.journal()).filter((l) => l.orderId === id);
        return ls.some((l) => l.kind === 'refunded') ? ls : undefined;
      },
      { what: 'the refund in the journal' },
    );
    expectBalanced(lines);
    expect(kinds(lines, id)).toEqual(['authorised', 'captured', 'refunded']);
    expect(net(lines, ACCOUNTS.gateway)).toBe(await c.gatewayNet(id));
    expect(net(lines, ACCOUNTS.gateway)).toBe(0);
    const inv = await c.issuedInvoices({ [id]: 2 });
    expect(inv[id]!.map((i) => i.kind)).toEqual(['sale', 'adjustment']);
    expect(invoicedNet(inv[id]!)).toBe(0);
    expect(await c.providerNet(id)).toBe(0);
  });

  it('collected on delivery, remitted short: the carrier owes the difference in the journal, and it balances', async () => {
    const id = await c.submit(makeOrder({ sku: 'SKU-JC', quantity: 2, payment: { method: 'cod' } }));
    const booked = await c.until(id, (o) => o.shipments[0]?.status === 'booked', 'booked');
    const bookingId = booked.shipments[0]!.bookingId!;
    for (const status of ['picked_up', 'in_transit', 'delivered']) await c.sandbox(`/sandbox/carriers/${bookingId}/advance`, { status });
    await c.until(id, (o) => o.shipments[0]?.status === 'delivered', 'delivered');
    await c.sandbox(`/sandbox/carriers/${bookingId}/advance`, { status: 'cod_remitted', codAmount: '150000.00' });
    await c.until(id, (o) => o.shipments[0]?.cod?.remitted === '150000.00', 'remitted short');

    const lines = await eventually(
      async () => {
        const ls = (await c.journal()).filter((l) => l.orderId === id);
        return ls.some((l) => l.kind === 'cod_remitted') ? ls : undefined;
      },
      { what: 'the remittance in the journal' },
    );
    expectBalanced(lines);
    expect(kinds(lines, id)).toEqual(['cod_collected', 'cod_remitted']);
    expect(net(lines, ACCOUNTS.codReceivable)).toBe(toMinor('50000.00'));
    expect(fromMinor(net(lines, ACCOUNTS.bank))).toBe('150000.00');
    expect(net(lines, ACCOUNTS.gateway)).toBe(await c.gatewayNet(id));
    expect(net(lines, ACCOUNTS.gateway)).toBe(0);

    // Invoiced on delivery for what the buyer paid at the door, whatever the carrier paid over.
    const inv = await c.issuedInvoices({ [id]: 1 });
    expect(invoicedNet(inv[id]!)).toBe(toMinor('200000.00'));
    expect(await c.providerNet(id)).toBe(toMinor('200000.00'));

    // The reconciliation lists the cash the carrier still owes, by order.
    const rec = await c.reconcile();
    expect(column(rec.days, 'web', 'codCollected')).toBe(toMinor('200000.00'));
    expect(column(rec.days, 'web', 'codRemitted')).toBe(toMinor('150000.00'));
    expect(rec.differences).toEqual([
      { orderId: id, channel: 'web', currency: 'VND', kind: 'cod_not_remitted', amount: '50000.00', status: 'DELIVERED' },
    ]);
  });
});
