/**
 * The seller accounts the OMS acts for on each platform. The secret comes from configuration
 * (OMS_CHANNEL_SECRETS); the public ids and the access token are the development account the
 * sandbox knows. A production deployment would configure them per channel as well (and refresh
 * the OAuth tokens); that is not built yet, so the ids below are the only account supported.
 */
import type { ChannelCredentials } from './types';

export const DEV_CHANNEL_ACCOUNTS: Record<string, Omit<ChannelCredentials, 'secret'>> = {
  web: { appKey: 'web', shopId: 'web', accessToken: '' },
  pos: { appKey: 'pos', shopId: 'pos', accessToken: '' },
  // Shopify: the shop domain identifies the store; the Admin API takes the app's access token.
  shopify: { appKey: 'durable-oms-dev.myshopify.com', shopId: 'durable-oms-dev.myshopify.com', accessToken: 'shpat_dev_durable_oms' },
  shopee: { appKey: '2004567', shopId: '880123456', accessToken: 'dev-shopee-access-token' },
  lazada: { appKey: '112233', shopId: '200145678', accessToken: 'dev-lazada-access-token' },
  tiktok: { appKey: '6abcde12fgh34', shopId: 'ROW_dev_shop_cipher', accessToken: 'ROW_dev_tiktok_access_token' },
};

export function channelCredentials(channel: string, secret: string): ChannelCredentials {
  const account = DEV_CHANNEL_ACCOUNTS[channel];
  if (!account) throw new Error(`no account for channel ${channel}`);
  return { secret, ...account };
}
