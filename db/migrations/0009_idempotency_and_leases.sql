-- Commands sent with an Idempotency-Key (POST /v1/orders/{id}/cancel|returns|...): the key is the
-- Temporal Update id, so Temporal itself makes a retried command act once and answers with the
-- first outcome while the workflow runs. This row is written after that outcome, from what
-- Temporal's history says was accepted under the key (never before the effect): it answers a
-- retry once the workflow has closed, and tells a key reused for a different request (422).
create table command_requests (
  order_id         text not null,
  command          text not null,
  idempotency_key  text not null,
  -- sha-256 of the accepted Update's name and arguments (actor included).
  request_hash     text not null,
  outcome          jsonb not null,
  created_at       timestamptz not null default now(),
  primary key (order_id, command, idempotency_key)
);

-- Leases that serialise outbound calls (one channel's stock pushes, one order's status pushes to
-- its channel) without holding a transaction or an advisory lock across the HTTP call: taken and
-- given back in short statements of their own, and expiring on their own if the holder dies.
create table outbound_leases (
  lease_key   text primary key,
  holder      text not null,
  expires_at  timestamptz not null
);
