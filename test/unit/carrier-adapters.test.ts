/**
 * Contract tests of the carrier adapters against the corpus of real carrier payloads in
 * test/fixtures/carriers/{ghn,vtp}: every file is read by the code that reads its kind — webhooks
 * by the carrier's webhook adapter, through the real route (authenticated the carrier's way,
 * mapped, forwarded, deduplicated), and answers of the carriers' APIs by the adapters' answer
 * readers — with the tracking code and money exact. Mutations of them (statuses nobody told us
 * about, nulls where values were documented) are accepted and recorded, not refused.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { CARRIER_ADAPTERS, type TrackingStatus } from '../../activities/carriers/adapters';
import { GHN_STATUSES, readGhnCancelAnswer, readGhnCreateOrderAnswer, readGhnOrderDetail } from '../../activities/carriers/adapters/ghn';
import {
  isoToVtpTime,
  readVtpCreateOrderAnswer,
  readVtpUpdateOrderAnswer,
  VTP_STATUSES,
  vtpTimeToIso,
} from '../../activities/carriers/adapters/vtp';
import { createBaseApp } from '../../api/app';
import { KeyStore } from '../../api/auth';
import { createApiMetrics } from '../../api/metrics';
import { registerCarrierWebhookRoutes } from '../../api/routes/carrier-webhooks';
import type { OrdersRepo } from '../../db/orders-repo';
import { DEV_CARRIER_SECRETS } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import type { CarrierEvent } from '../../workflows/messages';

type Json = Record<string, unknown>;
const DIR = new URL('../fixtures/carriers/', import.meta.url);
const read = (carrier: string, file: string) => JSON.parse(readFileSync(new URL(`${carrier}/${file}`, DIR), 'utf8')) as Json;

interface WebhookCase {
  /** The body as sent (the captured VTP DATA is wrapped as VTP sends it). */
  body: () => Json;
  trackingCode: string;
  reference?: string;
  nativeStatus: string;
  status: TrackingStatus | null;
  occurredAt: string;
  codAmount: string;
  eventId: string;
  reason?: string;
}

const ghn = (
  file: string,
  nativeStatus: string,
  status: TrackingStatus | null,
  time: string,
  extra: Partial<WebhookCase> = {},
): [string, WebhookCase] => [
  `ghn/${file}`,
  {
    body: () => read('ghn', file),
    trackingCode: 'Z82BS',
    nativeStatus,
    status,
    occurredAt: time,
    codAmount: '3000000.00',
    eventId: `ghn:Z82BS:${nativeStatus.includes(':') ? nativeStatus : `switch_status:${nativeStatus}`}:${time}`,
    ...extra,
  },
];
const vtp = (
  file: string,
  code: number,
  status: TrackingStatus | null,
  date: string,
  iso: string,
  extra: Partial<WebhookCase> = {},
): [string, WebhookCase] => [
  `vtp/${file}`,
  {
    body: () => read('vtp', file),
    trackingCode: 'TUANPAD3024822076',
    reference: 'TUANPAD3024822076',
    nativeStatus: String(code),
    status,
    occurredAt: iso,
    codAmount: '0.00',
    eventId: `vtp:TUANPAD3024822076:${code}:${date}`,
    ...extra,
  },
];

