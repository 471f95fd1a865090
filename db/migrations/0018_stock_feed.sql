-- Stock events in the event feed (docs/back-office.md): each logged change of a SKU's on-hand
-- count (an admin's count, a restock from a return) takes a position from the same sequence as
-- the order steps, with the transaction that wrote it, so the feed holds both in one order.
-- Changes logged before this get positions after everything already in the feed, in id order.
alter table stock_adjustments add column feed_id bigint, add column feed_tx xid8;
with base as (
  select greatest((select last_value from order_timeline_feed_seq), coalesce((select max(feed_id) from order_timeline), 0)) as b
), numbered as (
  select id, row_number() over (order by id) as n from stock_adjustments
)
update stock_adjustments s set feed_id = (select b from base) + numbered.n, feed_tx = '3'::xid8
  from numbered where s.id = numbered.id;
-- Past both (a position may be skipped: gaps are harmless, a reused position is not).
select setval('order_timeline_feed_seq', greatest(
  (select last_value from order_timeline_feed_seq) + 1,
  coalesce((select max(feed_id) from stock_adjustments), 0) + 1), false);
alter table stock_adjustments
  alter column feed_id set default nextval('order_timeline_feed_seq'),
  alter column feed_id set not null,
  alter column feed_tx set default pg_current_xact_id(),
  alter column feed_tx set not null;
create unique index stock_adjustments_feed_idx on stock_adjustments (feed_id);
