/**
 * What every outbox table shares (workflow_starts, status_pushes, subscriptions, invoices, tax_documents): a key, a lease
 * (`claimed_until`, `claim_token`), an attempt count, a retry time and the last error. Each
 * table says how its due rows are claimed; the rest is here.
 */
import type postgres from 'postgres';
import type { Sql } from './client';

/** Anything that runs a statement: the pool, or a transaction. */
export type Queryable = Sql | postgres.TransactionSql;

export interface ClaimedRow {
  key: string;
  attempts: number;
  createdAt: Date;
  claimToken: string;
}

export interface BacklogStats {
  pending: number;
  oldestAgeSeconds: number;
  failing: number;
}

export abstract class OutboxTable<R extends ClaimedRow> {
  protected constructor(
    protected readonly sql: Sql,
    protected readonly table: 'workflow_starts' | 'status_pushes' | 'subscriptions' | 'invoices' | 'tax_documents',
    protected readonly keyColumn: 'workflow_id' | 'push_id' | 'subscription_id' | 'invoice_key' | 'doc_code',
  ) {}

  abstract claim(limit: number, leaseMs: number): Promise<R[]>;

  /**
   * Right before an attempt: the lease starts again (a row that waited in a long batch keeps it)
   * and the attempt is counted. False when the lease was lost: another relay holds the row now.
   */
  async renew(p: R, leaseMs: number): Promise<boolean> {
    const [row] = await this.sql<{ attempts: number }[]>`
      update ${this.sql(this.table)} set claimed_until = clock_timestamp() + make_interval(secs => ${leaseMs / 1000}), attempts = attempts + 1
      where ${this.sql(this.keyColumn)} = ${p.key} and claim_token = ${p.claimToken} returning attempts`;
    if (!row) return false;
    p.attempts = row.attempts;
    return true;
  }

  /** Gives back rows claimed but not tried (a relay stopping): due again at once for any relay. */
  async release(rows: R[]): Promise<void> {
    for (const p of rows)
      await this.sql`update ${this.sql(this.table)} set claimed_until = null, claim_token = null
        where ${this.sql(this.keyColumn)} = ${p.key} and claim_token = ${p.claimToken}`;
  }

  /** Handled: the row goes (unless its lease was lost and someone else holds it now). */
  async done(p: R): Promise<void> {
    await this.sql`delete from ${this.sql(this.table)} where ${this.sql(this.keyColumn)} = ${p.key} and claim_token = ${p.claimToken}`;
  }

  /** Handled this time, for a table whose rows stay (an invoice, a tax document: the handler moved its status on): the lease goes. */
  protected async dropLease(p: R): Promise<void> {
    await this.sql`update ${this.sql(this.table)} set claimed_until = null, claim_token = null
      where ${this.sql(this.keyColumn)} = ${p.key} and claim_token = ${p.claimToken}`;
  }

  /** Not handled this time: tried again after `delayMs`, the reason kept for ops. */
  async retryLater(p: R, delayMs: number, error: string): Promise<void> {
    await this.sql`
      update ${this.sql(this.table)} set claimed_until = null, claim_token = null, last_error = ${error.slice(0, 500)},
        next_attempt_at = clock_timestamp() + make_interval(secs => ${delayMs / 1000})
      where ${this.sql(this.keyColumn)} = ${p.key} and claim_token = ${p.claimToken}`;
  }

  /** Which rows are still work: every row where handled rows are deleted; tables whose rows stay narrow it. */
  protected pending(): postgres.PendingQuery<postgres.Row[]> {
    return this.sql`true`;
  }

  async isPending(key: string): Promise<boolean> {
    return (
      (await this.sql`select 1 from ${this.sql(this.table)} where ${this.sql(this.keyColumn)} = ${key} and ${this.pending()}`).length > 0
    );
  }

  async stats(): Promise<BacklogStats> {
    const [r] = await this.sql<{ pending: number; oldest: number | null; failing: number }[]>`
      select count(*)::int as pending, extract(epoch from clock_timestamp() - min(created_at))::float8 as oldest,
        count(*) filter (where last_error is not null)::int as failing
      from ${this.sql(this.table)} where ${this.pending()}`;
    return { pending: r?.pending ?? 0, oldestAgeSeconds: r?.oldest ?? 0, failing: r?.failing ?? 0 };
  }
}
