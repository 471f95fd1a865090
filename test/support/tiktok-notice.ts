/**
 * A fresh TikTok Shop order put on the sandbox's platform (from TikTok's own order-detail
 * fixture, with new ids), and the signed ORDER_STATUS_CHANGE notification that announces it.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { channelCredentials } from '../../activities/channels/adapters';
import { hmacHex } from '../../activities/channels/adapters/common';
import { DEV_CHANNEL_SECRETS } from '../../lib/config';

export async function tiktokOrderAndNotice(sandboxUrl: string): Promise<{ id: string; init: () => RequestInit }> {
  const id = `57${Array.from({ length: 16 }, (_, i) => (i === 0 ? randomInt(1, 10) : randomInt(0, 10))).join('')}`;
  const doc = JSON.parse(readFileSync(new URL('../fixtures/channels/tiktok/order-detail-cod.json', import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;
  const lines = (doc.line_items as Record<string, unknown>[]).map((l, n) => ({ ...l, id: `${id.slice(0, 16)}${n}9` }));
  const put = await fetch(`${sandboxUrl}/sandbox/channels/tiktok/orders`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...doc, id, line_items: lines }),
  });
  expect(put.status).toBeLessThan(300);
  const now = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({
    type: 1,
    tts_notification_id: `74${id.slice(2)}`,
    shop_id: '7494000000000000001',
    timestamp: now,
    data: { order_id: id, order_status: 'AWAITING_SHIPMENT', update_time: now },
  });
  const creds = channelCredentials('tiktok', DEV_CHANNEL_SECRETS.tiktok!);
  return {
    id,
    init: () => ({
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/json', Authorization: hmacHex(creds.secret, creds.appKey + body) },
    }),
  };
}
