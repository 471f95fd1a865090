/** Every workflow the worker registers. */
export { helloWorkflow } from './hello';
export { orderWorkflow } from './order';
export { shipmentWorkflow } from './shipment';
export { returnWorkflow } from './return';
