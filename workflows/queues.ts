/**
 * Task queues. Workflows, the OMS's own database work, the payment gateway and the WMS run on the
 * worker's task queue (OMS_TASK_QUEUE); calls to carriers and to sales channels run on queues of
 * their own beside it — `<queue>-carriers`, `<queue>-channels` — so a platform's rate limit
 * (OMS_CARRIER_CALLS_PER_SECOND, OMS_CHANNEL_CALLS_PER_SECOND, enforced by the Temporal server for
 * every worker of the queue) and a slow platform never hold up the orders' own steps, and a
 * deployment can give outside traffic workers of its own (OMS_WORKER_QUEUES).
 */
import type { Activities } from '../activities';
import { OUTSIDE_QUEUES, type OutsideQueue } from '../domain/queues';

export { outsideQueueName } from '../domain/queues';

/** The activities that call carriers or sales channels, by the queue they run on. */
export const OUTSIDE_ACTIVITIES = {
  carriers: ['bookShipment', 'bookReturnLabel', 'cancelBooking', 'trackShipment'],
  channels: ['fetchChannelOrder', 'pushOrderStatus', 'syncStockRound'],
} as const satisfies Record<OutsideQueue, readonly (keyof Activities)[]>;

/** The outside queue an activity runs on; undefined: the worker's own queue. */
export function outsideQueueOf(activity: string): OutsideQueue | undefined {
  return OUTSIDE_QUEUES.find((q) => (OUTSIDE_ACTIVITIES[q] as readonly string[]).includes(activity));
}
