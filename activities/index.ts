/**
 * All activities, built from injected dependencies: the worker passes real clients, tests
 * pass the same real clients pointed at their own database and sandbox.
 */
import type { Sql } from '../db/client';
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
  return {
    ...createSystemActivities(deps),
    ...createOrderActivities(deps),
    ...createInventoryActivities(deps),
    ...createPaymentActivities(deps.systems.payments),
    ...createWmsActivities(deps.systems.wms),
    ...createCarrierActivities(deps.systems.carriers),
    ...createNotifyActivities(deps.systems.notify),
    ...createChannelActivities(deps),
    ...createStockSyncActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
