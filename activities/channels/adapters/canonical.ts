/**
 * The OMS's own format, for the channels we build ourselves (web shop, POS): the webhook body
 * is already a canonical order, signed with `X-Channel-Signature` = hex HMAC-SHA256 of the raw
 * body. Status and stock go back in the canonical shape too (`/v1/order-status`, `/v1/stock`).
 */
import { CanonicalOrderSchema, type Channel } from '../../../domain/order';
import { hmacHex, sameSignature, zodIssues, type InboundRequest, type Parsed } from './common';
import type { ChannelAdapter, ChannelCredentials, ChannelRequest, Disposition, Notification, StatusPushInput, StockLevel } from './types';

export function canonicalAdapter(channel: Extract<Channel, 'web' | 'pos'>): ChannelAdapter {
  const json = (path: string, body: unknown, action: string): ChannelRequest => ({
    method: 'POST',
    path,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    action,
  });
  return {
    channel,
    delivery: 'full',
    keepsHighestSeq: true,
    signature: { header: 'X-Channel-Signature', scheme: 'hex HMAC-SHA256 of the raw body, keyed with the channel secret' },

    verifyWebhook(req: InboundRequest, creds: ChannelCredentials): boolean {
      return sameSignature(hmacHex(creds.secret, req.rawBody), req.header('x-channel-signature'), 'hex');
    },

    parseWebhook(body: unknown): Parsed<Notification> {
      const r = CanonicalOrderSchema.safeParse(body);
      if (!r.success) return { ok: false, issues: zodIssues(r.error) };
      if (r.data.channel !== channel)
        return { ok: false, issues: [{ path: 'channel', message: `must be "${channel}" on this channel's webhook` }] };
      // An order is placed once; its id is the event.
      return {
        ok: true,
        value: {
          eventId: `order:${r.data.channelOrderId}`,
          channelOrderId: r.data.channelOrderId,
          nativeStatus: 'placed',
          disposition: 'intake',
          order: r.data,
        },
      };
    },

    dispositionOf(nativeStatus: string): Disposition {
      if (nativeStatus !== 'placed') throw new Error(`unknown ${channel} status ${nativeStatus}`);
      return 'intake';
    },

    platformError: () => undefined,

    /** Our own channels take every status, with its sequence number so they can keep the newest. */
    statusPush(input: StatusPushInput): ChannelRequest[] {
      const { orderId, channelOrderId, status, seq, occurredAt, detail } = input;
      return [
        json('/v1/order-status', { orderId, channelOrderId, status, seq, occurredAt, ...(detail ? { detail } : {}) }, 'order_status'),
      ];
    },

    stockUpdateBody(items: StockLevel[]) {
      return { items: items.map((i) => ({ sku: i.sku, available: i.available })) };
    },

    stockUpdateRequest(items: StockLevel[]): ChannelRequest {
      return json('/v1/stock', this.stockUpdateBody(items), 'stock');
    },
  };
}
