-- The event feed never skips an event (docs/back-office.md). Up to 0027 a row took its position
-- when it was written and the feed showed it once its writer's transaction id was older than any
-- open transaction's. PostgreSQL hands a transaction its id at its first write, not when it takes
-- a position: a transaction that wrote first (older id) and took its position after another one
-- still open (younger id, earlier position) was shown at once, and a reader paging on from it
-- skipped the earlier position when that committed.
--
-- Now a row's position is final only at commit: a deferred trigger numbers the transaction's feed
-- rows as it commits, under a lock held to the end of the commit, so positions are handed out in
-- commit order. A row whose transaction committed never has a later-numbered neighbour that is
-- still open below it: every committed row is shown, in position order, and none is skipped.
-- (The lock is taken after all of the transaction's other locks, and its holder takes none, so it
-- cannot deadlock; it serialises commits of feed writers only for the numbering itself.)
-- `feed_final` marks a row numbered at commit; rows written before this are final already.
alter table order_timeline add column feed_final boolean not null default true;
alter table order_timeline alter column feed_final set default false;
alter table stock_adjustments add column feed_final boolean not null default true;
alter table stock_adjustments alter column feed_final set default false;
alter table feed_events add column feed_final boolean not null default true;
alter table feed_events alter column feed_final set default false;

create function feed_position_at_commit() returns trigger language plpgsql as $$
begin
  if new.feed_final then
    return null;
  end if;
  perform pg_advisory_xact_lock(8016001);
  execute format('update %I.%I set feed_id = nextval(''order_timeline_feed_seq''), feed_final = true where feed_id = $1 and not feed_final',
                 tg_table_schema, tg_table_name) using new.feed_id;
  return null;
end $$;

create constraint trigger order_timeline_feed_at_commit after insert or update of feed_id on order_timeline
  deferrable initially deferred for each row execute function feed_position_at_commit();
create constraint trigger stock_adjustments_feed_at_commit after insert or update of feed_id on stock_adjustments
  deferrable initially deferred for each row execute function feed_position_at_commit();
create constraint trigger feed_events_feed_at_commit after insert or update of feed_id on feed_events
  deferrable initially deferred for each row execute function feed_position_at_commit();
