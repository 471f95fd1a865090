/**
 * Viettel Post (VTP). VTP POSTs `{"DATA": {…}, "TOKEN": "…"}` per journey step, with the secret
 * configured on its webhook page in the `Authorization` header (no HMAC); see
 * test/fixtures/carriers/vtp/README.md:
 *
 * - `ORDER_NUMBER` is VTP's code for the parcel (our booking's tracking number), `ORDER_REFERENCE`
 *   echoes our shipment or return id;
 * - `ORDER_STATUS` is a number from VTP's status table, `ORDER_STATUSDATE` is
 *   "dd/MM/yyyy HH:mm:ss" in Vietnam time (UTC+7, no zone given), `MONEY_COLLECTION` whole VND;
 * - journeys arrive duplicated, out of order and after final statuses, and VTP's go-live
 *   checklist wants all of them — unknown orders too — answered 200 and logged.
 *
 * The OMS also polls VTP (it is not a push carrier for the shipment workflow): a webhook only
 * makes a step known sooner, deduplicated against the poll by the derived event id.
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
import type { CarrierAdapter, CarrierWebhook, FieldIssue, Parsed, PayloadNote, TrackingStatus } from './types';

/**
 * VTP's status codes → the tracking vocabulary; null: known, acknowledged without effect. The
 * pickup is 105 (courier has it) or 200 (taken in at the origin office); 300/400/509 move between
 * offices, 500 is out for delivery, 508/550 deliver again; 505/506/507 are failed attempts, 502 and
 * 515 the way back, 504 back with the sender. 101/107/201/503 end a booking that never travelled.
 */
export const VTP_STATUSES: Record<number, TrackingStatus | null> = {
  101: 'cancelled',
  102: null,
  103: null,
  104: null,
  105: 'picked_up',
  107: 'cancelled',
  200: 'picked_up',
  201: 'cancelled',
  202: null,
  300: 'in_transit',
  400: 'in_transit',
  500: 'in_transit',
  501: 'delivered',
  502: 'delivery_failed',
  503: 'cancelled',
  504: 'returned_to_sender',
  505: 'delivery_failed',
  506: 'delivery_failed',
  507: 'delivery_failed',
  508: 'in_transit',
  509: 'in_transit',
  515: 'delivery_failed',
  550: 'in_transit',
};

/** Vietnam keeps UTC+7 all year. */
const VN_OFFSET_MS = 7 * 3_600_000;

/** "dd/MM/yyyy HH:mm:ss" (Vietnam time) → ISO 8601 UTC; undefined when it is not such a time. */
export function vtpTimeToIso(text: string): string | undefined {
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!m) return undefined;
  const [d, mo, y, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(utc);
  // 31/02 or 25:00 are not times.
  if (back.getUTCDate() !== d || back.getUTCMonth() !== mo - 1 || back.getUTCHours() !== h || mi > 59 || s > 59) return undefined;
  return new Date(utc - VN_OFFSET_MS).toISOString();
}

