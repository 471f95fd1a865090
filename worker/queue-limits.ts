/**
 * The rate limits of the outside task queues (`<queue>-carriers`, `<queue>-channels`) as the
 * queues' own configuration on the Temporal server: set by the workers that serve them, read back
 * by the chaos and cluster runs to show the server kept them.
 */
import { hostname } from 'node:os';
import proto from '@temporalio/proto';
import type { NativeConnection } from '@temporalio/worker';
import { outsideQueueName, type OutsideQueue } from '../domain/queues';
import type { Logger } from '../lib/logger';

type WorkflowServiceOf = Pick<NativeConnection, 'workflowService'>;
const ACTIVITY = proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY;

/**
 * Sets an outside queue's rate limit on the Temporal server, as the queue's own configuration
 * (UpdateTaskQueueConfig). A limit sent only with polls binds each partition of the queue once a
 * poll reaches it, and calls waiting on a partition no poll has reached yet go out at once (seen:
 * six waiting bookings within 12 ms at 2/s); the queue's configuration reaches every partition
 * before it hands out a task. Where the server refuses it (an older server, a Temporal Cloud key
 * without the permission), the worker says so (false) and keeps the per-poll limit.
 */
export async function setQueueRateLimit(
  connection: WorkflowServiceOf,
  at: { namespace: string; taskQueue: string; queue: OutsideQueue; callsPerSecond: number; logger: Logger },
): Promise<boolean> {
  const taskQueue = outsideQueueName(at.taskQueue, at.queue);
  try {
    await connection.workflowService.updateTaskQueueConfig({
      namespace: at.namespace,
      taskQueue,
      taskQueueType: ACTIVITY,
      identity: `oms-worker@${hostname()}`,
      updateQueueRateLimit: {
        rateLimit: { requestsPerSecond: at.callsPerSecond },
        reason: `OMS ${at.queue} calls per second`,
      },
    });
    return true;
  } catch (err) {
    at.logger.warn('queue rate limit not set on the server; each poll still carries it', {
      taskQueue,
      callsPerSecond: at.callsPerSecond,
      error: err instanceof Error ? err.message : String(err),
    });
    return false;
  }
}

/** The rate limit the server keeps for an outside queue, calls a second (undefined: none set). */
export async function readQueueRateLimit(
  connection: WorkflowServiceOf,
  at: { namespace: string; taskQueue: string; queue: OutsideQueue },
): Promise<number | undefined> {
  const res = await connection.workflowService.describeTaskQueue({
    namespace: at.namespace,
    taskQueue: { name: outsideQueueName(at.taskQueue, at.queue) },
    taskQueueType: ACTIVITY,
    reportConfig: true,
  });
  return res.config?.queueRateLimit?.rateLimit?.requestsPerSecond ?? undefined;
}
