/**
 * Emulated sales channels. Two faces:
 *
 * - The OMS's own feed (web, POS — and any channel, for the generic tests): `/v1/order-status`
 *   and `/v1/stock` in the canonical shape. Pushes may arrive out of order, so it keeps the one
 *   with the highest seq.
 * - The marketplaces' native APIs, as far as the OMS uses them: Shopee v2, Lazada Open Platform,
 *   TikTok Shop 202309 and the Shopify Admin API — order detail (pulled after a thin
 *   notification), status actions (ship, cancel, update) and stock. Each call must carry the
 *   platform's own signature or token, checked here independently of the OMS's adapters; faults
 *   apply (`channels`/`order` for order detail, `push` for status actions, `stock` for stock).
 *   Like the real platforms, these keep the last write: ordering is the OMS's job. A slow
 *   status or stock call (`timeout` fault) is applied when its delay is over — after the OMS
 *   has given up on it — as a real platform may still act on a request whose answer the client
 *   never got, up to the platform's own request timeout ({@link PLATFORM_REQUEST_TIMEOUT_MS});
 *   one slower than that is dropped undone (504), as a real platform's gateway cuts it.
 *
 * Controls (`/sandbox/channels/...`, no key): create a marketplace order in the platform's shape,
 * change its status, and send the platform's signed notification/webhook to the OMS.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';
import { DEV_CHANNEL_ACCOUNTS } from '../activities/channels/adapters/accounts';
import { DEV_CHANNEL_SECRETS } from '../lib/config';
import { parseJsonWithBigInts, stringifyJson } from '../lib/lossless-json';
import { json, nowIso, parseBody, stableStringify, toResponse, type Outcome, type SandboxEnv } from './common';
import { INTERNAL_ERROR, preEffect, readFault } from './faults';
import { freshIds, lazadaTradePush, shopeeStatusPush, tiktokCancellationPush, tiktokStatusPush } from './corpus';
import { mutation, type SaveAnswer } from './idempotency';

/** The TikTok shop the sandbox's pushes come from. */
const TIKTOK_SHOP_ID = '7494049642642441621';

/** Channels the sandbox emulates; anything else is 404. */
export const CHANNELS = ['web', 'pos', 'shopify', 'shopee', 'lazada', 'tiktok'] as const;
const MARKETPLACES = ['shopify', 'shopee', 'lazada', 'tiktok'] as const;
/** How long the emulated marketplaces work on one API request before giving up on it. */
export const PLATFORM_REQUEST_TIMEOUT_MS = 30_000;
type Marketplace = (typeof MARKETPLACES)[number];

const statusSchema = z.object({
  orderId: z.string().min(1),
  channelOrderId: z.string().min(1),
  status: z.string().min(1),
  seq: z.number().int().min(0),
  occurredAt: z.string().min(1),
  detail: z.unknown().optional(),
});
const stockSchema = z.object({
  items: z.array(z.object({ sku: z.string().min(1), available: z.number().int().min(0) })).min(1),
});

/** One status push as received; stale ones are kept too, flagged, so tests can see them arrive. */
interface Push {
  channel: string;
  orderId: string;
  channelOrderId: string;
  status: string;
  seq: number;
  occurredAt: string;
  detail?: unknown;
  stale: boolean;
  idempotencyKey: string;
  at: string;
}

/** One call to a marketplace's native status API (ship, cancel, update). */
interface NativeCall {
  channel: string;
  channelOrderId: string;
  action: string;
  /** The platform status the call leads to. */
  status: string;
  body: unknown;
  idempotencyKey: string | undefined;
  at: string;
}

/** One stock update as received (canonical or native). */
interface StockUpdate {
  channel: string;
  items: { sku: string; available: number }[];
  at: string;
}

/** One order-detail read by the OMS. */
interface OrderRead {
  channel: string;
  channelOrderId: string;
  action: string;
  at: string;
}

const channelOf = (c: Context): string => c.req.param('channel') ?? '';

// ---------------------------------------------------------------------------------------------
// The platforms' signature schemes, implemented here on their own (not shared with the OMS's
// adapters), so a mistake on one side shows up as a refused call instead of cancelling out.

const hmac = (secret: string, message: string) => createHmac('sha256', secret).update(message, 'utf8').digest('hex');

/** Shopee shop-level API call: partner_id + path + timestamp + access_token + shop_id. */
function shopeeCallOk(q: Record<string, string>, path: string, secret: string): boolean {
  const a = DEV_CHANNEL_ACCOUNTS.shopee!;
  if (q.partner_id !== a.appKey || q.shop_id !== a.shopId || q.access_token !== a.accessToken) return false;
  if (!q.timestamp || Math.abs(Date.now() / 1000 - Number(q.timestamp)) > 300) return false;
  return q.sign === hmac(secret, `${q.partner_id}${path}${q.timestamp}${q.access_token}${q.shop_id}`);
}

