/**
 * All activities, built from injected dependencies: the worker passes real clients, tests
 * pass the same real clients pointed at their own database and sandbox.
 */
import type { Sql } from '../db/client';
import type { StatusWrite } from '../db/orders-repo';
import type { BusinessRules } from '../domain/settings';
import type { StockSyncSettings } from '../domain/stock-sync';
import type { Logger } from '../lib/logger';
import { createCarrierActivities } from './carriers/carrier-activities';
import { createChannelActivities } from './channels/channel-activities';
import { createStockSyncActivities } from './channels/stock-sync-activities';
import type { OutsideSystems } from './http';
import { createInventoryActivities } from './inventory/inventory-activities';
import { createNotifyActivities } from './notify/notify-activities';
import { createOrderActivities } from './orders/order-activities';
import { createPaymentActivities } from './payments/payment-activities';
import { createSystemActivities } from './system/system-activities';
import { createWmsActivities } from './warehouse/wms-activities';

export interface ActivityDeps {
  sql: Sql;
  logger: Logger;
  rules: BusinessRules;
  /** Outside systems; in dev and tests all are the sandbox. */
  systems: OutsideSystems;
  /** Webhook/API secret per sales channel (OMS_CHANNEL_SECRETS); development secrets when absent. */
  channelSecrets?: Record<string, string> | undefined;
  /** Stock sync to channels; absent = off in this worker. */
  stockSync?: StockSyncSettings | undefined;
  /** Aborted just before the worker shuts down, so long-waiting activities hand back at once. */
  shutdown?: AbortSignal | undefined;
  /** The worker's status-push relay (worker/status-pushes.ts), nudged when a push is queued. */
  statusPushes?: { nudge(): void } | undefined;
}

export function createActivities(deps: ActivityDeps) {
  const orders = createOrderActivities(deps);
  return carryingSteps((input) => orders.writeSteps(input), {
    ...createSystemActivities(deps),
    ...orders,
    ...createInventoryActivities(deps),
    ...createPaymentActivities(deps.systems.payments),
    ...createWmsActivities(deps.systems.wms),
    ...createCarrierActivities(deps.systems.carriers),
    ...createNotifyActivities(deps.systems.notify),
    ...createChannelActivities(deps),
    ...createStockSyncActivities(deps),
  });
}

/**
 * Any activity may carry, after its own argument, steps of an order's story to write before it
 * runs (workflows/profiles.ts `CarriedSteps`): an order from `orderWorkflowV5` on hands the
 * steps it recorded to its next local activity, one local activity where each step was one.
 * Written first, so what the activity does comes after them, as it did when each was awaited.
 */
function carryingSteps<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  writeSteps: (input: { steps: StatusWrite[] }) => Promise<void>,
  activities: T,
): T {
  const carried = (arg: unknown): arg is { stepsBefore: StatusWrite[] } =>
    typeof arg === 'object' && arg !== null && Array.isArray((arg as { stepsBefore?: unknown }).stepsBefore);
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: unknown[]) => {
        const last = args.at(-1);
        if (args.length < 2 || !carried(last)) return (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        await writeSteps({ steps: last.stepsBefore });
        return (fn as (...a: unknown[]) => Promise<unknown>)(...args.slice(0, -1));
      },
    ]),
  ) as unknown as T;
}

export type Activities = ReturnType<typeof createActivities>;
