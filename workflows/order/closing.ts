/**
 * How an order's run ends: with its children closed first and its last status recorded, or,
 * when something escaped the story (a defect), parked with the cause for ops instead of failing.
 */
import { allHandlersFinished, condition, isCancellation } from '@temporalio/workflow';
import type { OrderState } from '../messages';
import { describeFailure } from '../attention';
import { applyProgress } from './fulfilment';
import type { OrderRun } from './run';

/** Ends the order REJECTED or CANCELLED, once its children have closed. */
export async function finish(
  o: OrderRun,
  status: 'REJECTED' | 'CANCELLED',
  event: string,
  reasons: string[],
  actor = 'system',
): Promise<OrderState> {
  if (o.children.size || o.returnChildren.size) await childrenClosed(o);
  o.state.reasons = reasons;
  o.state.waitingFor = undefined;
  o.state.waitingUntil = undefined;
  await o.record(status, event, { reasons }, actor);
  return settled(o);
}

/** The run's end: status pushes of older orders sent, every handler answered. */
export async function settled(o: OrderRun): Promise<OrderState> {
  await Promise.all(o.pendingPushes);
  await condition(allHandlersFinished);
  return o.state;
}

/**
 * Waits until every shipment and return workflow has closed. An order that closed first would
 * terminate a child still taking its last step (the parent close policy). Progress they send
 * meanwhile is still told.
 */
export async function childrenClosed(o: OrderRun): Promise<void> {
  if (!o.patched('children-close-first')) return;
  for (;;) {
    const open = [...o.children.values(), ...o.returnChildren.values()];
    let closed = false;
    void Promise.allSettled(open.map((h) => h.result())).then(() => {
      closed = true;
    });
    while (!closed) {
      await condition(() => closed || o.progressInbox.length > 0);
      while (o.progressInbox.length) await applyProgress(o, o.progressInbox.shift()!, o.state.status);
    }
    // An ops retry may have started a shipment again meanwhile: wait for that one too.
    const now = [...o.children.values(), ...o.returnChildren.values()];
    if (now.length === open.length && now.every((h, i) => h === open[i])) return;
  }
}

/**
 * The safety net: whatever escaped the order's story (steps, children and signals are handled
 * where they happen, so this is a defect) does not fail the workflow. The order is flagged with
 * the cause and waits for ops: cancel it (full compensation), or fix the cause and reset it.
 */
export async function parkUntilCancelled(o: OrderRun, err: unknown): Promise<void> {
  const { state } = o;
  state.needsAttention = true;
  state.attentionReason = `unexpected failure: ${describeFailure(err)}`.slice(0, 500);
  state.waitingFor = 'ops: cancel the order, or fix the cause and reset the workflow';
  await o.record(state.status, 'needs attention: unexpected failure', { reason: state.attentionReason });
  try {
    await condition(() => o.cancelRequest !== undefined);
  } catch (cancelled) {
    if (!isCancellation(cancelled)) throw cancelled;
  }
}
