/**
 * Emulated payment gateway: authorize, capture (partial or full), void (all of the uncaptured
 * rest, or a partial reversal of part of it) and refund, with declines and a ledger of every real
 * effect so tests can prove "charged exactly once". Authorisations expire like real ones (default
 * after 7 days): the uncaptured rest is released and capture answers 409 authorization_expired.
 * Like a real gateway it charges only what a currency can carry: the currencies without a minor
 * unit (VND, JPY, KRW, …: amounts are whole units there) refuse a fraction with 400
 * `invalid_amount`, nothing done.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { DECIMAL_RE, fromMinor, json, newId, nowIso, toMinor, type SandboxEnv } from './common';
import { mutation } from './idempotency';

/** How long an authorisation holds funds unless configured otherwise. */
export const DEFAULT_AUTHORIZATION_TTL_MS = 7 * 24 * 3600 * 1000;

const amount = z
  .string()
  .regex(DECIMAL_RE, 'amount must be a decimal string with at most 2 places')
  .refine((s) => toMinor(s) > 0, 'amount must be > 0');

const authorizeSchema = z.object({
  orderId: z.string().min(1),
  amount,
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/, 'currency must be 3 letters')
    .transform((s) => s.toUpperCase()),
  paymentToken: z.string().startsWith('tok_', 'paymentToken must start with tok_'),
});
const captureSchema = z.object({ amount: amount.optional() });
/** With `amount`: a partial reversal (as Adyen's and Stripe's authorisation adjustments): that much of the uncaptured rest is released, the rest stays capturable. */
const voidSchema = z.object({ amount: amount.optional() });
const refundSchema = z.object({ amount });

interface Authorization {
  authorizationId: string;
  orderId: string;
  amountMinor: number;
  currency: string;
  capturedMinor: number;
  /** Released by partial reversals so far; absent in authorisations stored before they existed. */
  releasedMinor?: number;
  /** What the (full) void released; absent in authorisations voided before it was kept. */
  voidedMinor?: number;
  status: 'authorized' | 'voided' | 'expired';
  expiresAt: string;
}

/** What the authorisation still holds: neither captured nor released. */
const heldMinor = (a: Authorization): number => a.amountMinor - a.capturedMinor - (a.releasedMinor ?? 0);
interface Capture {
  captureId: string;
  authorizationId: string;
  orderId: string;
  amountMinor: number;
  currency: string;
  refundedMinor: number;
}
/** One row per real effect; replays never add rows. */
export interface PaymentLedgerEntry {
  /**
   * `expire`: the gateway noticed an authorisation past its expiry and released its uncaptured rest.
   * `void`: money released on request; `partial` for a partial reversal (an amount was given).
   */
  type: 'authorize' | 'decline' | 'capture' | 'void' | 'refund' | 'expire';
  id: string;
  orderId: string;
  authorizationId?: string;
  captureId?: string;
  amount: string;
  currency: string;
  idempotencyKey: string;
  at: string;
  declineCode?: string;
  partial?: boolean;
}

const notFound = { status: 404, body: { error: 'not_found' } };

/** ISO 4217 currencies with no minor unit, as card gateways list them ("zero-decimal currencies"). */
const ZERO_DECIMAL = new Set([
  'BIF',
  'CLP',
  'DJF',
  'GNF',
  'ISK',
  'JPY',
  'KMF',
  'KRW',
  'MGA',
  'PYG',
  'RWF',
  'UGX',
  'VND',
  'VUV',
  'XAF',
  'XOF',
  'XPF',
]);

/** A refusal of an amount the currency cannot carry (a fraction of a đồng), or nothing. */
function uncarriable(minor: number, currency: string) {
  if (!ZERO_DECIMAL.has(currency) || minor % 100 === 0) return undefined;
  return {
    status: 400,
    body: { error: 'invalid_amount', message: `${currency} has no minor unit: ${fromMinor(minor)} ${currency} cannot be charged` },
  };
}

