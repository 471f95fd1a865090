/** The channel adapters, one per sales channel, behind one interface. */
// zod schemas copy their methods when they are built, so zod's OpenAPI extension must be installed
// before any schema the API documents (these, and the canonical order they import) is created.
import '@hono/zod-openapi';
import { CHANNELS, type Channel } from '../../../domain/order';
import { canonicalAdapter } from './canonical';
import { lazadaAdapter } from './lazada';
import { shopeeAdapter } from './shopee';
import { shopifyAdapter } from './shopify';
import { tiktokAdapter } from './tiktok';
import type { ChannelAdapter } from './types';

export const ADAPTERS: Record<Channel, ChannelAdapter> = {
  web: canonicalAdapter('web'),
  pos: canonicalAdapter('pos'),
  shopify: shopifyAdapter,
  shopee: shopeeAdapter,
  lazada: lazadaAdapter,
  tiktok: tiktokAdapter,
};

export const isChannel = (c: string): c is Channel => (CHANNELS as readonly string[]).includes(c);

export function adapterFor(channel: string): ChannelAdapter {
  if (!isChannel(channel)) throw new Error(`unknown channel ${channel}`);
  return ADAPTERS[channel];
}

export { channelCredentials, DEV_CHANNEL_ACCOUNTS } from './accounts';
export type * from './types';
export type { FieldIssue, InboundRequest, Parsed } from './common';
