/**
 * "Needs attention" instead of a failed workflow: a step whose retries are exhausted parks the
 * order in a visible state and waits for an ops retry. Business refusals (non-retryable
 * application failures such as a declined card) are not parked: the caller handles them.
 */
import { ActivityFailure, ApplicationFailure, condition, isCancellation } from '@temporalio/workflow';

/** A typed business refusal from an activity, or undefined for anything transient. */
export function businessFailure(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable) return err.cause;
  return undefined;
}

export interface AttentionHooks {
  raise(step: string, reason: string): Promise<void>;
  cleared(step: string, actor: string): Promise<void>;
}

/** Runs `fn`; on exhausted retries raises attention and waits for `retryRequested()` to run it again. */
export function createStepRunner(hooks: AttentionHooks) {
  let retryActor: string | undefined;
  let parked: string | undefined;
  let starting: string | undefined;
  return {
    get parkedStep() { return parked; },
    /** The step whose activity is being scheduled right now (read by `summarised` proxies). */
    get startingStep() { return starting; },
    requestRetry(actor: string) { retryActor = actor; },
    async run<T>(step: string, fn: () => Promise<T>): Promise<T> {
      for (;;) {
        try {
          starting = step;
          let call: Promise<T>;
          try { call = fn(); } finally { starting = undefined; }
          return await call;
        } catch (err) {
          // Cancellation is the order's decision, not a failure to park.
          if (businessFailure(err) || isCancellation(err)) throw err;
          const cause = err instanceof ActivityFailure ? (err.cause?.message ?? err.message) : String(err);
          parked = step;
          retryActor = undefined;
          await hooks.raise(step, `${step} failed after retries: ${cause}`.slice(0, 500));
          await condition(() => retryActor !== undefined);
          parked = undefined;
          await hooks.cleared(step, retryActor!);
        }
      }
    },
  };
}
