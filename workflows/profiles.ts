/** Activity timeout and retry profiles, named by what the activity does. */
import {
  ActivityCancellationType,
  isCancellation,
  proxyActivities,
  sleep,
  proxyLocalActivities,
  workflowInfo,
  type ActivityInterfaceFor,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { OrderSettings } from '../domain/settings';
import { businessFailure } from './attention';
import { outsideQueueName, outsideQueueOf } from './queues';

/** Calls to outside systems and business steps: bounded retries, then "needs attention". */
export function stepProfile(settings: OrderSettings): ActivityOptions {
  return {
    startToCloseTimeout: settings.stepTimeoutMs ?? 30_000,
    // Calls to outside systems heartbeat while they wait (activities/http.ts): a worker killed
    // mid-call is noticed after this, not after the whole start-to-close, and cancellation reaches them.
    heartbeatTimeout: Math.min(10_000, Math.max(2_000, Math.floor((settings.stepTimeoutMs ?? 30_000) / 3))),
    // On cancellation, wait for a running call to finish: its effect (a booking, an authorisation)
    // must be known before the compensation decides what to undo.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: settings.stepRetry.initialIntervalMs,
      maximumInterval: settings.stepRetry.maximumIntervalMs,
      backoffCoefficient: 2,
      maximumAttempts: settings.stepRetry.maximumAttempts,
    },
  };
}

/**
 * Our own bookkeeping in PostgreSQL (projection, timeline, stock commit), run as local
 * activities: short, idempotent and next to the worker's database, they need no round trip
 * through the server's task queues. They must happen, so they retry until they do.
 */
export const bookkeepingProfile: LocalActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
};

/** Bookkeeping as a (regular) activity of its own, where a local activity cannot be used. */
export const bookkeepingTaskProfile: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
};

/**
 * The business steps that only read and write our own PostgreSQL (validation, risk, COD
 * eligibility, stock reservation), run as local activities by orders from `orderWorkflowV4` on:
 * the same timeout and cancellation as {@link stepProfile}, without a round trip through the
 * server's task queues (three activity tasks and two workflow tasks an order). One attempt per
 * local activity: {@link localSteps} makes the retries.
 */
export function localStepProfile(settings: OrderSettings): LocalActivityOptions {
  const step = stepProfile(settings);
  return { startToCloseTimeout: step.startToCloseTimeout!, cancellationType: step.cancellationType, retry: { maximumAttempts: 1 } };
}

/**
 * Local steps (see {@link localStepProfile}) with the step's retries made by the workflow: each
 * attempt is a local activity of its own in the run's line, and the backoff between attempts is
 * a workflow timer outside it. So a step that keeps failing holds the line for one attempt at a
 * time, and the bookkeeping of a handler meanwhile (an ops hold, a line cut, a cancellation) is
 * written at once rather than after the last retry. A business refusal (non-retryable) and a
 * cancellation are not retried. The step's summary is the one running when the call is made.
 */
export function localSteps<A extends object>(
  line: LocalLine,
  settings: OrderSettings,
  step: () => string | undefined,
): ActivityInterfaceFor<A> {
  const { initialIntervalMs, maximumIntervalMs, maximumAttempts } = settings.stepRetry;
  return new Proxy({} as ActivityInterfaceFor<A>, {
    get(_target, name) {
      if (typeof name !== 'string') return undefined;
      return async (...args: unknown[]) => {
        const summary = step();
        const once = Reflect.get(
          line<A>(() => ({ ...localStepProfile(settings), summary })),
          name,
        ) as (...a: unknown[]) => Promise<unknown>;
        for (let attempt = 1; ; attempt++) {
          try {
            return await once(...args);
          } catch (err) {
            if (isCancellation(err) || businessFailure(err) || attempt >= maximumAttempts) throw err;
            await sleep(Math.min(maximumIntervalMs, initialIntervalMs * 2 ** (attempt - 1)));
          }
        }
      };
    },
  });
}

/**
 * Local activities run one at a time, in the order they were called. Two running at once (the
 * main body's and a handler's) resolve in the order they finish when live but in the order they
 * were scheduled on replay, so the code after them would issue its commands in another order:
 * a nondeterminism error that leaves the workflow stuck. Queued, each resolves alone.
 *
 * One queue per run: every proxy made from it (bookkeeping, local steps) waits in the same line.
 * `options` is read when a call is made, so a step's summary is the step running then.
 */
