/**
 * "Needs attention" instead of a failed workflow: a step that fails — retries exhausted, or an
 * outside system's refusal the caller did not say it handles (an unexpected 404, a 409) — parks
 * the order in a visible state and waits for an ops retry. Only the business refusals a caller
 * names (a declined card) and cancellation pass through: everything else would fail the workflow,
 * and a Failed order workflow is an order nobody is told about.
 */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, condition, isCancellation } from '@temporalio/workflow';

/** A typed business refusal from an activity, or undefined for anything transient. */
export function businessFailure(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable) return err.cause;
  return undefined;
}

/** One line for the timeline and the Web UI: the root cause's type and message, not the wrapper's. */
export function describeFailure(err: unknown): string {
  let e: unknown = err;
  while ((e instanceof ActivityFailure || e instanceof ChildWorkflowFailure) && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure) return `${e.type ? `${e.type}: ` : ''}${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

export interface AttentionHooks {
  raise(step: string, reason: string): Promise<void>;
  cleared(step: string, actor: string): Promise<void>;
}

export interface StepOptions {
  /** Business refusal types (ApplicationFailure.type) the caller handles itself; they are rethrown. */
  handles?: readonly string[];
}

/** Runs `fn`; on a failure raises attention and waits for `requestRetry()` to run it again. */
export function createStepRunner(hooks: AttentionHooks) {
  let retryActor: string | undefined;
  let parked: string | undefined;
  let starting: string | undefined;
  return {
    get parkedStep() {
      return parked;
    },
    /** The step whose activity is being scheduled right now (read by `summarised` proxies). */
    get startingStep() {
      return starting;
    },
    requestRetry(actor: string) {
      retryActor = actor;
    },
    async run<T>(step: string, fn: () => Promise<T>, opts: StepOptions = {}): Promise<T> {
      for (;;) {
        try {
          starting = step;
          let call: Promise<T>;
          try {
            call = fn();
          } finally {
            starting = undefined;
          }
          return await call;
        } catch (err) {
          // Cancellation is the order's decision, not a failure to park.
          if (isCancellation(err)) throw err;
          const refusal = businessFailure(err);
          if (refusal && opts.handles?.includes(refusal.type ?? '')) throw err;
          parked = step;
          retryActor = undefined;
          const why = refusal ? `refused by the outside system (${describeFailure(err)})` : `failed after retries: ${describeFailure(err)}`;
          await hooks.raise(step, `${step} ${why}`.slice(0, 500));
          await condition(() => retryActor !== undefined);
          parked = undefined;
          await hooks.cleared(step, retryActor!);
        }
      }
    },
  };
}

/** A command refused in the order's current state (HTTP 409): the reason says why. */
export function refuse(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'CommandRefused', message, nonRetryable: true });
}

/** A command whose input is wrong for this order (HTTP 400), naming the field. */
export function invalid(path: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'InvalidCommand', message, details: [{ path, message }], nonRetryable: true });
}
