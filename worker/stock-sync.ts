/**
 * Starts the stock sync of a deployment: registers the channels that hold listings (a new one
 * is queued a full sync) and makes sure each has its running `stockSyncWorkflow`. Idempotent:
 * every worker start calls it; a workflow already running is kept as it is.
 */
import type { Client } from '@temporalio/client';
import { StockSyncRepo } from '../db/stock-sync-repo';
import type { Sql } from '../db/client';
import type { StockSyncSettings } from '../domain/stock-sync';
import type { Logger } from '../lib/logger';
import type { stockSyncWorkflow } from '../workflows/stock-sync';

/**
 * One workflow per channel and deployment. The task queue is part of the id so that deployments
 * (and the test suite's many stacks) sharing a namespace each sync their own database.
 */
export const stockSyncWorkflowId = (taskQueue: string, channel: string): string => `stock-sync-${taskQueue}-${channel}`;

export async function startStockSync(o: {
  client: Client;
  sql: Sql;
  taskQueue: string;
  settings: StockSyncSettings | undefined;
  logger: Logger;
}): Promise<string[]> {
  const channels = o.settings?.channels ?? [];
  const { added, removed } = await new StockSyncRepo(o.sql).registerChannels(channels);
  if (added.length || removed.length) o.logger.info('stock sync channels registered', { added, removed });
  // A dropped channel's workflow learns it from its next round and ends itself.
  const ids: string[] = [];
  for (const channel of channels) {
    const workflowId = stockSyncWorkflowId(o.taskQueue, channel);
    await o.client.workflow.start<typeof stockSyncWorkflow>('stockSyncWorkflow', {
      taskQueue: o.taskQueue,
      workflowId,
      args: [{ channel }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    ids.push(workflowId);
  }
  return ids;
}
