/**
 * Emulated carriers. `ghn` pushes HMAC-signed webhooks to the OMS (at-least-once: retried with
 * a growing backoff for up to three days, like real carriers, so duplicates happen); `vtp` has
 * no webhooks and must be polled. Bookings move
 * booked → picked_up → in_transit → delivered (→ cod_remitted for cash on delivery) on a
 * timer, or step by step through the /sandbox controls. Webhooks not yet delivered sit in a
 * journaled outbox, so a restarted sandbox sends them again (still signed) and parcels carry on
 * from the status they had. A carrier can be made to forget a booking (its data lost, as when
 * a booking expires unpicked): tracking and cancel then answer 404 and its webhooks stop.
 */
import { createHmac, randomInt } from 'node:crypto';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';
import { DECIMAL_RE, fromMinor, json, newId, nowIso, parseBody, toMinor, toResponse, type SandboxEnv } from './common';
import { readFault } from './faults';
import { mutation } from './idempotency';

/** Carriers the sandbox emulates and whether they push webhooks. */
export const CARRIERS: Record<string, { prefix: string; webhooks: boolean }> = {
  ghn: { prefix: 'GHN', webhooks: true },
  vtp: { prefix: 'VTP', webhooks: false },
};

export const CARRIER_STATUSES = ['booked', 'picked_up', 'in_transit', 'delivered', 'delivery_failed', 'returned_to_sender', 'cancelled', 'cod_remitted'] as const;
export type CarrierStatus = (typeof CARRIER_STATUSES)[number];

/**
 * How a webhook the OMS did not answer 2xx is retried. Real carriers and gateways keep trying for
 * hours to days with a growing delay (Stripe: up to 3 days; Shopify: 8 tries over 4 hours), so an
 * OMS outage of minutes or hours loses nothing. The delay after attempt n is
 * `initialMs × factor^(n−1)`, at most `maxDelayMs`; an event is given up once its next attempt
 * would come later than `giveUpAfterMs` after its first. The first delays are short (100, 200,
 * 400 ms…) so a blip heals at once. Tests tune it with `POST /sandbox/carriers/webhook-retry`.
 */
export interface WebhookRetry { initialMs: number; factor: number; maxDelayMs: number; giveUpAfterMs: number }
export const DEFAULT_WEBHOOK_RETRY: WebhookRetry = { initialMs: 100, factor: 2, maxDelayMs: 3_600_000, giveUpAfterMs: 3 * 86_400_000 };

/** The delay before the next attempt after a failed `attempt`, or undefined when the event is given up. */
export function webhookRetryDelay(r: WebhookRetry, attempt: number, firstAt: number, now: number): number | undefined {
  const delay = Math.min(r.maxDelayMs, Math.round(r.initialMs * r.factor ** (attempt - 1)));
  return now + delay - firstAt > r.giveUpAfterMs ? undefined : delay;
}

/** Hex HMAC-SHA256 of the raw body: what `X-Carrier-Signature` carries. */
export function signCarrierBody(rawBody: string, secret: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

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
  carrier: string;
  bookingId: string;
  eventId: string;
  status: string;
  rawBody: string;
  attempt: number;
  /** When the first attempt was made (epoch ms): the retry schedule gives up counting from it. Absent in deliveries journaled before it existed. */
  firstAt?: number;
}

