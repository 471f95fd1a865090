-- The back office never holds an order (docs/back-office.md): a step whose money facts the
-- journal, the invoices or the tax documents cannot book (a defect in their rules or their data,
-- not a database outage) is written without them, and the facts wait here, with the error, for
-- ops to book them again once the cause is mended (`POST /v1/accounting/held/{id}/book`). One row
-- per step; a step written again keeps the latest error.
create table back_office_held (
  held_id     bigserial primary key,
  order_id    text not null,
  seq         integer not null,
  facts       jsonb not null,
  at          timestamptz not null,
  error       text not null,
  created_at  timestamptz not null default clock_timestamp(),
  booked_at   timestamptz,
  unique (order_id, seq)
);
create index back_office_held_open_idx on back_office_held (held_id) where booked_at is null;
