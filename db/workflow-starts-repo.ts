/**
 * The workflow-start outbox (see 0013_workflow_starts.sql). Rows are written in the transaction
 * that asked for the workflow; relays claim them under a lease with `for update skip locked`, so
 * several processes share the backlog and never hold one row at once. A started row is deleted.
 */
import { randomUUID } from 'node:crypto';
import type { Sql } from './client';
import { OutboxTable, type ClaimedRow, type Queryable } from './outbox-repo';

export type { BacklogStats, Queryable } from './outbox-repo';

export type StartKind = 'order' | 'channel-intake';

export interface PendingStart extends ClaimedRow {
  workflowId: string;
  kind: StartKind;
  taskQueue: string;
  input: unknown;
}

/** Asks for a workflow; one already asked for (not yet started) absorbs the request. Returns whether a row was written. */
export async function enqueueStart(
  q: Queryable,
  s: { workflowId: string; kind: StartKind; taskQueue: string; input: unknown },
): Promise<boolean> {
  const rows = await q`
    insert into workflow_starts (workflow_id, kind, task_queue, input)
    values (${s.workflowId}, ${s.kind}, ${s.taskQueue}, ${q.json(s.input as never)})
    on conflict (workflow_id) do nothing returning 1`;
  return rows.length > 0;
}

export class WorkflowStartsRepo extends OutboxTable<PendingStart> {
  constructor(sql: Sql) {
    super(sql, 'workflow_starts', 'workflow_id');
  }

  /**
   * Takes up to `limit` due rows (oldest first) for `leaseMs` (or the one row of `workflowId`,
   * due or not); rows another relay holds are skipped. The rows are locked in a CTE first, so the
   * limit holds whatever plan is chosen.
   */
  async claim(limit: number, leaseMs: number, workflowId?: string): Promise<PendingStart[]> {
    const token = randomUUID();
    const s = this.sql;
    return s<PendingStart[]>`
      with due as (
        select workflow_id from workflow_starts
        where (claimed_until is null or claimed_until < clock_timestamp())
          ${workflowId === undefined ? s`and next_attempt_at <= clock_timestamp()` : s`and workflow_id = ${workflowId}`}
        order by next_attempt_at, created_at limit ${limit}
        for update skip locked)
      update workflow_starts w set claimed_until = clock_timestamp() + make_interval(secs => ${leaseMs / 1000}), claim_token = ${token}
      from due where w.workflow_id = due.workflow_id
      returning w.workflow_id as key, w.workflow_id as "workflowId", w.kind, w.task_queue as "taskQueue", w.input, w.attempts,
        w.created_at as "createdAt", w.claim_token as "claimToken"`;
  }
}
