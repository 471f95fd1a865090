-- The order projection: what the API reads. Workflows are the source of truth; every status
-- change is upserted here with a monotonic sequence so an old or repeated write never wins.

create table orders (
  order_id          text primary key,
  channel           text not null,
  channel_order_id  text not null,
  customer_id       text not null,
  status            text not null,
  seq               integer not null default 0,
  needs_attention   boolean not null default false,
  attention_reason  text,
  escalation_level  integer not null default 0,
  currency          text not null,
  total             numeric(16, 2) not null,
  payment_method    text not null check (payment_method in ('prepaid', 'cod')),
  placed_at         timestamptz not null,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  -- The canonical order as accepted, plus the workflow's latest view (allocations, shipments, payments).
  canonical         jsonb not null,
  detail            jsonb not null default '{}'::jsonb,
  unique (channel, channel_order_id)
);
create index orders_status_idx on orders (status, created_at desc, order_id);
create index orders_channel_idx on orders (channel, created_at desc, order_id);
create index orders_customer_idx on orders (customer_id, created_at desc, order_id);
create index orders_attention_idx on orders (created_at desc, order_id) where needs_attention;

-- What the channel sent, byte for byte (audit); one row per delivery attempt that reached us.
create table order_intake_log (
  id          bigserial primary key,
  order_id    text not null,
  channel     text not null,
  raw         jsonb not null,
  duplicate   boolean not null,
  received_at timestamptz not null default now()
);
create index order_intake_log_order_idx on order_intake_log (order_id);

create table order_timeline (
  order_id    text not null,
  seq         integer not null,
  status      text not null,
  event       text not null,
  detail      jsonb not null default '{}'::jsonb,
  actor       text not null,
  at          timestamptz not null,
  primary key (order_id, seq)
);

-- Orders waiting for stock, so a restock can wake exactly the orders it can help.
create table backorders (
  order_id    text not null,
  sku         text not null,
  quantity    integer not null,
  created_at  timestamptz not null default now(),
  primary key (order_id, sku)
);
create index backorders_sku_idx on backorders (sku, created_at);

-- Shipments by carrier booking, so a carrier webhook finds its shipment workflow.
create table shipments (
  shipment_id      text primary key,
  order_id         text not null,
  warehouse_id     text not null,
  carrier          text,
  booking_id       text,
  tracking_number  text,
  status           text not null,
  status_rank      integer not null default 0,
  updated_at       timestamptz not null default now()
);
create unique index shipments_booking_idx on shipments (carrier, booking_id) where booking_id is not null;
create index shipments_order_idx on shipments (order_id);

-- Carrier webhook events already accepted (at-least-once delivery → exactly-once effect).
create table carrier_events (
  carrier      text not null,
  event_id     text not null,
  booking_id   text not null,
  status       text not null,
  received_at  timestamptz not null default now(),
  primary key (carrier, event_id)
);

create table risk_blocklist (
  kind   text not null check (kind in ('customer', 'email', 'phone')),
  value  text not null,
  reason text not null,
  primary key (kind, value)
);
