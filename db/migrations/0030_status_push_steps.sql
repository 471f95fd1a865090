-- Which step each queued push tells of, and under which shift each step was last pushed (0029).
--
-- `status_pushes.step_seq`: the step's seq in the order's timeline (`seq` is the number the
-- channel is told). A step queued for an order drops the pushes still waiting (unclaimed) of that
-- step and the steps after it: the order's local activities run one at a time, in seq order, so
-- those can only be a lost workflow task's, and the channel need not hear them.
--
-- `order_timeline.push_shift`: the shift the step was pushed under. A step the workflow writes
-- again word for word after the shift grew (a lost task had written and pushed the same step
-- under the old number, and an earlier step since replaced one of its) is pushed again under the
-- new number, else the channel would end on the replacing step.
alter table status_pushes add column step_seq integer;
update status_pushes set step_seq = seq;
alter table status_pushes alter column step_seq set not null;
alter table order_timeline add column push_shift integer not null default 0;
