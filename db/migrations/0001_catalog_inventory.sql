-- Catalog, warehouses and stock. The stock row is the lock: the CHECK constraints, not
-- application code, guarantee that nothing is ever over-reserved.

create table products (
  sku           text primary key check (sku ~ '^[A-Za-z0-9._-]{1,64}$'),
  name          text not null,
  unit_price    numeric(14, 2) not null check (unit_price >= 0),
  currency      text not null default 'VND',
  weight_grams  integer not null check (weight_grams > 0),
  active        boolean not null default true,
  updated_at    timestamptz not null default now()
);

create table warehouses (
  id              text primary key check (id ~ '^[A-Za-z0-9._-]{1,64}$'),
  name            text not null,
  city            text not null,
  lat             double precision not null check (lat between -90 and 90),
  lng             double precision not null check (lng between -180 and 180),
  regions_served  text[] not null,
  daily_capacity  integer not null check (daily_capacity >= 0),
  active          boolean not null default true,
  updated_at      timestamptz not null default now()
);

create table stock (
  sku           text not null references products (sku),
  warehouse_id  text not null references warehouses (id),
  on_hand       integer not null default 0,
  reserved      integer not null default 0,
  safety_stock  integer not null default 0,
  updated_at    timestamptz not null default now(),
  primary key (sku, warehouse_id),
  constraint stock_on_hand_non_negative check (on_hand >= 0),
  constraint stock_reserved_within_on_hand check (reserved >= 0 and reserved <= on_hand),
  constraint stock_safety_non_negative check (safety_stock >= 0)
);
create index stock_warehouse_idx on stock (warehouse_id, sku);

-- Every change to on_hand, with who and why.
create table stock_adjustments (
  id            bigserial primary key,
  sku           text not null,
  warehouse_id  text not null,
  on_hand_before integer not null,
  on_hand_after  integer not null,
  reason        text not null,
  actor         text not null,
  created_at    timestamptz not null default now()
);
create index stock_adjustments_sku_idx on stock_adjustments (sku, created_at desc);

-- One row per (order, line, warehouse): a retried reservation finds its row and reserves nothing twice.
create table reservations (
  order_id      text not null,
  line_no       integer not null,
  warehouse_id  text not null references warehouses (id),
  sku           text not null,
  quantity      integer not null check (quantity > 0),
  state         text not null default 'reserved' check (state in ('reserved', 'released', 'committed')),
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  primary key (order_id, line_no, warehouse_id)
);
create index reservations_sku_idx on reservations (sku, warehouse_id) where state = 'reserved';

-- Orders a warehouse took on a given day, against its daily capacity.
create table warehouse_load (
  warehouse_id  text not null references warehouses (id),
  day           date not null,
  orders        integer not null default 0 check (orders >= 0),
  primary key (warehouse_id, day)
);
