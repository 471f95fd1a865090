-- Stock sync to sales channels. Any change of what a SKU can sell (on hand, reserved, safety
-- stock, a warehouse or product switched on/off) leaves one outbox row per channel, written by
-- triggers in the same transaction as the change, so no code path can forget it.
--
-- The outbox is insert-only for writers: a reservation never waits on a lock held by another
-- reservation or by the sync (an upserted "dirty SKU" row would be one more lock per SKU, and
-- two orders taking the same SKU from different warehouses could deadlock on it). The sync
-- reads a channel's rows and the stock in ONE statement (one snapshot), pushes that level and
-- then deletes exactly the rows it read: a change committed meanwhile keeps its row and is
-- pushed in the next round, so the latest level always wins and 100 changes collapse into one.

-- Channels that hold stock listings (registered by the worker from its configuration).
create table stock_sync_channels (
  channel        text primary key,
  registered_at  timestamptz not null default now()
);

create table stock_sync_outbox (
  id          bigserial primary key,
  channel     text not null,
  sku         text not null,
  created_at  timestamptz not null default now()
);
create index stock_sync_outbox_channel_idx on stock_sync_outbox (channel, id);

-- What each channel was last told, per SKU: an unchanged level is not pushed again.
create table stock_sync_state (
  channel    text not null,
  sku        text not null,
  available  integer not null,
  pushed_at  timestamptz not null default now(),
  primary key (channel, sku)
);

create function stock_sync_mark(p_sku text) returns void language sql as $$
  insert into stock_sync_outbox (channel, sku) select channel, p_sku from stock_sync_channels;
$$;

create function stock_sync_stock_changed() returns trigger language plpgsql as $$
begin
  perform stock_sync_mark(case when tg_op = 'DELETE' then old.sku else new.sku end);
  return null;
end $$;

create trigger stock_sync_on_insert after insert on stock
  for each row execute function stock_sync_stock_changed();
-- updated_at-only updates are not a change of level.
create trigger stock_sync_on_update after update on stock
  for each row when (old.on_hand is distinct from new.on_hand
                     or old.reserved is distinct from new.reserved
                     or old.safety_stock is distinct from new.safety_stock)
  execute function stock_sync_stock_changed();
create trigger stock_sync_on_delete after delete on stock
  for each row execute function stock_sync_stock_changed();

-- A warehouse switched off no longer sells its stock (and on again, sells it again).
create function stock_sync_warehouse_changed() returns trigger language plpgsql as $$
begin
  insert into stock_sync_outbox (channel, sku)
    select c.channel, s.sku from stock s cross join stock_sync_channels c where s.warehouse_id = new.id;
  return null;
end $$;
create trigger stock_sync_on_warehouse after update on warehouses
  for each row when (old.active is distinct from new.active)
  execute function stock_sync_warehouse_changed();

-- A product taken off sale shows 0 on every channel.
create function stock_sync_product_changed() returns trigger language plpgsql as $$
begin
  perform stock_sync_mark(new.sku);
  return null;
end $$;
create trigger stock_sync_on_product after update on products
  for each row when (old.active is distinct from new.active)
  execute function stock_sync_product_changed();
