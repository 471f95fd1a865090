-- Status-push requests to a last-write-wins platform whose outcome is in doubt: sent, but no
-- answer came back (timeout, abort, connection reset), so the platform may still apply them
-- until `may_land_until` (when we gave up + the platform's own request timeout). While such a
-- row stands, no push of another seq of that order goes out, so a late landing can never
-- overwrite a newer status. A row is written before each send, with the longest the send may
-- take, so a pusher that dies mid-call leaves it behind; it is deleted once the platform answers
-- and narrowed to the platform's timeout when no answer came. Rows past `may_land_until` mean
-- nothing and are swept by the next push of the order.
create table channel_push_doubts (
  channel         text not null,
  order_id        text not null,
  attempt_id      text not null,
  seq             integer not null,
  may_land_until  timestamptz not null,
  primary key (channel, order_id, attempt_id)
);
