/**
 * Customer service and inventory over real HTTP, with real Temporal and PostgreSQL: a customer's
 * order history, search by channel order number / phone / e-mail, personal data by role (cs full,
 * ops masked, channel none), no personal data in logs, and the inventory adjustment history.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventoryRepo } from '../../db/inventory-repo';
import type { CanonicalOrder } from '../../domain/order';
import { encodeCursor } from '../../api/schemas';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { memoryLogger, startTestStack, TEST_KEYS, uniqueSuffix, type TestStack } from '../support/harness';

let stack: TestStack;

interface Customer {
  id: string;
  name: string;
  email?: string;
  phone?: string;
}
interface ListItem {
  orderId: string;
  channel: string;
  channelOrderId: string;
  customerId: string;
  createdAt: string;
  customer?: Customer;
}
interface Page {
  items: ListItem[];
  nextCursor: string | null;
}
interface Problem {
  status: number;
  errors?: { path: string; message: string }[];
}
interface Detail extends ListItem {
  status: string;
  shippingAddress?: Record<string, unknown>;
  timeline: { status: string; event: string; detail: Record<string, unknown>; actor: string }[];
}

const run = uniqueSuffix();
// Customer A writes their phone differently on each order; all are the same number.
const A = {
  id: `cust-a-${run}`,
  name: 'Nguyễn Văn An',
  email: 'An.Nguyen@Example.VN',
  phones: ['0901 234 567', '+84901234567', '84 901 234 567'],
};
const B = { id: `cust-b-${run}`, name: 'Trần Thị Bình', email: 'binh.tran@example.vn', phone: '0912345678' };
// One digit away from A's phone, and an e-mail that only differs in the domain: must never match.
const C = { id: `cust-c-${run}`, name: 'Lê Văn Cường', email: 'an.nguyen@example.com', phone: '0901234568' };
const STREET = `${run} Đường Lê Lợi`;
// Personal data cs writes into a cancellation reason: the timeline must not show it to other roles.
const REASON_PHONE = '0987 654 321';
const REASON_EMAIL = 'new.address@mail.vn';

const ordersOf: Record<string, string[]> = { [A.id]: [], [B.id]: [], [C.id]: [] };
const channelOrderIds: Record<string, string> = {};

function orderFor(
  who: { id: string; name: string; email: string },
  phone: string,
  channel: 'web' | 'shopify' = 'web',
  sku = 'SKU-CS',
): CanonicalOrder {
  return makeOrder({
    sku,
    channel,
    customer: { id: who.id, name: who.name, email: who.email, phone },
    shippingAddress: { name: who.name, line1: STREET, ward: 'Bến Nghé', district: 'Quận 1', city: 'Hồ Chí Minh', country: 'VN' },
  });
}

async function place(
  who: { id: string; name: string; email: string },
  phone: string,
  channel: 'web' | 'shopify' = 'web',
  sku = 'SKU-CS',
): Promise<string> {
  const order = orderFor(who, phone, channel, sku);
  const res = await stack.api('/v1/orders', { method: 'POST', key: channel === 'web' ? TEST_KEYS.web : TEST_KEYS.shopify, json: order });
  expect(res.status).toBe(201);
  const { orderId } = (await res.json()) as { orderId: string };
  ordersOf[who.id]!.push(orderId);
  channelOrderIds[orderId] = order.channelOrderId;
  return orderId;
}

const get = async <T>(path: string, key: string, status = 200): Promise<T> => {
  const res = await stack.api(path, { key });
  const body = await res.text();
  expect(res.status, `${path} → ${body}`).toBe(status);
  return JSON.parse(body) as T;
};
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
const ids = (p: Page) => p.items.map((i) => i.orderId);

/** Every page of a paged route, following nextCursor. */
async function allPages<T extends { id?: string; orderId?: string } = ListItem>(
  path: string,
  key: string,
  limit: number,
): Promise<{ pages: { items: T[]; nextCursor: string | null }[]; ids: string[] }> {
  const pages: { items: T[]; nextCursor: string | null }[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page: { items: T[]; nextCursor: string | null } = await get(
      `${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
      key,
    );
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor && pages.length < 20);
  return { pages, ids: pages.flatMap((p) => p.items.map((i) => (i.orderId ?? i.id)!)) };
}

beforeAll(async () => {
  stack = await startTestStack({ rules: { riskVelocityPerHour: 100 } });
  await seedNetwork(stack.db.sql, { 'SKU-CS': { 'WH-HCM': 1000 }, 'SKU-ADJ': { 'WH-HCM': 100, 'WH-HN': 0 }, 'SKU-NOSTOCK': {} });
  // Sequential: created_at order is placing order, so "newest first" is known.
  for (const phone of A.phones) await place(A, phone);
  await place(B, B.phone);
  await place(B, B.phone, 'shopify');
  await place(C, C.phone);
});
afterAll(async () => {
  await stack?.close();
});

describe("a customer's order history", () => {
  it("returns exactly each customer's orders, newest first, paged; a cursor stays stable while orders arrive", async () => {
    const a = await allPages(`/v1/customers/${A.id}/orders`, TEST_KEYS.cs, 2);
    expect(a.pages.map((p) => p.items.length)).toEqual([2, 1]);
    expect(a.ids).toEqual([...ordersOf[A.id]!].reverse());
    expect(a.pages.at(-1)!.nextCursor).toBeNull();

    // B's history spans channels; ops may read it too.
    const b = await allPages(`/v1/customers/${B.id}/orders`, TEST_KEYS.ops, 1);
    expect(b.ids).toEqual([...ordersOf[B.id]!].reverse());
    expect(new Set(b.pages.flatMap((p) => p.items.map((i) => i.channel)))).toEqual(new Set(['web', 'shopify']));

    // A page taken before a new order keeps its place: the next page neither repeats nor skips.
    const first = await get<Page>(`/v1/customers/${A.id}/orders?limit=2`, TEST_KEYS.cs);
    const newest = await place(A, A.phones[0]!);
    const rest = await get<Page>(`/v1/customers/${A.id}/orders?limit=2&cursor=${first.nextCursor}`, TEST_KEYS.cs);
    expect([...ids(first), ...ids(rest)]).toEqual(ordersOf[A.id]!.slice(0, 3).reverse());
    expect((await get<Page>(`/v1/customers/${A.id}/orders?limit=1`, TEST_KEYS.cs)).items[0]!.orderId).toBe(newest);

    // Nobody ordered as this id: an empty history, not an error.
    expect(await get<Page>(`/v1/customers/nobody-${run}/orders`, TEST_KEYS.cs)).toEqual({ items: [], nextCursor: null });
  });

  it('is for cs and ops only', async () => {
    const path = `/v1/customers/${A.id}/orders`;
    expect((await stack.api(path)).status).toBe(401);
    for (const key of [TEST_KEYS.web, TEST_KEYS.admin, TEST_KEYS.carrier]) expect((await stack.api(path, { key })).status).toBe(403);
  });
});

describe('search', () => {
  it('finds an order by its channel order number, and nothing else', async () => {
    const target = ordersOf[B.id]![0]!;
    const found = await get<Page>(`/v1/orders?${q({ channelOrderId: channelOrderIds[target]! })}`, TEST_KEYS.cs);
    expect(ids(found)).toEqual([target]);
    expect(ids(await get<Page>(`/v1/orders?${q({ channelOrderId: `X${run}` })}`, TEST_KEYS.ops))).toEqual([]);
  });

  it("finds a customer's orders by phone in any format, and no one else's", async () => {
    const expected = [...ordersOf[A.id]!].reverse();
    for (const phone of ['0901234567', '+84 901 234 567', '84-901-234-567', '(090) 123-4567', '901.234.567', '0084901234567']) {
      expect(ids(await get<Page>(`/v1/orders?${q({ phone })}`, TEST_KEYS.cs)), phone).toEqual(expected);
    }
    expect(ids(await get<Page>(`/v1/orders?${q({ phone: C.phone })}`, TEST_KEYS.ops))).toEqual(ordersOf[C.id]);
    expect(ids(await get<Page>(`/v1/orders?${q({ phone: '0900000000' })}`, TEST_KEYS.cs))).toEqual([]);
    // Search combines with the other filters and pages like the list.
    const web = await allPages(`/v1/orders?${q({ phone: '+84 912 345 678', channel: 'shopify' })}`, TEST_KEYS.cs, 1);
    expect(web.ids).toEqual([ordersOf[B.id]![1]]);
    const paged = await allPages(`/v1/orders?${q({ phone: '0901234567' })}`, TEST_KEYS.cs, 3);
    expect(paged.ids).toEqual(expected);
  });

  it("finds a customer's orders by e-mail, ignoring case and spaces", async () => {
    const expected = [...ordersOf[A.id]!].reverse();
    expect(ids(await get<Page>(`/v1/orders?${q({ email: '  an.nguyen@EXAMPLE.vn ' })}`, TEST_KEYS.cs))).toEqual(expected);
    expect(ids(await get<Page>(`/v1/orders?${q({ email: C.email })}`, TEST_KEYS.ops))).toEqual(ordersOf[C.id]);
  });

  it('the phone and e-mail indexes serve the search', async () => {
    const keys = await stack.db.sql<{ k: string | null }[]>`
      select oms_phone_key(x) as k from unnest(${['0901 234 567', '+84901234567', '84-901-234-567', '901234567', '0084 901 234 567', '+1 (415) 555-0100', '12345', 'abc']}::text[]) as x`;
    expect(keys.map((r) => r.k)).toEqual([
      '84901234567',
      '84901234567',
      '84901234567',
      '84901234567',
      '84901234567',
      '14155550100',
      null,
      null,
    ]);
    // Forbid the sequential scan: if the query's expression drifted from the index's, there is no plan but a seq scan.
    const plan = await stack.db.sql.begin(async (tx) => {
      await tx`set local enable_seqscan = off`;
      const phone = await tx.unsafe<{ 'QUERY PLAN': string }[]>(
        `explain select order_id from orders where oms_phone_key(canonical -> 'customer' ->> 'phone') = oms_phone_key($1::text) order by created_at desc, order_id desc limit 51`,
        ['0901234567'],
      );
      const email = await tx.unsafe<{ 'QUERY PLAN': string }[]>(
        `explain select order_id from orders where oms_email_key(canonical -> 'customer' ->> 'email') = oms_email_key($1::text) order by created_at desc, order_id desc limit 51`,
        ['a@b.vn'],
      );
      return { phone: phone.map((r) => r['QUERY PLAN']).join('\n'), email: email.map((r) => r['QUERY PLAN']).join('\n') };
    });
    expect(plan.phone).toContain('orders_customer_phone_key_idx');
    expect(plan.email).toContain('orders_customer_email_key_idx');
  });

  it("a channel key may not search by phone or e-mail, and never finds another channel's order", async () => {
    for (const params of [{ phone: A.phones[0]! }, { email: A.email }] as Record<string, string>[]) {
      const res = await stack.api(`/v1/orders?${q(params)}`, { key: TEST_KEYS.web });
      expect(res.status).toBe(403);
    }
    const shopifyOrder = ordersOf[B.id]![1]!;
    const cno = channelOrderIds[shopifyOrder]!;
    expect(ids(await get<Page>(`/v1/orders?${q({ channelOrderId: cno })}`, TEST_KEYS.web))).toEqual([]);
    expect((await stack.api(`/v1/orders?${q({ channelOrderId: cno, channel: 'shopify' })}`, { key: TEST_KEYS.web })).status).toBe(403);
    expect(ids(await get<Page>(`/v1/orders?${q({ channelOrderId: cno })}`, TEST_KEYS.shopify))).toEqual([shopifyOrder]);
    expect((await stack.api(`/v1/orders/${shopifyOrder}`, { key: TEST_KEYS.web })).status).toBe(404);
    // The web key lists only web orders, even of a customer who also bought on shopify.
    const webList = await get<Page>(`/v1/orders?${q({ customerId: B.id })}`, TEST_KEYS.web);
    expect(ids(webList)).toEqual([ordersOf[B.id]![0]]);
  });

  it('bad input is a 400 naming the field', async () => {
    const forged = encodeCursor({ createdAt: 'yesterday', orderId: 'x' });
    const cases: [string, string][] = [
      ['/v1/orders?email=not-an-email', 'email'],
      ['/v1/orders?phone=call-me', 'phone'],
      ['/v1/orders?phone=1234567', 'phone'],
      [`/v1/orders?${q({ channelOrderId: 'has space' })}`, 'channelOrderId'],
      ['/v1/orders?cursor=not-a-cursor', 'cursor'],
      [`/v1/orders?cursor=${forged}`, 'cursor'],
      [`/v1/customers/${A.id}/orders?cursor=${forged}`, 'cursor'],
      ['/v1/customers/bad%20id!/orders', 'customerId'],
      [`/v1/customers/${A.id}/orders?limit=0`, 'limit'],
    ];
    for (const [path, field] of cases) {
      const p = await get<Problem>(path, TEST_KEYS.cs, 400);
      expect(
        p.errors?.map((e) => e.path),
        path,
      ).toEqual([field]);
    }
  });
});

describe('personal data by role', () => {
  const FULL_ADDRESS = { name: A.name, line1: STREET, ward: 'Bến Nghé', district: 'Quận 1', city: 'Hồ Chí Minh', country: 'VN' };
  const AREA = { ward: 'Bến Nghé', district: 'Quận 1', city: 'Hồ Chí Minh', country: 'VN' };
  const SECRETS = () => [
    A.name,
    A.email,
    A.email.toLowerCase(),
    ...A.phones,
    '0901234567',
    '901 234 567',
    STREET,
    REASON_PHONE,
    REASON_EMAIL,
  ];

  it('cs sees all of it, ops a masked view, a channel none — in the detail, the list and the history', async () => {
    // Backordered (no stock anywhere), so it waits and a cancellation cannot race the carrier.
    const orderId = await place(A, A.phones[0]!, 'web', 'SKU-NOSTOCK');
    await eventually(async () => (await get<Detail>(`/v1/orders/${orderId}`, TEST_KEYS.cs)).status === 'BACKORDERED', {
      what: 'BACKORDERED',
    });
    // cs writes personal data into a free-text reason; it lands in the timeline.
    const cancel = await stack.api(`/v1/orders/${orderId}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.cs,
      json: { reason: `customer called from ${REASON_PHONE}, write to ${REASON_EMAIL}` },
    });
    expect(cancel.status, await cancel.clone().text()).toBe(200);
    // Read once the order is CANCELLED and its story is complete: the views below are compared
    // step by step, so none of them may be taken while the compensation is still adding steps.
    const cs = await eventually(
      async () => {
        const d = await get<Detail>(`/v1/orders/${orderId}`, TEST_KEYS.cs);
        return d.status === 'CANCELLED' &&
          d.timeline.some((t) => t.event.includes('cancellation requested')) &&
          d.timeline.at(-1)?.status === 'CANCELLED'
          ? d
          : undefined;
      },
      { what: 'the cancellation complete in the timeline' },
    );

    // cs: as sent, field by field.
    expect(cs.customer).toEqual({ id: A.id, name: A.name, email: A.email, phone: A.phones[0] });
    expect(cs.shippingAddress).toEqual(FULL_ADDRESS);
    const csCancel = cs.timeline.find((t) => t.event.includes('cancellation requested'))!;
    expect(csCancel.event).toContain(REASON_PHONE);
    expect(csCancel.detail.reason).toContain(REASON_EMAIL);

    // ops: masked contact, delivery area only, free text scrubbed.
    const ops = await get<Detail>(`/v1/orders/${orderId}`, TEST_KEYS.ops);
    expect(ops.customer).toEqual({ id: A.id, name: 'N*** V*** A***', email: 'A***@Example.VN', phone: '*******567' });
    expect(ops.shippingAddress).toEqual(AREA);
    const opsCancel = ops.timeline.find((t) => t.event.includes('cancellation requested'))!;
    expect(opsCancel.event).toBe('cancellation requested: customer called from [redacted], write to [redacted]');
    expect(opsCancel.detail.reason).toBe('customer called from [redacted], write to [redacted]');
    expect(ops.timeline.map((t) => t.actor)).toEqual(cs.timeline.map((t) => t.actor));
    expect(ops.timeline.find((t) => t.event.startsWith('order received'))!.detail).toEqual(
      cs.timeline.find((t) => t.event.startsWith('order received'))!.detail,
    );

    // channel (its own order): no contact, no address, free text scrubbed as for ops.
    const web = await get<Detail>(`/v1/orders/${orderId}`, TEST_KEYS.web);
    expect(web.customerId).toBe(A.id);
    expect(web).not.toHaveProperty('customer');
    expect(web).not.toHaveProperty('shippingAddress');
    expect(web.timeline.find((t) => t.event.includes('cancellation requested'))!.event).not.toContain(REASON_PHONE);

    for (const [who, body] of [
      ['ops', ops],
      ['channel', web],
    ] as const) {
      const text = JSON.stringify(body);
      for (const s of SECRETS()) expect(text, `${who} sees ${s}`).not.toContain(s);
    }

    // The list and the customer history apply the same views.
    const byKey = async (key: string, path: string) => (await get<Page>(path, key)).items.find((i) => i.orderId === orderId)!;
    const listPath = `/v1/orders?${q({ customerId: A.id })}`;
    expect((await byKey(TEST_KEYS.cs, listPath)).customer).toEqual(cs.customer);
    expect((await byKey(TEST_KEYS.ops, listPath)).customer).toEqual(ops.customer);
    expect(await byKey(TEST_KEYS.web, listPath)).not.toHaveProperty('customer');
    expect((await byKey(TEST_KEYS.cs, `/v1/customers/${A.id}/orders`)).customer).toEqual(cs.customer);
    expect((await byKey(TEST_KEYS.ops, `/v1/customers/${A.id}/orders`)).customer).toEqual(ops.customer);
    const opsPages = JSON.stringify([
      await get<Page>(listPath, TEST_KEYS.ops),
      await get<Page>(`/v1/orders?${q({ phone: '0901234567' })}`, TEST_KEYS.ops),
    ]);
    for (const s of SECRETS()) expect(opsPages).not.toContain(s);
  });

  it('writes no personal data to the logs', () => {
    // Everything above carried personal data: intake bodies, phone and e-mail in query strings, a reason.
    expect(stack.logs.length).toBeGreaterThan(0);
    const all = stack.logs.join('\n');
    for (const s of [...SECRETS(), B.name, B.email, B.phone, C.email, C.phone]) expect(all).not.toContain(s);

    // The redaction itself, on what a careless call site would log: it removes the data and keeps the rest.
    const log = memoryLogger();
    const order = orderFor(A, A.phones[1]!);
    log.info(`searched ${A.email} / ${A.phones[0]}`, {
      orderId: 'order-web-1',
      channelOrderId: order.channelOrderId,
      order,
      url: `/v1/orders?phone=${encodeURIComponent(A.phones[1]!)}&email=${encodeURIComponent(A.email)}`,
      buyerPhone: B.phone,
      customerEmail: B.email,
      meta: { a: { b: { c: { d: { e: A.phones[0] } } } } },
    });
    log.error('intake failed', { error: new Error(`duplicate key (email)=(${A.email}) phone ${A.phones[0]}`) });
    expect(log.lines).toHaveLength(2);
    const text = log.lines.join('\n');
    for (const s of [
      A.name,
      A.email,
      encodeURIComponent(A.email),
      ...A.phones,
      encodeURIComponent(A.phones[1]!),
      STREET,
      B.phone,
      B.email,
    ]) {
      expect(text, s).not.toContain(s);
    }
    const [first, second] = log.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({
      msg: 'searched [redacted] / [redacted]',
      orderId: 'order-web-1',
      channelOrderId: order.channelOrderId,
      buyerPhone: '[redacted]',
    });
    expect((first!.order as CanonicalOrder).lines).toEqual(order.lines);
    expect(second).toMatchObject({ error: { name: 'Error', message: 'duplicate key (email)=([redacted]) phone [redacted]' } });
  });
});

