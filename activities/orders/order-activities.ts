/** Validation, risk, COD eligibility and the projection: the order's own bookkeeping. */
import { log } from '@temporalio/activity';
import { CatalogRepo } from '../../db/catalog-repo';
import type { Sql } from '../../db/client';
import { OrdersRepo, type StatusWrite } from '../../db/orders-repo';
import { locate } from '../../domain/geo';
import { fromMinor, toMinor } from '../../domain/money';
import type { CanonicalOrder } from '../../domain/order';
import type { BusinessRules } from '../../domain/settings';
import { computeTotalMinor, validateOrder } from '../../domain/validate';

export function createOrderActivities(deps: {
  sql: Sql;
  rules: BusinessRules;
  /** The worker's status-push relay: told when a push was queued, so it goes out at once. */
  statusPushes?: { nudge(): void } | undefined;
}) {
  const catalog = new CatalogRepo(deps.sql);
  const orders = new OrdersRepo(deps.sql);
  async function recordStatus(input: StatusWrite): Promise<{ applied: boolean }> {
    const { applied, held } = await orders.applyStatus(input);
    if (input.push) deps.statusPushes?.nudge();
    // Ops are told: the order went on, its money facts wait in GET /v1/accounting/held.
    if (held)
      log.error('money facts of an order step could not be booked; they wait for ops', {
        orderId: input.orderId,
        seq: input.seq,
        error: held,
      });
    return { applied };
  }
  return {
    async validateOrder(input: { order: CanonicalOrder }): Promise<{ reasons: string[]; total: string; weights: Record<string, number> }> {
      const products = await catalog.productsBySku(input.order.lines.map((l) => l.sku));
      const reasons = validateOrder(input.order, products, await catalog.servedRegions());
      const weights = Object.fromEntries([...products].map(([sku, p]) => [sku, p.weightGrams]));
      return { reasons, total: fromMinor(Math.max(computeTotalMinor(input.order), 0)), weights };
    },
    /** Rules: amount, velocity per customer, blocklist. Any hit → hold for review. */
    async assessRisk(input: { orderId: string; order: CanonicalOrder; total: string }): Promise<{ hold: boolean; reasons: string[] }> {
      const reasons: string[] = [];
      if (toMinor(input.total) > toMinor(deps.rules.riskAmountLimit))
        reasons.push(`amount ${input.total} above the review limit ${deps.rules.riskAmountLimit}`);
      const since = new Date(Date.now() - 3600_000).toISOString();
      const recent = await orders.countRecentByCustomer(input.order.customer.id, since, input.orderId);
      if (recent >= deps.rules.riskVelocityPerHour)
        reasons.push(`${recent} other orders from this customer within the hour (limit ${deps.rules.riskVelocityPerHour})`);
      reasons.push(...(await orders.blocklistHits(input.order)));
      return { hold: reasons.length > 0, reasons };
    },
    async checkCodEligibility(input: { order: CanonicalOrder; total: string }): Promise<{ eligible: boolean; reason?: string }> {
      if (toMinor(input.total) > toMinor(deps.rules.codLimit))
        return { eligible: false, reason: `cash on delivery is limited to ${deps.rules.codLimit}` };
      const where = locate(input.order.shippingAddress);
      if (!where.region || !(await catalog.servedRegions()).has(where.region))
        return { eligible: false, reason: 'cash on delivery is not offered in this area' };
      return { eligible: true };
    },
    /** Upserts the projection and timeline, guarded by the sequence number; queues the channel's push with them. */
    recordStatus,
    /**
     * Steps of an order's story that waited in its workflow (`orderWorkflowV5`), written in order,
     * each as `recordStatus` writes it: written again, a step changes nothing.
     */
    async writeSteps(input: { steps: StatusWrite[] }): Promise<void> {
      for (const step of input.steps) await recordStatus(step);
    },
    /** A COD refund: an instruction for finance, recorded once per return. */
    async recordRefundInstruction(input: { returnId: string; orderId: string; amount: string }): Promise<void> {
      await deps.sql`insert into refund_instructions (return_id, order_id, amount, method) values (${input.returnId}, ${input.orderId}, ${input.amount}, 'bank_transfer')
                     on conflict (return_id) do nothing`;
    },
    async warehouseCities(input: { ids: string[] }): Promise<Record<string, string>> {
      const all = await catalog.warehouses();
      return Object.fromEntries(all.filter((w) => input.ids.includes(w.id)).map((w) => [w.id, w.city]));
    },
    async recordShipment(input: Parameters<OrdersRepo['upsertShipment']>[0]): Promise<void> {
      await orders.upsertShipment(input);
    },
    /** The cash the carriers have paid over for this order, and when all of it was (absolute values: safe to repeat). */
    async recordCodRemittance(input: { orderId: string; remitted: string; settledAt: string | null }): Promise<void> {
      await deps.sql`update orders set cod_remitted_amount = ${input.remitted}, cod_remitted_at = ${input.settledAt}::timestamptz where order_id = ${input.orderId}`;
    },
  };
}
