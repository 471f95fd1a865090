/**
 * Builds the order worker. The workflow bundle is prebuilt (`npm run build` writes it beside the
 * compiled worker; tests and benchmarks build one and share it) or bundled from source at start
 * (development).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NativeConnection } from '@temporalio/worker';
import { Worker, bundleWorkflowCode, type State, type WorkflowBundleOption, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type Activities, type ActivityDeps } from '../activities';
import { DEFAULT_WORKER_SIZING, type WorkerSizing } from '../lib/config';
import { OUTSIDE_QUEUES } from '../domain/queues';
import { OUTSIDE_ACTIVITIES, outsideQueueName } from '../workflows/queues';
import { setQueueRateLimit } from './queue-limits';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** Beside the compiled worker (dist/worker.js → dist/workflows.js); absent when run from source. */
const PREBUILT_WORKFLOWS = fileURLToPath(new URL('./workflows.js', import.meta.url));

/** Bundles workflow code once; the bundle can be reused by many workers. Tests may add workflow interceptor modules. */
export function bundleWorkflows(interceptorModules: string[] = []): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    ...(interceptorModules.length ? { workflowInterceptorModules: interceptorModules } : {}),
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (m) => console.error(m),
    },
  });
}

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** The activities as made from `deps`, unless given (a test's worker with one of them broken). */
  activities?: Activities;
  workflowBundle?: WorkflowBundleOption;
  /** Grace for in-flight activities on shutdown before they are handed back to the server. */
  shutdownGraceTime?: string;
  /** How much the worker takes on at once (OMS_WORKER_MAX_*); DEFAULT_WORKER_SIZING for what is not given. */
  sizing?: Partial<WorkerSizing>;
}

/**
 * The workers of one process, one per task queue it serves (domain/queues.ts): the main queue
 * runs the workflows and every activity (calls scheduled there before the outside queues existed
 * still complete), each outside queue its own calls under its rate limit. Run, stopped and
 * watched as one: when one fails, the others are shut down.
 */
export class OrderWorker {
  constructor(readonly workers: Worker[]) {}

  async run(): Promise<void> {
    const results = await Promise.allSettled(
      this.workers.map((w) =>
        w.run().catch((err: unknown) => {
          this.shutdown();
          throw err;
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  shutdown(): void {
    for (const w of this.workers) if (w.getState() === 'RUNNING') w.shutdown();
  }

  /** FAILED or STOPPED as soon as one of them is (then the process no longer serves all its queues). */
  getState(): State {
    const states = this.workers.map((w) => w.getState());
    return states.find((s) => s === 'FAILED') ?? states.find((s) => s === 'STOPPED') ?? states[0]!;
  }
}

export async function createOrderWorker(opts: WorkerOptions): Promise<OrderWorker> {
  const sizing = { ...DEFAULT_WORKER_SIZING, ...opts.sizing };
  const activities = opts.activities ?? createActivities(opts.deps);
  const common = {
    connection: opts.connection,
    namespace: opts.namespace,
    shutdownGraceTime: (opts.shutdownGraceTime ?? '10s') as '10s',
    maxConcurrentActivityTaskExecutions: sizing.maxActivities,
  };
  const workers: Promise<Worker>[] = [];
  if (sizing.queues.includes('orders'))
    workers.push(
      Worker.create({
        ...common,
        taskQueue: opts.taskQueue,
        activities,
        ...(opts.workflowBundle
          ? { workflowBundle: opts.workflowBundle }
          : existsSync(PREBUILT_WORKFLOWS)
            ? { workflowBundle: { codePath: PREBUILT_WORKFLOWS } }
            : { workflowsPath: WORKFLOWS_PATH }),
        maxCachedWorkflows: sizing.maxCachedWorkflows,
        maxConcurrentWorkflowTaskExecutions: Math.min(sizing.maxWorkflowTasks, sizing.maxCachedWorkflows),
        maxConcurrentLocalActivityExecutions: sizing.maxLocalActivities,
      }),
    );
  for (const queue of OUTSIDE_QUEUES)
    if (sizing.queues.includes(queue)) {
      await setQueueRateLimit(opts.connection, {
        namespace: opts.namespace,
        taskQueue: opts.taskQueue,
        queue,
        callsPerSecond: sizing.callsPerSecond[queue],
        logger: opts.deps.logger,
      });
      workers.push(
        Worker.create({
          ...common,
          taskQueue: outsideQueueName(opts.taskQueue, queue),
          activities: Object.fromEntries(
            Object.entries(activities).filter(([name]) => (OUTSIDE_ACTIVITIES[queue] as readonly string[]).includes(name)),
          ),
          // Also sent with every poll: the limit the server falls back to where the queue's own is refused.
          maxTaskQueueActivitiesPerSecond: sizing.callsPerSecond[queue],
        }),
      );
    }
  if (!workers.length) throw new Error('the worker serves no task queue (OMS_WORKER_QUEUES)');
  return new OrderWorker(await Promise.all(workers));
}
