/**
 * GHN (Giao Hàng Nhanh). GHN POSTs one flat JSON object per order change, PascalCase, with no
 * signature and no event id (test/fixtures/carriers/ghn/README.md):
 *
 * - authenticated by a secret we put in the callback URL we give GHN (`?token=<secret>`);
 * - `OrderCode` is GHN's code for the parcel, the tracking number of our booking; `ClientOrderCode`
 *   echoes our shipment or return id when we sent it at booking ("" otherwise);
 * - `Type` (create, switch_status, update_weight, update_cod, update_fee; any case) says what
 *   changed; `Status` is the order's status at that moment; `Time` when it changed;
 * - `CODAmount` is whole VND; `CODTransferDate` stays null until GHN has paid the cash over;
 * - duplicates are recognised by OrderCode + Type + Status + Time.
 */
import { z } from '@hono/zod-openapi';
import {
  caseless,
  codeText,
  eventIdOf,
  exactAmount,
  kindOf,
  looseText,
  readOptional,
  secretMatches,
  unstorable,
  zodIssues,
} from './common';
import type { CarrierAdapter, CarrierWebhook, FieldIssue, Parsed, PayloadNote, TrackingEvent, TrackingStatus } from './types';

/**
 * GHN's statuses → the tracking vocabulary; null: known, acknowledged without effect. Before the
 * pickup nothing moves (the booking is already `booked`); hub and last-mile steps are `in_transit`;
 * a failed attempt and everything on the way back are `delivery_failed` until the parcel is back
 * (`returned_to_sender`). Lost, damaged and exception states move nothing: the deliver-by SLA
 * escalates a parcel that stops moving, and the note is logged for ops.
 */
export const GHN_STATUSES: Record<string, TrackingStatus | null> = {
  ready_to_pick: null,
  picking: null,
  money_collect_picking: null,
  picked: 'picked_up',
  storing: 'in_transit',
  transporting: 'in_transit',
  sorting: 'in_transit',
  delivering: 'in_transit',
  money_collect_delivering: 'in_transit',
  delivered: 'delivered',
  delivery_fail: 'delivery_failed',
  waiting_to_return: 'delivery_failed',
  return: 'delivery_failed',
  return_transporting: 'delivery_failed',
  return_sorting: 'delivery_failed',
  returning: 'delivery_failed',
  return_fail: null,
  returned: 'returned_to_sender',
  cancel: 'cancelled',
  exception: null,
  lost: null,
  damage: null,
};

/** Webhook types whose `Status` is news (a status change); the others report other changes. */
const STATUS_TYPES = new Set(['create', 'switch_status']);
const OTHER_TYPES = new Set(['update_weight', 'update_cod', 'update_fee']);

/** The id of a status event: OrderCode + Type + Status + Time, as GHN sent them (type and status lower-cased). */
export function ghnEventId(orderCode: string, type: string, status: string, time: string): string {
  return eventIdOf('ghn', [orderCode, type.toLowerCase(), status.toLowerCase(), time]);
}

/** The id of a COD transfer: one per order and transfer date, whatever webhook reported it. */
export function ghnCodTransferEventId(orderCode: string, transferDate: string): string {
  return eventIdOf('ghn', [orderCode, 'cod_transfer', transferDate]);
}

const MAX_CODE = 64;
const MAX_STATUS = 100;