/** Every webhook of the corpus and what it must mean here. */
const WEBHOOKS = new Map<string, WebhookCase>([
  ghn('webhook-create-ready-to-pick.json', 'create:ready_to_pick', null, '2021-11-11T03:52:50.158Z', {
    eventId: 'ghn:Z82BS:create:ready_to_pick:2021-11-11T03:52:50.158Z',
  }),
  ghn('webhook-switch-status-picked.json', 'picked', 'picked_up', '2021-11-11T07:41:03.512Z'),
  ghn('webhook-switch-status-transporting.json', 'transporting', 'in_transit', '2021-11-11T15:20:44.090Z'),
  ghn('webhook-switch-status-delivering.json', 'delivering', 'in_transit', '2021-11-12T01:35:17.301Z'),
  ghn('webhook-switch-status-delivered.json', 'delivered', 'delivered', '2021-11-12T04:02:58.774Z'),
  ghn('webhook-switch-status-delivery-fail.json', 'delivery_fail', 'delivery_failed', '2021-11-12T04:02:58.774Z', {
    reason: 'GHN-DFC1A4: Giao không thành công: Người nhận không nghe máy',
  }),
  ghn('webhook-switch-status-waiting-to-return.json', 'waiting_to_return', 'delivery_failed', '2021-11-12T10:15:00.120Z'),
  ghn('webhook-switch-status-return.json', 'return', 'delivery_failed', '2021-11-13T02:00:31.456Z'),
  ghn('webhook-switch-status-returning.json', 'returning', 'delivery_failed', '2021-11-14T01:48:09.233Z'),
  ghn('webhook-switch-status-returned.json', 'returned', 'returned_to_sender', '2021-11-14T06:30:27.918Z'),
  ghn('webhook-switch-status-cancel.json', 'cancel', 'cancelled', '2021-11-11T04:10:05.640Z'),
  vtp('webhook-status-104-assigned-for-pickup.json', 104, null, '10/11/2025 11:07:16', '2025-11-10T04:07:16.000Z'),
  vtp('webhook-status-107-partner-cancelled-via-api.json', 107, 'cancelled', '10/11/2025 11:30:02', '2025-11-10T04:30:02.000Z'),
  vtp('webhook-status-200-received-at-origin.json', 200, 'picked_up', '10/11/2025 16:42:51', '2025-11-10T09:42:51.000Z'),
  vtp('webhook-status-300-outbound-transit.json', 300, 'in_transit', '10/11/2025 21:05:37', '2025-11-10T14:05:37.000Z'),
  vtp('webhook-status-500-out-for-delivery.json', 500, 'in_transit', '12/11/2025 08:14:09', '2025-11-12T01:14:09.000Z'),
  vtp('webhook-status-501-delivered.json', 501, 'delivered', '12/11/2025 10:26:44', '2025-11-12T03:26:44.000Z'),
  vtp('webhook-status-506-delivery-failed.json', 506, 'delivery_failed', '12/11/2025 10:26:44', '2025-11-12T03:26:44.000Z', {
    reason: 'VTP reason 36',
  }),
  vtp('webhook-status-505-failed-return-requested.json', 505, 'delivery_failed', '14/11/2025 09:51:20', '2025-11-14T02:51:20.000Z', {
    reason: 'VTP reason 31',
  }),
  vtp('webhook-status-502-returning-to-origin.json', 502, 'delivery_failed', '14/11/2025 15:33:08', '2025-11-14T08:33:08.000Z'),
  vtp('webhook-status-504-returned-to-sender.json', 504, 'returned_to_sender', '16/11/2025 11:02:57', '2025-11-16T04:02:57.000Z'),
  vtp('webhook-status-503-cancelled-by-customer.json', 503, 'cancelled', '12/11/2025 10:26:44', '2025-11-12T03:26:44.000Z'),
  [
    'vtp/captured-webhook-data-status-107-lowercased-keys.json',
    {
      // Captured as the DATA object with its keys lowered by the capturing app: sent here as VTP would, wrapped.
      body: () => ({ DATA: read('vtp', 'captured-webhook-data-status-107-lowercased-keys.json'), TOKEN: 'captured-without-token' }),
      trackingCode: '18466196770',
      reference: 'ST-INV-0011#29',
      nativeStatus: '107',
      status: 'cancelled',
      occurredAt: '2023-07-19T05:13:04.000Z',
      codAmount: '2278000.00',
      eventId: 'vtp:18466196770:107:19/07/2023 12:13:04',
    },
  ],
]);

/** Every answer of a carrier's own API in the corpus, and what its reader must take from it. */
const ANSWERS = new Map<string, () => void>([
  [
    'ghn/create-order-answer-data.json',
    () => {
      expect(readGhnCreateOrderAnswer(read('ghn', 'create-order-answer-data.json'))).toEqual({
        ok: true,
        value: { trackingNumber: 'G8ADKBYD', totalFee: '44000.00', expectedDeliveryAt: '2024-11-26T23:59:59.000Z' },
      });
    },
  ],
  [
    'ghn/order-detail-answer-data.json',
    () => {
      expect(readGhnOrderDetail(read('ghn', 'order-detail-answer-data.json'))).toEqual({
        ok: true,
        value: {
          trackingCode: 'G8ADKBRF',
          nativeStatus: 'picking',
          status: null,
          codAmount: '100000.00',
          updatedAt: '2024-11-24T04:28:00.812Z',
        },
      });
    },
  ],
  [
    'ghn/cancel-order-answer-data.json',
    () => {
      expect(readGhnCancelAnswer(read('ghn', 'cancel-order-answer-data.json'))).toEqual({
        ok: true,
        value: [{ trackingCode: 'G8ADKBYD', cancelled: true, message: 'OK' }],
      });
    },
  ],
  [
    'vtp/create-order-answer.json',
    () => {
      expect(readVtpCreateOrderAnswer(read('vtp', 'create-order-answer.json'))).toEqual({
        ok: true,
        value: { trackingNumber: '15878180012', codAmount: '562000.00', totalFee: '16500.00' },
      });
      expect(
        readVtpCreateOrderAnswer({ ...read('vtp', 'create-order-answer.json'), status: 400, error: true, message: 'Sai địa chỉ' }),
      ).toMatchObject({ ok: false, issues: [{ path: 'message' }] });
    },
  ],
  [
    'vtp/update-order-cancel-answer.json',
    () => {
      expect(readVtpUpdateOrderAnswer(read('vtp', 'update-order-cancel-answer.json'))).toEqual({
        ok: true,
        value: { message: 'Hủy đơn hàng thành công' },
      });
    },
  ],
]);

