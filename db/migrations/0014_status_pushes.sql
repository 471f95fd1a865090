-- Channel status pushes waiting to be sent, written in the transaction that records the status
-- (order_timeline): an order's history no longer holds an activity per push. A relay in each
-- worker process sends them, in seq order per order (only the oldest row of an order is ever
-- claimed), retried with backoff while the channel fails. A row is deleted once the channel took
-- the push, refused it (logged), or it was older than what the channel was told already.
-- `claimed_until` is a relay's lease on the row, as in workflow_starts.
create table status_pushes (
  push_id         text primary key,  -- order_id:seq
  order_id        text not null,
  seq             integer not null,
  channel         text not null,
  input           jsonb not null,
  created_at      timestamptz not null default clock_timestamp(),
  attempts        integer not null default 0,
  next_attempt_at timestamptz not null default clock_timestamp(),
  claimed_until   timestamptz,
  claim_token     text,
  last_error      text,
  unique (order_id, seq)
);
create index status_pushes_due_idx on status_pushes (next_attempt_at, created_at);
