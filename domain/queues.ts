/**
 * The task queues a worker process can serve: the main one (`orders`: workflows, the OMS's own
 * database, the payment gateway, the WMS) and one per kind of outside traffic beside it
 * (`<queue>-carriers`, `<queue>-channels`). Which activity runs where: workflows/queues.ts.
 */
export const OUTSIDE_QUEUES = ['carriers', 'channels'] as const;
export type OutsideQueue = (typeof OUTSIDE_QUEUES)[number];
export const WORKER_QUEUES = ['orders', ...OUTSIDE_QUEUES] as const;
export type WorkerQueue = (typeof WORKER_QUEUES)[number];

/** The name of an outside queue beside the worker's task queue. */
export const outsideQueueName = (taskQueue: string, queue: OutsideQueue): string => `${taskQueue}-${queue}`;
