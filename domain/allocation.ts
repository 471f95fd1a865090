/**
 * Routing: which warehouses ship which units. Pure, so it is unit-tested exhaustively and the
 * reservation activity can re-run it after losing a race.
 *
 * Rules, in order: only warehouses that are active, serve the destination region and have
 * capacity left today; the nearest one holding the whole order; else the fewest warehouses
 * (splits), then the shortest total distance; within the chosen set each line takes units from
 * the nearest warehouse first.
 */
import { distanceKm, type Destination } from './geo';

export interface WarehouseStock {
  id: string;
  lat: number;
  lng: number;
  regionsServed: string[];
  active: boolean;
  capacityLeft: number;
  /** Available to promise per SKU: on hand − reserved − safety stock. */
  atp: Record<string, number>;
}

export interface AllocationLine {
  lineNo: number;
  sku: string;
  quantity: number;
}
export interface Allocation {
  lineNo: number;
  sku: string;
  warehouseId: string;
  quantity: number;
}

export type AllocationPlan =
  | { ok: true; allocations: Allocation[]; warehouses: { id: string; distanceKm: number | null; reason: string }[]; summary: string }
  | { ok: false; shortages: { sku: string; requested: number; available: number }[]; summary: string };

/** Subsets are tried exhaustively up to this many candidates, greedily beyond. */
const EXHAUSTIVE_LIMIT = 12;

function skuTotals(lines: AllocationLine[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) m.set(l.sku, (m.get(l.sku) ?? 0) + l.quantity);
  return m;
}

function covers(set: WarehouseStock[], need: Map<string, number>): boolean {
  for (const [sku, qty] of need) {
    if (set.reduce((a, w) => a + (w.atp[sku] ?? 0), 0) < qty) return false;
  }
  return true;
}

function* combinations<T>(items: T[], k: number, start = 0, acc: T[] = []): Generator<T[]> {
  if (acc.length === k) {
    yield acc;
    return;
  }
  for (let i = start; i <= items.length - (k - acc.length); i++) yield* combinations(items, k, i + 1, [...acc, items[i]!]);
}

export function planAllocation(lines: AllocationLine[], destination: Destination, warehouses: WarehouseStock[]): AllocationPlan {
  const need = skuTotals(lines);
  const dist = (w: WarehouseStock) =>
    destination.lat !== undefined && destination.lng !== undefined ? distanceKm({ lat: destination.lat, lng: destination.lng }, w) : null;
  const candidates = warehouses
    .filter((w) => w.active && w.capacityLeft > 0 && destination.region !== undefined && w.regionsServed.includes(destination.region))
    .map((w) => ({ w, d: dist(w) }))
    .sort((a, b) => (a.d ?? Infinity) - (b.d ?? Infinity) || a.w.id.localeCompare(b.w.id));

  const chosen = pickSet(candidates, need);
  if (!chosen) {
    const shortages = [...need]
      .map(([sku, requested]) => ({ sku, requested, available: candidates.reduce((a, c) => a + (c.w.atp[sku] ?? 0), 0) }))
      .filter((s) => s.available < s.requested);
    return {
      ok: false,
      shortages,
      summary: `not enough stock: ${shortages.map((s) => `${s.sku} ${s.available}/${s.requested}`).join(', ')}`,
    };
  }

  // Nearest first within the chosen set; a line may be split across warehouses.
  const remaining = new Map(chosen.map((c) => [c.w.id, { ...c.w.atp }]));
  const allocations: Allocation[] = [];
  for (const line of lines) {
    let left = line.quantity;
    for (const c of chosen) {
      if (left === 0) break;
      const atp = remaining.get(c.w.id)!;
      const take = Math.min(left, atp[line.sku] ?? 0);
      if (take > 0) {
        allocations.push({ lineNo: line.lineNo, sku: line.sku, warehouseId: c.w.id, quantity: take });
        atp[line.sku] = (atp[line.sku] ?? 0) - take;
        left -= take;
      }
    }
  }
  const used = chosen.filter((c) => allocations.some((a) => a.warehouseId === c.w.id));
  const km = (d: number | null) => (d === null ? 'distance unknown' : `${Math.round(d)} km`);
  const warehouses_ = used.map((c) => ({
    id: c.w.id,
    distanceKm: c.d === null ? null : Math.round(c.d * 10) / 10,
    reason:
      used.length === 1
        ? `nearest warehouse holding the whole order (${km(c.d)})`
        : `split over ${used.length} warehouses, the fewest that hold the order; nearest first (${km(c.d)})`,
  }));
  return { ok: true, allocations, warehouses: warehouses_, summary: warehouses_.map((w) => `${w.id}: ${w.reason}`).join('; ') };
}

type Candidate = { w: WarehouseStock; d: number | null };

function pickSet(candidates: Candidate[], need: Map<string, number>): Candidate[] | undefined {
  if (
    !covers(
      candidates.map((c) => c.w),
      need,
    )
  )
    return undefined;
  if (candidates.length <= EXHAUSTIVE_LIMIT) {
    for (let k = 1; k <= candidates.length; k++) {
      let best: { set: Candidate[]; total: number } | undefined;
      for (const set of combinations(candidates, k)) {
        if (
          !covers(
            set.map((c) => c.w),
            need,
          )
        )
          continue;
        const total = set.reduce((a, c) => a + (c.d ?? 1e6), 0);
        if (!best || total < best.total) best = { set, total };
      }
      if (best) return [...best.set].sort((a, b) => (a.d ?? Infinity) - (b.d ?? Infinity));
    }
    return undefined;
  }
  // Greedy set cover for large networks: take the warehouse covering most missing units.
  const left = new Map(need);
  const set: Candidate[] = [];
  const pool = [...candidates];
  while ([...left.values()].some((q) => q > 0) && pool.length) {
    pool.sort((a, b) => gain(b, left) - gain(a, left) || (a.d ?? Infinity) - (b.d ?? Infinity));
    const next = pool.shift()!;
    if (gain(next, left) === 0) break;
    set.push(next);
    for (const [sku, q] of left) left.set(sku, Math.max(0, q - (next.w.atp[sku] ?? 0)));
  }
  return set.sort((a, b) => (a.d ?? Infinity) - (b.d ?? Infinity));
}

function gain(c: Candidate, left: Map<string, number>): number {
  let g = 0;
  for (const [sku, q] of left) g += Math.min(q, c.w.atp[sku] ?? 0);
  return g;
}
