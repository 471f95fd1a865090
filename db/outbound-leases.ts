/**
 * Leases over outbound calls (see 0009_idempotency_and_leases.sql). A lease is taken and given
 * back by single autocommit statements, so no transaction or advisory lock stays open while its
 * holder talks to an outside system; a holder that dies leaves a lease that expires by itself.
 * The caller keeps the call shorter than the lease (its HTTP timeouts bound it).
 */
import { randomUUID } from 'node:crypto';
import type { PendingQuery, Row } from 'postgres';
import type { Sql } from './client';

export interface Lease {
  key: string;
  holder: string;
}

export class OutboundLeases {
  constructor(private readonly sql: Sql) {}

  /** Takes `key` for `ttlMs` unless someone else holds it unexpired; undefined when taken. */
  async tryAcquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    const holder = randomUUID();
    const rows = await this.sql`
      insert into outbound_leases (lease_key, holder, expires_at)
      values (${key}, ${holder}, clock_timestamp() + make_interval(secs => ${ttlMs / 1000}))
      on conflict (lease_key) do update set holder = excluded.holder, expires_at = excluded.expires_at
        where outbound_leases.expires_at <= clock_timestamp()
      returning 1`;
    return rows.length > 0 ? { key, holder } : undefined;
  }

  /**
   * The statement that gives the lease back (a no-op if it expired and someone else took it since):
   * run on its own ({@link release}) or inside a caller's statement, to give it back with a last write.
   */
  give(lease: Lease): PendingQuery<Row[]> {
    return this.sql`delete from outbound_leases where lease_key = ${lease.key} and holder = ${lease.holder}`;
  }

  /** Gives the lease back (a no-op if it expired and someone else took it since). */
  async release(lease: Lease): Promise<void> {
    await this.give(lease);
  }

  /**
   * Runs `fn` holding `key`, or answers `{ locked: false }` at once when another holder has it.
   * The lease is given back when `fn` settles, whatever it did.
   */
  async withLease<T>(key: string, ttlMs: number, fn: () => Promise<T>): Promise<{ locked: true; value: T } | { locked: false }> {
    const lease = await this.tryAcquire(key, ttlMs);
    if (!lease) return { locked: false };
    try {
      return { locked: true, value: await fn() };
    } finally {
      await this.release(lease).catch(() => undefined);
    }
  }
}
