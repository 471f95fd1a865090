/** Reservation, release and commit of stock, over the inventory repository. */
import { Context } from '@temporalio/activity';
import { planAllocation, type AllocationPlan } from '../../domain/allocation';
import { locate } from '../../domain/geo';
import type { Address } from '../../domain/order';
import { InventoryRepo, LostRaceError } from '../../db/inventory-repo';
import type { Sql } from '../../db/client';

const MAX_REPLANS = 20;

/** Today in Vietnam, for daily warehouse capacity. */
export const capacityDay = (now = new Date()) => new Date(now.getTime() + 7 * 3600_000).toISOString().slice(0, 10);

export function createInventoryActivities(deps: { sql: Sql }) {
  const repo = new InventoryRepo(deps.sql);
  return {
    /**
     * Plans and reserves atomically. Losing a race (another order took the stock between plan
     * and reserve) re-plans against fresh stock. No stock → the shortages, recorded as a backorder.
     */
    async reserveStock(input: {
      orderId: string;
      lines: { lineNo: number; sku: string; quantity: number }[];
      address: Address;
    }): Promise<AllocationPlan & { reused?: boolean }> {
      // This call is not in the run's history yet, so neither is any cut of its units: cuts found
      // were made by a lost workflow task, and their reservation is not the one the run will hold.
      await repo.undoLostCuts(input.orderId);
      const existing = await repo.reservationsOf(input.orderId);
      if (existing.length) {
        return {
          ok: true,
          allocations: existing,
          warehouses: [...new Set(existing.map((a) => a.warehouseId))].map((id) => ({ id, distanceKm: null, reason: 'already reserved' })),
          summary: 'already reserved',
          reused: true,
        };
      }
      const destination = locate(input.address);
      const skus = [...new Set(input.lines.map((l) => l.sku))];
      for (let attempt = 1; attempt <= MAX_REPLANS; attempt++) {
        const network = await repo.loadNetwork(skus, capacityDay());
        const plan = planAllocation(input.lines, destination, network);
        if (!plan.ok) {
          await repo.recordBackorder(input.orderId, plan.shortages);
          return plan;
        }
        try {
          const { allocations, reused } = await repo.reserve(input.orderId, plan.allocations, capacityDay());
          return {
            ...plan,
            allocations,
            reused,
            summary: attempt > 1 ? `${plan.summary} (re-planned ${attempt - 1}× after losing a race)` : plan.summary,
          };
        } catch (err) {
          if (!(err instanceof LostRaceError) && (err as { code?: string }).code !== '40P01') throw err;
          // A local activity (orders from orderWorkflowV4) has no heartbeat: its timeout covers the re-plans.
          const ctx = Context.current();
          if (!ctx.info.isLocal) ctx.heartbeat({ attempt });
        }
      }
      throw new Error(`could not reserve after ${MAX_REPLANS} re-plans: stock is heavily contended`);
    },
    /** Returns reserved units to stock; safe to repeat. */
    async releaseStock(input: { orderId: string; warehouseId?: string }): Promise<{ released: number }> {
      return { released: await repo.release(input.orderId, input.warehouseId) };
    },
    /** A partial cancellation gives back some units of some lines; once per ref. */
    async releaseUnits(input: {
      orderId: string;
      warehouseId: string;
      lines: { lineNo: number; quantity: number }[];
      ref: string;
    }): Promise<{ released: number }> {
      return { released: (await repo.releaseUnits(input)).released };
    },
    /** At handover: reserved units leave on hand. Safe to repeat. */
    async commitStock(input: { orderId: string; warehouseId: string }): Promise<{ committed: number }> {
      return { committed: await repo.commit(input.orderId, input.warehouseId) };
    },
    /** Returned units back on hand, once per (return, line). */
    async restockReturn(input: {
      returnId: string;
      lines: { lineNo: number; sku: string; quantity: number }[];
      warehouseId: string;
    }): Promise<{ restocked: number }> {
      let restocked = 0;
      for (const l of input.lines) {
        const r = await repo.restock({
          sku: l.sku,
          warehouseId: input.warehouseId,
          quantity: l.quantity,
          ref: `${input.returnId}:${l.lineNo}`,
          reason: `return ${input.returnId}`,
          actor: 'system',
        });
        if (r.applied) restocked += l.quantity;
      }
      return { restocked };
    },
    async clearBackorder(input: { orderId: string }): Promise<void> {
      await repo.clearBackorder(input.orderId);
    },
  };
}
