/**
 * The inventory invariant under a sale: 200 orders at once for 50 units spread over three
 * warehouses. PostgreSQL is the lock; the CHECK constraint is the last line of defence.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeOrder, seedNetwork, one } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

let stack: TestStack;

beforeAll(async () => {
  // Parcels stay with the carrier: this test is about reservations, not delivery.
  stack = await startTestStack({ sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } } });
  await seedNetwork(stack.db.sql, { 'SKU-HOT': { 'WH-HN': 20, 'WH-DN': 10, 'WH-HCM': 20 } });
});
afterAll(async () => {
  await stack?.close();
});

describe('no oversell', () => {
  it('200 concurrent orders for 50 units: exactly 50 reserved, the other 150 backordered', async () => {
    const orders = Array.from({ length: 200 }, () =>
      makeOrder({
        sku: 'SKU-HOT',
        quantity: 1,
        payment: { method: 'cod' },
        shippingAddress: { name: 'B', line1: '1 Bach Dang', city: 'Đà Nẵng', country: 'VN' },
      }),
    );
    const answers = await Promise.all(orders.map((o) => stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: o })));
    expect(answers.every((r) => r.status === 201)).toBe(true);

    // 200 workflows at once took 72 s on a loaded 2-core machine: the deadline leaves room for a busier one.
    const settled = await eventually(
      async () => {
        const rows = await stack.db.sql<{ status: string; n: number }[]>`select status, count(*)::int as n from orders group by status`;
        const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
        const decided = (by.BACKORDERED ?? 0) + (by.ALLOCATED ?? 0) + (by.FULFILLING ?? 0);
        return decided === 200 ? by : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 500, what: 'all 200 orders allocated or backordered' },
    );
    expect(settled.BACKORDERED).toBe(150);

    const stock = await stack.db.sql<
      { warehouse_id: string; on_hand: number; reserved: number }[]
    >`select warehouse_id, on_hand, reserved from stock where sku = 'SKU-HOT'`;
    expect(stock.reduce((a, s) => a + s.reserved, 0)).toBe(50);
    for (const s of stock) expect(s.reserved).toBeLessThanOrEqual(s.on_hand);
    const { units, orders: reservedOrders } = await one(stack.db.sql<{ units: number; orders: number }[]>`
      select coalesce(sum(quantity), 0)::int as units, count(distinct order_id)::int as orders from reservations where sku = 'SKU-HOT' and state = 'reserved'`);
    expect({ units, reservedOrders }).toEqual({ units: 50, reservedOrders: 50 });
  }, 300_000);

  it('the database itself refuses an over-reservation (CHECK constraint)', async () => {
    await expect(
      stack.db.sql`update stock set reserved = on_hand + 1 where sku = 'SKU-HOT' and warehouse_id = 'WH-DN'`,
    ).rejects.toMatchObject({ code: '23514', constraint_name: 'stock_reserved_within_on_hand' });
    await expect(stack.db.sql`update stock set reserved = -1 where sku = 'SKU-HOT' and warehouse_id = 'WH-DN'`).rejects.toMatchObject({
      code: '23514',
    });
  });
});
