/**
 * Builds the order worker. The workflow bundle is prebuilt (`npm run build` writes it beside the
 * compiled worker; tests and benchmarks build one and share it) or bundled from source at start
 * (development).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NativeConnection } from '@temporalio/worker';
import { Worker, bundleWorkflowCode, type WorkflowBundleOption, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { DEFAULT_WORKER_SIZING, type WorkerSizing } from '../lib/config';

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
  workflowBundle?: WorkflowBundleOption;
  /** Grace for in-flight activities on shutdown before they are handed back to the server. */
  shutdownGraceTime?: string;
  /** How much the worker takes on at once (OMS_WORKER_MAX_*); DEFAULT_WORKER_SIZING for what is not given. */
  sizing?: Partial<WorkerSizing>;
}

export async function createOrderWorker(opts: WorkerOptions): Promise<Worker> {
  const sizing = { ...DEFAULT_WORKER_SIZING, ...opts.sizing };
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: createActivities(opts.deps),
    ...(opts.workflowBundle
      ? { workflowBundle: opts.workflowBundle }
      : existsSync(PREBUILT_WORKFLOWS)
        ? { workflowBundle: { codePath: PREBUILT_WORKFLOWS } }
        : { workflowsPath: WORKFLOWS_PATH }),
    shutdownGraceTime: (opts.shutdownGraceTime ?? '10s') as '10s',
    maxCachedWorkflows: sizing.maxCachedWorkflows,
    maxConcurrentWorkflowTaskExecutions: Math.min(sizing.maxWorkflowTasks, sizing.maxCachedWorkflows),
    maxConcurrentActivityTaskExecutions: sizing.maxActivities,
    maxConcurrentLocalActivityExecutions: sizing.maxLocalActivities,
  });
}
