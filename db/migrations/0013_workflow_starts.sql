-- Workflows to start, written in the same transaction as what asked for them (an order's intake
-- row, a channel notification): the HTTP answer depends on PostgreSQL only, and a relay in each
-- API process starts them on Temporal (at once when it can, later when Temporal is back). A row
-- is deleted once its workflow is started (or found already started). `claimed_until` is a relay's
-- lease on the row, so several API processes never start one workflow twice at the same time; a
-- relay that dies leaves a lease that expires by itself.
create table workflow_starts (
  workflow_id     text primary key,
  kind            text not null check (kind in ('order', 'channel-intake')),
  task_queue      text not null,
  input           jsonb not null,
  created_at      timestamptz not null default clock_timestamp(),
  attempts        integer not null default 0,
  next_attempt_at timestamptz not null default clock_timestamp(),
  claimed_until   timestamptz,
  claim_token     text,
  last_error      text
);
create index workflow_starts_due_idx on workflow_starts (next_attempt_at, created_at);
