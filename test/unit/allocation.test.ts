import { describe, expect, it } from 'vitest';
import { planAllocation, type WarehouseStock } from '../../domain/allocation';
import { locate } from '../../domain/geo';

const HN = { lat: 21.0285, lng: 105.8542 };
const DN = { lat: 16.0544, lng: 108.2022 };
const HCM = { lat: 10.7769, lng: 106.7009 };
const wh = (
  id: string,
  at: { lat: number; lng: number },
  atp: Record<string, number>,
  extra: Partial<WarehouseStock> = {},
): WarehouseStock => ({
  id,
  ...at,
  regionsServed: ['north', 'central', 'south'],
  active: true,
  capacityLeft: 100,
  atp,
  ...extra,
});
const toHanoi = locate({ city: 'Hà Nội', country: 'VN' });
const toSaigon = locate({ city: 'TP Hồ Chí Minh', country: 'VN' });

describe('planAllocation', () => {
  it('takes the nearest warehouse that holds the whole order', () => {
    const plan = planAllocation(
      [
        { lineNo: 1, sku: 'A', quantity: 2 },
        { lineNo: 2, sku: 'B', quantity: 1 },
      ],
      toSaigon,
      [wh('HN', HN, { A: 5, B: 5 }), wh('HCM', HCM, { A: 5, B: 5 }), wh('DN', DN, { A: 5, B: 5 })],
    );
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    expect(plan.allocations).toEqual([
      { lineNo: 1, sku: 'A', warehouseId: 'HCM', quantity: 2 },
      { lineNo: 2, sku: 'B', warehouseId: 'HCM', quantity: 1 },
    ]);
    expect(plan.warehouses[0]!.reason).toMatch(/nearest warehouse holding the whole order/);
  });

  it('prefers a farther warehouse with the full order over splitting between nearer ones', () => {
    const plan = planAllocation(
      [
        { lineNo: 1, sku: 'A', quantity: 1 },
        { lineNo: 2, sku: 'B', quantity: 1 },
      ],
      toHanoi,
      [wh('HN', HN, { A: 1 }), wh('DN', DN, { B: 1 }), wh('HCM', HCM, { A: 1, B: 1 })],
    );
    expect(plan.ok && plan.allocations.every((a) => a.warehouseId === 'HCM')).toBe(true);
  });

  it('splits over the fewest warehouses, then the shortest distance', () => {
    const plan = planAllocation(
      [
        { lineNo: 1, sku: 'A', quantity: 3 },
        { lineNo: 2, sku: 'B', quantity: 2 },
      ],
      toHanoi,
      [wh('HN', HN, { A: 3 }), wh('DN', DN, { B: 2 }), wh('HCM', HCM, { B: 2 })],
    );
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    expect(new Set(plan.allocations.map((a) => a.warehouseId))).toEqual(new Set(['HN', 'DN']));
    expect(plan.warehouses.map((w) => w.id)).toEqual(['HN', 'DN']);
    expect(plan.summary).toMatch(/split over 2 warehouses/);
  });

  it('splits one line across warehouses, nearest first', () => {
    const plan = planAllocation([{ lineNo: 1, sku: 'A', quantity: 5 }], toHanoi, [
      wh('HN', HN, { A: 3 }),
      wh('HCM', HCM, { A: 4 }),
      wh('DN', DN, { A: 4 }),
    ]);
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    // No warehouse holds 5; every pair does. HN+DN is the nearest pair.
    expect(plan.allocations).toEqual([
      { lineNo: 1, sku: 'A', warehouseId: 'HN', quantity: 3 },
      { lineNo: 1, sku: 'A', warehouseId: 'DN', quantity: 2 },
    ]);
  });

  it('skips warehouses at capacity, inactive, or not serving the destination region', () => {
    const plan = planAllocation([{ lineNo: 1, sku: 'A', quantity: 1 }], toHanoi, [
      wh('HN', HN, { A: 9 }, { capacityLeft: 0 }),
      wh('DN', DN, { A: 9 }, { active: false }),
      wh('HCM-SOUTH', HCM, { A: 9 }, { regionsServed: ['south'] }),
      wh('HCM', HCM, { A: 9 }),
    ]);
    expect(plan.ok && plan.allocations.map((a) => a.warehouseId)).toEqual(['HCM']);
  });

  it('reports shortages when the network cannot cover the order', () => {
    const plan = planAllocation(
      [
        { lineNo: 1, sku: 'A', quantity: 5 },
        { lineNo: 2, sku: 'B', quantity: 1 },
      ],
      toHanoi,
      [wh('HN', HN, { A: 2, B: 1 }), wh('DN', DN, { A: 1 })],
    );
    expect(plan).toMatchObject({ ok: false, shortages: [{ sku: 'A', requested: 5, available: 3 }] });
  });

  it('refuses an address outside the served regions', () => {
    const plan = planAllocation([{ lineNo: 1, sku: 'A', quantity: 1 }], locate({ city: 'Bangkok', country: 'TH' }), [
      wh('HN', HN, { A: 5 }),
    ]);
    expect(plan.ok).toBe(false);
  });

  it('still covers the order greedily in a large network', () => {
    const network = Array.from({ length: 20 }, (_, i) =>
      wh(`W${String(i).padStart(2, '0')}`, { lat: 10 + i * 0.5, lng: 106 }, { A: 1, B: i === 19 ? 4 : 0 }),
    );
    const plan = planAllocation(
      [
        { lineNo: 1, sku: 'A', quantity: 6 },
        { lineNo: 2, sku: 'B', quantity: 4 },
      ],
      toSaigon,
      network,
    );
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    const sum = (sku: string) => plan.allocations.filter((a) => a.sku === sku).reduce((s, a) => s + a.quantity, 0);
    expect([sum('A'), sum('B')]).toEqual([6, 4]);
    for (const a of plan.allocations) expect(a.quantity).toBeLessThanOrEqual(network.find((w) => w.id === a.warehouseId)!.atp[a.sku]!);
  });
});
