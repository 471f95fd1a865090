-- A channel is told an order's statuses under increasing numbers, and skips a number not above
-- the last it took. The number was the step's seq in the order's timeline. A step is recorded by a
-- local activity before its workflow task commits; when that task never commits (a hung or
-- restarted server, a killed worker), its steps may have been pushed already, and the workflow,
-- going on from its history, writes other steps under the same seqs. A chaos run found it: the
-- lost task had told the web shop FULFILLING as seq 4; the workflow, replayed with a cancellation
-- that had arrived meanwhile, closed as CANCELLED under seq 3, and the shop kept FULFILLING.
--
-- So a step that replaces a lost one (or closes the order) is pushed under a number above any
-- this order's channel was told or has queued, and the order's later steps follow from there: the
-- number pushed is seq + shift, the shift kept here (no row: 0). Within one task's steps the order
-- of seqs is kept as before.
create table status_push_shifts (
  order_id text primary key,
  shift    integer not null check (shift > 0)
);
