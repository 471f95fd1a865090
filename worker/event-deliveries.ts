/**
 * Delivers the event feed to its subscribers (docs/back-office.md): every worker process runs
 * this relay; a lease gives each subscription to one relay at a time. A delivery is a POST of the
 * next batch of events past the subscriber's position, in feed order (so in order per order),
 * signed with the subscription's secret; a 2xx moves the position to the batch's last event,
 * anything else is retried with backoff and the same events go again. At least once: a subscriber
 * deduplicates by `eventId` (and keeps the newest of a replaced step).
 */
import { createHmac } from 'node:crypto';
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Sql } from '../db/client';
import { EventsRepo, toFeedEvent } from '../db/events-repo';
import { SubscriptionsRepo, type ClaimedSubscription } from '../db/subscriptions-repo';
import type { Logger } from '../lib/logger';
import { OutboxRelay, type RelayOptions } from '../lib/outbox-relay';
import { scrubberFor } from '../lib/personal-data';
import { notPublicLiteral, NotPublicAddressError, publicOnlyLookup } from '../lib/public-address';

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

/**
 * Which addresses a subscriber may be reached at: `public` (production) — public internet
 * addresses only, checked on the address each connection goes to (lib/public-address.ts);
 * `any` (development, tests): this machine and the private network too.
 */
export type SubscriberAddresses = 'any' | 'public';

/**
 * POSTs `body` to `url` and answers the status; no redirect is followed. With `public`, a URL
 * that is not https, or a host that is (or resolves to) no public address, fails before anything
 * is sent.
 */
export function postTo(
  url: string,
  headers: OutgoingHttpHeaders,
  body: string,
  o: { signal: AbortSignal; addresses: SubscriberAddresses },
): Promise<number> {
  const target = new URL(url);
  // Production: over TLS only, whatever was subscribed before it was production.
  if (o.addresses === 'public' && target.protocol !== 'https:') return Promise.reject(new Error('not an https URL (production mode)'));
  const refused = o.addresses === 'public' ? notPublicLiteral(target) : undefined;
  if (refused) return Promise.reject(new NotPublicAddressError(refused));
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        signal: o.signal,
        ...(o.addresses === 'public' ? { lookup: publicOnlyLookup } : {}),
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export class EventDeliveryRelay extends OutboxRelay<ClaimedSubscription> {
  readonly counts = { deliveries: 0, events: 0, failed: 0 };
  private readonly events: EventsRepo;
  private readonly addresses: SubscriberAddresses;

  constructor(deps: { sql: Sql; logger: Logger; addresses?: SubscriberAddresses }, options: Partial<RelayOptions> = {}) {
    super(new SubscriptionsRepo(deps.sql), { ...DEFAULT_DELIVERY_RELAY, ...options }, deps.logger, 'event delivery');
    this.events = new EventsRepo(deps.sql);
    this.addresses = deps.addresses ?? 'any';
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
    const status = await postTo(
      sub.url,
      {
        'content-type': 'application/json',
        'x-oms-signature': signDelivery(sub.secret, body, Math.floor(Date.now() / 1000)),
        'x-oms-delivery': `${sub.key}:${events[0]!.position}-${events.at(-1)!.position}`,
      },
      body,
      { signal: AbortSignal.any([this.stopSignal, AbortSignal.timeout(timeoutMs)]), addresses: this.addresses },
    );
    if (status < 200 || status > 299) throw new Error(`subscriber answered ${status}`);
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