// ---------------------------------------------------------------------------------------------
// The real route over fakes of Temporal and PostgreSQL: what it forwards and records.

const SHIPMENTS: Record<string, string> = {
  'ghn:Z82BS': 'order-web-1-shipment-1',
  'vtp:TUANPAD3024822076': 'order-web-2-shipment-1',
  'vtp:18466196770': 'order-web-3-shipment-1',
};

/** The order a shipment id belongs to. */
const orderOf = (shipmentId: string) => shipmentId.replace(/-shipment-\d+$/, '');

/**
 * `childShipments`: the parcels are shipments of orders from before orderWorkflowV3, child
 * workflows of their own; otherwise a shipment's events go to its order's workflow.
 */
function routeHarness(opts: { signal?: (workflowId: string) => Error | undefined; closed?: boolean; childShipments?: boolean } = {}) {
  const signals: { workflowId: string; event: CarrierEvent }[] = [];
  const recorded = new Map<string, { trackingCode: string; status: string }>();
  const logs: string[] = [];
  const orders = {
    shipmentByTracking: (carrier: string, code: string) =>
      Promise.resolve(
        SHIPMENTS[`${carrier}:${code}`]
          ? { shipmentId: SHIPMENTS[`${carrier}:${code}`], orderId: orderOf(SHIPMENTS[`${carrier}:${code}`]!), bookingId: 'bk' }
          : undefined,
      ),
    shipmentByBooking: () => Promise.resolve(undefined),
    shipmentWorkflow: (parcelId: string, orderId?: string) =>
      Promise.resolve(
        opts.childShipments || !/-shipment-\d+$/.test(parcelId)
          ? { workflowId: parcelId, inOrder: false }
          : { workflowId: orderId ?? orderOf(parcelId), inOrder: true },
      ),
    carrierEventSeen: (carrier: string, id: string) => Promise.resolve(recorded.has(`${carrier}|${id}`)),
    recordCarrierEvent: (carrier: string, id: string, trackingCode: string, status: string) => {
      if (recorded.has(`${carrier}|${id}`)) return Promise.resolve(false);
      recorded.set(`${carrier}|${id}`, { trackingCode, status });
      return Promise.resolve(true);
    },
  } as unknown as OrdersRepo;
  const client = {
    workflow: {
      getHandle: (workflowId: string) => ({
        signal: (_def: unknown, event: CarrierEvent) => {
          const err = opts.signal?.(workflowId);
          if (err) return Promise.reject(err);
          signals.push({ workflowId, event });
          return Promise.resolve();
        },
        describe: () =>
          opts.closed
            ? Promise.resolve({ status: { name: 'COMPLETED' } })
            : Promise.reject(new WorkflowNotFoundError('not found', workflowId, undefined)),
      }),
    },
  } as unknown as Client;
  const logger = createLogger({ level: 'debug', write: (l) => logs.push(l) });
  const app = createBaseApp({
    keys: new KeyStore([{ role: 'ops', key: 'ops-key-123' }]),
    logger,
    metrics: createApiMetrics(),
    bodyLimitBytes: 64 * 1024,
    health: { postgres: () => Promise.resolve(), temporal: () => Promise.resolve() },
  });
  registerCarrierWebhookRoutes(app, { client, orders, secrets: DEV_CARRIER_SECRETS, logger });
  /** Posts a body authenticated the carrier's way, or as `auth` says (null: not sent). */
  const post = async (
    carrier: string,
    body: unknown,
    auth: { token?: string | null; authorization?: string | null; raw?: boolean } = {},
  ) => {
    const secret = DEV_CARRIER_SECRETS[carrier];
    const token = auth.token !== undefined ? auth.token : carrier === 'ghn' ? secret : null;
    const authorization = auth.authorization !== undefined ? auth.authorization : carrier === 'vtp' ? secret : null;
    const res = await app.request(
      `/v1/carriers/${carrier}/webhooks${typeof token === 'string' ? `?token=${encodeURIComponent(token)}` : ''}`,
      {
        method: 'POST',
        body: auth.raw ? (body as string) : JSON.stringify(body),
        headers: { 'Content-Type': 'application/json', ...(typeof authorization === 'string' ? { Authorization: authorization } : {}) },
      },
    );
    return {
      status: res.status,
      body: (await res.json()) as Json & {
        events?: { eventId: string; status: string | null; outcome: string }[];
        errors?: { path: string }[];
      },
    };
  };
  return { post, signals, recorded, logs };
}

const carrierOf = (name: string) => name.split('/')[0]!;

