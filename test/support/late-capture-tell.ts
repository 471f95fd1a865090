/**
 * A workflow interceptor for tests: the message that tells an order of a shipment's capture is
 * taken in a few seconds late (a durable timer), while the shipment's later messages — its
 * delivery — go straight in. So the order hears of a delivery before it hears of the money
 * captured for it, as when a carrier reports the delivery first or the messages cross a worker
 * crash; a customer's return request can fall into that gap.
 */
import { sleep, workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';

export const LATE_CAPTURE_TELL_MS = 4000;

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      async handleSignal(input, next) {
        const progress = input.args[0] as { captured?: unknown } | undefined;
        if (workflowInfo().workflowType.startsWith('orderWorkflow') && input.signalName === 'shipmentProgress' && progress?.captured)
          await sleep(LATE_CAPTURE_TELL_MS);
        return next(input);
      },
    },
  ],
});
