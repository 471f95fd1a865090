/** The carrier webhook adapters, one per carrier, behind one interface. */
import { ghnAdapter } from './ghn';
import type { CarrierAdapter, WebhookCarrier } from './types';
import { WEBHOOK_CARRIERS } from './types';
import { vtpAdapter } from './vtp';

export const CARRIER_ADAPTERS: Record<WebhookCarrier, CarrierAdapter> = { ghn: ghnAdapter, vtp: vtpAdapter };

export const hasCarrierAdapter = (c: string): c is WebhookCarrier => (WEBHOOK_CARRIERS as readonly string[]).includes(c);

export { WEBHOOK_CARRIERS, TRACKING_STATUSES } from './types';
export type * from './types';