/** Builds the payments API (`/payments/v1`), its ledger and expiry controls over the stored state. */
export function createPayments(env: SandboxEnv) {
  const auths = env.state.map<Authorization>('payments.auth');
  const captures = env.state.map<Capture>('payments.capture');
  let ledger = env.state.list<PaymentLedgerEntry>('payments.ledger');
  const scope = () => 'payments';
  const saveAuth = (a: Authorization) => env.state.put('payments.auth', a.authorizationId, a);
  const saveCapture = (cap: Capture) => env.state.put('payments.capture', cap.captureId, cap);
  const record = (e: PaymentLedgerEntry) => {
    ledger.push(e);
    env.state.add('payments.ledger', e);
  };

  /**
   * Expiry is noticed lazily, when the authorisation is next touched or the ledger is read: the
   * uncaptured rest is released once, with one `expire` ledger row. A fully captured one has
   * nothing left to release and stays as it is.
   */
  const noticeExpiry = (a: Authorization, now = Date.now()): void => {
    if (a.status !== 'authorized' || heldMinor(a) <= 0 || Date.parse(a.expiresAt) > now) return;
    env.state.atomic(() => {
      const held = heldMinor(a);
      a.status = 'expired';
      saveAuth(a);
      record({
        type: 'expire',
        id: newId('exp'),
        orderId: a.orderId,
        authorizationId: a.authorizationId,
        amount: fromMinor(held),
        currency: a.currency,
        idempotencyKey: '',
        at: nowIso(),
      });
    });
  };
  const findAuth = (id: string | undefined): Authorization | undefined => {
    const a = auths.get(id ?? '');
    if (a) noticeExpiry(a);
    return a;
  };

  const api = new Hono();

  api.post(
    '/authorizations',
    mutation(env, {
      scope,
      service: 'payments',
      op: 'authorize',
      schema: authorizeSchema,
      match: (_c, b) => ({ orderId: b.orderId }),
      effect: (_c, b, meta) => {
        const refused = uncarriable(toMinor(b.amount), b.currency);
        if (refused) return refused;
        const forced = meta.declineCode;
        const code =
          forced ??
          (b.paymentToken.startsWith('tok_decline_') ? b.paymentToken.slice('tok_decline_'.length) || 'generic_decline' : undefined);
        const base = {
          orderId: b.orderId,
          amount: fromMinor(toMinor(b.amount)),
          currency: b.currency,
          idempotencyKey: meta.idempotencyKey,
          at: nowIso(),
        };
        if (code !== undefined) {
          record({ type: 'decline', id: newId('dcl'), ...base, declineCode: code });
          return { status: 402, body: { error: 'card_declined', declineCode: code, message: `The card was declined (${code}).` } };
        }
        const a: Authorization = {
          authorizationId: newId('auth'),
          orderId: b.orderId,
          amountMinor: toMinor(b.amount),
          currency: b.currency,
          capturedMinor: 0,
          status: 'authorized',
          expiresAt: new Date(Date.now() + env.config.authorizationTtlMs).toISOString(),
        };
        auths.set(a.authorizationId, a);
        saveAuth(a);
        record({ type: 'authorize', id: a.authorizationId, authorizationId: a.authorizationId, ...base });
        return {
          status: 201,
          body: {
            authorizationId: a.authorizationId,
            status: 'authorized',
            amount: fromMinor(a.amountMinor),
            currency: a.currency,
            expiresAt: a.expiresAt,
          },
        };
      },
    }),
  );

  api.post(
    '/authorizations/:id/capture',
    mutation(env, {
      scope,
      service: 'payments',
      op: 'capture',
      schema: captureSchema,
      match: (c) => ({ orderId: auths.get(c.req.param('id') ?? '')?.orderId }),
      effect: (c, b, meta) => {
        const a = findAuth(c.req.param('id'));
        if (!a) return notFound;
        if (a.status === 'voided') return { status: 409, body: { error: 'authorization_voided' } };
        if (a.status === 'expired') return { status: 409, body: { error: 'authorization_expired', expiredAt: a.expiresAt } };
        const remaining = heldMinor(a);
        const want = b.amount !== undefined ? toMinor(b.amount) : remaining;
        const refused = uncarriable(want, a.currency);
        if (refused) return refused;
        if (want <= 0 || want > remaining)
          return { status: 409, body: { error: 'amount_exceeds_authorization', remaining: fromMinor(remaining) } };
        a.capturedMinor += want;
        const cap: Capture = {
          captureId: newId('cap'),
          authorizationId: a.authorizationId,
          orderId: a.orderId,
          amountMinor: want,
          currency: a.currency,
          refundedMinor: 0,
        };
        captures.set(cap.captureId, cap);
        saveAuth(a);
        saveCapture(cap);
        record({
          type: 'capture',
          id: cap.captureId,
          orderId: a.orderId,
          authorizationId: a.authorizationId,
          captureId: cap.captureId,
          amount: fromMinor(want),
          currency: a.currency,
          idempotencyKey: meta.idempotencyKey,
          at: nowIso(),
        });
        return {
          status: 201,
          body: { captureId: cap.captureId, authorizationId: a.authorizationId, amount: fromMinor(want), currency: a.currency },
        };
      },
    }),
  );

  api.post(
    '/authorizations/:id/void',
    mutation(env, {
      scope,
      service: 'payments',
      op: 'void',
      schema: voidSchema,
      match: (c) => ({ orderId: auths.get(c.req.param('id') ?? '')?.orderId }),
      effect: (c, b, meta) => {
        const a = findAuth(c.req.param('id'));
        if (!a) return notFound;
        // The hold already lapsed: nothing is left to release, and saying so is not an error.
        if (a.status === 'expired')
          return { status: 200, body: { authorizationId: a.authorizationId, status: 'expired', released: '0.00' } };
        const release = (minor: number, partial: boolean) =>
          record({
            type: 'void',
            id: newId('void'),
            orderId: a.orderId,
            authorizationId: a.authorizationId,
            amount: fromMinor(minor),
            currency: a.currency,
            idempotencyKey: meta.idempotencyKey,
            at: nowIso(),
            ...(partial ? { partial: true } : {}),
          });
        if (b.amount !== undefined) {
          const refused = uncarriable(toMinor(b.amount), a.currency);
          if (refused) return refused;
          // A partial reversal releases what was asked, never more than is still held (nothing,
          // once the rest was voided); what it leaves stays capturable.
          const minor = Math.min(toMinor(b.amount), a.status === 'voided' ? 0 : Math.max(0, heldMinor(a)));
          if (minor > 0) {
            a.releasedMinor = (a.releasedMinor ?? 0) + minor;
            saveAuth(a);
            release(minor, true);
          }
          return {
            status: 200,
            body: {
              authorizationId: a.authorizationId,
              status: a.status,
              released: fromMinor(minor),
              held: fromMinor(a.status === 'authorized' ? heldMinor(a) : 0),
            },
          };
        }
        // Nothing left to release once everything was captured. After a partial capture (or a
        // partial reversal), a void releases the rest (as gateways do when the rest will never ship).
        if (a.status !== 'voided' && a.capturedMinor >= a.amountMinor) return { status: 409, body: { error: 'already_captured' } };
        // Voiding twice is harmless at real gateways too: same answer, no second ledger row.
        if (a.status !== 'voided') {
          const held = Math.max(0, heldMinor(a));
          a.status = 'voided';
          a.voidedMinor = held;
          saveAuth(a);
          if (held > 0) release(held, false);
        }
        return {
          status: 200,
          body: { authorizationId: a.authorizationId, status: 'voided', released: fromMinor(a.voidedMinor ?? heldMinor(a)) },
        };
      },
    }),
  );

  api.post(
    '/captures/:id/refunds',
    mutation(env, {
      scope,
      service: 'payments',
      op: 'refund',
      schema: refundSchema,
      match: (c) => ({ orderId: captures.get(c.req.param('id') ?? '')?.orderId }),
      effect: (c, b, meta) => {
        const cap = captures.get(c.req.param('id') ?? '');
        if (!cap) return notFound;
        const want = toMinor(b.amount);
        const refused = uncarriable(want, cap.currency);
        if (refused) return refused;
        if (cap.refundedMinor + want > cap.amountMinor) {
          return { status: 409, body: { error: 'refund_exceeds_capture', refundable: fromMinor(cap.amountMinor - cap.refundedMinor) } };
        }
        cap.refundedMinor += want;
        saveCapture(cap);
        const refundId = newId('re');
        record({
          type: 'refund',
          id: refundId,
          orderId: cap.orderId,
          authorizationId: cap.authorizationId,
          captureId: cap.captureId,
          amount: fromMinor(want),
          currency: cap.currency,
          idempotencyKey: meta.idempotencyKey,
          at: nowIso(),
        });
        return { status: 201, body: { refundId, captureId: cap.captureId, amount: fromMinor(want), currency: cap.currency } };
      },
    }),
  );

  const control = new Hono();
  /** `/sandbox/ledger/payments?orderId=`: every real money movement, in order (expiries noticed first). */
  control.get('/ledger/payments', (c) => {
    const orderId = c.req.query('orderId');
    const now = Date.now();
    for (const a of auths.values()) if (!orderId || a.orderId === orderId) noticeExpiry(a, now);
    return json(200, { entries: orderId ? ledger.filter((e) => e.orderId === orderId) : ledger });
  });

  /** Expires one authorisation now, as if its time had run out. */
  control.post('/payments/authorizations/:id/expire', (c) => {
    const a = auths.get(c.req.param('id'));
    if (!a) return json(404, { error: 'not_found' });
    const now = Date.now();
    if (a.status === 'authorized' && Date.parse(a.expiresAt) > now) {
      a.expiresAt = new Date(now).toISOString();
      saveAuth(a);
    }
    noticeExpiry(a, now);
    return json(200, { authorizationId: a.authorizationId, status: a.status, expiresAt: a.expiresAt });
  });

  return {
    api,
    control,
    reset(): void {
      auths.clear();
      captures.clear();
      ledger = [];
    },
  };
}
