-- E-invoices (docs/back-office.md): one VAT invoice per sale the journal records (a capture at
-- handover, COD cash at delivery) and one adjustment invoice per original a refund reduces,
-- written with the step that told the money fact (domain/invoices.ts), then issued through the
-- e-invoice provider by the worker's relay (worker/invoicing.ts). The row stays: it is the
-- invoice as issued (number, series, the provider's document) or why the provider refused it.
-- `invoice_key` is the seller's key the provider deduplicates on.
create table invoices (
  invoice_key     text primary key,
  order_id        text not null,
  fact_key        text not null,
  kind            text not null check (kind in ('sale', 'adjustment')),
  original_key    text references invoices (invoice_key),
  currency        text not null,
  net             numeric(16, 2) not null check (net >= 0),
  vat             numeric(16, 2) not null check (vat >= 0),
  gross           numeric(16, 2) not null check (gross > 0),
  lines           jsonb not null,
  buyer           jsonb not null,
  status          text not null default 'pending' check (status in ('pending', 'submitted', 'issued', 'rejected')),
  series          text,
  number          text,
  authority_code  text,
  issued_at       timestamptz,
  reason          jsonb,
  document        text,
  created_at      timestamptz not null default clock_timestamp(),
  updated_at      timestamptz not null default clock_timestamp(),
  attempts        integer not null default 0,
  next_attempt_at timestamptz not null default clock_timestamp(),
  claimed_until   timestamptz,
  claim_token     text,
  last_error      text
);
create index invoices_order_idx on invoices (order_id, created_at);
create index invoices_due_idx on invoices (next_attempt_at) where status in ('pending', 'submitted');
create index invoices_fact_idx on invoices (order_id, fact_key);
-- The event feed's record of states that things of an order reach — an invoice planned, issued,
-- rejected or sent again; a shipment booked, picked up, delivered...; a return requested,
-- received, accepted... (0016: one sequence, one
-- order) — appended in the transaction that changed the thing, never moved. `data` is the thing
-- as it stood then, as the feed shows it (db/events-repo.ts).
create table feed_events (
  feed_id  bigint primary key default nextval('order_timeline_feed_seq'),
  feed_tx  xid8 not null default pg_current_xact_id(),
  order_id text not null,
  type     text not null check (type in ('invoice.status', 'shipment.status', 'return.status')),
  subject  text not null,
  data     jsonb not null,
  at       timestamptz not null default clock_timestamp()
);
create index feed_events_subject_idx on feed_events (subject, feed_id);
