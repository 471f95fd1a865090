/**
 * Emulated carriers, speaking their real webhook formats. `ghn` POSTs GHN's flat PascalCase
 * webhook to the callback URL with the secret in its query (`?token=`); `vtp` POSTs Viettel
 * Post's `{"DATA": …, "TOKEN": …}` with the secret in `Authorization` — and, like the real VTP,
 * can also be polled (the OMS polls it: it is not a push carrier there). The bodies are made from
 * the published samples in test/fixtures/carriers/<carrier>/, read at start as templates, with
 * this parcel's tracking code, our reference, the status, its time and the COD amount filled in.
 * Webhooks go out at least once: retried with a growing backoff for up to three days, like real
 * carriers, so duplicates happen. Bookings move
 * booked → picked_up → in_transit → delivered (→ cod_remitted for cash on delivery) on a
 * timer, or step by step through the /sandbox controls. Webhooks not yet delivered sit in a
 * journaled outbox, so a restarted sandbox sends them again and parcels carry on from the status
 * they had. A carrier can be made to forget a booking (its data lost, as when a booking expires
 * unpicked): tracking and cancel then answer 404 and its webhooks stop.
 *
 * Each event's id in the tracking answer is the id the OMS derives from its webhook (carrier,
 * tracking code, type, status, time), so what a poll finds and what a webhook brought dedupe.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';
import { ghnCodTransferEventId, ghnEventId } from '../activities/carriers/adapters/ghn';
import { isoToVtpTime, vtpEventId } from '../activities/carriers/adapters/vtp';
import { DECIMAL_RE, fromMinor, json, newId, nowIso, parseBody, toMinor, toResponse, type SandboxEnv } from './common';
import { readFault } from './faults';
import { mutation } from './idempotency';

/** Carriers the sandbox emulates and whether they push webhooks unless told otherwise (`POST /sandbox/carriers/push`). */
export const CARRIERS: Record<string, { prefix: string; webhooks: boolean }> = {
  ghn: { prefix: 'GHN', webhooks: true },
  vtp: { prefix: 'VTP', webhooks: true },
};

export const CARRIER_STATUSES = [
  'booked',
  'picked_up',
  'in_transit',
  'delivered',
  'delivery_failed',
  'returned_to_sender',
  'cancelled',
  'cod_remitted',
] as const;
export type CarrierStatus = (typeof CARRIER_STATUSES)[number];

/**
 * How a webhook the OMS did not answer 2xx is retried. Real carriers and gateways keep trying for
 * hours to days with a growing delay (Stripe: up to 3 days; Shopify: 8 tries over 4 hours), so an
 * OMS outage of minutes or hours loses nothing. The delay after attempt n is
 * `initialMs × factor^(n−1)`, at most `maxDelayMs`; an event is given up once its next attempt
 * would come later than `giveUpAfterMs` after its first. The first delays are short (100, 200,
 * 400 ms…) so a blip heals at once. Tests tune it with `POST /sandbox/carriers/webhook-retry`.
 */
export interface WebhookRetry {
  initialMs: number;
  factor: number;
  maxDelayMs: number;
  giveUpAfterMs: number;
}
export const DEFAULT_WEBHOOK_RETRY: WebhookRetry = { initialMs: 100, factor: 2, maxDelayMs: 3_600_000, giveUpAfterMs: 3 * 86_400_000 };

/** The delay before the next attempt after a failed `attempt`, or undefined when the event is given up. */
export function webhookRetryDelay(r: WebhookRetry, attempt: number, firstAt: number, now: number): number | undefined {
  const delay = Math.min(r.maxDelayMs, Math.round(r.initialMs * r.factor ** (attempt - 1)));
  return now + delay - firstAt > r.giveUpAfterMs ? undefined : delay;
}

type Json = Record<string, unknown>;

