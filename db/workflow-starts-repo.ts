/**
 * The workflow-start outbox (see 0013_workflow_starts.sql). Rows are written in the transaction
 * that asked for the workflow; relays claim them under a lease with `for update skip locked`, so
 * several processes share the backlog and never hold one row at once. A started row is deleted.
 */
import { randomUUID } from 'node:crypto';
import type postgres from 'postgres';
import type { Sql } from './client';

export type StartKind = 'order' | 'channel-intake';
/** Anything that runs a statement: the pool, or a transaction. */
export type Queryable = Sql | postgres.TransactionSql;

export interface PendingStart {
  workflowId: string;
  kind: StartKind;
  taskQueue: string;
  input: unknown;
  attempts: number;
  createdAt: Date;
  claimToken: string;
}

export interface BacklogStats {
  pending: number;
  oldestAgeSeconds: number;
  failing: number;
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

export class WorkflowStartsRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Takes up to `limit` due rows (oldest first) for `leaseMs`; rows another relay holds are
   * skipped. The rows are locked in a CTE first, so the limit holds whatever plan is chosen.
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
      returning w.workflow_id as "workflowId", w.kind, w.task_queue as "taskQueue", w.input, w.attempts, w.created_at as "createdAt", w.claim_token as "claimToken"`;
  }

  /**
   * Right before an attempt: the lease starts again (a row that waited in a long batch keeps it)
   * and the attempt is counted. False when the lease was lost: another relay holds the row now.
   */
  async renew(p: PendingStart, leaseMs: number): Promise<boolean> {
    const [row] = await this.sql<{ attempts: number }[]>`
      update workflow_starts set claimed_until = clock_timestamp() + make_interval(secs => ${leaseMs / 1000}), attempts = attempts + 1
      where workflow_id = ${p.workflowId} and claim_token = ${p.claimToken} returning attempts`;
    if (!row) return false;
    p.attempts = row.attempts;
    return true;
  }

  /** Gives back rows claimed but not tried (a relay stopping): due again at once for any relay. */
  async release(rows: PendingStart[]): Promise<void> {
    for (const p of rows)
      await this
        .sql`update workflow_starts set claimed_until = null, claim_token = null where workflow_id = ${p.workflowId} and claim_token = ${p.claimToken}`;
  }

  /** The workflow runs: the row goes (unless its lease was lost and someone else holds it now). */
  async done(p: PendingStart): Promise<void> {
    await this.sql`delete from workflow_starts where workflow_id = ${p.workflowId} and claim_token = ${p.claimToken}`;
  }

  /** Not started this time: tried again after `delayMs`, the reason kept for ops. */
  async retryLater(p: PendingStart, delayMs: number, error: string): Promise<void> {
    await this.sql`
      update workflow_starts set claimed_until = null, claim_token = null, last_error = ${error.slice(0, 500)},
        next_attempt_at = clock_timestamp() + make_interval(secs => ${delayMs / 1000})
      where workflow_id = ${p.workflowId} and claim_token = ${p.claimToken}`;
  }

  async isPending(workflowId: string): Promise<boolean> {
    return (await this.sql`select 1 from workflow_starts where workflow_id = ${workflowId}`).length > 0;
  }

  async stats(): Promise<BacklogStats> {
    const [r] = await this.sql<{ pending: number; oldest: number | null; failing: number }[]>`
      select count(*)::int as pending, extract(epoch from clock_timestamp() - min(created_at))::float8 as oldest,
        count(*) filter (where last_error is not null)::int as failing
      from workflow_starts`;
    return { pending: r?.pending ?? 0, oldestAgeSeconds: r?.oldest ?? 0, failing: r?.failing ?? 0 };
  }
}
