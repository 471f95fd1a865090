-- Tax committed (docs/back-office.md): one tax document per sale and per return the e-invoices
-- record (domain/invoices.ts plans both from the same money fact, in the same transaction), sent
-- to the tax service by the worker's relay (worker/tax-commits.ts): a sale is committed, a return
-- refunds tax against the sale it reduces. The service's own calculation is kept beside the
-- OMS's tax (the journal's VAT), so finance sees where they part. `doc_code` is the code the
-- service deduplicates on (the invoice's key).
create table tax_documents (
  doc_code        text primary key,
  order_id        text not null,
  kind            text not null check (kind in ('sale', 'return')),
  original_code   text references tax_documents (doc_code),
  customer_code   text not null,
  currency        text not null,
  gross           numeric(16, 2) not null check (gross > 0),
  tax             numeric(16, 2) not null check (tax >= 0),
  lines           jsonb not null,
  status          text not null default 'pending' check (status in ('pending', 'committed', 'variance', 'refused')),
  provider        text,
  tax_calculated  numeric(16, 2),
  service_ref     text,
  committed_at    timestamptz,
  reason          jsonb,
  created_at      timestamptz not null default clock_timestamp(),
  updated_at      timestamptz not null default clock_timestamp(),
  attempts        integer not null default 0,
  next_attempt_at timestamptz not null default clock_timestamp(),
  claimed_until   timestamptz,
  claim_token     text,
  last_error      text
);
create index tax_documents_order_idx on tax_documents (order_id, created_at);
create index tax_documents_due_idx on tax_documents (next_attempt_at) where status = 'pending';
create index tax_documents_status_idx on tax_documents (status, doc_code) where status in ('variance', 'refused');
