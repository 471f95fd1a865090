-- Returns: a restock is applied once per (return, line) however often its activity runs, and
-- a COD refund becomes an instruction for finance (there is no card to refund to).

alter table stock_adjustments add column ref text;
create unique index stock_adjustments_ref_idx on stock_adjustments (ref) where ref is not null;

create table refund_instructions (
  return_id   text primary key,
  order_id    text not null,
  amount      numeric(16, 2) not null check (amount > 0),
  method      text not null,
  status      text not null default 'pending' check (status in ('pending', 'paid')),
  created_at  timestamptz not null default now()
);
create index refund_instructions_order_idx on refund_instructions (order_id);