/** An instant as VTP writes it: "dd/MM/yyyy HH:mm:ss" in Vietnam time. */
export function isoToVtpTime(iso: string): string {
  const t = new Date(Date.parse(iso) + VN_OFFSET_MS);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(t.getUTCDate())}/${p(t.getUTCMonth() + 1)}/${t.getUTCFullYear()} ${p(t.getUTCHours())}:${p(t.getUTCMinutes())}:${p(t.getUTCSeconds())}`;
}

/** The id of a journey step: ORDER_NUMBER + ORDER_STATUS + ORDER_STATUSDATE, as VTP sent them. */
export function vtpEventId(orderNumber: string, status: string, statusDate: string): string {
  return eventIdOf('vtp', [orderNumber, status, statusDate]);
}

const MAX_CODE = 64;
const MAX_STATUS = 100;

export function parseVtpWebhook(body: unknown, now = () => new Date().toISOString()): Parsed<CarrierWebhook> {
  const top = caseless(body);
  if (!top)
    return {
      ok: false,
      issues: [{ path: '(root)', message: 'expected a JSON object: a Viettel Post webhook ({"DATA": {…}, "TOKEN": …})' }],
    };
  const get = caseless(top('DATA'));
  if (!get)
    return { ok: false, issues: [{ path: 'DATA', message: `required: the journey step as an object, got ${kindOf(top('DATA'))}` }] };
  const issues: FieldIssue[] = [];
  const notes: PayloadNote[] = [];

  const rawNumber = get('ORDER_NUMBER');
  const trackingCode = codeText(rawNumber);
  if (trackingCode === undefined) {
    issues.push({
      path: 'DATA.ORDER_NUMBER',
      message:
        rawNumber === undefined || rawNumber === null || rawNumber === ''
          ? 'required: the VTP order number of the parcel'
          : `expected the VTP order number as text, got ${kindOf(rawNumber)}${typeof rawNumber === 'number' ? ' too large to read exactly' : ''}`,
    });
  } else if (trackingCode.length > MAX_CODE || unstorable(trackingCode)) {
    issues.push({ path: 'DATA.ORDER_NUMBER', message: `not a VTP order number (at most ${MAX_CODE} characters of text)` });
  }
  const rawStatus = get('ORDER_STATUS');
  // A number, or its digits as text; any other text is kept as a status the OMS does not know.
  const nativeStatus =
    typeof rawStatus === 'number' && Number.isSafeInteger(rawStatus)
      ? String(rawStatus)
      : typeof rawStatus === 'string' && rawStatus.trim()
        ? rawStatus.trim()
        : undefined;
  if (nativeStatus === undefined) {
    issues.push({
      path: 'DATA.ORDER_STATUS',
      message:
        rawStatus === undefined || rawStatus === null || rawStatus === ''
          ? 'required: the VTP status code'
          : `expected the VTP status code, got ${kindOf(rawStatus)}`,
    });
  } else if (nativeStatus.length > MAX_STATUS || unstorable(nativeStatus)) {
    issues.push({ path: 'DATA.ORDER_STATUS', message: `not a VTP status code (at most ${MAX_STATUS} characters)` });
  }
  if (issues.length || !trackingCode || !nativeStatus) return { ok: false, issues };

  const rawDate = get('ORDER_STATUSDATE');
  const dateText = typeof rawDate === 'string' && !unstorable(rawDate) ? rawDate.trim() : '';
  if (rawDate === undefined || rawDate === null || rawDate === '')
    notes.push({ path: 'DATA.ORDER_STATUSDATE', value: kindOf(rawDate), note: 'missing: the received time is used' });
  const occurredAt =
    readOptional(
      notes,
      'DATA.ORDER_STATUSDATE',
      rawDate,
      (v) => {
        if (typeof v !== 'string') return undefined;
        // "dd/MM/yyyy HH:mm:ss" as documented; an ISO time with its zone is read too.
        return (
          vtpTimeToIso(v) ??
          (/[zZ]|[+-]\d{2}:?\d{2}$/.test(v.trim()) && !Number.isNaN(Date.parse(v)) ? new Date(Date.parse(v)).toISOString() : undefined)
        );
      },
      'not "dd/MM/yyyy HH:mm:ss": the received time is used',
    ) ?? now();
  const codAmount = readOptional(notes, 'DATA.MONEY_COLLECTION', get('MONEY_COLLECTION'), exactAmount, 'not an amount: ignored');
  const reference = readOptional(
    notes,
    'DATA.ORDER_REFERENCE',
    get('ORDER_REFERENCE'),
    (v) => {
      const t = codeText(v);
      return t && !unstorable(t) && t.length <= 200 ? t : undefined;
    },
    'not a reference: ignored',
  );
  const reasonCode = looseText(get('REASON_CODE'), 64);
  const reason = reasonCode && !unstorable(reasonCode) ? `VTP reason ${reasonCode}` : undefined;

  const code = /^\d+$/.test(nativeStatus) ? Number(nativeStatus) : undefined;
  const mapped = code === undefined ? undefined : VTP_STATUSES[code];
  if (mapped === undefined)
    notes.push({ path: 'DATA.ORDER_STATUS', value: nativeStatus, note: 'not a VTP status the OMS knows: acknowledged without effect' });
  return {
    ok: true,
    value: {
      trackingCode,
      ...(reference ? { reference } : {}),
      notes,
      events: [
        {
          eventId: vtpEventId(trackingCode, nativeStatus, dateText),
          nativeStatus,
          status: mapped ?? null,
          ...(mapped ? {} : { noEffect: mapped === null ? ('known' as const) : ('unknown' as const) }),
          occurredAt,
          ...(codAmount !== undefined ? { codAmount } : {}),
          ...(reason ? { reason } : {}),
        },
      ],
    },
  };
}

const nullableText = z.string().nullable().optional();

/** A delivered journey step in VTP's shape (from test/fixtures/carriers/vtp, with our values), for the docs. */
export const VTP_WEBHOOK_EXAMPLE = {
  DATA: {
    ORDER_NUMBER: 'VTP0123456789',
    ORDER_REFERENCE: 'order-web-10001-shipment-1',
    ORDER_STATUSDATE: '22/11/2026 10:26:44',
    ORDER_STATUS: 501,
    STATUS_NAME: 'Phát thành công',
    NOTE: '',
    MONEY_COLLECTION: 562000,
    MONEY_COLLECTION_ORIGIN: null,
    PRODUCT_WEIGHT: 500,
    ORDER_SERVICE: 'VHT',
    IS_RETURNING: false,
    REASON_CODE: null,
  },
  TOKEN: '0333333333',
};

/** The webhook body as VTP documents it (DATA carries more: fees, weight, location, courier…; all accepted). */
export const VtpWebhookSchema = z
  .object({
    DATA: z
      .object({
        ORDER_NUMBER: z.string().openapi({ description: "VTP's code for the parcel: the tracking number of our booking." }),
        ORDER_REFERENCE: nullableText.openapi({ description: 'Our shipment or return id, echoed.' }),
        ORDER_STATUS: z
          .number()
          .int()
          .openapi({ description: `VTP status code: ${Object.keys(VTP_STATUSES).join(', ')}. Others are acknowledged without effect.` }),
        STATUS_NAME: nullableText,
        ORDER_STATUSDATE: nullableText.openapi({ description: '"dd/MM/yyyy HH:mm:ss", Vietnam time.' }),
        MONEY_COLLECTION: z.number().nullable().optional().openapi({ description: 'Cash to collect, whole VND.' }),
        REASON_CODE: nullableText,
        IS_RETURNING: z.boolean().nullable().optional(),
      })
      .loose(),
    TOKEN: nullableText,
  })
  .loose()
  .openapi('VtpWebhook', {
    description: "vtp: one journey step. Authenticated by the `Authorization` header: the secret set on VTP's webhook page.",
    example: VTP_WEBHOOK_EXAMPLE,
  });

/*
 * Answers of VTP's own API (`{status, error, message, data}`): what a booking or cancel activity
 * calling VTP directly takes from them. The OMS books through the sandbox's carrier API today;
 * these readers are held to VTP's published answers (test/fixtures/carriers/vtp).
 */
const vtpAmount = z.unknown().transform((v, ctx) => {
  const a = exactAmount(v);
  if (a === undefined) ctx.addIssue({ code: 'custom', message: 'expected an amount in whole VND' });
  return a ?? '0.00';
});
const VtpEnvelope = z.object({ status: z.number().int(), error: z.boolean(), message: z.string().nullish(), data: z.unknown() }).loose();

/** An answer VTP marked as failed (`error: true` or a status other than 200): its message as the issue. */
function vtpRefusal(env: z.infer<typeof VtpEnvelope>): FieldIssue[] | undefined {
  return env.error || env.status !== 200
    ? [{ path: 'message', message: `VTP refused (status ${env.status}): ${env.message ?? 'no message'}` }]
    : undefined;
}

/** `/v2/order/createOrder(Nlp)`: the order number VTP gave the parcel (our tracking number), the COD it will collect, its fee. */
export function readVtpCreateOrderAnswer(answer: unknown): Parsed<{ trackingNumber: string; codAmount: string; totalFee: string }> {
  const env = VtpEnvelope.safeParse(answer);
  if (!env.success) return { ok: false, issues: zodIssues(env.error) };
  const refused = vtpRefusal(env.data);
  if (refused) return { ok: false, issues: refused };
  const r = z
    .object({
      ORDER_NUMBER: z.union([z.string().trim().min(1).max(MAX_CODE), z.number().int().refine(Number.isSafeInteger).transform(String)]),
      MONEY_COLLECTION: vtpAmount,
      MONEY_TOTAL: vtpAmount,
    })
    .loose()
    .safeParse(env.data.data);
  if (!r.success) return { ok: false, issues: zodIssues(r.error).map((i) => ({ ...i, path: `data.${i.path}` })) };
  return { ok: true, value: { trackingNumber: r.data.ORDER_NUMBER, codAmount: r.data.MONEY_COLLECTION, totalFee: r.data.MONEY_TOTAL } };
}

/** `/v2/order/UpdateOrder` (TYPE 4 cancels): done, with VTP's words. */
export function readVtpUpdateOrderAnswer(answer: unknown): Parsed<{ message: string }> {
  const env = VtpEnvelope.safeParse(answer);
  if (!env.success) return { ok: false, issues: zodIssues(env.error) };
  const refused = vtpRefusal(env.data);
  if (refused) return { ok: false, issues: refused };
  return { ok: true, value: { message: env.data.message ?? '' } };
}

export const vtpAdapter: CarrierAdapter = {
  carrier: 'vtp',
  auth: {
    in: 'header',
    name: 'Authorization',
    scheme: 'the carrier secret as is (the "Secret parameters" value of VTP\'s webhook page; no scheme word)',
  },
  // VTP's checklist: unknown orders are logged and answered 200 (and the OMS polls VTP anyway).
  unknownParcel: 'acknowledge',
  authenticate: (req, secret) => secretMatches(req.header('authorization'), secret),
  parseWebhook: (body) => parseVtpWebhook(body),
  statusOf: (nativeStatus) => (/^\d+$/.test(nativeStatus.trim()) ? VTP_STATUSES[Number(nativeStatus.trim())] : undefined),
  schema: VtpWebhookSchema,
};
