/**
 * The projection when a workflow task that wrote steps never committed (a chaos run found it: a
 * return request carried by an update the restarted server lost had written "RETURN_REQUESTED"
 * under seq 12; the workflow went on from its history and closed under that same seq 12, and the
 * order read RETURN_REQUESTED for ever). Real PostgreSQL; the writes are the ones the workflow's
 * `recordStatus` makes, in the order the lost task and the real one made them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrdersRepo, type StatusWrite } from '../../db/orders-repo';
import { makeOrder } from '../support/fixtures';
import { createTestDatabase, uniqueSuffix } from '../support/harness';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let repo: OrdersRepo;
beforeAll(async () => {
  db = await createTestDatabase();
  repo = new OrdersRepo(db.sql);
});
afterAll(async () => {
  await db?.drop();
});

async function newOrder(): Promise<string> {
  const orderId = `order-web-P${uniqueSuffix()}`;
  await repo.recordIntake(orderId, makeOrder(), '100000.00', {});
  return orderId;
}
const step = (orderId: string, seq: number, status: string, event: string): StatusWrite => ({
  orderId,
  seq,
  status,
  event,
  eventDetail: {},
  actor: 'system',
  at: new Date().toISOString(),
  needsAttention: false,
  attentionReason: null,
  escalationLevel: 0,
  detail: { status },
  push: { channel: 'web', input: { channel: 'web', orderId, status, seq } },
});
const pushes = (orderId: string) =>
  db.sql<
    { seq: number; status: string }[]
  >`select seq, input ->> 'status' as status from status_pushes where order_id = ${orderId} order by seq`;

describe('the projection after a workflow task that never committed', () => {
  it('a different step written under the same seq replaces the lost one, in the timeline, the order and the push queue', async () => {
    const orderId = await newOrder();
    await repo.applyStatus(step(orderId, 11, 'DELIVERED', 'open for returns'));
    await repo.applyStatus(step(orderId, 12, 'RETURN_REQUESTED', 'return requested')); // the lost task
    await repo.applyStatus(step(orderId, 12, 'COMPLETED', 'return window closed')); // the workflow, from its history
    expect((await repo.get(orderId))?.status).toBe('COMPLETED');
    expect((await repo.timeline(orderId)).map((t) => `${t.seq} ${t.status}`)).toEqual(['11 DELIVERED', '12 COMPLETED']);
    expect(await pushes(orderId)).toEqual([
      { seq: 11, status: 'DELIVERED' },
      { seq: 12, status: 'COMPLETED' },
    ]);
  });

  it('a retried write of the same step changes nothing and queues its push once', async () => {
    const orderId = await newOrder();
    await repo.applyStatus(step(orderId, 1, 'RECEIVED', 'order received'));
    await db.sql`delete from status_pushes where order_id = ${orderId}`; // pushed meanwhile
    const again = await repo.applyStatus(step(orderId, 1, 'RECEIVED', 'order received'));
    expect(again.applied).toBe(false);
    expect(await pushes(orderId)).toEqual([]);
    expect((await repo.timeline(orderId)).map((t) => `${t.seq} ${t.status}`)).toEqual(['1 RECEIVED']);
  });

  it('a closing status drops what a lost task wrote beyond it; an older seq never overwrites a newer one', async () => {
    const orderId = await newOrder();
    await repo.applyStatus(step(orderId, 5, 'DELIVERED', 'open for returns'));
    await repo.applyStatus(step(orderId, 6, 'RETURN_REQUESTED', 'return requested')); // lost task
    await repo.applyStatus(step(orderId, 7, 'RETURN_REQUESTED', 'label sent')); // lost task
    // Not closing: an older seq is history, the newer projection stays.
    expect((await repo.applyStatus(step(orderId, 5, 'DELIVERED', 'open for returns'))).applied).toBe(false);
    await repo.applyStatus(step(orderId, 6, 'COMPLETED', 'return window closed'));
    expect((await repo.get(orderId))?.status).toBe('COMPLETED');
    expect((await repo.timeline(orderId)).map((t) => `${t.seq} ${t.status}`)).toEqual(['5 DELIVERED', '6 COMPLETED']);
    expect((await pushes(orderId)).map((p) => p.seq)).toEqual([5, 6]);
  });

  it('steps that replace lost ones already pushed are numbered above them for the channel, and the steps after follow', async () => {
    const orderId = await newOrder();
    const told = (seq: number, status: string) =>
      db.sql`insert into channel_status_pushes (channel, order_id, seq, status) values ('web', ${orderId}, ${seq}, ${status})
             on conflict (channel, order_id) do update set seq = excluded.seq, status = excluded.status`;
    await repo.applyStatus(step(orderId, 1, 'RECEIVED', 'order received'));
    await repo.applyStatus(step(orderId, 2, 'ALLOCATED', 'allocated')); // lost task
    await repo.applyStatus(step(orderId, 3, 'FULFILLING', 'to prepare')); // lost task
    // The relay sent all three.
    await db.sql`delete from status_pushes where order_id = ${orderId}`;
    await told(3, 'FULFILLING');

    await repo.applyStatus(step(orderId, 2, 'ON_HOLD', 'hold requested')); // replaces: above 3
    await repo.applyStatus(step(orderId, 3, 'ALLOCATED', 'allocated')); // replaces too
    await repo.applyStatus(step(orderId, 4, 'FULFILLING', 'to prepare')); // new: follows
    await repo.applyStatus(step(orderId, 4, 'FULFILLING', 'to prepare')); // a retry: nothing
    const queued = await db.sql<{ seq: number; status: string; inputSeq: number }[]>`
      select seq, input ->> 'status' as status, (input ->> 'seq')::int as "inputSeq" from status_pushes where order_id = ${orderId} order by seq`;
    expect(queued.map((r) => ({ ...r }))).toEqual([
      { seq: 4, status: 'ON_HOLD', inputSeq: 4 },
      { seq: 5, status: 'ALLOCATED', inputSeq: 5 },
      { seq: 6, status: 'FULFILLING', inputSeq: 6 },
    ]);
    const [shift] = await db.sql`select shift from status_push_shifts where order_id = ${orderId}`;
    expect(shift?.shift).toBe(2);

    // A closing step while a lost push is being sent (claimed) goes above it too.
    await db.sql`delete from status_pushes where order_id = ${orderId}`;
    await told(6, 'FULFILLING');
    await db.sql`insert into status_pushes (push_id, order_id, seq, channel, input, claimed_until)
                 values (${`${orderId}:9`}, ${orderId}, 9, 'web', '{"status":"SHIPPED","seq":9}', now() + interval '1 minute')`;
    await repo.applyStatus(step(orderId, 5, 'CANCELLED', 'order cancelled'));
    expect((await pushes(orderId)).map((p) => `${p.seq} ${p.status}`)).toEqual(['9 SHIPPED', '10 CANCELLED']);
  });

  it('an order no lost task touched is told its seqs as they are', async () => {
    const orderId = await newOrder();
    for (const [seq, status] of [
      [1, 'RECEIVED'],
      [2, 'ALLOCATED'],
      [3, 'FULFILLING'],
      [4, 'CANCELLED'],
    ] as const)
      await repo.applyStatus(step(orderId, seq, status, status.toLowerCase()));
    expect((await pushes(orderId)).map((p) => p.seq)).toEqual([1, 2, 3, 4]);
    expect(await db.sql`select 1 from status_push_shifts where order_id = ${orderId}`).toHaveLength(0);
  });
});
