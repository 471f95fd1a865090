/**
 * Emulated sales channels (web, POS, marketplaces): they receive order-status pushes and stock
 * levels. Pushes may arrive out of order, so a channel keeps the one with the highest seq.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';
import { json, nowIso, type SandboxEnv } from './common';
import { mutation } from './idempotency';

/** Channels the sandbox emulates; anything else is 404. */
export const CHANNELS = ['web', 'pos', 'shopify', 'shopee', 'lazada', 'tiktok'] as const;

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

const channelOf = (c: Context): string => c.req.param('channel') ?? '';

/** Builds the channels API (`/channels/:channel/v1`) and its ledger route. */
export function createChannels(env: SandboxEnv) {
  let pushes: Push[] = [];
  let stock: { channel: string; items: { sku: string; available: number }[]; at: string }[] = [];
  /** Latest accepted status per channel + order. */
  const latest = new Map<string, { channel: string; orderId: string; status: string; seq: number }>();
  // Each channel is its own merchant account, so keys are scoped per channel.
  const scope = (c: Context): string => `channel:${channelOf(c)}`;

  const api = new Hono();
  api.use('/:channel/v1/*', async (c, next) => {
    if (!(CHANNELS as readonly string[]).includes(c.req.param('channel'))) return json(404, { error: 'not_found', detail: 'unknown channel' });
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
        const k = `${channel}\u0000${b.orderId}`;
        const cur = latest.get(k);
        // Equal seq is not newer either: only a strictly higher seq may overwrite.
        const stale = cur !== undefined && b.seq <= cur.seq;
        pushes.push({ channel, ...b, stale, idempotencyKey: meta.idempotencyKey, at: nowIso() });
        if (stale) return { status: 200, body: { accepted: true, stale: true } };
        latest.set(k, { channel, orderId: b.orderId, status: b.status, seq: b.seq });
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
        stock.push({ channel: channelOf(c), items: b.items, at: nowIso() });
        return { status: 200, body: { accepted: true } };
      },
    }),
  );

  const control = new Hono();
  control.get('/ledger/channels', (c) => {
    const channel = c.req.query('channel');
    const orderId = c.req.query('orderId');
    const keep = (x: { channel: string; orderId: string }) => (!channel || x.channel === channel) && (!orderId || x.orderId === orderId);
    const latestOut: Record<string, { status: string; seq: number; channel: string }> = {};
    for (const l of latest.values()) if (keep(l)) latestOut[l.orderId] = { status: l.status, seq: l.seq, channel: l.channel };
    return json(200, {
      pushes: pushes.filter(keep),
      latest: latestOut,
      stock: stock.filter((s) => !channel || s.channel === channel),
    });
  });

  return {
    api,
    control,
    reset(): void {
      pushes = [];
      stock = [];
      latest.clear();
    },
  };
}
