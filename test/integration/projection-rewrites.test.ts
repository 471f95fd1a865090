/**
 * The projection when a workflow task that wrote steps never committed (a chaos run found it: a
 * return request carried by an update the restarted server lost had written "RETURN_REQUESTED"
 * under seq 12; the workflow went on from its history and closed under that same seq 12, and the
 * order read RETURN_REQUESTED for ever). Real PostgreSQL; the writes are the ones the workflow's
 * `recordStatus` makes, in the order the lost task and the real one made them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrdersRepo } from '../../db/orders-repo';
import { makeOrder, webStep } from '../support/fixtures';
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
const step = webStep;
const pushes = async (orderId: string) =>
  (
    await db.sql<
      { seq: number; step: number; status: string }[]
    >`select seq, step_seq as step, input ->> 'status' as status from status_pushes where order_id = ${orderId} order by seq`
  ).map((r) => ({ ...r }));
/** The relay sent the order's queued pushes, the last of them as `seq` `status`. */
async function sent(orderId: string, seq: number, status: string): Promise<void> {
  await db.sql`delete from status_pushes where order_id = ${orderId}`;
  await db.sql`insert into channel_status_pushes (channel, order_id, seq, status) values ('web', ${orderId}, ${seq}, ${status})
               on conflict (channel, order_id) do update set seq = excluded.seq, status = excluded.status`;
}
const shiftOf = async (orderId: string) =>
  (await db.sql<{ shift: number }[]>`select shift from status_push_shifts where order_id = ${orderId}`)[0]?.shift ?? 0;