/** Lazada: API name + sorted name/value pairs, upper-case hex. */
function lazadaCallOk(q: Record<string, string>, apiName: string, secret: string): boolean {
  const a = DEV_CHANNEL_ACCOUNTS.lazada!;
  if (q.app_key !== a.appKey || q.access_token !== a.accessToken || q.sign_method !== 'sha256') return false;
  if (!q.timestamp || Math.abs(Date.now() - Number(q.timestamp)) > 300_000) return false;
  const base =
    apiName +
    Object.keys(q)
      .filter((k) => k !== 'sign')
      .sort()
      .map((k) => k + q[k])
      .join('');
  return q.sign === hmac(secret, base).toUpperCase();
}

/** TikTok Shop: secret + path + sorted pairs (no sign, no access_token) + body + secret. */
function tiktokCallOk(
  q: Record<string, string>,
  path: string,
  body: string,
  token: string | undefined,
  secret: string,
): 'ok' | 'sign' | 'token' {
  const a = DEV_CHANNEL_ACCOUNTS.tiktok!;
  if (token !== a.accessToken) return 'token';
  if (q.app_key !== a.appKey || q.shop_cipher !== a.shopId) return 'sign';
  if (!q.timestamp || Math.abs(Date.now() / 1000 - Number(q.timestamp)) > 300) return 'sign';
  const pairs = Object.keys(q)
    .filter((k) => k !== 'sign' && k !== 'access_token')
    .sort()
    .map((k) => k + q[k])
    .join('');
  return q.sign === hmac(secret, `${secret}${path}${pairs}${body}${secret}`) ? 'ok' : 'sign';
}

