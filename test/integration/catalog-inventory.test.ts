/**
 * Catalog, warehouses and stock through the API; the projection's ordering guard; the risk and
 * COD rules. Real PostgreSQL and Temporal behind the real app.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { OrdersRepo } from '../../db/orders-repo';
import { DEFAULT_RULES } from '../../domain/settings';
import { outsideSystems } from '../../lib/stack';
import { DEV_SANDBOX_KEY } from '../../sandbox/server';
import { eventually, makeOrder, one, seedNetwork } from '../support/fixtures';
import { memoryLogger, startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ rules: { codLimit: '300000.00', riskVelocityPerHour: 2 } });
  await seedNetwork(stack.db.sql, { 'SKU-A': { 'WH-HCM': 10 } });
});
afterAll(async () => {
  await stack?.close();
});

describe('catalog and warehouses', () => {
  it('admins create and update products; other roles read; bad input names the field', async () => {
    const body = { name: 'Áo thun', unitPrice: '149000.00', weightGrams: 200 };
    expect((await stack.api('/v1/products/TEE-1', { method: 'PUT', key: TEST_KEYS.cs, json: body })).status).toBe(403);
    expect((await stack.api('/v1/products/TEE-1', { method: 'PUT', json: body })).status).toBe(401);
    const created = await stack.api('/v1/products/TEE-1', { method: 'PUT', key: TEST_KEYS.admin, json: body });
    expect(created.status).toBe(201);
    const updated = await stack.api('/v1/products/TEE-1', {
      method: 'PUT',
      key: TEST_KEYS.admin,
      json: { ...body, unitPrice: '139000.50', active: false },
    });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ sku: 'TEE-1', unitPrice: '139000.50', active: false, currency: 'VND' });
    const bad = await stack.api('/v1/products/TEE-1', {
      method: 'PUT',
      key: TEST_KEYS.admin,
      json: { ...body, unitPrice: '1.234', weightGrams: -1 },
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path).sort()).toEqual(['unitPrice', 'weightGrams']);
    const list = (await (await stack.api('/v1/products?limit=1', { key: TEST_KEYS.cs })).json()) as {
      items: { sku: string }[];
      nextCursor: string;
    };
    expect(list.items).toHaveLength(1);
    const next = (await (await stack.api(`/v1/products?limit=1&cursor=${list.nextCursor}`, { key: TEST_KEYS.cs })).json()) as {
      items: { sku: string }[];
    };
    expect(next.items[0]!.sku).not.toBe(list.items[0]!.sku);
  });

  it('admins set warehouses; regions must be known', async () => {
    const wh = { name: 'Hai Phong depot', city: 'Hai Phong', lat: 20.84, lng: 106.69, regionsServed: ['north'], dailyCapacity: 100 };
    expect((await stack.api('/v1/warehouses/WH-HP', { method: 'PUT', key: TEST_KEYS.admin, json: wh })).status).toBe(201);
    expect(
      (await stack.api('/v1/warehouses/WH-HP', { method: 'PUT', key: TEST_KEYS.admin, json: { ...wh, regionsServed: ['mars'] } })).status,
    ).toBe(400);
    const all = (await (await stack.api('/v1/warehouses', { key: TEST_KEYS.ops })).json()) as { items: { id: string }[] };
    expect(all.items.map((w) => w.id)).toContain('WH-HP');
  });
});

describe('inventory', () => {
  it('sets on hand with a reason, keeps the history, and refuses to go below what is reserved', async () => {
    const set = await stack.api('/v1/inventory/SKU-A/WH-HCM', {
      method: 'PUT',
      key: TEST_KEYS.admin,
      json: { onHand: 12, safetyStock: 2, reason: 'cycle count' },
    });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ onHandBefore: 10, stock: { onHand: 12, reserved: 0, safetyStock: 2, atp: 10 } });
    await stack.db.sql`update stock set reserved = 5 where sku = 'SKU-A' and warehouse_id = 'WH-HCM'`;
    const below = await stack.api('/v1/inventory/SKU-A/WH-HCM', {
      method: 'PUT',
      key: TEST_KEYS.admin,
      json: { onHand: 4, reason: 'shrinkage' },
    });
    expect(below.status).toBe(409);
    expect(((await below.json()) as { detail: string }).detail).toMatch(/below the 5 units reserved/);
    await stack.db.sql`update stock set reserved = 0 where sku = 'SKU-A' and warehouse_id = 'WH-HCM'`;
    const history = await stack.db.sql<{ on_hand_before: number; on_hand_after: number; reason: string; actor: string }[]>`
      select on_hand_before, on_hand_after, reason, actor from stock_adjustments where sku = 'SKU-A' order by id`;
    expect(history.map((h) => [h.on_hand_before, h.on_hand_after, h.reason])).toEqual([[10, 12, 'cycle count']]);
    expect(history[0]!.actor).toMatch(/^admin:/);
    expect(
      (await stack.api('/v1/inventory/SKU-A/WH-NOPE', { method: 'PUT', key: TEST_KEYS.admin, json: { onHand: 1, reason: 'typo' } })).status,
    ).toBe(404);
    expect(
      (await stack.api('/v1/inventory/SKU-A/WH-HCM', { method: 'PUT', key: TEST_KEYS.ops, json: { onHand: 1, reason: 'nope' } })).status,
    ).toBe(403);
    const atp = (await (await stack.api('/v1/inventory/SKU-A', { key: TEST_KEYS.cs })).json()) as {
      atp: number;
      warehouses: { warehouseId: string }[];
    };
    expect(atp).toMatchObject({ atp: 10, warehouses: [{ warehouseId: 'WH-HCM' }] });
  });
});

describe('projection', () => {
  it('never lets an older or repeated status write overwrite a newer one', async () => {
    const repo = new OrdersRepo(stack.db.sql);
    const order = makeOrder();
    await repo.recordIntake('order-web-proj', order, '100000.00', order);
    const write = (seq: number, status: string) =>
      repo.applyStatus({
        orderId: 'order-web-proj',
        seq,
        status,
        needsAttention: false,
        attentionReason: null,
        escalationLevel: 0,
        detail: {},
        event: status,
        eventDetail: {},
        actor: 'system',
        at: new Date().toISOString(),
      });
    expect(await write(3, 'ALLOCATED')).toEqual({ applied: true });
    expect(await write(2, 'PAYMENT_PENDING')).toEqual({ applied: false });
    expect(await write(3, 'ALLOCATED')).toEqual({ applied: false });
    expect((await repo.get('order-web-proj'))!.status).toBe('ALLOCATED');
    expect((await repo.timeline('order-web-proj')).map((t) => t.seq)).toEqual([2, 3]);
  });
});

describe('risk and COD rules', () => {
  const acts = () =>
    createActivities({
      sql: stack.db.sql,
      logger: memoryLogger(),
      rules: { ...DEFAULT_RULES, riskVelocityPerHour: 2 },
      systems: outsideSystems(stack.sandboxUrl, DEV_SANDBOX_KEY),
    });

  it('holds on velocity and on a blocklisted phone', async () => {
    const customer = { id: 'cust-fast', name: 'Fast', phone: '0909 000 111' };
    for (const id of ['v1', 'v2'])
      await new OrdersRepo(stack.db.sql).recordIntake(`order-web-${id}`, makeOrder({ channelOrderId: id, customer }), '1.00', {});
    const third = makeOrder({ customer });
    const velocity = await acts().assessRisk({ orderId: 'order-web-v3', order: third, total: '100000.00' });
    expect(velocity).toEqual({ hold: true, reasons: ['2 other orders from this customer within the hour (limit 2)'] });
    await stack.db.sql`insert into risk_blocklist (kind, value, reason) values ('phone', '0909000111', 'chargebacks')`;
    const blocked = await acts().assessRisk({
      orderId: 'order-web-b1',
      order: makeOrder({ customer: { id: 'other', name: 'O', phone: '0909 000 111' } }),
      total: '1.00',
    });
    expect(blocked.reasons).toEqual(['blocklisted phone: chargebacks']);
  });

  it('rejects cash on delivery above the limit with the reason', async () => {
    const res = await stack.api('/v1/orders', {
      method: 'POST',
      key: TEST_KEYS.web,
      json: makeOrder({ quantity: 4, payment: { method: 'cod' } }),
    });
    const { orderId } = (await res.json()) as { orderId: string };
    const order = await eventually(async () => {
      const o = (await (await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.cs })).json()) as { status: string; reasons: string[] };
      return o.status === 'REJECTED' ? o : undefined;
    });
    expect(order.reasons).toEqual(['cash on delivery is limited to 300000.00']);
  });
});

describe('paging', () => {
  it('pages through orders created in the same millisecond without skipping or repeating one', async () => {
    const repo = new OrdersRepo(stack.db.sql);
    const ids = ['a', 'b', 'c', 'd', 'e'].map((x) => `order-pos-page-${x}`);
    for (const id of ids) await repo.recordIntake(id, makeOrder({ channel: 'pos', channelOrderId: id.slice(10) }), '1.00', {});
    // Microseconds apart, all within one millisecond, in an order unlike the ids'.
    for (const [i, id] of ids.entries())
      await stack.db
        .sql`update orders set created_at = ${'2026-01-01T00:00:00.123'}::timestamptz + make_interval(secs => ${((i * 3) % 5) * 0.0001}) where order_id = ${id}`;
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (
        await stack.api(`/v1/orders?channel=pos&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { key: TEST_KEYS.ops })
      ).json()) as { items: { orderId: string }[]; nextCursor: string | null };
      seen.push(...page.items.map((o) => o.orderId));
      cursor = page.nextCursor;
    } while (cursor);
    expect([...seen].sort()).toEqual([...ids].sort());
    expect(new Set(seen).size).toBe(ids.length);
    expect((await stack.api('/v1/orders?cursor=garbage', { key: TEST_KEYS.ops })).status).toBe(400);
  });
});

describe('visibility across channels', () => {
  it("a channel key lists and reads only its own channel's orders", async () => {
    const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder() });
    const { orderId } = (await res.json()) as { orderId: string };
    expect((await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.shopify })).status).toBe(404);
    const web = await stack.api(`/v1/orders/${orderId}`, { key: TEST_KEYS.web });
    expect(web.status).toBe(200);
    expect(await web.json()).not.toHaveProperty('customer');
    const list = (await (await stack.api('/v1/orders', { key: TEST_KEYS.shopify })).json()) as { items: unknown[] };
    expect(list.items).toEqual([]);
    expect((await stack.api('/v1/orders?channel=web', { key: TEST_KEYS.shopify })).status).toBe(403);
    const { n } = await one(stack.db.sql<{ n: number }[]>`select count(*)::int as n from orders where channel = 'web'`);
    const ops = (await (await stack.api('/v1/orders?limit=200&channel=web', { key: TEST_KEYS.ops })).json()) as { items: unknown[] };
    expect(ops.items.length).toBe(n);
  });
});