/** The published sample each status's webhook is made from (test/fixtures/carriers/<carrier>/). */
const TEMPLATE_FILES: Record<string, Partial<Record<CarrierStatus, string>>> = {
  ghn: {
    booked: 'webhook-create-ready-to-pick.json',
    picked_up: 'webhook-switch-status-picked.json',
    in_transit: 'webhook-switch-status-transporting.json',
    delivered: 'webhook-switch-status-delivered.json',
    delivery_failed: 'webhook-switch-status-delivery-fail.json',
    returned_to_sender: 'webhook-switch-status-returned.json',
    cancelled: 'webhook-switch-status-cancel.json',
    // GHN reports the cash paid over by a webhook whose CODTransferDate is set (see nativeWebhook).
    cod_remitted: 'webhook-switch-status-delivered.json',
  },
  vtp: {
    // VTP's "taken in at the origin office" (200) is its pickup; 505 is a failed delivery going back.
    picked_up: 'webhook-status-200-received-at-origin.json',
    in_transit: 'webhook-status-300-outbound-transit.json',
    delivered: 'webhook-status-501-delivered.json',
    delivery_failed: 'webhook-status-505-failed-return-requested.json',
    returned_to_sender: 'webhook-status-504-returned-to-sender.json',
    cancelled: 'webhook-status-107-partner-cancelled-via-api.json',
  },
};

/** Where the templates are read from; a missing one stops the sandbox at start with this path named. */
export const CARRIER_FIXTURES_DIR = new URL('../test/fixtures/carriers/', import.meta.url);

type Templates = Record<string, Partial<Record<CarrierStatus, Json>>>;

function loadTemplates(): Templates {
  const out: Templates = {};
  for (const [carrier, files] of Object.entries(TEMPLATE_FILES)) {
    out[carrier] = {};
    for (const [status, file] of Object.entries(files)) {
      const url = new URL(`${carrier}/${file}`, CARRIER_FIXTURES_DIR);
      try {
        out[carrier][status as CarrierStatus] = JSON.parse(readFileSync(url, 'utf8')) as Json;
      } catch (err) {
        throw new Error(
          `sandbox carriers: cannot read the ${carrier} webhook template ${url.pathname} (${err instanceof Error ? err.message : String(err)})`,
        );
      }
    }
  }
  return out;
}

/** Whole VND (or what the amount is) as the JSON number carriers send. */
const amountNumber = (minor: number): number => minor / 100;

export interface CarrierEvent {
  eventId: string;
  status: CarrierStatus;
  occurredAt: string;
  codAmount?: string;
}

interface Booking {
  bookingId: string;
  carrier: string;
  kind: 'shipment' | 'return';
  orderId: string;
  shipmentId?: string | undefined;
  returnId?: string | undefined;
  /** Parcel status; `cod_remitted` is an event after delivery, not a status of its own. */
  status: Exclude<CarrierStatus, 'cod_remitted'>;
  trackingNumber: string;
  labelUrl: string;
  idempotencyKey: string;
  weightGrams?: number | undefined;
  codMinor: number;
  codRemitted: boolean;
  events: CarrierEvent[];
  timer?: NodeJS.Timeout | undefined;
}

interface WebhookAttempt {
  eventId: string;
  bookingId: string;
  status: string;
  attempt: number;
  /** null when the request never got an answer (network error, timeout). */
  responseStatus: number | null;
  error?: string;
  at: string;
}

interface Delivery {
  /** One per send: a replayed event is a delivery of its own. */
  deliveryId: string;
  /** The body is the carrier's native webhook (deliveries journaled before they were are rebuilt). */
  native?: true;
  carrier: string;
  bookingId: string;
  eventId: string;
  status: string;
  rawBody: string;
  attempt: number;
  /** When the first attempt was made (epoch ms): the retry schedule gives up counting from it. Absent in deliveries journaled before it existed. */
  firstAt?: number;
}

const money = z
  .union([z.string().regex(DECIMAL_RE), z.number().min(0)])
  .transform((v) => (typeof v === 'number' ? Math.round(v * 100) : toMinor(v)));

const webhookRetrySchema = z.object({
  initialMs: z.number().int().min(1).optional(),
  factor: z.number().min(1).max(10).optional(),
  maxDelayMs: z.number().int().min(1).optional(),
  giveUpAfterMs: z.number().int().min(0).optional(),
});

const shipmentSchema = z.object({
  orderId: z.string().min(1),
  shipmentId: z.string().min(1),
  from: z.object({ warehouseId: z.string().min(1), city: z.string().min(1) }),
  to: z.object({
    name: z.string().min(1),
    phone: z.string().optional(),
    line1: z.string().min(1),
    city: z.string().min(1),
    region: z.string().optional(),
    country: z.string().min(1),
  }),
  weightGrams: z.number().int().positive(),
  // GHN's `cod_amount` and VTP's `MONEY_COLLECTION` are whole đồng: a courier cannot collect half of one.
  codAmount: money.refine((minor) => minor % 100 === 0, 'COD is collected in whole đồng').optional(),
});
const returnSchema = z.object({
  orderId: z.string().min(1),
  returnId: z.string().min(1),
  from: z.object({ name: z.string().min(1), line1: z.string().min(1), city: z.string().min(1), country: z.string().min(1) }),
  to: z.object({ warehouseId: z.string().min(1), city: z.string().min(1) }),
});

