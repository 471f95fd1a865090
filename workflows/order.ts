/**
 * The order: one workflow from intake to the end of its return window. This is its story, step
 * by step; each step, sub-flow and message handler lives in `./order/` beside its compensation,
 * and the money rules are pure functions in `domain/`.
 */
import { CancellationScope, isCancellation } from '@temporalio/workflow';
import type { OrderState } from './messages';
import { recordedPatches, versionedPatches } from './patches';
import { returnWorkflow, returnWorkflowV2 } from './return';
import { shipmentWorkflow, shipmentWorkflowV2 } from './shipment';
import { parkUntilCancelled, settled } from './order/closing';
import { compensate } from './order/compensation';
import { installHandlers } from './order/handlers';
import { returnWindowThenComplete } from './order/returns';
import {
  ORDER_PATCHES,
  ORDER_V2_LATER_PATCHES,
  ORDER_V3_LATER_PATCHES,
  OrderRun,
  type ChildTypes,
  type OrderPatch,
  type OrderWorkflowInput,
} from './order/run';
import { reserveStock, reviewRisk, shipAndTrack, takePayment, validate } from './order/steps';
import type { Patches } from './patches';

export type { OrderWorkflowInput } from './order/run';

/** Orders taken in before the versioned type: their patches are markers in their histories. */
export async function orderWorkflow(input: OrderWorkflowInput): Promise<OrderState> {
  return runOrder(input, recordedPatches(ORDER_PATCHES), { shipment: shipmentWorkflow, return: returnWorkflow });
}

/** The order (v2): every patch of `orderWorkflow` applies, none recorded; its children are v2 too. */
export async function orderWorkflowV2(input: OrderWorkflowInput): Promise<OrderState> {
  return runOrder(input, versionedPatches<OrderPatch>(ORDER_V2_LATER_PATCHES), { shipment: shipmentWorkflowV2, return: returnWorkflowV2 });
}

/**
 * The order (v3): every patch applies, none recorded, and its shipments run inside this workflow
 * instead of as child workflows — a child bought nothing a shipment needs (its own history and
 * retries) and cost a parcel ~60 history events of its own plus a signal per step to the order.
 * Returns stay children (`returnWorkflowV2`).
 */
export async function orderWorkflowV3(input: OrderWorkflowInput): Promise<OrderState> {
  return runOrder(input, versionedPatches<OrderPatch>(ORDER_V3_LATER_PATCHES), {
    shipment: shipmentWorkflowV2,
    return: returnWorkflowV2,
    shipmentsInOrder: true,
  });
}

/**
 * The order (v4): as v3, and the steps that only touch our own PostgreSQL — validation, risk,
 * COD eligibility, stock reservation, the stock commit at handover — run as local activities in the worker rather than as
 * activities through the server's task queues: an order writes ~20 fewer history events in two
 * fewer workflow tasks. Calls to outside systems (gateway, warehouse, carriers) stay activities.
 */
export async function orderWorkflowV4(input: OrderWorkflowInput): Promise<OrderState> {
  return runOrder(input, versionedPatches<OrderPatch>(), {
    shipment: shipmentWorkflowV2,
    return: returnWorkflowV2,
    shipmentsInOrder: true,
    localSteps: true,
  });
}

/**
 * The order (v5): as v4, and a step of the story is no longer a local activity of its own. It
 * waits for the run's next local activity (a check, the stock reservation, the stock commit),
 * which writes it before its own work; the steps no local activity took are written together
 * once the activation's coroutines have run. A 1-shipment order runs 9 local activities where it
 * ran 15, each an activation of the workflow and a marker in its history.
 */
export async function orderWorkflowV5(input: OrderWorkflowInput): Promise<OrderState> {
  return runOrder(input, versionedPatches<OrderPatch>(), {
    shipment: shipmentWorkflowV2,
    return: returnWorkflowV2,
    shipmentsInOrder: true,
    localSteps: true,
    stepsCarried: true,
  });
}

function runOrder(input: OrderWorkflowInput, patches: Patches<OrderPatch>, childTypes: ChildTypes): Promise<OrderState> {
  const o = new OrderRun(input, patches, childTypes);
  installHandlers(o);
  // Orders before V5 end as their histories have it: the story's own promise, nothing after it.
  return childTypes.stepsCarried ? storyWrittenToTheEnd(o) : story(o);
}

/** V5: the story, then every step it or a handler recorded is written before the workflow ends. */
async function storyWrittenToTheEnd(o: OrderRun): Promise<OrderState> {
  o.keepWritingSteps();
  const ended = await story(o);
  await o.everyStepWritten();
  return ended;
}

async function story(o: OrderRun): Promise<OrderState> {
  await o.record(
    'RECEIVED',
    `order received from ${o.order.channel}`,
    {
      channelOrderId: o.order.channelOrderId,
      lines: o.order.lines.length,
    },
    `channel:${o.order.channel}`,
  );

  try {
    return await o.forward.run(
      async () =>
        (await validate(o)) ?? // 1. against the catalog and the delivery network
        (await reviewRisk(o)) ?? // 2. suspicious orders wait for ops; an unanswered hold expires
        (await takePayment(o)) ?? // 3. authorise a prepaid order, check a COD one
        (await reserveStock(o)) ?? // 4. reserve stock; without it, wait for a restock until the deadline
        (await shipAndTrack(o)) ?? // 5-6. one shipment per warehouse, tracked until delivered
        (await closeReturnWindow(o)), // 7. open for returns, then COMPLETED
    );
  } catch (err) {
    // Whatever escaped the story is a defect: the order is flagged and waits for ops, never Failed.
    if (!isCancellation(err)) await parkUntilCancelled(o, err);
    // A cancellation from the Temporal Web UI takes the same path as one through the API.
    o.cancelRequest ??= { reason: 'cancelled through Temporal (workflow cancellation)', actor: 'temporal' };
    return await CancellationScope.nonCancellable(() => compensate(o, o.cancelRequest!));
  }
}

/** 7. The return window: the order stays open, then it is COMPLETED. Orders that started before it existed end at DELIVERED. */
async function closeReturnWindow(o: OrderRun): Promise<OrderState> {
  if (o.patched('return-window')) await returnWindowThenComplete(o);
  return settled(o);
}
