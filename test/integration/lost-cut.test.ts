/**
 * A workflow task that reserved an order's stock and then gave back cancelled units (a line cut
 * before shipping, `<order>:cut-1`) can be lost; the run then reserves again and meets the
 * cancellation again. Found by the chaos run (seed 424242): the second reservation reused the cut
 * one (1 unit of a 2-unit line), the cancellation came after shipping and could not cut the parcel,
 * and the order completed with 1 of its 2 units committed. On real PostgreSQL, through the
 * activities the workflow calls: the second reservation holds every unit of the lines again, and
 * the replayed cut gives its unit back again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInventoryActivities } from '../../activities/inventory/inventory-activities';
import { makeOrder, seedNetwork, stockRow } from '../support/fixtures';
import { createTestDatabase, uniqueSuffix } from '../support/harness';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let acts: ReturnType<typeof createInventoryActivities>;
beforeAll(async () => {
  db = await createTestDatabase();
  acts = createInventoryActivities({ sql: db.sql });
  await seedNetwork(db.sql, { 'SKU-LOST': { 'WH-HCM': 10 } });
});
afterAll(async () => {
  await db?.drop();
});

/** Orders the warehouse's daily load has counted, over every day (a test may cross midnight). */
const load = async (warehouseId: string) =>
  Number(
    (await db.sql<{ n: string }[]>`select coalesce(sum(orders), 0)::text as n from warehouse_load where warehouse_id = ${warehouseId}`)[0]!
      .n,
  );

describe('a cut made by a lost workflow task', () => {
  it('is undone when the run reserves again, and the replayed cut applies again', async () => {
    const orderId = `order-lost-${uniqueSuffix()}`;
    const { shippingAddress: address } = makeOrder();
    const lines = [{ lineNo: 1, sku: 'SKU-LOST', quantity: 2 }];
    const units = (p: { ok: boolean; allocations?: { quantity: number }[] }) => (p.allocations ?? []).reduce((a, x) => a + x.quantity, 0);

    // The lost task: reserve 2, then a cancellation of 1 unit before shipping gives it back.
    const loadBefore = await load('WH-HCM');
    const first = await acts.reserveStock({ orderId, lines, address });
    expect(units(first)).toBe(2);
    if (!first.ok) throw new Error('the first reservation failed');
    const warehouseId = first.allocations[0]!.warehouseId;
    expect(warehouseId).toBe('WH-HCM');
    expect(await load(warehouseId)).toBe(loadBefore + 1);
    const cut = { orderId, warehouseId, lines: [{ lineNo: 1, quantity: 1 }], ref: `${orderId}:cut-1` };
    expect(await acts.releaseUnits(cut)).toEqual({ released: 1 });
    expect(await stockRow(db.sql, 'SKU-LOST', warehouseId)).toEqual({ onHand: 10, reserved: 1 });

    // The run again, from a history without either: its reservation holds both units.
    const again = await acts.reserveStock({ orderId, lines, address });
    expect(units(again)).toBe(2);
    expect(await stockRow(db.sql, 'SKU-LOST', warehouseId)).toEqual({ onHand: 10, reserved: 2 });
    // Reserved afresh, but the warehouse's day counts the order once.
    expect(again.reused).toBe(false);
    expect(await load(warehouseId)).toBe(loadBefore + 1);

    // The cancellation, met again: its unit goes back once more, and only once.
    expect(await acts.releaseUnits(cut)).toEqual({ released: 1 });
    expect(await acts.releaseUnits(cut)).toEqual({ released: 0 });
    expect(await stockRow(db.sql, 'SKU-LOST', warehouseId)).toEqual({ onHand: 10, reserved: 1 });
  });

  it('leaves a reservation alone when no cut was made (a lost task that only reserved)', async () => {
    const orderId = `order-lost-${uniqueSuffix()}`;
    const { shippingAddress: address } = makeOrder();
    const lines = [{ lineNo: 1, sku: 'SKU-LOST', quantity: 1 }];
    const first = await acts.reserveStock({ orderId, lines, address });
    const again = await acts.reserveStock({ orderId, lines, address });
    expect(again.reused).toBe(true);
    expect(again.ok && first.ok && again.allocations).toEqual(first.ok && first.allocations);
  });
});
