-- The accounting journal (docs/back-office.md): one entry of balanced double-entry lines per money
-- fact the order's workflow tells with a step (domain/journal.ts). The entry key is the order and
-- the fact's own key, so a step written twice (a retried local activity) writes its entries once.
create table journal_lines (
  entry_key   text not null,
  line_no     int not null,
  journal_id  bigserial not null,
  order_id    text not null,
  channel     text not null,
  currency    text not null,
  kind        text not null,
  ref         text,
  account     text not null,
  debit       numeric(16, 2) not null default 0 check (debit >= 0),
  credit      numeric(16, 2) not null default 0 check (credit >= 0),
  occurred_at timestamptz not null,
  primary key (entry_key, line_no)
);
create index journal_lines_time_idx on journal_lines (occurred_at, journal_id);
create index journal_lines_order_idx on journal_lines (order_id);
