/** Tells the originating channel about a status change; keyed by (order, seq), so the channel keeps the newest. */
import { callJson, type OutsideSystem } from '../http';

export function createChannelActivities(channels: OutsideSystem) {
  return {
    async pushOrderStatus(input: { channel: string; orderId: string; channelOrderId: string; status: string; seq: number; occurredAt: string; detail?: Record<string, unknown> }): Promise<void> {
      const { channel, ...body } = input;
      await callJson(channels, `/channels/${encodeURIComponent(channel)}/v1/order-status`, { body, idempotencyKey: `${input.orderId}:status:${input.seq}` });
    },
  };
}
