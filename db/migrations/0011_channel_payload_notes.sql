-- What the platforms sent that the OMS did not expect but took anyway: a status or enum value it
-- has no meaning for, a null where their documentation promises a value, a message type it does
-- not act on. Platforms add such values without notice; refusing them would make the platform
-- retry and finally disable the subscription, so the payload is accepted and the surprise is
-- kept here for ops (`GET /v1/channels/payload-notes`): one row per channel, field path and
-- value, counted, with the last event that carried it. Values are enum words, never personal data.
create table channel_payload_notes (
  channel        text not null,
  path           text not null,
  value          text not null,
  note           text not null,
  count          integer not null default 1,
  first_seen_at  timestamptz not null default now(),
  last_seen_at   timestamptz not null default now(),
  last_event_id  text,
  last_order_id  text,
  primary key (channel, path, value)
);
