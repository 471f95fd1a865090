/**
 * The emulated marketplaces speak the platforms' own payloads: every webhook they send, and every
 * order they make up, starts from a payload the platform published (test/fixtures/channels, with
 * its source in the README there) and only gets fresh ids, times and the status in question. So
 * an end-to-end test exercises the real shapes — Shopify's 18-digit numeric ids, Shopee's
 * `completed_scenario: null`, TikTok's `CANCEL` — not the sandbox's idea of them.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseJsonWithBigInts } from '../lib/lossless-json';

export const CHANNEL_FIXTURES_DIR = new URL('../test/fixtures/channels/', import.meta.url);

type Doc = Record<string, unknown>;
const cache = new Map<string, Doc>();

/** A fresh copy of a corpus payload (64-bit ids as bigint, so they go out as the numbers they were). */
export function corpusPayload(path: string): Doc {
  let doc = cache.get(path);
  if (!doc) {
    doc = parseJsonWithBigInts(readFileSync(new URL(path, CHANNEL_FIXTURES_DIR), 'utf8')) as Doc;
    cache.set(path, doc);
  }
  return structuredClone(doc);
}

const digits = (n: number): string => Array.from({ length: n }, (_, i) => String(randomInt(i === 0 ? 1 : 0, 10))).join('');

/** Fresh platform ids in each platform's own form. */
export const freshIds = {
  /** Shopify: a JSON number, 18 digits in its own examples (beyond 2^53). */
  shopify: (): bigint => BigInt(`8${digits(17)}`),
  /** Shopee: a 14-character order sn, date first (251214B9XAB0ST). */
  shopee: (): string => {
    const d = new Date();
    const ymd = `${String(d.getUTCFullYear()).slice(2)}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
    const alphabet = '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ';
    return ymd + Array.from({ length: 8 }, () => alphabet[randomInt(alphabet.length)]).join('');
  },
  /** Lazada: 15-digit numeric ids (as strings in pushes, numbers in its API answers). */
  lazada: (): string => digits(15),
  /** TikTok Shop: 18-digit numeric ids, always strings. */
  tiktok: (): string => `57${digits(16)}`,
  /** A 32-hex message id (Shopee's msg_id). */
  messageId: (): string => randomBytes(16).toString('hex'),
};

const unix = (ms = Date.now()) => Math.floor(ms / 1000);

/** Shopee order status push (code 3), shaped as a live push (push-order-status-ready-to-ship-live.json). */
export function shopeeStatusPush(a: { ordersn: string; status: string; shopId: number }): Doc {
  const p = corpusPayload('shopee/push-order-status-ready-to-ship-live.json');
  const now = Date.now();
  p.msg_id = freshIds.messageId();
  p.shop_id = a.shopId;
  p.timestamp = unix(now);
  Object.assign(p.data as Doc, {
    ordersn: a.ordersn,
    status: a.status,
    update_time: unix(now) - 1,
    completed_scenario: a.status === 'COMPLETED' ? 'NORMAL' : null,
  });
  return p;
}

/** Lazada trade order message (message_type 0), shaped as Lazada's documented one (push-trade-order-unpaid.json). */
export function lazadaTradePush(a: {
  tradeOrderId: string;
  lineId?: string;
  status: string;
  sellerId: string;
  reverseOrderId?: string;
}): Doc {
  const p = corpusPayload('lazada/push-trade-order-unpaid.json');
  const now = Date.now();
  p.seller_id = a.sellerId;
  p.timestamp = now;
  const data = p.data as Doc;
  Object.assign(data, { order_status: a.status, trade_order_id: a.tradeOrderId, status_update_time: unix(now) });
  if (a.lineId) data.trade_order_line_id = a.lineId;
  else delete data.trade_order_line_id;
  if (a.reverseOrderId) Object.assign(data, { reverse_order_id: a.reverseOrderId, reverse_order_line_id: freshIds.lazada() });
  return p;
}

/** TikTok Shop ORDER_STATUS_CHANGE (type 1), shaped as a captured one (push-order-status-awaiting-shipment-captured.json). */
export function tiktokStatusPush(a: { orderId: string; status: string; shopId: string; notificationId?: string }): Doc {
  const p = corpusPayload('tiktok/push-order-status-awaiting-shipment-captured.json');
  const now = Date.now();
  Object.assign(p, { tts_notification_id: a.notificationId ?? `73${freshIds.tiktok().slice(2)}`, shop_id: a.shopId, timestamp: unix(now) });
  // TikTok's webhook says CANCEL where its order API says CANCELLED.
  Object.assign(p.data as Doc, {
    order_id: a.orderId,
    order_status: a.status === 'CANCELLED' ? 'CANCEL' : a.status,
    update_time: unix(now) - 1,
    is_on_hold_order: a.status === 'ON_HOLD',
  });
  return p;
}

/** TikTok Shop CANCELLATION_STATUS_CHANGE (type 11), shaped as the documented one. */
export function tiktokCancellationPush(a: { orderId: string; cancelId: string; status: string; role: string; shopId: string }): Doc {
  const p = corpusPayload('tiktok/push-cancellation-status-change-pending-docs-example.json');
  Object.assign(p, { tts_notification_id: `73${freshIds.tiktok().slice(2)}`, shop_id: a.shopId, timestamp: unix() });
  Object.assign(p.data as Doc, {
    order_id: a.orderId,
    cancel_id: a.cancelId,
    cancel_status: a.status,
    cancellations_role: a.role,
    create_time: unix(),
  });
  return p;
}