const carrierOf = (c: Context) => c.req.param('carrier') ?? '';

/** A booking the carrier was made to forget, kept for the ledger only. */
type ForgottenBooking = Omit<Booking, 'timer'> & { forgottenAt: string };

/** Builds the carriers API (`/carriers/:carrier/v1`), its test controls and the webhook sender. */
export function createCarriers(env: SandboxEnv) {
  const st = env.state;
  const bookings = st.map<Booking>('carriers.booking');
  const trackingNumbers = new Set([...bookings.values()].map((b) => b.trackingNumber));
  const held = new Set(st.map<true>('carriers.held').keys());
  const timers = new Set<NodeJS.Timeout>();
  let webhooks = st.list<WebhookAttempt>('carriers.webhook');
  let forgotten = st.list<ForgottenBooking>('carriers.forgotten');
  /** Every delivery not yet answered 2xx nor given up, by deliveryId. */
  const outbox = st.map<Delivery>('carriers.outbox');
  /** Deliveries waiting for an OMS URL. */
  let pending: Delivery[] = [];
  /** Bumped by reset so in-flight work from before it doesn't write into the new state. */
  let generation = 0;
  /** A test control like /sandbox/config: starts afresh from the default on start and reset. */
  let retry: WebhookRetry = { ...DEFAULT_WEBHOOK_RETRY };
  const templates = loadTemplates();
  const defaultPushing = () =>
    new Set(
      Object.entries(CARRIERS)
        .filter(([, c]) => c.webhooks)
        .map(([name]) => name),
    );
  /** Carriers whose webhooks go out (a test control: `POST /sandbox/carriers/push`). */
  let pushing = defaultPushing();

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };

  const tracking = (carrier: string): string => {
    for (;;) {
      const n = `${CARRIERS[carrier]?.prefix ?? carrier.toUpperCase()}${String(randomInt(0, 1e10)).padStart(10, '0')}`;
      if (!trackingNumbers.has(n)) {
        trackingNumbers.add(n);
        return n;
      }
    }
  };

  /** The booking as stored: everything but its live timer. */
  const stored = (b: Booking): Omit<Booking, 'timer'> => {
    const rest: Omit<Booking, 'timer'> & { timer?: unknown } = { ...b };
    delete rest.timer;
    return rest;
  };
  const saveBooking = (b: Booking): void => st.put('carriers.booking', b.bookingId, stored(b));
  const recordAttempt = (w: WebhookAttempt): void => {
    webhooks.push(w);
    st.add('carriers.webhook', w);
  };
  const dropDelivery = (deliveryId: string): void => {
    if (outbox.delete(deliveryId)) st.del('carriers.outbox', deliveryId);
  };

  const next = (b: Booking): CarrierStatus | undefined => {
    switch (b.status) {
      case 'booked':
        return 'picked_up';
      case 'picked_up':
        return 'in_transit';
      case 'in_transit':
        return 'delivered';
      case 'delivered':
        return b.kind === 'shipment' && b.codMinor > 0 && !b.codRemitted ? 'cod_remitted' : undefined;
      // A failed delivery goes back to the sender rather than being retried forever.
      case 'delivery_failed':
        return 'returned_to_sender';
      default:
        return undefined;
    }
  };

  /**
   * The carrier's own webhook for this event, made from its published sample with this parcel's
   * values, and the event id the OMS derives from it; undefined when the carrier sends no webhook
   * for it (VTP has none for a COD remittance, nor for a new booking).
   */
  const nativeWebhook = (
    b: Omit<Booking, 'timer'>,
    ev: Pick<CarrierEvent, 'status' | 'occurredAt' | 'codAmount'>,
  ): { body: Json; eventId: string } | undefined => {
    const template = templates[b.carrier]?.[ev.status];
    if (!template) return undefined;
    const reference = b.shipmentId ?? b.returnId;
    if (b.carrier === 'ghn') {
      const body: Json = {
        ...template,
        OrderCode: b.trackingNumber,
        ClientOrderCode: reference ?? '',
        Time: ev.occurredAt,
        CODAmount: amountNumber(b.codMinor),
        ...(b.weightGrams !== undefined ? { Weight: b.weightGrams } : {}),
      };
      if (ev.status === 'cod_remitted') {
        // A snapshot of the delivered order, now with the transfer date and the amount paid over
        // (a test may make it short); `update_cod`: no status change.
        Object.assign(body, {
          Type: 'update_cod',
          CODTransferDate: ev.occurredAt,
          CODAmount: amountNumber(toMinor(ev.codAmount ?? fromMinor(b.codMinor))),
        });
        return { body, eventId: ghnCodTransferEventId(b.trackingNumber, ev.occurredAt) };
      }
      return { body, eventId: ghnEventId(b.trackingNumber, String(body.Type), String(body.Status), ev.occurredAt) };
    }
    if (b.carrier === 'vtp') {
      const data = template.DATA as Json;
      const statusDate = isoToVtpTime(ev.occurredAt);
      const body: Json = {
        ...template,
        DATA: {
          ...data,
          ORDER_NUMBER: b.trackingNumber,
          ORDER_REFERENCE: reference ?? null,
          ORDER_STATUSDATE: statusDate,
          MONEY_COLLECTION: amountNumber(b.codMinor),
          ...(b.weightGrams !== undefined ? { PRODUCT_WEIGHT: b.weightGrams } : {}),
        },
      };
      return { body, eventId: vtpEventId(b.trackingNumber, String(data.ORDER_STATUS), statusDate) };
    }
    return undefined;
  };
  /** A new event of this booking, under the id its webhook will carry (or a fresh one when it has none). */
  const newEvent = (b: Omit<Booking, 'timer'>, status: CarrierStatus, codAmount?: string): CarrierEvent => {
    const ev: CarrierEvent = { eventId: '', status, occurredAt: nowIso(), ...(codAmount !== undefined ? { codAmount } : {}) };
    ev.eventId = nativeWebhook(b, ev)?.eventId ?? newId('evt');
    return ev;
  };

  /** One POST to the OMS, authenticated the carrier's way (`secret` stands in for its own in tests); its status (null on network error) and body. */
  const post = async (
    carrier: string,
    rawBody: string,
    secret?: string,
  ): Promise<{ status: number | null; body: string; error?: string }> => {
    const base = env.omsBaseUrl();
    if (!base) return { status: null, body: '', error: 'omsBaseUrl not set' };
    const key = secret ?? env.carrierSecrets[carrier] ?? '';
    // GHN: the secret is part of the callback URL registered with it; VTP: the Authorization header.
    const url = `${base.replace(/\/$/, '')}/v1/carriers/${carrier}/webhooks${carrier === 'ghn' ? `?token=${encodeURIComponent(key)}` : ''}`;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(carrier === 'vtp' ? { Authorization: key } : {}) },
        body: rawBody,
        signal: AbortSignal.any([env.stopSignal, AbortSignal.timeout(5000)]),
      });
      return { status: res.status, body: await res.text() };
    } catch (e) {
      return { status: null, body: '', error: e instanceof Error ? e.message : String(e) };
    }
  };

  /**
   * At-least-once delivery: retry non-2xx and network errors on the retry schedule, then give up.
   * The outbox entry goes only once the OMS answered 2xx or the carrier gave up, so a delivery
   * cut short by a crash or stop is sent again after the restart (its schedule still counted
   * from its first attempt). A `carriers`/`webhook` fault drops the attempt on the way (it never
   * reaches the OMS), or with `lose_response` delivers it and loses the answer (so it is sent again).
   */
  const deliver = (given: Delivery): void => {
    if (env.stopSignal.aborted) return;
    const b = bookings.get(given.bookingId);
    if (!b) {
      dropDelivery(given.deliveryId);
      return;
    }
    const d = given.native ? given : renative(b, given);
    if (!d) {
      dropDelivery(given.deliveryId);
      return;
    }
    if (!env.omsBaseUrl()) {
      pending.push(d);
      return;
    }
    const gen = generation;
    const firstAt = d.firstAt ?? Date.now();
    const fault = env.faults.take('carriers', 'webhook', { orderId: b.orderId, carrier: d.carrier });
    const sent =
      fault && fault.action !== 'lose_response'
        ? Promise.resolve({ status: null, body: '', error: `not delivered (fault: ${fault.action})` })
        : post(d.carrier, d.rawBody).then((r) =>
            fault ? { status: null, body: '', error: `answer lost (fault: lose_response; the OMS answered ${r.status ?? r.error})` } : r,
          );
    void sent.then((r: { status: number | null; body: string; error?: string }) => {
      if (gen !== generation) return;
      const ok = r.status !== null && r.status >= 200 && r.status < 300;
      const delay = ok ? undefined : webhookRetryDelay(retry, d.attempt, firstAt, Date.now());
      const again = delay !== undefined && bookings.has(d.bookingId) ? { ...d, attempt: d.attempt + 1, firstAt } : undefined;
      st.atomic(() => {
        recordAttempt({
          eventId: d.eventId,
          bookingId: d.bookingId,
          status: d.status,
          attempt: d.attempt,
          responseStatus: r.status,
          ...(r.error !== undefined ? { error: r.error } : {}),
          at: nowIso(),
        });
        if (again) {
          outbox.set(d.deliveryId, again);
          st.put('carriers.outbox', d.deliveryId, again);
        } else {
          dropDelivery(d.deliveryId);
        }
      });
      if (again && !env.stopSignal.aborted) later(delay!, () => deliver(again));
    });
  };

  /** A delivery journaled before bodies were native, made again in the carrier's format (undefined: it has none). */
  const renative = (b: Booking, d: Delivery): Delivery | undefined => {
    const ev = b.events.find((e) => e.eventId === d.eventId);
    const native = ev && nativeWebhook(b, ev);
    if (!native) return undefined;
    const again: Delivery = { ...d, native: true, rawBody: JSON.stringify(native.body) };
    outbox.set(d.deliveryId, again);
    st.put('carriers.outbox', d.deliveryId, again);
    return again;
  };

  /** Queues the event's webhook, if the carrier pushes and has one for it; false when nothing goes out. */
  const push = (b: Booking, ev: CarrierEvent): boolean => {
    if (!pushing.has(b.carrier)) return false;
    const native = nativeWebhook(b, ev);
    if (!native) return false;
    const d: Delivery = {
      deliveryId: newId('dlv'),
      native: true,
      carrier: b.carrier,
      bookingId: b.bookingId,
      eventId: ev.eventId,
      status: ev.status,
      rawBody: JSON.stringify(native.body),
      attempt: 1,
      firstAt: Date.now(),
    };
    outbox.set(d.deliveryId, d);
    st.put('carriers.outbox', d.deliveryId, d);
    deliver(d);
    return true;
  };

  /** A new parcel event: the booking and the webhook to send are journaled in one write. */
  const emit = (b: Booking, status: CarrierStatus, codAmount?: string): CarrierEvent =>
    st.atomic(() => {
      // A test may make the carrier remit the wrong amount (short-paid, like a real reconciliation gap).
      const ev = newEvent(b, status, status === 'cod_remitted' ? (codAmount ?? fromMinor(b.codMinor)) : undefined);
      if (status === 'cod_remitted') {
        b.codRemitted = true;
      } else {
        b.status = status;
      }
      b.events.push(ev);
      saveBooking(b);
      push(b, ev);
      return ev;
    });

  /** Auto progress: one step per stepMs per booking; held orders wait (the timer keeps polling). */
  const schedule = (b: Booking): void => {
    if (b.timer || !env.config.autoProgress.enabled || next(b) === undefined) return;
    b.timer = later(env.config.autoProgress.stepMs, () => {
      b.timer = undefined;
      if (!env.config.autoProgress.enabled) return;
      const n = next(b);
      if (n === undefined) return;
      if (!held.has(b.orderId)) emit(b, n);
      schedule(b);
    });
  };

  const book = (c: Context, kind: 'shipment' | 'return', fields: Partial<Booking> & { orderId: string }, key: string): Booking => {
    const carrier = carrierOf(c);
    const bookingId = newId('bk');
    const b: Booking = {
      bookingId,
      carrier,
      kind,
      status: 'booked',
      trackingNumber: tracking(carrier),
      labelUrl: `${env.baseUrl()}/sandbox/labels/${bookingId}`,
      idempotencyKey: key,
      codMinor: 0,
      codRemitted: false,
      events: [],
      ...fields,
    };
    b.events.push(newEvent(b, 'booked'));
    bookings.set(bookingId, b);
    saveBooking(b);
    schedule(b);
    return b;
  };

  const findBooking = (c: Context): Booking | undefined => {
    const b = bookings.get(c.req.param('bookingId') ?? '');
    return b && b.carrier === carrierOf(c) ? b : undefined;
  };
  const scope = (c: Context) => `carrier:${carrierOf(c)}`;

  const api = new Hono();
  api.use('/:carrier/v1/*', async (c, next) => {
    if (!CARRIERS[c.req.param('carrier')]) return json(404, { error: 'not_found', detail: 'unknown carrier' });
    await next();
    return undefined;
  });

  api.post(
    '/:carrier/v1/shipments',
    mutation(env, {
      scope,
      service: 'carriers',
      op: 'book',
      schema: shipmentSchema,
      match: (c, b) => ({ orderId: b.orderId, carrier: carrierOf(c) }),
      effect: (c, body, meta) => {
        const b = book(
          c,
          'shipment',
          { orderId: body.orderId, shipmentId: body.shipmentId, weightGrams: body.weightGrams, codMinor: body.codAmount ?? 0 },
          meta.idempotencyKey,
        );
        return {
          status: 201,
          body: { bookingId: b.bookingId, carrier: b.carrier, trackingNumber: b.trackingNumber, labelUrl: b.labelUrl, status: 'booked' },
        };
      },
    }),
  );

  api.post(
    '/:carrier/v1/returns',
    mutation(env, {
      scope,
      service: 'carriers',
      op: 'return',
      schema: returnSchema,
      match: (c, b) => ({ orderId: b.orderId, carrier: carrierOf(c) }),
      effect: (c, body, meta) => {
        const b = book(c, 'return', { orderId: body.orderId, returnId: body.returnId }, meta.idempotencyKey);
        return {
          status: 201,
          body: { bookingId: b.bookingId, carrier: b.carrier, trackingNumber: b.trackingNumber, labelUrl: b.labelUrl, status: 'booked' },
        };
      },
    }),
  );

  api.post(
    '/:carrier/v1/shipments/:bookingId/cancel',
    mutation(env, {
      scope,
      service: 'carriers',
      op: 'cancel',
      schema: z.object({}),
      match: (c) => ({ orderId: findBooking(c)?.orderId, carrier: carrierOf(c) }),
      effect: (c) => {
        const b = findBooking(c);
        if (!b) return { status: 404, body: { error: 'not_found' } };
        if (b.status === 'booked') {
          if (b.timer) clearTimeout(b.timer);
          b.timer = undefined;
          emit(b, 'cancelled');
        } else if (b.status !== 'cancelled') {
          return { status: 409, body: { error: 'already_picked_up', status: b.status } };
        }
        return { status: 200, body: { bookingId: b.bookingId, status: 'cancelled' } };
      },
    }),
  );

  api.get('/:carrier/v1/shipments/:bookingId', async (c) => {
    const b = findBooking(c);
    const fault = await readFault(env.faults, 'carriers', 'track', { orderId: b?.orderId, carrier: carrierOf(c) }, env.stopSignal);
    if (fault) return toResponse(fault);
    if (!b) return json(404, { error: 'not_found' });
    return json(200, { bookingId: b.bookingId, carrier: b.carrier, trackingNumber: b.trackingNumber, status: b.status, events: b.events });
  });

  const control = new Hono();
  const orderBody = z.object({ orderId: z.string().min(1) });

  control.post('/carriers/hold', async (c) => {
    const p = await parseBody(c.req.raw, orderBody);
    if (!p.ok) return p.response;
    held.add(p.value.orderId);
    st.put('carriers.held', p.value.orderId, true);
    return json(200, { orderId: p.value.orderId, held: true });
  });

  control.post('/carriers/release', async (c) => {
    const p = await parseBody(c.req.raw, orderBody);
    if (!p.ok) return p.response;
    if (held.delete(p.value.orderId)) st.del('carriers.held', p.value.orderId);
    for (const b of bookings.values()) if (b.orderId === p.value.orderId) schedule(b);
    return json(200, { orderId: p.value.orderId, held: false });
  });

  /** The webhook retry schedule (see WebhookRetry); a POST changes the given fields for retries from now on. */
  control.get('/carriers/webhook-retry', () => json(200, retry));
  control.post('/carriers/webhook-retry', async (c) => {
    const p = await parseBody(c.req.raw, webhookRetrySchema);
    if (!p.ok) return p.response;
    const next = { ...retry };
    for (const [k, v] of Object.entries(p.value) as [keyof WebhookRetry, number | undefined][]) if (v !== undefined) next[k] = v;
    retry = next;
    return json(200, retry);
  });

  /** Which carriers push webhooks; a POST (`{"vtp": false}`) changes it until the next reset. */
  const pushConfig = () => Object.fromEntries(Object.keys(CARRIERS).map((c) => [c, pushing.has(c)]));
  control.get('/carriers/push', () => json(200, pushConfig()));
  control.post('/carriers/push', async (c) => {
    const p = await parseBody(c.req.raw, z.record(z.string(), z.boolean()));
    if (!p.ok) return p.response;
    const unknown = Object.keys(p.value).filter((k) => !CARRIERS[k]);
    if (unknown.length) return json(404, { error: 'not_found', detail: `unknown carrier ${unknown.join(', ')}` });
    for (const [carrier, on] of Object.entries(p.value)) {
      if (on) pushing.add(carrier);
      else pushing.delete(carrier);
    }
    return json(200, pushConfig());
  });

  /**
   * Sends one webhook body as given (any JSON: a native payload, a broken one…), authenticated
   * the carrier's way with its secret, or with `secret` in its place (a wrong one, for tests).
   */
  control.post('/carriers/webhooks/send', async (c) => {
    const p = await parseBody(c.req.raw, z.object({ carrier: z.string().min(1), body: z.unknown(), secret: z.string().optional() }));
    if (!p.ok) return p.response;
    const { carrier, body, secret } = p.value;
    if (env.carrierSecrets[carrier] === undefined) return json(404, { error: 'not_found', detail: 'no secret for carrier' });
    const r = await post(carrier, JSON.stringify(body), secret);
    // The ledger names the booking whose tracking code the body carries, when there is one.
    const fields = (body && typeof body === 'object' ? body : {}) as Json;
    const data = (fields.DATA && typeof fields.DATA === 'object' ? fields.DATA : {}) as Json;
    const code = fields.OrderCode ?? data.ORDER_NUMBER;
    const booking = [...bookings.values()].find((b) => b.carrier === carrier && b.trackingNumber === code);
    const status = fields.Status ?? data.ORDER_STATUS;
    recordAttempt({
      eventId: '',
      bookingId: booking?.bookingId ?? '',
      status: typeof status === 'string' || typeof status === 'number' ? String(status) : '',
      attempt: 1,
      responseStatus: r.status,
      ...(r.error !== undefined ? { error: r.error } : {}),
      at: nowIso(),
    });
    return json(200, { responseStatus: r.status, responseBody: r.body, ...(r.error !== undefined ? { error: r.error } : {}) });
  });

  control.post('/carriers/:bookingId/advance', async (c) => {
    const b = bookings.get(c.req.param('bookingId'));
    if (!b) return json(404, { error: 'not_found' });
    const p = await parseBody(c.req.raw, z.object({ status: z.enum(CARRIER_STATUSES).optional(), codAmount: money.optional() }));
    if (!p.ok) return p.response;
    const status = p.value.status ?? next(b);
    if (!status) return json(409, { error: 'terminal_status', status: b.status });
    const ev = emit(b, status, p.value.codAmount === undefined ? undefined : fromMinor(p.value.codAmount));
    schedule(b);
    return json(200, ev);
  });

  control.post('/carriers/:bookingId/replay', async (c) => {
    const b = bookings.get(c.req.param('bookingId'));
    if (!b) return json(404, { error: 'not_found' });
    const p = await parseBody(c.req.raw, z.object({ eventId: z.string().min(1), times: z.number().int().min(1).max(100).optional() }));
    if (!p.ok) return p.response;
    const ev = b.events.find((e) => e.eventId === p.value.eventId);
    if (!ev) return json(404, { error: 'event_not_found' });
    if (!pushing.has(b.carrier)) return json(409, { error: 'carrier_has_no_webhooks' });
    if (!nativeWebhook(b, ev))
      return json(409, { error: 'no_webhook_for_event', detail: `${b.carrier} sends no webhook for ${ev.status}` });
    const times = p.value.times ?? 1;
    for (let i = 0; i < times; i++) push(b, ev);
    return json(200, { replayed: times, event: ev });
  });

  /** The carrier loses the booking: tracking and cancel answer 404 from now on, and no more webhooks go out. */
  control.post('/carriers/:carrier/bookings/:bookingId/forget', (c) => {
    const b = bookings.get(c.req.param('bookingId'));
    if (!b || b.carrier !== c.req.param('carrier')) return json(404, { error: 'not_found' });
    if (b.timer) {
      clearTimeout(b.timer);
      timers.delete(b.timer);
      b.timer = undefined;
    }
    const gone: ForgottenBooking = { ...stored(b), forgottenAt: nowIso() };
    st.atomic(() => {
      bookings.delete(b.bookingId);
      st.del('carriers.booking', b.bookingId);
      for (const d of [...outbox.values()]) if (d.bookingId === b.bookingId) dropDelivery(d.deliveryId);
      forgotten.push(gone);
      st.add('carriers.forgotten', gone);
    });
    pending = pending.filter((d) => d.bookingId !== b.bookingId);
    return json(200, { bookingId: b.bookingId, carrier: b.carrier, forgotten: true, forgottenAt: gone.forgottenAt });
  });

  control.get('/labels/:bookingId', (c) => {
    const b = bookings.get(c.req.param('bookingId'));
    if (!b) return json(404, { error: 'not_found' });
    return c.text(`${b.carrier.toUpperCase()} LABEL\n${b.trackingNumber}\norder ${b.orderId}\n`);
  });

  control.get('/ledger/carriers', (c) => {
    const orderId = c.req.query('orderId');
    const list = [...bookings.values()].filter((b) => !orderId || b.orderId === orderId);
    const lost = forgotten.filter((b) => !orderId || b.orderId === orderId);
    const ids = new Set([...list, ...lost].map((b) => b.bookingId));
    return json(200, {
      bookings: list.map((b) => ({
        bookingId: b.bookingId,
        carrier: b.carrier,
        kind: b.kind,
        orderId: b.orderId,
        ...(b.shipmentId !== undefined ? { shipmentId: b.shipmentId } : {}),
        ...(b.returnId !== undefined ? { returnId: b.returnId } : {}),
        status: b.status,
        trackingNumber: b.trackingNumber,
        labelUrl: b.labelUrl,
        idempotencyKey: b.idempotencyKey,
        ...(b.weightGrams !== undefined ? { weightGrams: b.weightGrams } : {}),
        ...(b.codMinor > 0 ? { codAmount: fromMinor(b.codMinor) } : {}),
        held: held.has(b.orderId),
        events: b.events,
      })),
      webhooks: orderId ? webhooks.filter((w) => ids.has(w.bookingId)) : webhooks,
      /** Bookings the carrier was made to forget (not in `bookings`: the carrier no longer knows them). */
      forgotten: lost.map((b) => ({
        bookingId: b.bookingId,
        carrier: b.carrier,
        kind: b.kind,
        orderId: b.orderId,
        status: b.status,
        forgottenAt: b.forgottenAt,
      })),
    });
  });

  const clearTimers = (): void => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const b of bookings.values()) b.timer = undefined;
  };

  // After a restart: parcels carry on from where they were, and unsent webhooks go out again.
  for (const b of bookings.values()) schedule(b);
  for (const d of [...outbox.values()]) deliver(d);

  return {
    api,
    control,
    /** Delivers webhooks that waited for an OMS URL. */
    flushPending(): void {
      const ds = pending;
      pending = [];
      for (const d of ds) deliver(d);
    },
    /** Re-arms auto progress after config changes (timers read stepMs when armed). */
    rearm(): void {
      for (const b of bookings.values()) {
        if (b.timer) {
          clearTimeout(b.timer);
          timers.delete(b.timer);
          b.timer = undefined;
        }
        schedule(b);
      }
    },
    reset(): void {
      generation += 1;
      clearTimers();
      bookings.clear();
      trackingNumbers.clear();
      held.clear();
      webhooks = [];
      forgotten = [];
      outbox.clear();
      pending = [];
      retry = { ...DEFAULT_WEBHOOK_RETRY };
      pushing = defaultPushing();
    },
    stop(): void {
      generation += 1;
      clearTimers();
      pending = [];
    },
  };
}
