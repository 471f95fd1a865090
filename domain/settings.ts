/**
 * Durations and limits of the order's life. They travel in the workflow input (workflows cannot
 * read the environment), so an order keeps the settings it started with.
 */
export interface OrderSettings {
  /** How long an order may sit ON_HOLD before it is rejected. */
  holdTimeoutMs: number;
  /** How long a BACKORDERED order waits for a restock before it is cancelled. */
  backorderTimeoutMs: number;
  defaultCarrier: string;
  /** Polling interval for carriers without webhooks (doubles up to 8×). */
  trackingPollMs: number;
  /**
   * Reconciliation for carriers that push webhooks: a booking (or return parcel) that has heard
   * nothing for this long is polled once through the carrier's tracking API, and what it finds is
   * applied as if the webhooks had come (a carrier gives up on webhooks the OMS could not take).
   * 0 turns it off. Absent (orders started before it existed): the default.
   */
  trackingQuietMs?: number;
  /** How long a delivered order stays open for returns before it is COMPLETED (per channel, resolved at intake). */
  returnWindowMs?: number;
  /** How long a customer has to send a return parcel before the return expires. */
  returnShipByMs?: number;
  /** How long one call to an outside system may take before it is retried. */
  stepTimeoutMs: number;
  /** Retries of a step before the order needs attention and waits for an ops retry. */
  stepRetry: { initialIntervalMs: number; maximumIntervalMs: number; maximumAttempts: number };
  /** Service levels: deadlines per channel (`default` for the rest) and the escalation ladder. Absent: no SLA timers. */
  sla?: SlaSettings;
  /** A parcel returned to the sender is shipped again, or its share refunded and the units restocked. */
  rtsPolicy?: 'reship' | 'refund';
  /**
   * Channels whose prices exclude tax unless an order says otherwise (a B2B website, a wholesale
   * POS): their tax goes on top at intake (docs/back-office.md). Read by intake only.
   */
  pricesExcludeTax?: string[];
}

const DAY = 86_400_000;

export interface SlaSettings {
  /** From the order's placedAt: handed to the carrier by then. */
  shipByMs: Record<string, number>;
  /** From placedAt: the promised delivery date. */
  deliverByMs: Record<string, number>;
  /** Past a deadline, level 1 fires after this grace (never more than 14 days: a parcel two weeks late is always escalated). */
  graceMs: number;
  /** Each further level fires this long after the previous one; a parcel that moves again clears the escalation. */
  stepMs: number;
  /** A delivered cash-on-delivery parcel's cash is due from the carrier by then (from delivery). */
  codRemitByMs: number;
}

/** Deadlines for one channel's order. */
export const slaFor = (sla: SlaSettings, channel: string) => ({
  shipByMs: sla.shipByMs[channel] ?? sla.shipByMs.default ?? 2 * DAY,
  deliverByMs: sla.deliverByMs[channel] ?? sla.deliverByMs.default ?? 5 * DAY,
});

export const DEFAULT_SLA: SlaSettings = {
  shipByMs: { default: 2 * DAY },
  deliverByMs: { default: 5 * DAY },
  graceMs: DAY,
  stepMs: DAY,
  codRemitByMs: 7 * DAY,
};

/** Push carriers' bookings are polled after this long without an event (see `trackingQuietMs`). */
export const DEFAULT_TRACKING_QUIET_MS = 6 * 3600_000;

export const DEFAULT_ORDER_SETTINGS: OrderSettings & { trackingQuietMs: number } = {
  holdTimeoutMs: 48 * 3600_000,
  backorderTimeoutMs: 7 * 24 * 3600_000,
  defaultCarrier: 'ghn',
  trackingPollMs: 15 * 60_000,
  trackingQuietMs: DEFAULT_TRACKING_QUIET_MS,
  stepTimeoutMs: 30_000,
  stepRetry: { initialIntervalMs: 1000, maximumIntervalMs: 60_000, maximumAttempts: 10 },
  rtsPolicy: 'refund',
};

/** Rules the activities apply (they may change without touching running workflows). */
export interface BusinessRules {
  /** Orders above this total go ON_HOLD for review. */
  riskAmountLimit: string;
  /** More orders than this from one customer within an hour go ON_HOLD. */
  riskVelocityPerHour: number;
  /** Cash on delivery is refused above this total. */
  codLimit: string;
}

export const DEFAULT_RULES: BusinessRules = { riskAmountLimit: '50000000.00', riskVelocityPerHour: 5, codLimit: '10000000.00' };