const money = z.union([z.string().regex(DECIMAL_RE), z.number().min(0)]).transform((v) => (typeof v === 'number' ? Math.round(v * 100) : toMinor(v)));

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
    name: z.string().min(1), phone: z.string().optional(), line1: z.string().min(1), city: z.string().min(1),
    region: z.string().optional(), country: z.string().min(1),
  }),
  weightGrams: z.number().int().positive(),
  codAmount: money.optional(),
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
      case 'booked': return 'picked_up';
      case 'picked_up': return 'in_transit';
      case 'in_transit': return 'delivered';
      case 'delivered': return b.kind === 'shipment' && b.codMinor > 0 && !b.codRemitted ? 'cod_remitted' : undefined;
      // A failed delivery goes back to the sender rather than being retried forever.
      case 'delivery_failed': return 'returned_to_sender';
      default: return undefined;
    }
  };

  const payloadOf = (b: Booking, ev: CarrierEvent) => ({
    eventId: ev.eventId, carrier: b.carrier, bookingId: b.bookingId, trackingNumber: b.trackingNumber, orderId: b.orderId,
    ...(b.shipmentId !== undefined ? { shipmentId: b.shipmentId } : {}),
    ...(b.returnId !== undefined ? { returnId: b.returnId } : {}),
    kind: b.kind, status: ev.status, occurredAt: ev.occurredAt,
    ...(ev.codAmount !== undefined ? { codAmount: ev.codAmount } : {}),
  });

  /** One POST to the OMS; returns the answer's status (null on network error) and body. */
  const post = async (carrier: string, rawBody: string, eventId: string, signature?: string): Promise<{ status: number | null; body: string; error?: string }> => {
    const base = env.omsBaseUrl();
    if (!base) return { status: null, body: '', error: 'omsBaseUrl not set' };
    try {
      const res = await fetch(`${base.replace(/\/$/, '')}/v1/carriers/${carrier}/webhooks`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-Carrier-Signature': signature ?? signCarrierBody(rawBody, env.carrierSecrets[carrier] ?? ''),
          'X-Carrier-Event-Id': eventId,
        },
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
  const deliver = (d: Delivery): void => {
    if (env.stopSignal.aborted) return;
    const b = bookings.get(d.bookingId);
    if (!b) {
      dropDelivery(d.deliveryId);
      return;
    }
    if (!env.omsBaseUrl()) {
      pending.push(d);
      return;
    }
    const gen = generation;
    const firstAt = d.firstAt ?? Date.now();
    const fault = env.faults.take('carriers', 'webhook', { orderId: b.orderId, carrier: d.carrier });
    const sent = fault && fault.action !== 'lose_response'
      ? Promise.resolve({ status: null, body: '', error: `not delivered (fault: ${fault.action})` })
      : post(d.carrier, d.rawBody, d.eventId).then((r) => (fault ? { status: null, body: '', error: `answer lost (fault: lose_response; the OMS answered ${r.status ?? r.error})` } : r));
    void sent.then((r: { status: number | null; body: string; error?: string }) => {
      if (gen !== generation) return;
      const ok = r.status !== null && r.status >= 200 && r.status < 300;
      const delay = ok ? undefined : webhookRetryDelay(retry, d.attempt, firstAt, Date.now());
      const again = delay !== undefined && bookings.has(d.bookingId) ? { ...d, attempt: d.attempt + 1, firstAt } : undefined;
      st.atomic(() => {
        recordAttempt({
          eventId: d.eventId, bookingId: d.bookingId, status: d.status, attempt: d.attempt, responseStatus: r.status,
          ...(r.error !== undefined ? { error: r.error } : {}), at: nowIso(),
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

  const push = (b: Booking, ev: CarrierEvent): void => {
    if (!CARRIERS[b.carrier]?.webhooks) return;
    const d: Delivery = {
      deliveryId: newId('dlv'), carrier: b.carrier, bookingId: b.bookingId, eventId: ev.eventId, status: ev.status,
      rawBody: JSON.stringify(payloadOf(b, ev)), attempt: 1, firstAt: Date.now(),
    };
    outbox.set(d.deliveryId, d);
    st.put('carriers.outbox', d.deliveryId, d);
    deliver(d);
  };

  /** A new parcel event: the booking and the webhook to send are journaled in one write. */
  const emit = (b: Booking, status: CarrierStatus, codAmount?: string): CarrierEvent => st.atomic(() => {
    const ev: CarrierEvent = { eventId: newId('evt'), status, occurredAt: nowIso() };
    if (status === 'cod_remitted') {
      // A test may make the carrier remit the wrong amount (short-paid, like a real reconciliation gap).
      ev.codAmount = codAmount ?? fromMinor(b.codMinor);
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
      bookingId, carrier, kind, status: 'booked', trackingNumber: tracking(carrier),
      labelUrl: `${env.baseUrl()}/sandbox/labels/${bookingId}`, idempotencyKey: key, codMinor: 0, codRemitted: false, events: [],
      ...fields,
    };
    b.events.push({ eventId: newId('evt'), status: 'booked', occurredAt: nowIso() });
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
      scope, service: 'carriers', op: 'book', schema: shipmentSchema,
      match: (c, b) => ({ orderId: b.orderId, carrier: carrierOf(c) }),
      effect: (c, body, meta) => {
        const b = book(c, 'shipment', { orderId: body.orderId, shipmentId: body.shipmentId, weightGrams: body.weightGrams, codMinor: body.codAmount ?? 0 }, meta.idempotencyKey);
        return { status: 201, body: { bookingId: b.bookingId, carrier: b.carrier, trackingNumber: b.trackingNumber, labelUrl: b.labelUrl, status: 'booked' } };
      },
    }),
  );

  api.post(
    '/:carrier/v1/returns',
    mutation(env, {
      scope, service: 'carriers', op: 'return', schema: returnSchema,
      match: (c, b) => ({ orderId: b.orderId, carrier: carrierOf(c) }),
      effect: (c, body, meta) => {
        const b = book(c, 'return', { orderId: body.orderId, returnId: body.returnId }, meta.idempotencyKey);
        return { status: 201, body: { bookingId: b.bookingId, carrier: b.carrier, trackingNumber: b.trackingNumber, labelUrl: b.labelUrl, status: 'booked' } };
      },
    }),
  );

  api.post(
    '/:carrier/v1/shipments/:bookingId/cancel',
    mutation(env, {
      scope, service: 'carriers', op: 'cancel', schema: z.object({}),
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

  control.post('/carriers/webhooks/send', async (c) => {
    const p = await parseBody(c.req.raw, z.object({ carrier: z.string().min(1), event: z.record(z.string(), z.unknown()), signature: z.string().optional() }));
    if (!p.ok) return p.response;
    const { carrier, event, signature } = p.value;
    if (env.carrierSecrets[carrier] === undefined) return json(404, { error: 'not_found', detail: 'no secret for carrier' });
    const rawBody = JSON.stringify(event);
    const eventId = typeof event.eventId === 'string' ? event.eventId : '';
    const r = await post(carrier, rawBody, eventId, signature);
    recordAttempt({
      eventId, bookingId: typeof event.bookingId === 'string' ? event.bookingId : '', status: typeof event.status === 'string' ? event.status : '',
      attempt: 1, responseStatus: r.status, ...(r.error !== undefined ? { error: r.error } : {}), at: nowIso(),
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
    if (!CARRIERS[b.carrier]?.webhooks) return json(409, { error: 'carrier_has_no_webhooks' });
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
        bookingId: b.bookingId, carrier: b.carrier, kind: b.kind, orderId: b.orderId,
        ...(b.shipmentId !== undefined ? { shipmentId: b.shipmentId } : {}),
        ...(b.returnId !== undefined ? { returnId: b.returnId } : {}),
        status: b.status, trackingNumber: b.trackingNumber, labelUrl: b.labelUrl, idempotencyKey: b.idempotencyKey,
        ...(b.weightGrams !== undefined ? { weightGrams: b.weightGrams } : {}),
        ...(b.codMinor > 0 ? { codAmount: fromMinor(b.codMinor) } : {}),
        held: held.has(b.orderId), events: b.events,
      })),
      webhooks: orderId ? webhooks.filter((w) => ids.has(w.bookingId)) : webhooks,
      /** Bookings the carrier was made to forget (not in `bookings`: the carrier no longer knows them). */
      forgotten: lost.map((b) => ({ bookingId: b.bookingId, carrier: b.carrier, kind: b.kind, orderId: b.orderId, status: b.status, forgottenAt: b.forgottenAt })),
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
    },
    stop(): void {
      generation += 1;
      clearTimers();
      pending = [];
    },
  };
}
