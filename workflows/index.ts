/** Every workflow the worker registers. */
export { helloWorkflow } from './hello';
export { orderWorkflow } from './order';
export { shipmentWorkflow } from './shipment';
export { returnWorkflow } from './return';
export { channelIntakeWorkflow } from './channel-intake';
export { stockSyncWorkflow } from './stock-sync';
