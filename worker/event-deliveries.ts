/**
 * Delivers the event feed to its subscribers (docs/back-office.md): every worker process runs
 * this relay; a lease gives each subscription to one relay at a time. A delivery is a POST of the
 * next batch of events past the subscriber's position, in feed order (so in order per order),
 * signed with the subscription's secret; a 2xx moves the position to the batch's last event,
 * anything else is retried with backoff and the same events go again. At least once: a subscriber
 * deduplicates by `eventId` (and keeps the newest of a replaced step).
 */
import { createHmac } from 'node:crypto';
import type { Sql } from '../db/client';
import { EventsRepo, toFeedEvent } from '../db/events-repo';
import { SubscriptionsRepo, type ClaimedSubscription } from '../db/subscriptions-repo';
import type { Logger } from '../lib/logger';
import { OutboxRelay, type RelayOptions } from '../lib/outbox-relay';
import { scrubberFor } from '../lib/personal-data';

export const DEFAULT_DELIVERY_RELAY: RelayOptions = {
  batch: 20,
  concurrency: 4,
  pollMs: 1000,
  leaseMs: 60_000,
  retryMinMs: 1000,
  retryMaxMs: 300_000,
  attemptTimeoutMs: 15_000,
};
/** Events per delivery. */
const EVENTS_PER_DELIVERY = 100;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: what a subscriber checks (docs/back-office.md). */
export function signDelivery(secret: string, body: string, at: number): string {
  return `t=${at},v1=${createHmac('sha256', secret).update(`${at}.${body}`).digest('hex')}`;
}

export class EventDeliveryRelay extends OutboxRelay<ClaimedSubscription> {
  readonly counts = { deliveries: 0, events: 0, failed: 0 };
  private readonly events: EventsRepo;

  constructor(deps: { sql: Sql; logger: Logger }, options: Partial<RelayOptions> = {}) {
    super(new SubscriptionsRepo(deps.sql), { ...DEFAULT_DELIVERY_RELAY, ...options }, deps.logger, 'event delivery');
    this.events = new EventsRepo(deps.sql);
  }

  protected async handle(sub: ClaimedSubscription, timeoutMs: number): Promise<void> {
    const upTo = sub.replayUntil === null ? undefined : BigInt(sub.replayUntil);
    const rows = await this.events.after(BigInt(sub.position), EVENTS_PER_DELIVERY, sub.channel ?? undefined, upTo);
    if (!rows.length) {
      // A replayed range with nothing (more) of this subscriber's in it: on to where it had been.
      if (sub.replayUntil !== null) sub.deliveredTo = { position: sub.replayUntil, count: 0 };
      return;
    }
    // Subscribers see what an admin sees: personal data scrubbed out of the events' text.
    const events = rows.map((r) =>
      toFeedEvent(r, (step) => scrubberFor('none', { customer: step.customer, address: step.shippingAddress })),
    );
    const body = JSON.stringify({ subscriptionId: sub.key, events });
    const res = await fetch(sub.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-oms-signature': signDelivery(sub.secret, body, Math.floor(Date.now() / 1000)),
        'x-oms-delivery': `${sub.key}:${events[0]!.position}-${events.at(-1)!.position}`,
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.any([this.stopSignal, AbortSignal.timeout(timeoutMs)]),
    });
    await res.body?.cancel().catch(() => undefined);
    if (res.status < 200 || res.status > 299) throw new Error(`subscriber answered ${res.status}`);
    sub.deliveredTo = { position: events.at(-1)!.position, count: events.length };
    this.counts.deliveries++;
    this.counts.events += events.length;
  }

  protected describe(sub: ClaimedSubscription): Record<string, unknown> {
    // The URL may carry a token of the subscriber's: its host only.
    return { subscriptionId: sub.key, host: URL.canParse(sub.url) ? new URL(sub.url).host : 'invalid', position: sub.position };
  }

  protected onFailed(): void {
    this.counts.failed++;
  }
}
