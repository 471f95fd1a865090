/** Every workflow the worker registers. */
export { helloWorkflow } from './hello';
export { orderWorkflow, orderWorkflowV2, orderWorkflowV3, orderWorkflowV4, orderWorkflowV5 } from './order';
export { shipmentWorkflow, shipmentWorkflowV2 } from './shipment';
export { returnWorkflow, returnWorkflowV2 } from './return';
export { channelIntakeWorkflow } from './channel-intake';
export { stockSyncWorkflow } from './stock-sync';
