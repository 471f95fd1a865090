/**
 * A deliberately incompatible change to the order workflow (a new timer before anything else),
 * used to prove the replay check fails when workflow code breaks orders in flight.
 */
import { sleep } from '@temporalio/workflow';
import { orderWorkflow as current, type OrderWorkflowInput } from '../../../workflows/order';

export { shipmentWorkflow, helloWorkflow } from '../../../workflows';

export async function orderWorkflow(input: OrderWorkflowInput) {
  await sleep('1 second');
  return current(input);
}
