/**
 * Taking an order in, shared by `POST /v1/orders`, the channel webhooks and the channel-intake
 * workflow's activity: one PostgreSQL transaction records the order (idempotent by its id) and
 * asks for its workflow in `workflow_starts`. The caller then either nudges its relay (the API:
 * the answer never waits on Temporal) or waits for the start (an activity, already in Temporal).
 */
import { OrdersRepo } from '../db/orders-repo';
import { fromMinor } from '../domain/money';
import { orderIdFor, type CanonicalOrder } from '../domain/order';
import type { OrderSettings } from '../domain/settings';
import { computeTotalMinor } from '../domain/validate';
import { quoteOrder, unitValuesWithTax, withChargedTax, type OrderTaxQuote, type TaxCategory } from '../domain/tax';
import { PUSH_CARRIERS } from '../activities/carriers/carrier-activities';
import type { Sql } from '../db/client';
import type { OrderWorkflowInput } from '../workflows/order';
import type { WorkflowStartRelay } from './workflow-starts';

export interface IntakeDeps {
  sql: Sql;
  taskQueue: string;
  settings: OrderSettings;
  returnWindows: Record<string, number>;
  starts: WorkflowStartRelay;
}

export interface IntakeResult {
  orderId: string;
  status: string;
  created: boolean;
}

/**
 * Records the order once and asks for its workflow in the same transaction; the same channel
 * order again (even concurrently) answers with the same id. `startNow` waits until the workflow
 * runs (and throws if Temporal cannot be reached); otherwise the relay is nudged and the order
 * starts as soon as Temporal takes it.
 */
export async function intakeOrder(
  deps: IntakeDeps,
  given: CanonicalOrder,
  raw: unknown,
  opts: { startNow?: boolean } = {},
): Promise<IntakeResult> {
  const orderId = orderIdFor(given.channel, given.channelOrderId);
  const { order, tax } = await quoteTax(deps.sql, given, deps.settings.pricesExcludeTax ?? []);
  const total = fromMinor(Math.max(computeTotalMinor(order), 0));
  const input: OrderWorkflowInput = {
    orderId,
    order,
    // Tax on top: the order's shares weigh each unit with its tax (domain/tax.ts `unitValuesWithTax`).
    ...(tax.sharesWeighTax
      ? {
          unitValues: unitValuesWithTax(
            tax,
            order.lines.map((l) => l.quantity),
          ),
        }
      : {}),
    pushCarriers: [...PUSH_CARRIERS],
    settings: { ...deps.settings, returnWindowMs: deps.returnWindows[order.channel] ?? deps.returnWindows.default ?? 0 },
  };
  const orders = new OrdersRepo(deps.sql);
  const { created, status } = await orders.recordIntake(
    orderId,
    order,
    total,
    raw,
    { workflowId: orderId, kind: 'order', taskQueue: deps.taskQueue, input },
    tax,
  );
  if (opts.startNow) {
    if (!(await deps.starts.ensureStarted(orderId, 20_000)))
      throw new Error(`order ${orderId} is recorded but its workflow could not be started yet (Temporal unreachable); retrying`);
  } else {
    deps.starts.nudge();
  }
  return { orderId, status, created };
}

/**
 * The order's tax by the local rule set, each line by its SKU's category in the catalog (an SKU
 * the catalog lacks is quoted `standard`; the workflow rejects the order for it anyway). Prices
 * that include VAT (the default, as Vietnamese retail's do) have it split out. Prices that exclude
 * it (`pricesIncludeTax: false`, or a channel in OMS_PRICES_EXCLUDE_TAX whose order does not say)
 * have it added on top: the tax the channel charged when it says
 * (`taxOnTop`), else the rule set's, written into the order so that its total — what the payment
 * collects — includes it.
 */
async function quoteTax(
  sql: Sql,
  given: CanonicalOrder,
  exclusiveChannels: readonly string[],
): Promise<{ order: CanonicalOrder; tax: OrderTaxQuote }> {
  const rows = await sql<{ sku: string; taxCategory: TaxCategory }[]>`
    select sku, tax_category as "taxCategory" from products where sku = any(${given.lines.map((l) => l.sku)})`;
  const categories = new Map(rows.map((r) => [r.sku, r.taxCategory]));
  // The order says, or else its channel's setting (OMS_PRICES_EXCLUDE_TAX); written into the order either way.
  const exclusive = given.pricesIncludeTax === false || (given.pricesIncludeTax === undefined && exclusiveChannels.includes(given.channel));
  const order: CanonicalOrder = exclusive ? { ...given, pricesIncludeTax: false } : given;
  const quote = quoteOrder(order, (sku) => categories.get(sku) ?? 'standard', { pricesIncludeTax: !exclusive });
  if (!exclusive) return { order, tax: quote };
  if (order.taxOnTop === undefined) return { order: { ...order, taxOnTop: quote.tax }, tax: { ...quote, sharesWeighTax: true } };
  return { order, tax: { ...withChargedTax(quote, order.taxOnTop, order.currency), sharesWeighTax: true } };
}