describe('inventory', () => {
  it('shows ATP per warehouse with reserved, on hand and safety stock; 404 for an unknown SKU', async () => {
    await stack.db.sql`update stock set reserved = 3, safety_stock = 2 where sku = 'SKU-ADJ' and warehouse_id = 'WH-HCM'`;
    const s = await get<Record<string, unknown>>('/v1/inventory/SKU-ADJ', TEST_KEYS.cs);
    expect(s).toMatchObject({
      sku: 'SKU-ADJ',
      atp: 95,
      onHand: 100,
      reserved: 3,
      safetyStock: 2,
      warehouses: [
        { warehouseId: 'WH-HCM', onHand: 100, reserved: 3, safetyStock: 2, atp: 95 },
        { warehouseId: 'WH-HN', onHand: 0, reserved: 0, safetyStock: 0, atp: 0 },
      ],
    });
    await stack.db.sql`update stock set reserved = 0, safety_stock = 0 where sku = 'SKU-ADJ' and warehouse_id = 'WH-HCM'`;
    expect(await get('/v1/inventory/SKU-NOSTOCK', TEST_KEYS.ops)).toEqual({
      sku: 'SKU-NOSTOCK',
      atp: 0,
      onHand: 0,
      reserved: 0,
      safetyStock: 0,
      warehouses: [],
    });
    await get('/v1/inventory/SKU-NOPE', TEST_KEYS.cs, 404);
  });

  it('keeps every on-hand change in a history, newest first and paged', async () => {
    interface Adj {
      id: string;
      warehouseId: string;
      onHandBefore: number;
      onHandAfter: number;
      change: number;
      reason: string;
      actor: string;
      ref: string | null;
    }
    const put = async (wh: string, onHand: number, reason: string) =>
      expect(
        (await stack.api(`/v1/inventory/SKU-ADJ/${wh}`, { method: 'PUT', key: TEST_KEYS.admin, json: { onHand, reason } })).status,
      ).toBe(200);
    await put('WH-HCM', 120, 'cycle count');
    await put('WH-HCM', 115, 'damaged in storage');
    await put('WH-HN', 7, 'first delivery');
    // A return's restock is an adjustment too, once however often its activity runs.
    const repo = new InventoryRepo(stack.db.sql);
    for (let i = 0; i < 2; i++)
      await repo.restock({
        sku: 'SKU-ADJ',
        warehouseId: 'WH-HCM',
        quantity: 2,
        ref: `ret-${run}:1`,
        reason: `return ret-${run}`,
        actor: 'system',
      });

    const hcm = await allPages<Adj>('/v1/inventory/SKU-ADJ/adjustments?warehouseId=WH-HCM', TEST_KEYS.cs, 1);
    const items = hcm.pages.flatMap((p) => p.items);
    expect(hcm.pages.map((p) => p.items.length)).toEqual([1, 1, 1]);
    expect(items.map((a) => [a.onHandBefore, a.onHandAfter, a.change, a.reason, a.ref])).toEqual([
      [115, 117, 2, `return ret-${run}`, `ret-${run}:1`],
      [120, 115, -5, 'damaged in storage', null],
      [100, 120, 20, 'cycle count', null],
    ]);
    expect(items.map((a) => a.actor)).toEqual(['system', expect.stringMatching(/^admin:/), expect.stringMatching(/^admin:/)]);

    const all = await get<{ items: Adj[]; nextCursor: string | null }>('/v1/inventory/SKU-ADJ/adjustments', TEST_KEYS.ops);
    expect(all.items.map((a) => `${a.warehouseId}:${a.onHandAfter}`)).toEqual(['WH-HCM:117', 'WH-HN:7', 'WH-HCM:115', 'WH-HCM:120']);
    expect(all.nextCursor).toBeNull();
    const two = await get<{ items: Adj[]; nextCursor: string }>('/v1/inventory/SKU-ADJ/adjustments?limit=2', TEST_KEYS.admin);
    const next = await get<{ items: Adj[]; nextCursor: string | null }>(
      `/v1/inventory/SKU-ADJ/adjustments?limit=2&cursor=${two.nextCursor}`,
      TEST_KEYS.admin,
    );
    expect([...two.items, ...next.items].map((a) => a.id)).toEqual(all.items.map((a) => a.id));
    expect(next.nextCursor).toBeNull();

    // Reservations are not adjustments: an order reserving this SKU adds no entry.
    await place(C, C.phone, 'web', 'SKU-ADJ');
    await eventually(async () => (await stack.db.sql`select 1 from reservations where sku = 'SKU-ADJ'`).length > 0, {
      what: 'a reservation',
    });
    expect((await get<{ items: Adj[] }>('/v1/inventory/SKU-ADJ/adjustments', TEST_KEYS.cs)).items).toHaveLength(4);

    expect((await stack.api('/v1/inventory/SKU-ADJ/adjustments')).status).toBe(401);
    for (const key of [TEST_KEYS.web, TEST_KEYS.carrier])
      expect((await stack.api('/v1/inventory/SKU-ADJ/adjustments', { key })).status).toBe(403);
    await get('/v1/inventory/SKU-NOPE/adjustments', TEST_KEYS.cs, 404);
    await get('/v1/inventory/SKU-ADJ/adjustments?warehouseId=WH-NOPE', TEST_KEYS.cs, 404);
    for (const [path, field] of [
      ['/v1/inventory/SKU-ADJ/adjustments?cursor=nope', 'cursor'],
      [`/v1/inventory/SKU-ADJ/adjustments?cursor=${encodeCursor({ createdAt: 'now', id: '1' })}`, 'cursor'],
      ['/v1/inventory/SKU-ADJ/adjustments?warehouseId=bad%20id', 'warehouseId'],
      ['/v1/inventory?cursor=nope', 'cursor'],
    ] as const) {
      expect(
        (await get<Problem>(path, TEST_KEYS.cs, 400)).errors?.map((e) => e.path),
        path,
      ).toEqual([field]);
    }
  });
});
