/**
 * All activities, built from injected dependencies: the worker passes real clients, tests
 * pass the same real clients pointed at their own database and sandbox.
 */
import type { Sql } from '../db/client';
import type { BusinessRules } from '../domain/settings';
import type { Logger } from '../lib/logger';
import { createCarrierActivities } from './carriers/carrier-activities';
import { createChannelActivities } from './channels/channel-activities';
import type { OutsideSystem } from './http';
import { createInventoryActivities } from './inventory/inventory-activities';
import { createOrderActivities } from './orders/order-activities';
import { createPaymentActivities } from './payments/payment-activities';
import { createSystemActivities } from './system/system-activities';
import { createWmsActivities } from './warehouse/wms-activities';

export interface ActivityDeps {
  sql: Sql;
  logger: Logger;
  rules: BusinessRules;
  /** Outside systems; in dev and tests all are the sandbox. */
  systems: { payments: OutsideSystem; wms: OutsideSystem; carriers: OutsideSystem; channels: OutsideSystem };
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createSystemActivities(deps),
    ...createOrderActivities(deps),
    ...createInventoryActivities(deps),
    ...createPaymentActivities(deps.systems.payments),
    ...createWmsActivities(deps.systems.wms),
    ...createCarrierActivities(deps.systems.carriers),
    ...createChannelActivities(deps.systems.channels),
  };
}

export type Activities = ReturnType<typeof createActivities>;
