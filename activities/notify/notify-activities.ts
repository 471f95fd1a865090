/** Tells ops when an order escalates: one message per escalation, deduplicated by its key. */
import { callJson, type OutsideSystem } from '../http';

export interface OpsNotice {
  orderId: string;
  shipmentId?: string;
  kind: string;
  level: number;
  text: string;
  key: string;
}

export function createNotifyActivities(notify: OutsideSystem) {
  return {
    async notifyOps(n: OpsNotice): Promise<{ messageId: string }> {
      const { key, ...body } = n;
      return callJson(notify, '/v1/messages', { body, idempotencyKey: key });
    },
  };
}
