-- The orders each warehouse's daily load counts (warehouse_load, 0001): an order is counted once
-- per warehouse and day, however often it reserves there. A run that reserves again after a lost
-- workflow task (its cuts undone, the rows reserved afresh) no longer takes a second place of the
-- day's capacity. Orders counted before this have no row: one reserving again today is counted
-- again, as before.
create table warehouse_load_orders (
  warehouse_id  text not null references warehouses (id),
  day           date not null,
  order_id      text not null,
  primary key (warehouse_id, day, order_id)
);
