/**
 * Commands sent with an Idempotency-Key, as Temporal accepted and answered them (see
 * 0009_idempotency_and_leases.sql). Written after the Update completed, from its own record in
 * the workflow's history, so a row never stands for an effect that did not happen.
 */
import type { Sql } from './client';

export interface CommandRequest {
  requestHash: string;
  outcome: unknown;
}

export class CommandRequestsRepo {
  constructor(private readonly sql: Sql) {}

  async find(orderId: string, command: string, key: string): Promise<CommandRequest | undefined> {
    const [row] = await this.sql<{ requestHash: string; outcome: unknown }[]>`
      select request_hash as "requestHash", outcome from command_requests
      where order_id = ${orderId} and command = ${command} and idempotency_key = ${key}`;
    return row;
  }

  /** Keeps the first record of a key: every later writer saw the same Update, so it has nothing new. */
  async record(orderId: string, command: string, key: string, requestHash: string, outcome: unknown): Promise<void> {
    await this.sql`
      insert into command_requests (order_id, command, idempotency_key, request_hash, outcome)
      values (${orderId}, ${command}, ${key}, ${requestHash}, ${this.sql.json((outcome ?? null) as never)})
      on conflict do nothing`;
  }
}
