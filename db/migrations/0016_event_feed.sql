-- The event feed (docs/back-office.md): every step of the order timeline gets a position in one
-- global order, given when the step is written (and again when a lost workflow task's step is
-- replaced at its seq), with the transaction that wrote it. `GET /v1/events?after=` reads steps
-- past a position whose transactions have all ended (feed_tx below the oldest running one), so a
-- transaction that commits late with a lower position is never skipped.
create sequence order_timeline_feed_seq;
alter table order_timeline add column feed_id bigint, add column feed_tx xid8;
with numbered as (
  select order_id, seq, row_number() over (order by at, order_id, seq) as n from order_timeline
)
update order_timeline t set feed_id = numbered.n, feed_tx = '3'::xid8
  from numbered where t.order_id = numbered.order_id and t.seq = numbered.seq;
select setval('order_timeline_feed_seq', coalesce((select max(feed_id) from order_timeline), 0) + 1, false);
alter table order_timeline
  alter column feed_id set default nextval('order_timeline_feed_seq'),
  alter column feed_id set not null,
  alter column feed_tx set default pg_current_xact_id(),
  alter column feed_tx set not null;
alter sequence order_timeline_feed_seq owned by order_timeline.feed_id;
create unique index order_timeline_feed_idx on order_timeline (feed_id);