describe('the corpus', () => {
  it('every fixture of ghn and vtp has a contract test here; nothing else is in the corpus', () => {
    const files = ['ghn', 'vtp'].flatMap((c) =>
      readdirSync(new URL(`${c}/`, DIR))
        .filter((f) => f !== 'README.md')
        .map((f) => `${c}/${f}`),
    );
    expect(files.filter((f) => !WEBHOOKS.has(f) && !ANSWERS.has(f))).toEqual([]);
    expect([...WEBHOOKS.keys(), ...ANSWERS.keys()].filter((f) => !files.includes(f))).toEqual([]);
    // GHTK is not a carrier of ours: no adapter, so no corpus.
    expect(readdirSync(DIR).sort()).toEqual(['ghn', 'vtp']);
  });

  it.each([...ANSWERS.keys()])('%s is read by its answer reader', (name) => ANSWERS.get(name)!());
});

describe('webhook adapters', () => {
  it.each([...WEBHOOKS.keys()])('%s: mapped, tracking code and money exact', (name) => {
    const c = WEBHOOKS.get(name)!;
    const parsed = CARRIER_ADAPTERS[carrierOf(name) as 'ghn' | 'vtp'].parseWebhook(c.body());
    expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.trackingCode).toBe(c.trackingCode);
    expect(parsed.value.reference).toBe(c.reference);
    expect(parsed.value.notes).toEqual([]);
    expect(parsed.value.events).toEqual([
      {
        eventId: c.eventId,
        nativeStatus: c.nativeStatus,
        status: c.status,
        ...(c.status === null ? { noEffect: 'known' } : {}),
        occurredAt: c.occurredAt,
        codAmount: c.codAmount,
        ...(c.reason ? { reason: c.reason } : {}),
      },
    ]);
  });

  it("every status of GHN's list and of VTP's table is known (mapped, or known to move nothing)", () => {
    const ghnList = [
      'ready_to_pick',
      'picking',
      'money_collect_picking',
      'picked',
      'storing',
      'transporting',
      'sorting',
      'delivering',
      'money_collect_delivering',
      'delivered',
      'delivery_fail',
      'waiting_to_return',
      'return',
      'return_transporting',
      'return_sorting',
      'returning',
      'return_fail',
      'returned',
      'cancel',
      'exception',
      'lost',
      'damage',
    ];
    expect(Object.keys(GHN_STATUSES).sort()).toEqual([...ghnList].sort());
    for (const s of ghnList) expect(CARRIER_ADAPTERS.ghn.statusOf(s.toUpperCase())).not.toBeUndefined();
    expect(Object.keys(VTP_STATUSES).map(Number)).toEqual([
      101, 102, 103, 104, 105, 107, 200, 201, 202, 300, 400, 500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 515, 550,
    ]);
    expect(CARRIER_ADAPTERS.vtp.statusOf('999')).toBeUndefined();
    expect(CARRIER_ADAPTERS.ghn.statusOf('teleported')).toBeUndefined();
  });

  it('a GHN snapshot with a COD transfer date reports the remittance once per date, with the exact amount', () => {
    const body = { ...read('ghn', 'webhook-switch-status-delivered.json'), CODTransferDate: '2021-11-15T08:00:00Z', CODAmount: 1234567 };
    const p = CARRIER_ADAPTERS.ghn.parseWebhook(body);
    expect(p.ok && p.value.events.map((e) => [e.status, e.codAmount, e.eventId])).toEqual([
      ['delivered', '1234567.00', 'ghn:Z82BS:switch_status:delivered:2021-11-12T04:02:58.774Z'],
      ['cod_remitted', '1234567.00', 'ghn:Z82BS:cod_transfer:2021-11-15T08:00:00Z'],
    ]);
    // The same transfer reported by a later webhook of another type is the same event.
    const later = CARRIER_ADAPTERS.ghn.parseWebhook({ ...body, Type: 'Update_Fee', Time: '2021-11-16T01:00:00Z' });
    expect(later.ok && later.value.events.map((e) => [e.status, e.eventId])).toEqual([
      [null, 'ghn:Z82BS:update_fee:delivered:2021-11-16T01:00:00Z'],
      ['cod_remitted', 'ghn:Z82BS:cod_transfer:2021-11-15T08:00:00Z'],
    ]);
  });

  it('amounts are exact decimal strings; what is not an amount is noted, not guessed', () => {
    const amount = (CODAmount: unknown) => {
      const p = CARRIER_ADAPTERS.ghn.parseWebhook({ ...read('ghn', 'webhook-switch-status-picked.json'), CODAmount });
      return p.ok ? [p.value.events[0]!.codAmount, p.value.notes.map((n) => n.path)] : p.issues;
    };
    expect(amount(0)).toEqual(['0.00', []]);
    expect(amount(9007199254740)).toEqual(['9007199254740.00', []]);
    expect(amount('3000000')).toEqual(['3000000.00', []]);
    expect(amount(12.5)).toEqual(['12.50', []]);
    expect(amount(0.1)).toEqual(['0.10', []]);
    expect(amount(1.005)).toEqual([undefined, ['CODAmount']]);
    expect(amount(-5)).toEqual([undefined, ['CODAmount']]);
    expect(amount(1e21)).toEqual([undefined, ['CODAmount']]);
    expect(amount('3,000,000')).toEqual([undefined, ['CODAmount']]);
    expect(amount(null)).toEqual([undefined, []]);
  });

  it('VTP times are Vietnam time without a zone; both ways agree', () => {
    expect(vtpTimeToIso('01/01/2026 00:30:00')).toBe('2025-12-31T17:30:00.000Z');
    expect(isoToVtpTime('2025-12-31T17:30:00.000Z')).toBe('01/01/2026 00:30:00');
    expect(vtpTimeToIso('31/02/2026 10:00:00')).toBeUndefined();
    expect(vtpTimeToIso('2026-02-01 10:00:00')).toBeUndefined();
    expect(vtpTimeToIso(isoToVtpTime('2026-11-22T03:04:05.678Z'))).toBe('2026-11-22T03:04:05.000Z');
  });
});

