/** Setting stock, and waking the backordered orders a restock can help. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Sql } from '../../db/client';
import { InventoryRepo, StockConflictError } from '../../db/inventory-repo';
import type { Logger } from '../../lib/logger';
import { stockAvailableSignal } from '../../workflows/messages';
import { problems } from '../errors';

export class InventoryService {
  readonly repo: InventoryRepo;
  constructor(private readonly deps: { sql: Sql; client: Client; logger: Logger }) {
    this.repo = new InventoryRepo(deps.sql);
  }

  async setOnHand(input: {
    sku: string;
    warehouseId: string;
    onHand: number;
    safetyStock?: number | undefined;
    reason: string;
    actor: string;
  }) {
    const known = await this.deps
      .sql`select (select 1 from products where sku = ${input.sku}) as p, (select 1 from warehouses where id = ${input.warehouseId}) as w`;
    if (!known[0]?.p) throw problems.notFound(`No product ${input.sku}.`);
    if (!known[0]?.w) throw problems.notFound(`No warehouse ${input.warehouseId}.`);
    let result;
    try {
      result = await this.repo.setOnHand(input);
    } catch (err) {
      if (err instanceof StockConflictError) throw problems.conflict(err.message);
      throw err;
    }
    const woken = result.after > result.before ? await this.wakeBackorders(input.sku) : [];
    return { ...result, woken };
  }

  /** Signals every order waiting for `sku`; each re-plans against the new stock itself. */
  private async wakeBackorders(sku: string): Promise<string[]> {
    const orderIds = await this.repo.backordersFor(sku);
    const woken: string[] = [];
    await Promise.all(
      orderIds.map(async (orderId) => {
        try {
          await this.deps.client.workflow.getHandle(orderId).signal(stockAvailableSignal, { sku });
          woken.push(orderId);
        } catch (err) {
          this.deps.logger.warn('backordered order could not be signalled', { orderId, error: err });
          // A closed order no longer waits; forget its backorder so it is not signalled again. Any
          // other failure (Temporal unreachable) keeps it: the next restock wakes it.
          if (err instanceof WorkflowNotFoundError) await this.repo.clearBackorder(orderId);
        }
      }),
    );
    return woken;
  }
}
