/**
 * Booking an order step's money facts: the journal's entries, the invoices and the tax documents
 * they call for (journal-repo.ts, invoices-repo.ts), in the step's transaction. The back office
 * never holds an order: facts it cannot book because of a defect — its rules throwing, data it
 * refuses (migration 0023) — are kept aside with the error and the step is written without them,
 * so the order goes on and ops books them again once the cause is mended. A database that is
 * away or busy is not a defect: that error fails the step's write, which Temporal retries.
 */
import postgres, { type TransactionSql } from 'postgres';
import type { MoneyFact } from '../domain/journal';
import type { CanonicalOrder } from '../domain/order';
import type { Sql } from './client';
import { writeInvoices } from './invoices-repo';
import { writeJournal, type JournalOrder } from './journal-repo';

/** The journal's entries and the invoices (with their tax documents) for `facts`; each fact once. */
async function book(tx: TransactionSql, orderId: string, at: string, facts: readonly MoneyFact[]): Promise<void> {
  // One read of the order for both: the journal's entries and the invoices they call for. Locked,
  // so an invoice replaced through the API (db/invoices-repo.ts) is never adjusted at the same time.
  const [row] = await tx<(Omit<JournalOrder, 'ordered'> & { canonical: CanonicalOrder })[]>`
    select channel, currency, tax, canonical from orders where order_id = ${orderId} for update`;
  if (!row) return;
  const order = { ...row, ordered: row.canonical.lines.map((l) => l.quantity) };
  await writeJournal(tx, orderId, order, at, facts);
  await writeInvoices(tx, orderId, order, facts);
}

/**
 * A defect of the bookkeeping, not of the moment: an error thrown by its own code, or data
 * PostgreSQL refuses (classes 22 data exception, 23 integrity, 42 a statement it cannot run).
 * Lost connections, timeouts, serialization failures and the like are not: the step retries.
 */
export function isBookkeepingDefect(err: unknown): boolean {
  if (err instanceof postgres.PostgresError) return /^(22|23|42)/.test(err.code);
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code !== 'string';
}

/**
 * Books a step's money facts in its transaction, or — on a defect — keeps them aside (under a
 * savepoint, so the step's own writes stand) and answers the error. Never throws for a defect.
 */
export async function bookOrHold(
  tx: TransactionSql,
  w: { orderId: string; seq: number; at: string; facts: readonly MoneyFact[] },
): Promise<{ held?: string }> {
  try {
    await tx.savepoint((sp) => book(sp, w.orderId, w.at, w.facts));
    return {};
  } catch (err) {
    if (!isBookkeepingDefect(err)) throw err;
    const error = ((err as Error).message || String(err)).slice(0, 2000);
    await tx`insert into back_office_held (order_id, seq, facts, at, error)
      values (${w.orderId}, ${w.seq}, ${tx.json(w.facts)}, ${w.at}, ${error})
      on conflict (order_id, seq) do update set facts = excluded.facts, at = excluded.at, error = excluded.error, booked_at = null`;
    return { held: error };
  }
}

export interface HeldRow {
  heldId: string;
  orderId: string;
  seq: number;
  facts: MoneyFact[];
  at: Date;
  error: string;
  createdAt: Date;
  bookedAt: Date | null;
}

const cols = (s: Sql) => s`held_id::text as "heldId", order_id as "orderId", seq, facts, at, error, created_at as "createdAt",
  booked_at as "bookedAt"`;

export class BackOfficeHeldRepo {
  constructor(private readonly sql: Sql) {}

  /** Facts still waiting to be booked (or every one, booked too), oldest first, paged by id. */
  async list(f: { open: boolean; after?: string | undefined; limit: number }): Promise<HeldRow[]> {
    const s = this.sql;
    return s<HeldRow[]>`select ${cols(s)} from back_office_held where true
      ${f.open ? s`and booked_at is null` : s``} ${f.after ? s`and held_id > ${f.after}` : s``}
      order by held_id limit ${f.limit}`;
  }

  /**
   * Books held facts again (after the cause was mended): the journal, invoices and tax documents
   * of the facts not booked yet. Answers the row, or why not: unknown, booked already, or the
   * defect still there (its error kept).
   */
  async book(heldId: string): Promise<HeldRow | 'not_found' | 'booked' | { stillFails: string }> {
    try {
      return await this.sql.begin(async (tx) => {
        // The order's lock first, as the order's steps take it, then the held row's.
        await tx`select 1 from orders where order_id = (select order_id from back_office_held where held_id = ${heldId}) for update`;
        const [row] = await tx<HeldRow[]>`select ${cols(tx as unknown as Sql)} from back_office_held where held_id = ${heldId} for update`;
        if (!row) return 'not_found' as const;
        if (row.bookedAt) return 'booked' as const;
        await book(tx, row.orderId, row.at.toISOString(), row.facts);
        const [after] = await tx<HeldRow[]>`update back_office_held set booked_at = clock_timestamp() where held_id = ${heldId}
          returning ${cols(tx as unknown as Sql)}`;
        return after!;
      });
    } catch (err) {
      if (!isBookkeepingDefect(err)) throw err;
      const error = ((err as Error).message || String(err)).slice(0, 2000);
      await this.sql`update back_office_held set error = ${error} where held_id = ${heldId}`;
      return { stillFails: error };
    }
  }
}