export interface LocalLine {
  <A extends object>(options: () => LocalActivityOptions): ActivityInterfaceFor<A>;
  /**
   * Resolves when everything queued before it has run and the steps waiting then are written: by a
   * `writeSteps` local activity of their own when any still wait at its turn, else by none.
   */
  flush(options: LocalActivityOptions): Promise<void>;
}

/**
 * Steps of the order's story waiting to be written (`orderWorkflowV5`): the line hands them to
 * the next local activity it runs, which writes them before its own work
 * (activities/index.ts `carryingSteps`), and tells how that call ended: when it failed, the
 * steps wait again, in front of any recorded since.
 */
export interface StepCarrier {
  take(): unknown[] | undefined;
  settle(steps: unknown[], written: boolean): void;
}

/** What a local activity carries after its own argument: steps to write before it runs. */
export interface CarriedSteps {
  stepsBefore: unknown[];
}

export function localActivityQueue(carrier?: StepCarrier): LocalLine {
  let queue: Promise<unknown> = Promise.resolve();
  const enqueue = <T>(call: (carried: unknown[] | undefined) => Promise<T>): Promise<T> => {
    // Without a carrier, the call is chained exactly as orders before `orderWorkflowV5` had it:
    // the same microtasks, so their histories replay.
    const run = carrier
      ? queue.then(async () => {
          const carried = carrier.take();
          try {
            const result = await call(carried);
            if (carried) carrier.settle(carried, true);
            return result;
          } catch (err) {
            if (carried) carrier.settle(carried, false);
            throw err;
          }
        })
      : queue.then(() => call(undefined));
    queue = run.catch(() => undefined);
    return run;
  };
  const line = <A extends object>(options: () => LocalActivityOptions) =>
    new Proxy({} as ActivityInterfaceFor<A>, {
      get(_target, name) {
        if (typeof name !== 'string') return undefined;
        return (...args: unknown[]) => {
          const fn = Reflect.get(proxyLocalActivities<A>(options()), name) as (...a: unknown[]) => Promise<unknown>;
          // The steps go after the call's argument (`undefined` for a call without one).
          return enqueue((carried) =>
            carried ? fn(...(args.length ? args : [undefined]), { stepsBefore: carried } satisfies CarriedSteps) : fn(...args),
          );
        };
      },
    });
  return Object.assign(line, {
    flush: (options: LocalActivityOptions) =>
      enqueue(async (carried) => {
        if (carried)
          await proxyLocalActivities<{ writeSteps(input: { steps: unknown[] }): Promise<void> }>(options).writeSteps({ steps: carried });
      }),
  });
}

/** Pushes to channels: a channel outage must not block the order, so these retry for long in the background. */
export const channelPushProfile: ActivityOptions = {
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '2 minutes', backoffCoefficient: 2 },
};

/**
 * Activities on their task queues (workflows/queues.ts): a call to a carrier or a sales channel is
 * scheduled on the outside queue beside the workflow's own, the rest on the workflow's own.
 * The queue is read when the call is made (a workflow's task queue is known only then).
 */
export function routed<A extends object>(options: ActivityOptions): ActivityInterfaceFor<A> {
  const own = proxyActivities<A>(options);
  return new Proxy(own, {
    get(target, name, receiver) {
      const queue = typeof name === 'string' ? outsideQueueOf(name) : undefined;
      if (!queue) return Reflect.get(target, name, receiver);
      return Reflect.get(proxyActivities<A>({ ...options, taskQueue: outsideQueueName(workflowInfo().taskQueue, queue) }), name);
    },
  });
}

/**
 * Activities whose calls carry a one-line summary in the Web UI's event history: the name of the
 * step being run (e.g. "authorise payment"), read at the moment the call is scheduled. Routed
 * to their task queues like `routed`.
 */
export function summarised<A extends object>(options: ActivityOptions, step: () => string | undefined): ActivityInterfaceFor<A> {
  const plain = routed<A>(options);
  return new Proxy(plain, {
    get(target, name, receiver) {
      const summary = step();
      return summary ? Reflect.get(routed<A>({ ...options, summary }), name) : Reflect.get(target, name, receiver);
    },
  });
}
