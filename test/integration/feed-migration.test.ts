/**
 * Migrations 0016 and 0018 on a database that already holds orders and stock counts (an upgrade,
 * not a fresh install): the steps written before get feed positions in the order they happened,
 * the stock changes of before come after them, and what is written afterwards comes later still. Real PostgreSQL: the migrations up to 0015, rows, then the rest.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createSql, type Sql } from '../../db/client';
import { migrate, MIGRATIONS_DIR } from '../../db/migrate';
import { OrdersRepo } from '../../db/orders-repo';
import { makeOrder } from '../support/fixtures';
import { uniqueSuffix } from '../support/harness';

const name = `oms_upgrade_${uniqueSuffix()}`;
const dir = mkdtempSync(join(tmpdir(), 'oms-migrations-'));
let sql: Sql | undefined;
const admin = () => createSql(inject('pgAdminUrl'), { max: 1 });

afterAll(async () => {
  await sql?.end({ timeout: 5 });
  const a = admin();
  await a.unsafe(`drop database if exists ${name} with (force)`);
  await a.end();
  rmSync(dir, { recursive: true, force: true });
});

describe('the event feed on an upgraded database', () => {
  it('positions the steps of before in the order they happened; new steps come after them', async () => {
    const a = admin();
    await a.unsafe(`create database ${name}`);
    await a.end();
    const u = new URL(inject('pgAdminUrl'));
    u.pathname = `/${name}`;
    sql = createSql(u.toString(), { max: 4 });
    for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f < '0016')) cpSync(join(MIGRATIONS_DIR, f), join(dir, f));
    await migrate(sql, { dir });
    // Two orders' steps from before the feed, interleaved in time.
    const [o1, o2] = [makeOrder(), makeOrder()];
    for (const o of [o1, o2])
      await sql`insert into orders (order_id, channel, channel_order_id, customer_id, status, currency, total, payment_method, placed_at, canonical)
        values (${`order-web-${o.channelOrderId}`}, 'web', ${o.channelOrderId}, ${o.customer.id}, 'RECEIVED', 'VND', '1.00', 'cod', ${o.placedAt}, ${sql.json(o)})`;
    const step = (o: typeof o1, seq: number, at: string) =>
      sql!`insert into order_timeline (order_id, seq, status, event, actor, at) values (${`order-web-${o.channelOrderId}`}, ${seq}, 'RECEIVED', ${`step ${seq}`}, 'test', ${at})`;
    await step(o2, 1, '2026-11-01T00:00:02Z');
    await step(o1, 1, '2026-11-01T00:00:01Z');
    await step(o1, 2, '2026-11-01T00:00:03Z');
    // And a stock count logged before stock joined the feed.
    await sql`insert into stock_adjustments (sku, warehouse_id, on_hand_before, on_hand_after, reason, actor)
      values ('SKU-OLD', 'WH-HCM', 5, 7, 'count', 'admin')`;
    expect(await migrate(sql)).toEqual(
      readdirSync(MIGRATIONS_DIR)
        .filter((f) => f >= '0016')
        .map((f) => f.replace(/\.sql$/, '')),
    );
    const rows = await sql<
      { order_id: string; seq: number; feed_id: string }[]
    >`select order_id, seq, feed_id::text from order_timeline order by feed_id`;
    expect(rows.map((r) => [r.order_id, r.seq])).toEqual([
      [`order-web-${o1.channelOrderId}`, 1],
      [`order-web-${o2.channelOrderId}`, 1],
      [`order-web-${o1.channelOrderId}`, 2],
    ]);
    // A step written after the upgrade, through the repository the workflows use, comes last.
    await new OrdersRepo(sql).applyStatus({
      orderId: `order-web-${o2.channelOrderId}`,
      seq: 2,
      status: 'ALLOCATED',
      event: 'after the upgrade',
      eventDetail: {},
      actor: 'system',
      at: new Date().toISOString(),
      needsAttention: false,
      attentionReason: null,
      escalationLevel: 0,
      detail: {},
    });
    // The stock change of before comes after the steps of before; a step written now, after both.
    const [stock] = await sql<{ feed_id: string }[]>`select feed_id::text from stock_adjustments where sku = 'SKU-OLD'`;
    const [last] = await sql<
      { event: string; feed_id: string }[]
    >`select event, feed_id::text from order_timeline order by feed_id desc limit 1`;
    expect(last!.event).toBe('after the upgrade');
    expect(BigInt(stock!.feed_id)).toBeGreaterThan(BigInt(rows.at(-1)!.feed_id));
    expect(BigInt(last!.feed_id)).toBeGreaterThan(BigInt(stock!.feed_id));
  });
});