/** The platforms' ways of saying "bad signature". */
const AUTH_FAILED: Record<Marketplace, Outcome> = {
  shopee: { status: 403, body: { request_id: 'sbx', error: 'error_sign', message: 'Wrong sign.' } },
  lazada: {
    status: 200,
    body: {
      code: 'IncompleteSignature',
      type: 'ISV',
      message: 'The request signature does not conform to platform standards',
      request_id: 'sbx',
    },
  },
  tiktok: { status: 401, body: { code: 106001, message: 'signature is invalid', request_id: 'sbx' } },
  shopify: { status: 401, body: { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' } },
};

// ---------------------------------------------------------------------------------------------
// Native orders held by the emulated platforms.

interface StoredOrder {
  channel: Marketplace;
  id: string;
  native: Record<string, unknown>;
}

/** The platform's id of a native order document, or undefined when the document has none. */
function nativeId(channel: Marketplace, doc: Record<string, unknown>): string | undefined {
  const v =
    channel === 'shopee' ? doc.order_sn : channel === 'lazada' ? (doc.order as Record<string, unknown> | undefined)?.order_id : doc.id;
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined;
}

function nativeStatusOf(o: StoredOrder): string {
  const d = o.native;
  if (o.channel === 'shopee') return String(d.order_status);
  if (o.channel === 'tiktok') return String(d.status);
  if (o.channel === 'lazada') return String(((d.order as Record<string, unknown>).statuses as string[])[0]);
  return d.cancelled_at ? 'cancelled' : String(d.financial_status);
}

function setNativeStatus(o: StoredOrder, status: string): void {
  const d = o.native;
  if (o.channel === 'shopee') d.order_status = status;
  else if (o.channel === 'tiktok') {
    d.status = status;
    for (const l of (d.line_items as Record<string, unknown>[] | undefined) ?? []) l.display_status = status;
  } else if (o.channel === 'lazada') {
    (d.order as Record<string, unknown>).statuses = [status];
    for (const i of (d.items as Record<string, unknown>[] | undefined) ?? []) i.status = status;
  } else if (status === 'cancelled') d.cancelled_at = nowIso();
  else d.financial_status = status;
}

const notifySchema = z.object({
  channelOrderId: z.string().min(1).optional(),
  /** The status to announce; default: the stored order's. */
  status: z.string().min(1).optional(),
  /** Shopify topic; default orders/create. */
  topic: z.string().optional(),
  /** Event id (Shopify webhook id, TikTok notification id); default: a new one. */
  eventId: z.string().optional(),
  /** web/pos: the canonical order to send. */
  order: z.unknown().optional(),
  /** Send exactly this body (signed like any other), e.g. a malformed payload. */
  rawBody: z.string().optional(),
  /** `wrong`: signed with another secret; `none`: no signature header. */
  signature: z.enum(['valid', 'wrong', 'none']).default('valid'),
  /** Deliver the same bytes this many times, one after the other (a platform's retries). */
  times: z.number().int().min(1).max(20).default(1),
  /** TikTok Shop: send a CANCELLATION_STATUS_CHANGE (type 11) for this cancellation id instead of a status change. */
  cancelId: z.string().optional(),
  /** Lazada: the buyer's reverse order behind a cancellation. */
  reverseOrderId: z.string().optional(),
});

/** Builds the channels API (`/channels/:channel/...`) and its controls and ledger. */
export function createChannels(env: SandboxEnv, channelSecrets: Record<string, string> = DEV_CHANNEL_SECRETS) {
  const st = env.state;
  let pushes = st.list<Push>('channels.push');
  let stock = st.list<StockUpdate>('channels.stock');
  let calls = st.list<NativeCall>('channels.call');
  let reads = st.list<OrderRead>('channels.read');
  /** Latest accepted status per channel + order. */
  const latest = st.map<{ channel: string; orderId: string; status: string; seq: number }>('channels.latest');
  const orders = st.map<StoredOrder>('channels.order');
  /** TikTok Shop cancellation requests: cancel id → order id. */
  const tiktokCancels = st.map<string>('channels.tiktok-cancel');
  const key = (channel: string, id: string) => `${channel}\u0000${id}`;
  const saveOrder = (o: StoredOrder) => st.put('channels.order', key(o.channel, o.id), o);
  const secretOf = (channel: string) => channelSecrets[channel] ?? '';
  // Each channel is its own merchant account, so keys are scoped per channel.
  const scope = (c: Context): string => `channel:${channelOf(c)}`;

  const api = new Hono();
  api.use('/:channel/v1/*', async (c, next) => {
    if (!(CHANNELS as readonly string[]).includes(c.req.param('channel')))
      return json(404, { error: 'not_found', detail: 'unknown channel' });
    await next();
    return undefined;
  });

  api.post(
    '/:channel/v1/order-status',
    mutation(env, {
      scope,
      service: 'channels',
      op: 'push',
      schema: statusSchema,
      match: (c, b) => ({ orderId: b.orderId, channel: channelOf(c) }),
      effect: (c, b, meta) => {
        const channel = channelOf(c);
        const k = key(channel, b.orderId);
        const cur = latest.get(k);
        // Equal seq is not newer either: only a strictly higher seq may overwrite.
        const stale = cur !== undefined && b.seq <= cur.seq;
        const p: Push = { channel, ...b, stale, idempotencyKey: meta.idempotencyKey, at: nowIso() };
        pushes.push(p);
        st.add('channels.push', p);
        if (stale) return { status: 200, body: { accepted: true, stale: true } };
        const l = { channel, orderId: b.orderId, status: b.status, seq: b.seq };
        latest.set(k, l);
        st.put('channels.latest', k, l);
        return { status: 200, body: { accepted: true } };
      },
    }),
  );

  api.post(
    '/:channel/v1/stock',
    mutation(env, {
      scope,
      service: 'channels',
      op: 'stock',
      schema: stockSchema,
      match: (c) => ({ channel: channelOf(c) }),
      effect: (c, b) => {
        recordStock(channelOf(c), b.items);
        return { status: 200, body: { accepted: true } };
      },
    }),
  );

  // ------------------------------------------------------------------ native marketplace APIs

  const query = (c: Context): Record<string, string> => Object.fromEntries(new URL(c.req.url).searchParams);
  /** The path as the platform sees it (what its signatures cover), without the sandbox's prefix. */
  const platformPath = (c: Context, channel: string) => c.req.path.slice(`/channels/${channel}`.length);

  /** An order-detail read: signature first, then faults, then the answer. */
  const read =
    (
      channel: Marketplace,
      action: string,
      check: (c: Context, q: Record<string, string>) => boolean,
      answer: (ids: string[], c: Context) => Outcome,
      idsOf: (q: Record<string, string>) => string[],
    ) =>
    async (c: Context): Promise<Response> => {
      const q = query(c);
      if (!check(c, q)) return toResponse(AUTH_FAILED[channel]);
      const ids = idsOf(q);
      const fault = await readFault(env.faults, 'channels', 'order', { channel, orderId: ids[0] }, env.stopSignal);
      if (fault) return toResponse(fault);
      st.atomic(() => {
        for (const id of ids) {
          const r: OrderRead = { channel, channelOrderId: id, action, at: nowIso() };
          reads.push(r);
          st.add('channels.read', r);
        }
      });
      return toResponse(answer(ids, c));
    };

  const stored = (channel: Marketplace, ids: string[]) =>
    ids.map((id) => orders.get(key(channel, id))).filter((o): o is StoredOrder => o !== undefined);

  /**
   * A native action (status or stock): signature, then the common POST behaviour of the
   * sandbox — Idempotency-Key honoured when sent (a repeat waits for the original still running,
   * then gets its answer), faults before the effect (a `timeout` delays it, up to the platform's
   * request timeout), lost responses after.
   */
  const action =
    (
      channel: Marketplace,
      op: 'push' | 'stock',
      check: (c: Context, q: Record<string, string>, body: string) => boolean,
      effect: (c: Context, q: Record<string, string>, body: unknown) => Outcome,
      orderOf: (c: Context, q: Record<string, string>, body: unknown) => string | undefined,
    ) =>
    async (c: Context): Promise<Response> => {
      const q = query(c);
      const text = await c.req.text();
      if (!check(c, q, text)) return toResponse(AUTH_FAILED[channel]);
      let body: unknown = {};
      if (text.trim()) {
        try {
          body = parseJsonWithBigInts(text);
        } catch {
          return json(400, { error: 'invalid_request', detail: 'body is not valid JSON' });
        }
      }
      const run = async (save?: SaveAnswer) => {
        const fault = env.faults.take('channels', op, { channel, orderId: orderOf(c, q, body) });
        const pre = await preEffect(fault, env.stopSignal, { requestTimeoutMs: PLATFORM_REQUEST_TIMEOUT_MS });
        if (pre) return { outcome: pre, store: false };
        const outcome = st.atomic(() => {
          const o = effect(c, q, body);
          save?.(o);
          return o;
        });
        if (fault?.action === 'lose_response') return { outcome, store: true, wire: INTERNAL_ERROR };
        return { outcome, store: true };
      };
      const idem = c.req.header('Idempotency-Key');
      if (!idem) {
        const ex = await run();
        return toResponse(ex.wire ?? ex.outcome);
      }
      const unsigned = Object.fromEntries(Object.entries(q).filter(([k]) => k !== 'sign' && k !== 'timestamp'));
      return env.idem.run(
        `channel:${channel}`,
        idem,
        `${c.req.method} ${c.req.path} ${stableStringify(unsigned)} ${stableStringify(body)}`,
        run,
      );
    };

  const recordCall = (channel: string, channelOrderId: string, act: string, status: string, body: unknown, c: Context) => {
    const call: NativeCall = {
      channel,
      channelOrderId,
      action: act,
      status,
      body,
      idempotencyKey: c.req.header('Idempotency-Key'),
      at: nowIso(),
    };
    calls.push(call);
    st.add('channels.call', call);
    const o = orders.get(key(channel, channelOrderId));
    if (o) {
      setNativeStatus(o, status);
      saveOrder(o);
    }
  };
  /** The platform's push of an order's new status, shortly after the call that changed it. */
  const followUp = (channel: Marketplace, id: string): void => {
    const t = setTimeout(() => {
      void deliver(channel, { channelOrderId: id, signature: 'valid', times: 1 }).catch(() => undefined);
    }, 100);
    t.unref();
  };
  const recordStock = (channel: string, items: { sku: string; available: number }[]) => {
    const u: StockUpdate = { channel, items, at: nowIso() };
    stock.push(u);
    st.add('channels.stock', u);
  };

  // Shopee ----------------------------------------------------------------------------------
  const shopeeCheck = (c: Context, q: Record<string, string>) => shopeeCallOk(q, platformPath(c, 'shopee'), secretOf('shopee'));
  api.get(
    '/shopee/api/v2/order/get_order_detail',
    read(
      'shopee',
      'get_order_detail',
      shopeeCheck,
      (ids) => ({
        status: 200,
        body: {
          request_id: randomBytes(8).toString('hex'),
          error: '',
          message: '',
          response: { order_list: stored('shopee', ids).map((o) => o.native) },
        },
      }),
      (q) => (q.order_sn_list ?? '').split(',').filter(Boolean),
    ),
  );
  const shopeeSn = (_c: Context, _q: Record<string, string>, b: unknown) => (b as { order_sn?: string }).order_sn;
  api.post(
    '/shopee/api/v2/logistics/ship_order',
    action(
      'shopee',
      'push',
      shopeeCheck,
      (c, _q, b) => {
        const sn = shopeeSn(c, _q, b);
        if (!sn) return { status: 200, body: { error: 'error_param', message: 'order_sn is required' } };
        recordCall('shopee', sn, 'ship_order', 'SHIPPED', b, c);
        return { status: 200, body: { request_id: 'sbx', error: '', message: '', response: {} } };
      },
      shopeeSn,
    ),
  );
  api.post(
    '/shopee/api/v2/order/cancel_order',
    action(
      'shopee',
      'push',
      shopeeCheck,
      (c, _q, b) => {
        const sn = shopeeSn(c, _q, b);
        if (!sn) return { status: 200, body: { error: 'error_param', message: 'order_sn is required' } };
        recordCall('shopee', sn, 'cancel_order', 'CANCELLED', b, c);
        return {
          status: 200,
          body: { request_id: 'sbx', error: '', message: '', response: { update_time: Math.floor(Date.now() / 1000) } },
        };
      },
      shopeeSn,
    ),
  );
  api.post(
    '/shopee/api/v2/order/handle_buyer_cancellation',
    action(
      'shopee',
      'push',
      shopeeCheck,
      (c, _q, b) => {
        const sn = shopeeSn(c, _q, b);
        const op = (b as { operation?: string }).operation;
        if (!sn || (op !== 'ACCEPT' && op !== 'REJECT'))
          return { status: 200, body: { error: 'error_param', message: 'order_sn and operation (ACCEPT or REJECT) are required' } };
        const o = orders.get(key('shopee', sn));
        if (o && nativeStatusOf(o) !== 'IN_CANCEL')
          return { status: 200, body: { error: 'error_status', message: `order is ${nativeStatusOf(o)}, not IN_CANCEL` } };
        recordCall('shopee', sn, 'handle_buyer_cancellation', op === 'ACCEPT' ? 'CANCELLED' : 'READY_TO_SHIP', b, c);
        // Then Shopee pushes the order's new status, as it does for every change.
        followUp('shopee', sn);
        return {
          status: 200,
          body: { request_id: 'sbx', error: '', message: '', response: { update_time: Math.floor(Date.now() / 1000) } },
        };
      },
      shopeeSn,
    ),
  );
  api.post(
    '/shopee/api/v2/product/update_stock',
    action(
      'shopee',
      'stock',
      shopeeCheck,
      (_c, _q, b) => {
        const list = (b as { stock_list?: { model_sku: string; seller_stock: { stock: number }[] }[] }).stock_list;
        if (!Array.isArray(list) || !list.length) return { status: 200, body: { error: 'error_param', message: 'stock_list is required' } };
        recordStock(
          'shopee',
          list.map((s) => ({ sku: s.model_sku, available: s.seller_stock.reduce((a, x) => a + x.stock, 0) })),
        );
        return { status: 200, body: { request_id: 'sbx', error: '', message: '', response: { success_list: list, failure_list: [] } } };
      },
      () => undefined,
    ),
  );

  // Lazada ----------------------------------------------------------------------------------
  const lazadaCheck = (c: Context, q: Record<string, string>) =>
    lazadaCallOk(q, platformPath(c, 'lazada').replace(/^\/rest/, ''), secretOf('lazada'));
  const lazadaOk = (data: unknown): Outcome => ({ status: 200, body: { code: '0', request_id: randomBytes(8).toString('hex'), data } });
  const lazadaMissing: Outcome = {
    status: 200,
    body: { code: 'ORDER_NOT_FOUND', type: 'ISV', message: 'order not found', request_id: 'sbx' },
  };
  api.get(
    '/lazada/rest/order/get',
    read(
      'lazada',
      'get_order',
      lazadaCheck,
      (ids) => {
        const [o] = stored('lazada', ids);
        return o ? lazadaOk(o.native.order) : lazadaMissing;
      },
      (q) => [q.order_id ?? ''],
    ),
  );
  api.get(
    '/lazada/rest/order/items/get',
    read(
      'lazada',
      'get_order_items',
      lazadaCheck,
      (ids) => {
        const [o] = stored('lazada', ids);
        return o ? lazadaOk(o.native.items) : lazadaMissing;
      },
      (q) => [q.order_id ?? ''],
    ),
  );
  /** Lazada acts on order items; the order is the one holding them. */
  const lazadaOrderOfItems = (itemIds: string[]) =>
    [...orders.values()].find(
      (o) =>
        o.channel === 'lazada' &&
        ((o.native.items as { order_item_id: unknown }[] | undefined) ?? []).some((i) => itemIds.includes(String(i.order_item_id))),
    )?.id;
  const rtsItems = (q: Record<string, string>) => {
    try {
      return (parseJsonWithBigInts(q.order_item_ids ?? '[]') as unknown[]).map((v) => String(v as string | number | bigint));
    } catch {
      return [];
    }
  };
  api.post(
    '/lazada/rest/order/rts',
    action(
      'lazada',
      'push',
      lazadaCheck,
      (c, q) => {
        const id = lazadaOrderOfItems(rtsItems(q)) ?? `items:${rtsItems(q).join(',')}`;
        recordCall('lazada', id, 'set_ready_to_ship', 'ready_to_ship', q, c);
        return lazadaOk({ order_items: rtsItems(q).map((i) => ({ order_item_id: Number(i), tracking_number: q.tracking_number })) });
      },
      (_c, q) => lazadaOrderOfItems(rtsItems(q)),
    ),
  );
  api.post(
    '/lazada/rest/order/cancel',
    action(
      'lazada',
      'push',
      lazadaCheck,
      (c, q) => {
        const id = lazadaOrderOfItems([q.order_item_id ?? '']) ?? `item:${q.order_item_id}`;
        recordCall('lazada', id, 'cancel_item', 'canceled', q, c);
        return lazadaOk({});
      },
      (_c, q) => lazadaOrderOfItems([q.order_item_id ?? '']),
    ),
  );
  api.post(
    '/lazada/rest/product/stock/sellable/update',
    action(
      'lazada',
      'stock',
      lazadaCheck,
      (_c, q) => {
        let skus: { SellerSku: string; SellableQuantity: number }[] = [];
        try {
          skus = (JSON.parse(q.payload ?? '') as { Request: { Product: { Skus: { Sku: typeof skus } } } }).Request.Product.Skus.Sku;
        } catch {
          /* refused below */
        }
        if (!Array.isArray(skus) || !skus.length)
          return { status: 200, body: { code: 'InvalidParameter', type: 'ISV', message: 'payload', request_id: 'sbx' } };
        recordStock(
          'lazada',
          skus.map((s) => ({ sku: s.SellerSku, available: Number(s.SellableQuantity) })),
        );
        return lazadaOk({});
      },
      () => undefined,
    ),
  );

  // TikTok Shop -----------------------------------------------------------------------------
  const tiktokCheck = (c: Context, q: Record<string, string>, body = '') =>
    tiktokCallOk(q, platformPath(c, 'tiktok'), body, c.req.header('x-tts-access-token'), secretOf('tiktok')) === 'ok';
  const tiktokOk = (data: unknown): Outcome => ({
    status: 200,
    body: { code: 0, message: 'Success', request_id: randomBytes(8).toString('hex'), data },
  });
  api.get(
    '/tiktok/order/202309/orders',
    read(
      'tiktok',
      'get_order_detail',
      (c, q) => tiktokCheck(c, q),
      (ids) => tiktokOk({ orders: stored('tiktok', ids).map((o) => o.native) }),
      (q) => (q.ids ?? '').split(',').filter(Boolean),
    ),
  );
  api.post(
    '/tiktok/fulfillment/202309/orders/:orderId/packages',
    action(
      'tiktok',
      'push',
      tiktokCheck,
      (c, _q, b) => {
        const id = c.req.param('orderId') ?? '';
        recordCall('tiktok', id, 'mark_package_shipped', 'AWAITING_COLLECTION', b, c);
        return tiktokOk({ package_id: `pkg_${id}` });
      },
      (c) => c.req.param('orderId'),
    ),
  );
  const tiktokOrderOf = (_c: Context, _q: Record<string, string>, b: unknown) => (b as { order_id?: string }).order_id;
  api.post(
    '/tiktok/return_refund/202309/cancellations',
    action(
      'tiktok',
      'push',
      tiktokCheck,
      (c, _q, b) => {
        const id = tiktokOrderOf(c, _q, b);
        if (!id) return { status: 400, body: { code: 36009001, message: 'order_id is required' } };
        recordCall('tiktok', id, 'cancel_order', 'CANCELLED', b, c);
        return tiktokOk({ cancel_id: `cnl_${id}`, cancel_status: 'CANCELLATION_REQUEST_COMPLETE' });
      },
      tiktokOrderOf,
    ),
  );
  /** The order of a buyer's cancellation request (made by the buyer-cancel control). */
  const tiktokCancelOrder = (c: Context) => tiktokCancels.get(c.req.param('cancelId') ?? '') ?? '';
  api.post(
    '/tiktok/return_refund/202309/cancellations/:cancelId/approve',
    action(
      'tiktok',
      'push',
      tiktokCheck,
      (c, _q, b) => {
        const id = tiktokCancelOrder(c);
        if (!orders.get(key('tiktok', id))) return { status: 404, body: { code: 36009004, message: 'cancellation not found' } };
        recordCall('tiktok', id, 'approve_cancellation', 'CANCELLED', b, c);
        followUp('tiktok', id);
        return tiktokOk({});
      },
      (c) => tiktokCancelOrder(c),
    ),
  );
  api.post(
    '/tiktok/product/202309/inventory/update',
    action(
      'tiktok',
      'stock',
      tiktokCheck,
      (_c, _q, b) => {
        const skus = (b as { skus?: { seller_sku: string; inventory: { quantity: number }[] }[] }).skus;
        if (!Array.isArray(skus) || !skus.length) return { status: 400, body: { code: 12019001, message: 'skus is required' } };
        recordStock(
          'tiktok',
          skus.map((s) => ({ sku: s.seller_sku, available: s.inventory.reduce((a, x) => a + x.quantity, 0) })),
        );
        return tiktokOk({});
      },
      () => undefined,
    ),
  );

  // Shopify ---------------------------------------------------------------------------------
  const shopifyCheck = (c: Context) => c.req.header('X-Shopify-Access-Token') === DEV_CHANNEL_ACCOUNTS.shopify!.accessToken;
  const shopifyId = (c: Context) => (c.req.param('file') ?? c.req.param('id') ?? '').replace(/\.json$/, '');
  api.put(
    '/shopify/admin/api/:version/orders/:file',
    action(
      'shopify',
      'push',
      shopifyCheck,
      (c, _q, b) => {
        const id = shopifyId(c);
        const order = (b as { order?: { tags?: string } }).order;
        if (!order || !c.req.param('file')?.endsWith('.json'))
          return { status: 400, body: { errors: { order: 'Required parameter missing or invalid' } } };
        recordCall('shopify', id, 'update_order', order.tags ?? '', b, c);
        return { status: 200, body: { order: { id: Number(id) || id, tags: order.tags } } };
      },
      (c) => shopifyId(c),
    ),
  );
  api.post(
    '/shopify/admin/api/:version/orders/:id/cancel.json',
    action(
      'shopify',
      'push',
      shopifyCheck,
      (c, _q, b) => {
        const id = shopifyId(c);
        recordCall('shopify', id, 'cancel_order', 'cancelled', b, c);
        return { status: 200, body: { order: { id: Number(id) || id, cancelled_at: nowIso() } } };
      },
      (c) => shopifyId(c),
    ),
  );
  api.post(
    '/shopify/admin/api/:version/graphql.json',
    action(
      'shopify',
      'stock',
      shopifyCheck,
      (_c, _q, b) => {
        const qs = (b as { variables?: { input?: { quantities?: { inventoryItemId: string; quantity: number }[] } } }).variables?.input
          ?.quantities;
        if (!Array.isArray(qs) || !qs.length)
          return { status: 200, body: { errors: [{ message: 'quantities is required', extensions: { code: 'BAD_REQUEST' } }] } };
        recordStock(
          'shopify',
          qs.map((x) => ({ sku: x.inventoryItemId.replace(/^gid:\/\/shopify\/InventoryItem\/sku:/, ''), available: x.quantity })),
        );
        return { status: 200, body: { data: { inventorySetQuantities: { userErrors: [] } } } };
      },
      () => undefined,
    ),
  );

  // ------------------------------------------------------------------ controls

  const control = new Hono();

  /** A marketplace order in the platform's own shape, as its order-detail API will serve it. */
  control.post('/channels/:channel/orders', async (c) => {
    const channel = channelOf(c) as Marketplace;
    if (!(MARKETPLACES as readonly string[]).includes(channel)) return json(404, { error: 'not_found', detail: 'not a marketplace' });
    const p = await parseBody(c.req.raw, z.record(z.string(), z.unknown()));
    if (!p.ok) return p.response;
    const id = nativeId(channel, p.value);
    if (!id) return json(400, { error: 'invalid_request', detail: 'the order has no platform id' });
    const o: StoredOrder = { channel, id, native: structuredClone(p.value) };
    orders.set(key(channel, id), o);
    saveOrder(o);
    return json(201, { channelOrderId: id });
  });

  control.post('/channels/:channel/orders/:id/status', async (c) => {
    const o = orders.get(key(channelOf(c), c.req.param('id')));
    if (!o) return json(404, { error: 'not_found' });
    const p = await parseBody(c.req.raw, z.object({ status: z.string().min(1) }));
    if (!p.ok) return p.response;
    setNativeStatus(o, p.value.status);
    saveOrder(o);
    return json(200, { channelOrderId: o.id, status: nativeStatusOf(o) });
  });

  /**
   * Sends the platform's webhook for an order to the OMS, signed as the platform signs it:
   * Shopify the whole order, Shopee/Lazada/TikTok a thin status notification, web/POS the
   * canonical order. `times` delivers the same bytes again (at-least-once delivery).
   */
  type Notify = z.infer<typeof notifySchema>;
  /** Sends one webhook of `channel` to the OMS, signed as the platform signs it. */
  const deliver = async (channel: string, n: Notify): Promise<Outcome> => {
    const base = env.omsBaseUrl();
    if (!base) return { status: 409, body: { error: 'oms_base_url_unset' } };
    const url = `${base.replace(/\/$/, '')}/v1/channels/${channel}/webhooks`;
    const o = n.channelOrderId ? orders.get(key(channel, n.channelOrderId)) : undefined;
    if (n.rawBody === undefined && channel !== 'web' && channel !== 'pos' && !o)
      return { status: 404, body: { error: 'not_found', detail: 'no such order on the platform' } };
    const now = Date.now();
    const status = n.status ?? (o ? nativeStatusOf(o) : '');
    const account = DEV_CHANNEL_ACCOUNTS[channel]!;
    let body: string;
    if (n.rawBody !== undefined) body = n.rawBody;
    // The platforms' pushes, in the shapes they publish (sandbox/corpus.ts).
    else if (channel === 'shopee') body = stringifyJson(shopeeStatusPush({ ordersn: o!.id, status, shopId: Number(account.shopId) }));
    else if (channel === 'lazada') {
      const line = ((o!.native.items as { order_item_id: unknown }[] | undefined) ?? [])[0]?.order_item_id;
      body = stringifyJson(
        lazadaTradePush({
          tradeOrderId: o!.id,
          status,
          sellerId: account.shopId,
          ...(typeof line === 'string' || typeof line === 'number' || typeof line === 'bigint' ? { lineId: String(line) } : {}),
          ...(n.reverseOrderId ? { reverseOrderId: n.reverseOrderId } : {}),
        }),
      );
    } else if (channel === 'tiktok') {
      body = stringifyJson(
        n.cancelId
          ? tiktokCancellationPush({
              orderId: o!.id,
              cancelId: n.cancelId,
              status: status || 'CANCELLATION_REQUEST_PENDING',
              role: 'BUYER',
              shopId: TIKTOK_SHOP_ID,
            })
          : tiktokStatusPush({ orderId: o!.id, status, shopId: TIKTOK_SHOP_ID, ...(n.eventId ? { notificationId: n.eventId } : {}) }),
      );
    } else if (channel === 'shopify') body = stringifyJson(o!.native);
    else body = JSON.stringify(n.order ?? {});

    const secret = n.signature === 'wrong' ? `${secretOf(channel)}-not` : secretOf(channel);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (n.signature !== 'none') {
      if (channel === 'shopee') headers.Authorization = hmac(secret, `${url}|${body}`);
      else if (channel === 'lazada' || channel === 'tiktok') headers.Authorization = hmac(secret, account.appKey + body);
      else if (channel === 'shopify') headers['X-Shopify-Hmac-Sha256'] = createHmac('sha256', secret).update(body, 'utf8').digest('base64');
      else headers['X-Channel-Signature'] = hmac(secret, body);
    }
    if (channel === 'shopify') {
      headers['X-Shopify-Topic'] = n.topic ?? 'orders/create';
      headers['X-Shopify-Webhook-Id'] = n.eventId ?? randomUUID();
      headers['X-Shopify-Shop-Domain'] = account.shopId;
      headers['X-Shopify-Triggered-At'] = new Date(now).toISOString();
    }
    const deliveries: { status: number; body: unknown }[] = [];
    for (let i = 0; i < n.times; i++) {
      try {
        const res = await fetch(url, { method: 'POST', headers, body, signal: env.stopSignal });
        const text = await res.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* keep the text */
        }
        deliveries.push({ status: res.status, body: parsed });
      } catch (err) {
        deliveries.push({ status: 0, body: { error: (err as Error).message } });
      }
    }
    return { status: 200, body: { url, sent: { headers, body }, deliveries } };
  };

  control.post('/channels/:channel/notify', async (c) => {
    const channel = channelOf(c);
    if (!(CHANNELS as readonly string[]).includes(channel)) return json(404, { error: 'not_found' });
    const p = await parseBody(c.req.raw, notifySchema);
    if (!p.ok) return p.response;
    return toResponse(await deliver(channel, p.value));
  });

  /**
   * The buyer cancels on the platform, before or after handover, and the platform tells the OMS
   * its own way: Shopify cancels the order and sends `orders/cancelled`; Shopee moves it to
   * IN_CANCEL (the seller must answer) and pushes that; Lazada cancels it through a reverse order
   * and pushes `canceled`; TikTok Shop opens a cancellation request (type 11) for the seller.
   */
  control.post('/channels/:channel/orders/:id/buyer-cancel', async (c) => {
    const channel = channelOf(c) as Marketplace;
    const o = orders.get(key(channel, c.req.param('id')));
    if (!o || !(MARKETPLACES as readonly string[]).includes(channel)) return json(404, { error: 'not_found' });
    const before = nativeStatusOf(o);
    let n: Partial<Notify> = {};
    if (channel === 'shopify') {
      o.native.cancelled_at = nowIso();
      o.native.cancel_reason = 'customer';
      o.native.financial_status = o.native.financial_status === 'paid' ? 'refunded' : 'voided';
      n = { topic: 'orders/cancelled' };
    } else if (channel === 'shopee') {
      setNativeStatus(o, 'IN_CANCEL');
      n = { status: 'IN_CANCEL' };
    } else if (channel === 'lazada') {
      setNativeStatus(o, 'canceled');
      n = { status: 'canceled', reverseOrderId: freshIds.lazada() };
    } else {
      const cancelId = `40${freshIds.tiktok().slice(2)}`;
      tiktokCancels.set(cancelId, o.id);
      st.put('channels.tiktok-cancel', cancelId, o.id);
      n = { cancelId, status: 'CANCELLATION_REQUEST_PENDING' };
    }
    saveOrder(o);
    const sent = await deliver(channel, { channelOrderId: o.id, signature: 'valid', times: 1, ...n });
    return json(sent.status, {
      ...(sent.body as Record<string, unknown>),
      before,
      platformStatus: nativeStatusOf(o),
      ...(n.cancelId ? { cancelId: n.cancelId } : {}),
    });
  });

  control.get('/ledger/channels', (c) => {
    const channel = c.req.query('channel');
    const orderId = c.req.query('orderId');
    const channelOrderId = c.req.query('channelOrderId');
    const keep = (x: { channel: string; orderId: string }) => (!channel || x.channel === channel) && (!orderId || x.orderId === orderId);
    const keepNative = (x: { channel: string; channelOrderId: string }) =>
      (!channel || x.channel === channel) && (!channelOrderId || x.channelOrderId === channelOrderId);
    const latestOut: Record<string, { status: string; seq: number; channel: string }> = {};
    for (const l of latest.values()) if (keep(l)) latestOut[l.orderId] = { status: l.status, seq: l.seq, channel: l.channel };
    const platformOrders: Record<string, { channel: string; status: string }> = {};
    for (const o of orders.values())
      if (keepNative({ channel: o.channel, channelOrderId: o.id }))
        platformOrders[o.id] = { channel: o.channel, status: nativeStatusOf(o) };
    return json(200, {
      pushes: pushes.filter(keep),
      latest: latestOut,
      stock: stock.filter((s) => !channel || s.channel === channel),
      calls: calls.filter(keepNative),
      reads: reads.filter(keepNative),
      orders: platformOrders,
    });
  });

  return {
    api,
    control,
    reset(): void {
      pushes = [];
      stock = [];
      calls = [];
      reads = [];
      latest.clear();
      orders.clear();
    },
  };
}
