-- Partial cancellation: units of a line given back from a reservation before the shipment left.
-- One row per cut, so a retried activity gives nothing back twice.
create table reservation_cuts (
  ref         text primary key,
  order_id    text not null,
  units       integer not null check (units >= 0),
  created_at  timestamptz not null default now()
);
create index reservation_cuts_order_idx on reservation_cuts (order_id);
