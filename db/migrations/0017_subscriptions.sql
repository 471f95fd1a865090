-- Subscribers to the event feed (docs/back-office.md): an ERP, a CRM, the books. Each has a URL,
-- a secret its deliveries are signed with, optionally one channel, and the feed position it has
-- taken up to. A relay in every worker process delivers each subscriber's events past its
-- position, in feed order, in batches; a failed delivery is retried with backoff and the
-- position does not move. `claimed_until`/`claim_token` are a relay's lease, as in status_pushes.
create table subscriptions (
  subscription_id   text primary key,
  url               text not null,
  secret            text not null,
  channel           text,
  position          bigint not null,
  created_at        timestamptz not null default clock_timestamp(),
  attempts          integer not null default 0,
  next_attempt_at   timestamptz not null default clock_timestamp(),
  claimed_until     timestamptz,
  claim_token       text,
  last_error        text,
  delivered         bigint not null default 0,
  last_delivered_at timestamptz
);