describe('mutations: unknown values and unexpected nulls are accepted, not refused', () => {
  it('an unknown GHN status, an unknown GHN type, an unknown VTP code: acknowledged without effect, with a note', () => {
    const g = CARRIER_ADAPTERS.ghn.parseWebhook({ ...read('ghn', 'webhook-switch-status-picked.json'), Status: 'teleported' });
    expect(g).toMatchObject({
      ok: true,
      value: {
        events: [{ status: null, noEffect: 'unknown', nativeStatus: 'teleported' }],
        notes: [{ path: 'Status', value: 'teleported' }],
      },
    });
    const t = CARRIER_ADAPTERS.ghn.parseWebhook({ ...read('ghn', 'webhook-switch-status-picked.json'), Type: 'update_insurance' });
    expect(t).toMatchObject({
      ok: true,
      value: { events: [{ status: null, noEffect: 'unknown', nativeStatus: 'update_insurance:picked' }], notes: [{ path: 'Type' }] },
    });
    const base = read('vtp', 'webhook-status-501-delivered.json');
    const v = CARRIER_ADAPTERS.vtp.parseWebhook({ ...base, DATA: { ...(base.DATA as Json), ORDER_STATUS: 999 } });
    expect(v).toMatchObject({
      ok: true,
      value: { events: [{ status: null, noEffect: 'unknown', nativeStatus: '999' }], notes: [{ path: 'DATA.ORDER_STATUS', value: '999' }] },
    });
    // Older codes VTP no longer lists (301, 401…) are unknown too, never a refusal.
    expect(CARRIER_ADAPTERS.vtp.parseWebhook({ ...base, DATA: { ...(base.DATA as Json), ORDER_STATUS: '301' } }).ok).toBe(true);
  });

  it('every GHN field but OrderCode and Status may be null (or missing)', () => {
    const full = read('ghn', 'webhook-switch-status-delivered.json');
    const nulls = Object.fromEntries(Object.keys(full).map((k) => [k, ['OrderCode', 'Status'].includes(k) ? full[k] : null]));
    const p = CARRIER_ADAPTERS.ghn.parseWebhook(nulls);
    expect(p).toMatchObject({ ok: true, value: { trackingCode: 'Z82BS', events: [{ status: 'delivered' }] } });
    expect(p.ok && p.value.notes.map((n) => n.path).sort()).toEqual(['Time', 'Type']);
    expect(CARRIER_ADAPTERS.ghn.parseWebhook({ OrderCode: 'Z82BS', Status: 'delivered' })).toMatchObject({
      ok: true,
      value: { events: [{ status: 'delivered' }] },
    });
  });

  it('every VTP field but ORDER_NUMBER and ORDER_STATUS may be null, and keys may come in any case', () => {
    const full = read('vtp', 'webhook-status-501-delivered.json');
    const data = full.DATA as Json;
    const nulls = {
      DATA: Object.fromEntries(Object.keys(data).map((k) => [k, ['ORDER_NUMBER', 'ORDER_STATUS'].includes(k) ? data[k] : null])),
      TOKEN: null,
    };
    const p = CARRIER_ADAPTERS.vtp.parseWebhook(nulls);
    expect(p).toMatchObject({ ok: true, value: { trackingCode: 'TUANPAD3024822076', events: [{ status: 'delivered' }] } });
    expect(p.ok && p.value.notes.map((n) => n.path)).toEqual(['DATA.ORDER_STATUSDATE']);
    const lower = { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k.toLowerCase(), v])), token: 'x' };
    expect(CARRIER_ADAPTERS.vtp.parseWebhook(lower)).toMatchObject({
      ok: true,
      value: { events: [{ status: 'delivered', eventId: 'vtp:TUANPAD3024822076:501:12/11/2025 10:26:44' }] },
    });
    // The status code as text is the same status and the same event.
    expect(CARRIER_ADAPTERS.vtp.parseWebhook({ DATA: { ...data, ORDER_STATUS: '501' } })).toMatchObject({
      ok: true,
      value: { events: [{ status: 'delivered', eventId: 'vtp:TUANPAD3024822076:501:12/11/2025 10:26:44' }] },
    });
  });

  it('values of an unexpected kind in fields the adapter reads are noted and left out', () => {
    const p = CARRIER_ADAPTERS.ghn.parseWebhook({
      ...read('ghn', 'webhook-switch-status-delivered.json'),
      Time: 1636689778,
      ClientOrderCode: { id: 1 },
      CODAmount: 'lots',
      Reason: ['x'],
    });
    expect(p.ok).toBe(true);
    expect(p.ok && p.value.notes.map((n) => [n.path, n.value])).toEqual([
      ['Time', 'number'],
      ['CODAmount', 'string'],
      ['ClientOrderCode', 'object'],
    ]);
    const v = CARRIER_ADAPTERS.vtp.parseWebhook({
      DATA: {
        ...(read('vtp', 'webhook-status-501-delivered.json').DATA as Json),
        ORDER_STATUSDATE: 'yesterday',
        MONEY_COLLECTION: '1.234',
      },
    });
    expect(v.ok && v.value.notes.map((n) => n.path)).toEqual(['DATA.ORDER_STATUSDATE', 'DATA.MONEY_COLLECTION']);
  });

  it('refuses only what cannot be acted on: no parcel code or no status', () => {
    const issues = (carrier: 'ghn' | 'vtp', body: unknown) => {
      const p = CARRIER_ADAPTERS[carrier].parseWebhook(body);
      return p.ok ? 'accepted' : p.issues.map((i) => i.path);
    };
    const g = read('ghn', 'webhook-switch-status-delivered.json');
    expect(issues('ghn', {})).toEqual(['OrderCode', 'Status']);
    expect(issues('ghn', { ...g, OrderCode: null })).toEqual(['OrderCode']);
    expect(issues('ghn', { ...g, OrderCode: '  ' })).toEqual(['OrderCode']);
    expect(issues('ghn', { ...g, Status: 7 })).toEqual(['Status']);
    expect(issues('ghn', { ...g, OrderCode: 'Z8\u0000' })).toEqual(['OrderCode']);
    expect(issues('ghn', { ...g, OrderCode: 'x'.repeat(65) })).toEqual(['OrderCode']);
    expect(issues('ghn', { ...g, OrderCode: 12345 })).toBe('accepted');
    expect(issues('ghn', { ...g, Description: 'Tạo \u0000 đơn' })).toBe('accepted');
    expect(issues('ghn', [g])).toEqual(['(root)']);
    const v = read('vtp', 'webhook-status-501-delivered.json');
    expect(issues('vtp', {})).toEqual(['DATA']);
    expect(issues('vtp', v.DATA)).toEqual(['DATA']);
    expect(issues('vtp', { DATA: { ...(v.DATA as Json), ORDER_NUMBER: null, ORDER_STATUS: null } })).toEqual([
      'DATA.ORDER_NUMBER',
      'DATA.ORDER_STATUS',
    ]);
    // An order number too large for a JSON number to hold exactly cannot be trusted.
    expect(issues('vtp', { DATA: { ...(v.DATA as Json), ORDER_NUMBER: 184661967701234567 } })).toEqual(['DATA.ORDER_NUMBER']);
    expect(issues('vtp', { DATA: { ...(v.DATA as Json), ORDER_NUMBER: 18466196770 } })).toBe('accepted');
  });
});

