/**
 * The workflow types new runs are started as, and how to recognise every version of one (runs of
 * older versions finish as they began; see patches.ts).
 */
export const ORDER_WORKFLOW_TYPE = 'orderWorkflowV5';
export const isOrderWorkflowType = (type: string): boolean => /^orderWorkflow(V\d+)?$/.test(type);
/** A Temporal visibility query matching every order workflow version. */
export const ORDER_WORKFLOW_TYPES_QUERY = `WorkflowType IN ('orderWorkflow', 'orderWorkflowV2', 'orderWorkflowV3', 'orderWorkflowV4', 'orderWorkflowV5')`;