/** Reads a time GHN sent (ISO 8601, UTC); undefined when it is not one. */
function isoTime(value: unknown): string | undefined {
  if (typeof value !== 'string' || unstorable(value)) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** Text as sent, when it can be stored (used in ids and kept as is). */
const plainText = (value: unknown): string | undefined => (typeof value === 'string' && !unstorable(value) ? value.trim() : undefined);

export function parseGhnWebhook(body: unknown, now = () => new Date().toISOString()): Parsed<CarrierWebhook> {
  const get = caseless(body);
  if (!get) return { ok: false, issues: [{ path: '(root)', message: 'expected a JSON object: a GHN webhook' }] };
  const issues: FieldIssue[] = [];
  const notes: PayloadNote[] = [];

  const rawCode = get('OrderCode');
  const trackingCode = codeText(rawCode);
  if (trackingCode === undefined) {
    issues.push({
      path: 'OrderCode',
      message:
        rawCode === undefined || rawCode === null || rawCode === ''
          ? 'required: the GHN order code of the parcel'
          : `expected the GHN order code as text, got ${kindOf(rawCode)}`,
    });
  } else if (trackingCode.length > MAX_CODE || unstorable(trackingCode)) {
    issues.push({ path: 'OrderCode', message: `not a GHN order code (at most ${MAX_CODE} characters of text)` });
  }
  const rawStatus = get('Status');
  const status = typeof rawStatus === 'string' ? rawStatus.trim().toLowerCase() : undefined;
  if (!status) {
    issues.push({
      path: 'Status',
      message:
        rawStatus === undefined || rawStatus === null || rawStatus === ''
          ? 'required: the GHN status of the order'
          : `expected the GHN status as text, got ${kindOf(rawStatus)}`,
    });
  } else if (status.length > MAX_STATUS || unstorable(status)) {
    issues.push({ path: 'Status', message: `not a GHN status (at most ${MAX_STATUS} characters of text)` });
  }
  if (issues.length || !trackingCode || !status) return { ok: false, issues };

  const missing = (v: unknown) => v === undefined || v === null || v === '';
  const rawType = get('Type');
  if (missing(rawType)) notes.push({ path: 'Type', value: kindOf(rawType), note: 'missing: taken as a status change' });
  const type =
    readOptional(notes, 'Type', rawType, (v) => plainText(v)?.toLowerCase() || undefined, 'unreadable: taken as a status change') ??
    'switch_status';
  const rawTime = get('Time');
  if (missing(rawTime)) notes.push({ path: 'Time', value: kindOf(rawTime), note: 'missing: the received time is used' });
  const timeText = plainText(rawTime) ?? '';
  const occurredAt = readOptional(notes, 'Time', rawTime, isoTime, 'not an ISO time: the received time is used') ?? now();
  const codAmount = readOptional(notes, 'CODAmount', get('CODAmount'), exactAmount, 'not an amount: ignored');
  const reference = readOptional(
    notes,
    'ClientOrderCode',
    get('ClientOrderCode'),
    (v) => {
      const t = codeText(v);
      return t && !unstorable(t) && t.length <= 200 ? t : undefined;
    },
    'not a reference: ignored',
  );
  const reasonCode = looseText(get('ReasonCode'), 64);
  const reasonText = looseText(get('Reason'));
  const reason = [reasonCode, reasonText].filter((x): x is string => x !== undefined && !unstorable(x)).join(': ') || undefined;

  const events: TrackingEvent[] = [];
  const base = { occurredAt, ...(codAmount !== undefined ? { codAmount } : {}), ...(reason ? { reason } : {}) };
  const eventId = ghnEventId(trackingCode, type, status, timeText);
  if (STATUS_TYPES.has(type)) {
    const mapped = GHN_STATUSES[status];
    if (mapped === undefined)
      notes.push({ path: 'Status', value: status, note: 'not a GHN status the OMS knows: acknowledged without effect' });
    events.push({
      eventId,
      nativeStatus: type === 'switch_status' ? status : `${type}:${status}`,
      status: mapped ?? null,
      ...(mapped ? {} : { noEffect: mapped === null ? ('known' as const) : ('unknown' as const) }),
      ...base,
    });
  } else {
    const known = OTHER_TYPES.has(type);
    if (!known) notes.push({ path: 'Type', value: type, note: 'not a GHN webhook type the OMS knows: acknowledged without effect' });
    events.push({ eventId, nativeStatus: `${type}:${status}`, status: null, noEffect: known ? 'known' : 'unknown', ...base });
  }

  // GHN has paid the cash over: any webhook that carries the transfer date reports it (once per date).
  const rawTransfer = get('CODTransferDate');
  const transferText = plainText(rawTransfer);
  if (rawTransfer !== undefined && rawTransfer !== null && rawTransfer !== '') {
    const transferredAt = isoTime(rawTransfer);
    if (!transferText || !transferredAt)
      notes.push({
        path: 'CODTransferDate',
        value: kindOf(rawTransfer),
        note: 'not an ISO time: taken as a transfer at the received time',
      });
    if (codAmount === undefined || codAmount === '0.00') {
      notes.push({
        path: 'CODAmount',
        value: codAmount ?? kindOf(get('CODAmount')),
        note: 'a COD transfer date without an amount to transfer: not applied',
      });
    } else {
      events.push({
        eventId: ghnCodTransferEventId(
          trackingCode,
          transferText ?? (typeof rawTransfer === 'number' ? String(rawTransfer) : JSON.stringify(rawTransfer)),
        ),
        nativeStatus: 'cod_transfer',
        status: 'cod_remitted',
        occurredAt: transferredAt ?? now(),
        codAmount,
      });
    }
  }
  return { ok: true, value: { trackingCode, ...(reference ? { reference } : {}), events, notes } };
}

const nullableText = z.string().nullable().optional();

/** A delivered webhook in GHN's shape (from test/fixtures/carriers/ghn, with our values), for the docs. */
export const GHN_WEBHOOK_EXAMPLE = {
  CODAmount: 3000000,
  CODTransferDate: null,
  ClientOrderCode: 'order-web-10001-shipment-1',
  Description: 'Tạo đơn hàng',
  OrderCode: 'GHN0123456789',
  PaymentType: 1,
  Reason: '',
  ReasonCode: '',
  ShopID: 81558,
  Status: 'delivered',
  Time: '2026-11-22T04:02:58.774Z',
  TotalFee: 71400,
  Type: 'switch_status',
  Weight: 10,
};

/** The webhook body as GHN documents it (more fields come along: Fee, Weight, Warehouse…; all accepted). */
export const GhnWebhookSchema = z
  .object({
    OrderCode: z.string().openapi({ description: "GHN's code for the parcel: the tracking number of our booking." }),
    ClientOrderCode: nullableText.openapi({ description: 'Our shipment or return id, echoed when we sent it at booking; "" otherwise.' }),
    Status: z
      .string()
      .openapi({ description: `The order's GHN status: ${Object.keys(GHN_STATUSES).join(', ')}. Others are acknowledged without effect.` }),
    Type: nullableText.openapi({ description: 'What changed: create, switch_status, update_weight, update_cod or update_fee (any case).' }),
    Time: nullableText.openapi({ description: 'When, ISO 8601 UTC.' }),
    CODAmount: z.number().nullable().optional().openapi({ description: 'Cash to collect, whole VND.' }),
    CODTransferDate: nullableText.openapi({ description: 'When GHN paid the cash over; null until then.' }),
    Reason: nullableText,
    ReasonCode: nullableText,
    ShopID: z.number().nullable().optional(),
  })
  .loose()
  .openapi('GhnWebhook', {
    description: 'ghn: one order change. Authenticated by `?token=<secret>` in the callback URL registered with GHN.',
    example: GHN_WEBHOOK_EXAMPLE,
  });

/*
 * Answers of GHN's own API (shiip/public-api/v2), the `data` of `{code, message, data}`: what a
 * booking, tracking or cancel activity calling GHN directly takes from them. The OMS books through
 * the sandbox's carrier API today; these readers are held to GHN's published answers
 * (test/fixtures/carriers/ghn) so a direct integration starts from a tested mapping.
 */
const ghnCode = z.string().trim().min(1).max(MAX_CODE);
const ghnAmount = z.unknown().transform((v, ctx) => {
  const a = exactAmount(v);
  if (a === undefined) ctx.addIssue({ code: 'custom', message: 'expected an amount in whole VND' });
  return a ?? '0.00';
});

/** `shipping-order/create`: the order code GHN gave the parcel (our tracking number), its fee and promised date. */
export function readGhnCreateOrderAnswer(data: unknown): Parsed<{ trackingNumber: string; totalFee: string; expectedDeliveryAt?: string }> {
  const r = z.object({ order_code: ghnCode, total_fee: ghnAmount, expected_delivery_time: z.string().nullish() }).loose().safeParse(data);
  if (!r.success) return { ok: false, issues: zodIssues(r.error) };
  const at = r.data.expected_delivery_time ? Date.parse(r.data.expected_delivery_time) : Number.NaN;
  return {
    ok: true,
    value: {
      trackingNumber: r.data.order_code,
      totalFee: r.data.total_fee,
      ...(Number.isNaN(at) ? {} : { expectedDeliveryAt: new Date(at).toISOString() }),
    },
  };
}

/** `shipping-order/detail`: where the parcel is, in the tracking vocabulary, with its COD and our reference. */
export function readGhnOrderDetail(data: unknown): Parsed<{
  trackingCode: string;
  reference?: string;
  nativeStatus: string;
  status: TrackingStatus | null | undefined;
  codAmount: string;
  updatedAt?: string;
}> {
  const r = z
    .object({
      order_code: ghnCode,
      status: z.string().trim().min(1),
      cod_amount: ghnAmount,
      client_order_code: z.string().nullish(),
      updated_date: z.string().nullish(),
    })
    .loose()
    .safeParse(data);
  if (!r.success) return { ok: false, issues: zodIssues(r.error) };
  const d = r.data;
  const nativeStatus = d.status.toLowerCase();
  const updated = d.updated_date ? Date.parse(d.updated_date) : Number.NaN;
  return {
    ok: true,
    value: {
      trackingCode: d.order_code,
      ...(d.client_order_code ? { reference: d.client_order_code } : {}),
      nativeStatus,
      status: GHN_STATUSES[nativeStatus],
      codAmount: d.cod_amount,
      ...(Number.isNaN(updated) ? {} : { updatedAt: new Date(updated).toISOString() }),
    },
  };
}

/** `switch-status/cancel`: per order code, whether GHN cancelled it. */
export function readGhnCancelAnswer(data: unknown): Parsed<{ trackingCode: string; cancelled: boolean; message?: string }[]> {
  const r = z.array(z.object({ order_code: ghnCode, result: z.boolean(), message: z.string().nullish() }).loose()).safeParse(data);
  if (!r.success) return { ok: false, issues: zodIssues(r.error) };
  return {
    ok: true,
    value: r.data.map((x) => ({ trackingCode: x.order_code, cancelled: x.result, ...(x.message ? { message: x.message } : {}) })),
  };
}

export const ghnAdapter: CarrierAdapter = {
  carrier: 'ghn',
  auth: {
    in: 'query',
    name: 'token',
    scheme: 'the carrier secret, in the callback URL given to GHN (…/v1/carriers/ghn/webhooks?token=<secret>)',
  },
  // GHN retries 10 times, 5 s apart: an event that raced the booking's answer gets another chance.
  unknownParcel: 'retry',
  authenticate: (req, secret) => secretMatches(req.query('token'), secret),
  parseWebhook: (body) => parseGhnWebhook(body),
  statusOf: (nativeStatus) => GHN_STATUSES[nativeStatus.trim().toLowerCase()],
  schema: GhnWebhookSchema,
};