describe('the route, over every webhook of the corpus', () => {
  it.each([...WEBHOOKS.keys()])('%s: 200, forwarded as mapped (or recorded without effect), a replay is a duplicate', async (name) => {
    const c = WEBHOOKS.get(name)!;
    const carrier = carrierOf(name);
    const h = routeHarness();
    const first = await h.post(carrier, c.body());
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({
      accepted: true,
      duplicate: false,
      trackingCode: c.trackingCode,
      events: [{ eventId: c.eventId, status: c.status, outcome: c.status ? 'applied' : 'no_effect' }],
    });
    if (c.status) {
      const shipmentId = SHIPMENTS[`${carrier}:${c.trackingCode}`]!;
      expect(h.signals).toEqual([
        {
          workflowId: orderOf(shipmentId),
          event: { eventId: c.eventId, status: c.status, occurredAt: c.occurredAt, shipmentId },
        },
      ]);
      expect(h.recorded.get(`${carrier}|${c.eventId}`)).toEqual({ trackingCode: c.trackingCode, status: c.status });
    } else {
      expect(h.signals).toEqual([]);
      expect(h.recorded.get(`${carrier}|${c.eventId}`)).toEqual({ trackingCode: c.trackingCode, status: `none:${c.nativeStatus}` });
    }
    const again = await h.post(carrier, c.body());
    expect(again).toMatchObject({ status: 200, body: { duplicate: true, events: [{ outcome: 'duplicate' }] } });
    expect(h.signals.length).toBe(c.status ? 1 : 0);
  });

  it('our reference echoed by the carrier routes the event without a lookup; a COD transfer is forwarded with its amount', async () => {
    const h = routeHarness();
    const body = {
      ...read('ghn', 'webhook-switch-status-delivered.json'),
      OrderCode: 'GHN0000000001',
      ClientOrderCode: 'order-shopee-2611ABC-shipment-2',
      CODTransferDate: '2021-11-15T08:00:00Z',
    };
    const r = await h.post('ghn', body);
    expect(r.body.events?.map((e) => e.outcome)).toEqual(['applied', 'applied']);
    // The shipment runs in its order's workflow: the event goes there, naming the shipment.
    expect(h.signals).toEqual([
      {
        workflowId: 'order-shopee-2611ABC',
        event: {
          eventId: 'ghn:GHN0000000001:switch_status:delivered:2021-11-12T04:02:58.774Z',
          status: 'delivered',
          occurredAt: '2021-11-12T04:02:58.774Z',
          shipmentId: 'order-shopee-2611ABC-shipment-2',
        },
      },
      {
        workflowId: 'order-shopee-2611ABC',
        event: {
          eventId: 'ghn:GHN0000000001:cod_transfer:2021-11-15T08:00:00Z',
          status: 'cod_remitted',
          occurredAt: '2021-11-15T08:00:00.000Z',
          codAmount: '3000000.00',
          shipmentId: 'order-shopee-2611ABC-shipment-2',
        },
      },
    ]);
    const vtpBody = read('vtp', 'webhook-status-501-delivered.json');
    const rv = await h.post('vtp', {
      ...vtpBody,
      DATA: { ...(vtpBody.DATA as Json), ORDER_NUMBER: 'VTP0000000001', ORDER_REFERENCE: 'order-web-77-return-1' },
    });
    expect(rv.body.events?.[0]?.outcome).toBe('applied');
    // A return parcel is a workflow of its own.
    expect(h.signals.at(-1)).toMatchObject({ workflowId: 'order-web-77-return-1', event: { status: 'delivered' } });
    expect(h.signals.at(-1)?.event.shipmentId).toBeUndefined();
  });

  it('a shipment of an order from before orderWorkflowV3 is a child workflow: its events go to it, as before', async () => {
    const h = routeHarness({ childShipments: true });
    const c = WEBHOOKS.get('ghn/webhook-switch-status-delivered.json')!;
    expect((await h.post('ghn', c.body())).body.events?.[0]?.outcome).toBe('applied');
    expect(h.signals).toEqual([
      { workflowId: 'order-web-1-shipment-1', event: { eventId: c.eventId, status: c.status, occurredAt: c.occurredAt } },
    ]);
  });

  it('unknown statuses and nulls: 200 and recorded, never a 4xx', async () => {
    const h = routeHarness();
    const g = await h.post('ghn', { ...read('ghn', 'webhook-switch-status-picked.json'), Status: 'teleported' });
    expect(g).toMatchObject({ status: 200, body: { events: [{ status: null, outcome: 'no_effect' }] } });
    expect(h.recorded.get('ghn|ghn:Z82BS:switch_status:teleported:2021-11-11T07:41:03.512Z')).toEqual({
      trackingCode: 'Z82BS',
      status: 'unknown:teleported',
    });
    const vb = read('vtp', 'webhook-status-501-delivered.json');
    const v = await h.post('vtp', { ...vb, DATA: { ...(vb.DATA as Json), ORDER_STATUS: 999 } });
    expect(v).toMatchObject({ status: 200, body: { events: [{ status: null, outcome: 'no_effect' }] } });
    expect([...h.recorded.values()].map((x) => x.status)).toEqual(['unknown:teleported', 'unknown:999']);
    expect(h.signals).toEqual([]);
    expect(h.logs.filter((l) => l.includes('carrier status not known'))).toHaveLength(2);

    const full = read('ghn', 'webhook-switch-status-delivered.json');
    const nulls = Object.fromEntries(Object.keys(full).map((k) => [k, ['OrderCode', 'Status'].includes(k) ? full[k] : null]));
    const n = await h.post('ghn', nulls);
    expect(n).toMatchObject({ status: 200, body: { events: [{ status: 'delivered', outcome: 'applied' }] } });
    const data = vb.DATA as Json;
    const vnulls = {
      DATA: Object.fromEntries(Object.keys(data).map((k) => [k, ['ORDER_NUMBER', 'ORDER_STATUS'].includes(k) ? data[k] : null])),
      TOKEN: null,
    };
    expect(await h.post('vtp', vnulls)).toMatchObject({ status: 200, body: { events: [{ status: 'delivered', outcome: 'applied' }] } });
    expect(h.signals.map((s) => s.event.status)).toEqual(['delivered', 'delivered']);
  });

  it('a parcel no shipment has: GHN gets 409 to send it again, VTP 200; neither is recorded', async () => {
    const h = routeHarness();
    const g = await h.post('ghn', { ...read('ghn', 'webhook-switch-status-picked.json'), OrderCode: 'GHNUNKNOWN' });
    expect(g.status).toBe(409);
    const vb = read('vtp', 'webhook-status-501-delivered.json');
    const v = await h.post('vtp', { ...vb, DATA: { ...(vb.DATA as Json), ORDER_NUMBER: 'VTPUNKNOWN', ORDER_REFERENCE: null } });
    expect(v).toMatchObject({ status: 200, body: { events: [{ outcome: 'unknown_parcel' }] } });
    expect(h.recorded.size).toBe(0);
    expect(h.signals).toEqual([]);
  });

  it('a shipment that has finished: recorded and acknowledged; Temporal out of reach: 503, nothing recorded', async () => {
    const gone = routeHarness({ signal: (id) => new WorkflowNotFoundError('gone', id, undefined), closed: true });
    expect(await gone.post('ghn', read('ghn', 'webhook-switch-status-delivered.json'))).toMatchObject({
      status: 200,
      body: { events: [{ outcome: 'shipment_closed' }] },
    });
    expect(gone.recorded.size).toBe(1);
    const early = routeHarness({ signal: (id) => new WorkflowNotFoundError('not yet', id, undefined) });
    expect((await early.post('ghn', read('ghn', 'webhook-switch-status-delivered.json'))).status).toBe(409);
    expect((await early.post('vtp', read('vtp', 'webhook-status-501-delivered.json'))).body).toMatchObject({
      events: [{ outcome: 'unknown_parcel' }],
    });
    expect(early.recorded.size).toBe(0);
    const down = routeHarness({ signal: () => new Error('14 UNAVAILABLE: connection refused') });
    expect((await down.post('ghn', read('ghn', 'webhook-switch-status-delivered.json'))).status).toBe(503);
    expect(down.recorded.size).toBe(0);
  });

  it('authenticates each carrier its own way, before reading anything', async () => {
    const h = routeHarness();
    const g = read('ghn', 'webhook-switch-status-delivered.json');
    const v = read('vtp', 'webhook-status-501-delivered.json');
    expect((await h.post('ghn', g, { token: 'not-the-secret' })).status).toBe(401);
    expect((await h.post('ghn', g, { token: '' })).status).toBe(401);
    expect((await h.post('ghn', g, { token: `${DEV_CARRIER_SECRETS.ghn!}x` })).status).toBe(401);
    // GHN's secret in a header (VTP's way) does not count, nor VTP's in the URL (GHN's way).
    expect((await h.post('ghn', g, { token: null, authorization: DEV_CARRIER_SECRETS.ghn! })).status).toBe(401);
    expect((await h.post('vtp', v, { authorization: null, token: DEV_CARRIER_SECRETS.vtp! })).status).toBe(401);
    expect((await h.post('vtp', v, { authorization: 'not-the-secret' })).status).toBe(401);
    expect((await h.post('vtp', v, { authorization: `Bearer ${DEV_CARRIER_SECRETS.vtp!}` })).status).toBe(401);
    expect((await h.post('vtp', v, { authorization: '' })).status).toBe(401);
    // Each carrier's secret is its own.
    expect((await h.post('vtp', v, { authorization: DEV_CARRIER_SECRETS.ghn! })).status).toBe(401);
    // A bad body behind a bad secret is a 401, not a 400: nothing is read before the secret matches.
    expect((await h.post('ghn', '{not json', { token: 'nope', raw: true })).status).toBe(401);
    expect((await h.post('ghn', '{not json', { raw: true })).status).toBe(400);
    expect((await h.post('pigeon', g)).status).toBe(404);
    expect(h.recorded.size).toBe(0);
    expect(h.signals).toEqual([]);
  });

  it('a body it cannot act on is a 400 naming the native fields', async () => {
    const h = routeHarness();
    expect(await h.post('ghn', {})).toMatchObject({ status: 400, body: { errors: [{ path: 'OrderCode' }, { path: 'Status' }] } });
    expect(await h.post('vtp', { DATA: { ORDER_STATUS: 501 } })).toMatchObject({
      status: 400,
      body: { errors: [{ path: 'DATA.ORDER_NUMBER' }] },
    });
    expect(await h.post('ghn', { ...read('ghn', 'webhook-switch-status-delivered.json'), OrderCode: 'Z8\u0000' })).toMatchObject({
      status: 400,
      body: { errors: [{ path: 'OrderCode' }] },
    });
    expect(h.recorded.size).toBe(0);
  });
});
