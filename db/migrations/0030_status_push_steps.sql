-- Which step each queued push tells of, and under which shift each step was last pushed (0029).
--
-- `order_timeline.push_shift`: the shift the step was pushed under. A step the workflow writes
-- again word for word after the shift grew (a lost task had written and pushed the same step
-- under the old number, and an earlier step since replaced one of its) is pushed again under the
-- new number, else the channel would end on the replacing step.
--
-- `status_pushes.step_seq`: the step's seq in the order's timeline (`seq` is the number the
-- channel is told). A step queued for an order drops the pushes of that step and the steps after
-- it that no relay holds: the order's local activities run one at a time, in seq order, so those
-- were written by a lost task. Null (rows queued before this, or by a worker of the previous
-- release during a rolling deploy): the step is `seq`, as it was then.
--
-- Both columns are added without rewriting a table (no default to compute, or a constant one).
-- order_timeline first, then status_pushes: the order the application locks them in.
alter table order_timeline add column push_shift integer not null default 0;
alter table status_pushes add column step_seq integer;