describe('the projection after a workflow task that never committed', () => {
  it('a different step written under the same seq replaces the lost one, in the timeline, the order and the push queue', async () => {
    const orderId = await newOrder();
    await repo.applyStatus(step(orderId, 11, 'DELIVERED', 'open for returns'));
    await repo.applyStatus(step(orderId, 12, 'RETURN_REQUESTED', 'return requested')); // the lost task
    await repo.applyStatus(step(orderId, 12, 'COMPLETED', 'return window closed')); // the workflow, from its history
    expect((await repo.get(orderId))?.status).toBe('COMPLETED');
    expect((await repo.timeline(orderId)).map((t) => `${t.seq} ${t.status}`)).toEqual(['11 DELIVERED', '12 COMPLETED']);
    // The lost push never went out: dropped. The close is numbered above it all the same.
    expect(await pushes(orderId)).toEqual([
      { seq: 11, step: 11, status: 'DELIVERED' },
      { seq: 13, step: 12, status: 'COMPLETED' },
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
    expect((await pushes(orderId)).map((p) => `${p.seq} ${p.status}`)).toEqual(['5 DELIVERED', '7 COMPLETED']);
  });

  it('steps that replace lost ones already pushed are numbered above them for the channel, and the steps after follow', async () => {
    const orderId = await newOrder();
    await repo.applyStatus(step(orderId, 1, 'RECEIVED', 'order received'));
    await repo.applyStatus(step(orderId, 2, 'ALLOCATED', 'allocated')); // lost task
    await repo.applyStatus(step(orderId, 3, 'FULFILLING', 'to prepare')); // lost task
    await sent(orderId, 3, 'FULFILLING'); // the relay sent all three

    await repo.applyStatus(step(orderId, 2, 'ON_HOLD', 'hold requested')); // replaces: above 3
    await repo.applyStatus(step(orderId, 2, 'ON_HOLD', 'hold requested')); // its retry: nothing
    await repo.applyStatus(step(orderId, 3, 'ALLOCATED', 'allocated')); // replaces too: follows
    await repo.applyStatus(step(orderId, 4, 'FULFILLING', 'to prepare')); // new: follows
    await repo.applyStatus(step(orderId, 4, 'FULFILLING', 'to prepare')); // its retry: nothing
    expect(await pushes(orderId)).toEqual([
      { seq: 4, step: 2, status: 'ON_HOLD' },
      { seq: 5, step: 3, status: 'ALLOCATED' },
      { seq: 6, step: 4, status: 'FULFILLING' },
    ]);
    // What the channel reads is the number it is told under.
    const inputs = await db.sql<
      { seq: number }[]
    >`select (input ->> 'seq')::int as seq from status_pushes where order_id = ${orderId} order by seq`;
    expect(inputs.map((r) => r.seq)).toEqual([4, 5, 6]);
    expect(await shiftOf(orderId)).toBe(2);
  });

  it('a lost task’s pushes still waiting are dropped by the step that replaces its first', async () => {
    const orderId = await newOrder();
    await repo.applyStatus(step(orderId, 1, 'RECEIVED', 'order received'));
    await sent(orderId, 1, 'RECEIVED');
    await repo.applyStatus(step(orderId, 2, 'ALLOCATED', 'allocated')); // lost task, not sent yet
    await repo.applyStatus(step(orderId, 3, 'ALLOCATED', 'picking started')); // lost task
    await repo.applyStatus(step(orderId, 4, 'CANCELLED', 'order cancelled')); // lost task: a cancel nobody asked for now
    await repo.applyStatus(step(orderId, 2, 'ON_HOLD', 'hold requested')); // the workflow
    expect((await pushes(orderId)).map((p) => `${p.seq} ${p.status}`)).toEqual(['5 ON_HOLD']);
    await repo.applyStatus(step(orderId, 3, 'ALLOCATED', 'picking started')); // the same as the lost step 3
    expect((await pushes(orderId)).map((p) => `${p.seq} ${p.status}`)).toEqual(['5 ON_HOLD', '6 ALLOCATED']);
  });

  it('a step the workflow writes word for word as the lost task did is pushed again once the numbers moved past it', async () => {
    const orderId = await newOrder();
    await repo.applyStatus(step(orderId, 1, 'RECEIVED', 'order received'));
    await repo.applyStatus(step(orderId, 2, 'ON_HOLD', 'hold requested')); // lost task
    await repo.applyStatus(step(orderId, 3, 'CANCELLED', 'order cancelled')); // lost task
    await sent(orderId, 3, 'CANCELLED');
    await repo.applyStatus(step(orderId, 2, 'CANCELLING', 'cancellation requested')); // the workflow: 4
    const feedPosition = () =>
      db.sql<
        { feedId: string; at: Date }[]
      >`select feed_id::text as "feedId", at from order_timeline where order_id = ${orderId} and seq = 3`;
    const [before] = await feedPosition();
    // The same words as the lost step 3, but the channel heard CANCELLING after it.
    await repo.applyStatus(step(orderId, 3, 'CANCELLED', 'order cancelled'));
    expect((await pushes(orderId)).map((p) => `${p.seq} ${p.status}`)).toEqual(['4 CANCELLING', '5 CANCELLED']);
    // The timeline row is the same step: not renumbered for the event feed, its time kept.
    expect((await repo.timeline(orderId)).map((t) => `${t.seq} ${t.status}`)).toEqual(['1 RECEIVED', '2 CANCELLING', '3 CANCELLED']);
    expect(await feedPosition()).toEqual([before]);
    await repo.applyStatus(step(orderId, 3, 'CANCELLED', 'order cancelled')); // its retry: nothing
    expect(await pushes(orderId)).toHaveLength(2);
  });

  it('a closing step while a lost push is being sent (claimed) goes above it, and that push is kept', async () => {
    const orderId = await newOrder();
    await repo.applyStatus(step(orderId, 1, 'RECEIVED', 'order received'));
    await sent(orderId, 1, 'RECEIVED');
    await repo.applyStatus(step(orderId, 2, 'SHIPPED', 'handed over')); // lost task
    await db.sql`update status_pushes set claimed_until = now() + interval '1 minute' where order_id = ${orderId} and step_seq = 2`;
    await repo.applyStatus(step(orderId, 2, 'CANCELLED', 'order cancelled'));
    expect((await pushes(orderId)).map((p) => `${p.seq} ${p.status}`)).toEqual(['2 SHIPPED', '3 CANCELLED']);
  });

  it('a lost push whose relay died with it (lease run out) is dropped like one never sent', async () => {
    const orderId = await newOrder();
    await sent(orderId, 1, 'RECEIVED');
    await repo.applyStatus(step(orderId, 2, 'SHIPPED', 'handed over')); // lost task
    await db.sql`update status_pushes set claimed_until = now() - interval '1 second' where order_id = ${orderId}`;
    await repo.applyStatus(step(orderId, 2, 'CANCELLED', 'order cancelled'));
    expect((await pushes(orderId)).map((p) => `${p.seq} ${p.status}`)).toEqual(['3 CANCELLED']);
  });

  it('a closing step the lost task also wrote word for word still drops the lost steps queued beyond it', async () => {
    const orderId = await newOrder();
    await repo.applyStatus(step(orderId, 1, 'RECEIVED', 'order received'));
    await repo.applyStatus(step(orderId, 2, 'ALLOCATED', 'allocated')); // lost task, and the workflow's too
    await repo.applyStatus(step(orderId, 3, 'ON_HOLD', 'hold requested')); // lost task only
    await repo.applyStatus(step(orderId, 2, 'ALLOCATED', 'allocated')); // the workflow: the same step
    await repo.applyStatus(step(orderId, 3, 'REJECTED', 'rejected')); // closes: replaces 3
    expect((await pushes(orderId)).map((p) => `${p.seq} ${p.status}`)).toEqual(['1 RECEIVED', '2 ALLOCATED', '4 REJECTED']);
    await db.sql`delete from status_pushes where order_id = ${orderId}`;
    // Beyond: the lost task got further than the closing step, which it wrote the same.
    const other = await newOrder();
    await repo.applyStatus(step(other, 1, 'CANCELLED', 'order cancelled')); // lost task
    await repo.applyStatus(step(other, 2, 'ON_HOLD', 'hold requested')); // lost task (cannot follow a close; a stray row)
    await repo.applyStatus(step(other, 1, 'CANCELLED', 'order cancelled')); // the workflow
    expect((await pushes(other)).map((p) => `${p.seq} ${p.status}`)).toEqual(['1 CANCELLED']);
  });

  it('a number handed out twice (a lost task still writing) fails the step whole, for its retry to number afresh', async () => {
    const orderId = await newOrder();
    await repo.applyStatus(step(orderId, 1, 'RECEIVED', 'order received'));
    // Another writer took number 2 meanwhile.
    await db.sql`insert into status_pushes (push_id, order_id, seq, step_seq, channel, input, claimed_until)
                 values (${`${orderId}:2`}, ${orderId}, 2, 2, 'web', '{"status":"SHIPPED","seq":2}', now() + interval '1 minute')`;
    await expect(repo.applyStatus(step(orderId, 2, 'ALLOCATED', 'allocated'))).rejects.toThrow(/duplicate key/);
    expect((await repo.timeline(orderId)).map((t) => `${t.seq} ${t.status}`)).toEqual(['1 RECEIVED']);
    expect((await pushes(orderId)).map((p) => `${p.seq} ${p.status}`)).toEqual(['1 RECEIVED', '2 SHIPPED']);
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
    expect(await shiftOf(orderId)).toBe(0);
  });
});
