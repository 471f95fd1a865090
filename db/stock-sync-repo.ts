/**
 * The stock-sync outbox (filled by triggers, see 0007_stock_sync.sql) and what each channel was
 * last told. Levels are read in the same statement as the outbox rows they answer, so a pushed
 * level always covers exactly the changes whose rows are then deleted.
 */
import type { PendingLevel } from '../domain/stock-sync';
import type { Sql } from './client';
import { OutboundLeases } from './outbound-leases';

export class StockSyncRepo {
  private readonly leases: OutboundLeases;
  constructor(private readonly sql: Sql) {
    this.leases = new OutboundLeases(sql);
  }

  /**
   * Makes `channels` the registered set. A channel new to the set gets every catalog SKU queued,
   * so it starts in step with the OMS; a dropped one loses its queue and its memory of what it
   * was told (re-adding it syncs everything again).
   */
  async registerChannels(channels: readonly string[]): Promise<{ added: string[]; removed: string[] }> {
    return this.sql.begin(async (tx) => {
      const removed = await tx<{ channel: string }[]>`
        delete from stock_sync_channels where not (channel = any(${[...channels]}::text[])) returning channel`;
      const gone = removed.map((r) => r.channel);
      if (gone.length) {
        await tx`delete from stock_sync_outbox where channel = any(${gone}::text[])`;
        await tx`delete from stock_sync_state where channel = any(${gone}::text[])`;
      }
      const added: string[] = [];
      for (const channel of channels) {
        const inserted = await tx`insert into stock_sync_channels (channel) values (${channel}) on conflict do nothing returning 1`;
        if (inserted.length === 0) continue;
        added.push(channel);
        await tx`insert into stock_sync_outbox (channel, sku) select ${channel}, sku from products order by sku`;
      }
      return { added, removed: gone };
    });
  }

  async hasPending(channel: string): Promise<boolean> {
    const [row] = await this.sql<
      { pending: boolean }[]
    >`select exists (select 1 from stock_sync_outbox where channel = ${channel}) as pending`;
    return row?.pending ?? false;
  }

  /**
   * Up to `limit` SKUs waiting for `channel`, oldest change first, each with the level a channel
   * may sell now: the sum of the warehouses' ATP (never below 0 each), active warehouses only,
   * 0 for a product off sale. One statement, one snapshot.
   */
  async pending(channel: string, limit: number): Promise<PendingLevel[]> {
    return this.sql<PendingLevel[]>`
      with p as (
        select sku, array_agg(id order by id)::text[] as ids, min(id) as first_id
        from stock_sync_outbox where channel = ${channel}
        group by sku order by min(id) limit ${limit}
      )
      select p.sku, p.ids,
             case when coalesce(pr.active, false)
                  then coalesce(sum(greatest(s.on_hand - s.reserved - s.safety_stock, 0)) filter (where w.active), 0)
                  else 0 end::int as available,
             st.available as "lastPushed"
      from p
      left join products pr on pr.sku = p.sku
      left join stock s on s.sku = p.sku
      left join warehouses w on w.id = s.warehouse_id
      left join stock_sync_state st on st.channel = ${channel} and st.sku = p.sku
      group by p.sku, p.ids, p.first_id, pr.active, st.available
      order by p.first_id`;
  }

  /**
   * After a push (or a decision not to push): deletes exactly the outbox rows that were read —
   * a change committed since keeps its row — and remembers what the channel now shows.
   */
  async acknowledge(
    channel: string,
    levels: readonly PendingLevel[],
    pushed: readonly { sku: string; available: number }[],
  ): Promise<void> {
    const ids = levels.flatMap((l) => l.ids);
    await this.sql.begin(async (tx) => {
      if (ids.length) await tx`delete from stock_sync_outbox where id = any(${ids}::bigint[])`;
      if (pushed.length) {
        await tx`
          insert into stock_sync_state (channel, sku, available)
          select ${channel}, x.sku, x.available from unnest(${pushed.map((p) => p.sku)}::text[], ${pushed.map((p) => p.available)}::int[]) as x(sku, available)
          on conflict (channel, sku) do update set available = excluded.available, pushed_at = now()`;
      }
    });
  }

  /**
   * Runs `fn` holding the channel's push lease, so two sync attempts for one channel (a retry
   * racing an attempt its worker has not given up yet) never push concurrently and out of order.
   * A lease row, not an advisory lock: nothing stays open in PostgreSQL across the HTTP push, and
   * a dead holder's lease expires after `leaseMs` (keep the push shorter: its timeout bounds it).
   * `{ locked: false }` when another holder has it.
   */
  async withChannelLock<T>(
    channel: string,
    fn: () => Promise<T>,
    leaseMs = 60_000,
  ): Promise<{ locked: true; value: T } | { locked: false }> {
    return this.leases.withLease(`stock-push:${channel}`, leaseMs, fn);
  }

  /** What `channel` was last told, per SKU. */
  async lastPushed(channel: string): Promise<Record<string, number>> {
    const rows = await this.sql<
      { sku: string; available: number }[]
    >`select sku, available from stock_sync_state where channel = ${channel}`;
    return Object.fromEntries(rows.map((r) => [r.sku, r.available]));
  }
}
