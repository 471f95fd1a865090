-- A replay of a chosen range (docs/back-office.md): ops deliver the events in (position,
-- replay_until] to a subscriber again, then it goes on from where it had been (`resume_at`),
-- without the events past `replay_until` coming twice.
alter table subscriptions add column replay_until bigint, add column resume_at bigint;
alter table subscriptions add constraint subscriptions_replay_check
  check ((replay_until is null) = (resume_at is null) and (replay_until is null or replay_until < resume_at));
