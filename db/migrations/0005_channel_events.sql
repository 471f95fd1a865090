-- Sales-channel webhooks already accepted, by the channel's event id (or order + status + time
-- where the channel has no event id): platforms deliver at least once, so a replayed webhook
-- must find its row and change nothing. Thin notifications (ids and a status) are kept as sent;
-- full orders are kept in order_intake_log instead.
create table channel_events (
  channel           text not null,
  event_id          text not null,
  channel_order_id  text not null,
  native_status     text not null,
  action            text not null,
  order_id          text not null,
  raw               jsonb,
  received_at       timestamptz not null default now(),
  primary key (channel, event_id)
);
create index channel_events_order_idx on channel_events (channel, channel_order_id, received_at);

-- The newest status each channel has been told per order. Pushes for one order are serialised
-- (advisory lock) and an older one arriving late — a retried push overtaken by a newer one — is
-- skipped, so a channel never sees an earlier status overwrite a later one.
create table channel_status_pushes (
  channel     text not null,
  order_id    text not null,
  seq         integer not null,
  status      text not null,
  pushed_at   timestamptz not null default now(),
  primary key (channel, order_id)
);
