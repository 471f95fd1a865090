-- Reports (GET /v1/reports/summary): the KPIs are computed in SQL over the projection. The
-- moments they need (handover, delivery, cancellation, return) are stamped once on the order and
-- shipment rows by triggers, from the event time the workflow recorded (order_timeline.at), so a
-- report reads one narrow index range instead of replaying timelines. Nothing here changes what the
-- repositories write; the triggers only add to it, and never fail a projection write on odd data.

alter table orders
  add column handed_over_at       timestamptz,  -- first time every live shipment was with a carrier (SHIPPED or DELIVERED)
  add column delivered_at         timestamptz,  -- first DELIVERED
  add column cancelled_at         timestamptz,  -- CANCELLED
  add column return_requested_at  timestamptz,  -- first RETURN_REQUESTED / RETURNED / REFUNDED
  add column max_escalation_level integer not null default 0,  -- highest escalation_level ever held
  add column delivered_late       boolean not null default false,  -- a shipment arrived after its deliver_by
  -- Written by COD remittance (the carrier paying over the cash it collected; not built yet).
  add column cod_remitted_at      timestamptz,
  add column cod_remitted_amount  numeric(16, 2);

alter table shipments
  add column if not exists deliver_by timestamptz,  -- the promise to the customer (set by the SLA work)
  add column handed_over_at   timestamptz,          -- first seen with the carrier (picked up or later)
  add column delivered_at     timestamptz,
  -- Copied from the order (both never change), so carrier KPIs filter without a join.
  add column order_created_at timestamptz,
  add column order_channel    text;

-- 1. Order moments and "ever escalated", set on the row as the workflow's step updates it (no
--    second write): the time is that step's timeline entry (same order, same seq), which
--    OrdersRepo.applyStatus writes just before, in the same transaction. least() keeps the
--    earliest, so a repeated step (DELIVERED is recorded again when the return window opens)
--    never moves a stamp.
create function reports_order_moments() returns trigger language plpgsql as $$
declare
  ev_at timestamptz;
begin
  new.max_escalation_level := greatest(new.max_escalation_level, new.escalation_level,
    case when tg_op = 'UPDATE' then old.max_escalation_level end);
  if tg_op = 'UPDATE' and new.seq is distinct from old.seq
     and new.status in ('SHIPPED', 'DELIVERED', 'CANCELLED', 'RETURN_REQUESTED', 'RETURNED', 'REFUNDED') then
    select t.at into ev_at from order_timeline t where t.order_id = new.order_id and t.seq = new.seq;
    ev_at := coalesce(ev_at, now());  -- a status update that came without a timeline step
    if new.status in ('SHIPPED', 'DELIVERED') then new.handed_over_at := least(new.handed_over_at, ev_at); end if;
    if new.status = 'DELIVERED' then new.delivered_at := least(new.delivered_at, ev_at); end if;
    if new.status = 'CANCELLED' then new.cancelled_at := least(new.cancelled_at, ev_at); end if;
    if new.status in ('RETURN_REQUESTED', 'RETURNED', 'REFUNDED') then new.return_requested_at := least(new.return_requested_at, ev_at); end if;
  end if;
  return new;
end $$;
create trigger orders_report_moments before insert or update on orders for each row execute function reports_order_moments();

-- 2. Shipment moments. The order's projection detail lists its shipments with the status the
--    workflow knows (ShipmentView); the step that first shows one picked up / delivered stamps it
--    with that step's timeline time. An AFTER trigger, so the late-delivery flag (3) may update the
--    order row again.
create function reports_stamp_shipments() returns trigger language plpgsql as $$
declare
  ev_at timestamptz;
  list jsonb := new.detail -> 'shipments';
begin
  if jsonb_typeof(list) is distinct from 'array' then return null; end if;
  select t.at into ev_at from order_timeline t where t.order_id = new.order_id and t.seq = new.seq;
  ev_at := coalesce(ev_at, now());  -- an update that did not come with a timeline step
  update shipments s set
    handed_over_at = coalesce(s.handed_over_at, ev_at),
    delivered_at = case when x.status = 'delivered' then coalesce(s.delivered_at, ev_at) else s.delivered_at end
  from (select e ->> 'shipmentId' as shipment_id, e ->> 'status' as status
        from jsonb_array_elements(list) e
        where jsonb_typeof(e) = 'object'
          and e ->> 'status' in ('picked_up', 'in_transit', 'delivery_failed', 'returned_to_sender', 'delivered')) x
  where s.shipment_id = x.shipment_id and s.order_id = new.order_id
    and (s.handed_over_at is null or (x.status = 'delivered' and s.delivered_at is null));
  return null;
end $$;
create trigger orders_stamp_shipments after update of detail on orders for each row
  when (new.detail -> 'shipments' is distinct from old.detail -> 'shipments')
  execute function reports_stamp_shipments();

-- 3. An order is late when any of its shipments arrived after its deliver_by; recomputed whenever
--    a delivery time or a promise changes (a promise moved later can make it on time again).
create function reports_delivered_late() returns trigger language plpgsql as $$
begin
  update orders o set delivered_late = x.late
  from (select exists (select 1 from shipments s where s.order_id = new.order_id and s.delivered_at > s.deliver_by) as late) x
  where o.order_id = new.order_id and o.delivered_late is distinct from x.late;
  return null;
end $$;
create trigger shipments_delivered_late_ins after insert on shipments for each row
  when (new.delivered_at is not null and new.deliver_by is not null)
  execute function reports_delivered_late();
create trigger shipments_delivered_late_upd after update of delivered_at, deliver_by on shipments for each row
  when (new.delivered_at is distinct from old.delivered_at or new.deliver_by is distinct from old.deliver_by)
  execute function reports_delivered_late();

-- 4. The order's cohort keys on each shipment.
create function reports_shipment_order_keys() returns trigger language plpgsql as $$
begin
  if new.order_created_at is null or new.order_channel is null then
    select o.created_at, o.channel into new.order_created_at, new.order_channel from orders o where o.order_id = new.order_id;
  end if;
  return new;
end $$;
create trigger shipments_order_keys before insert on shipments for each row execute function reports_shipment_order_keys();

-- Rows written before this migration: order moments from their timelines; shipment keys from
-- their orders. (Shipment delivery times before now were never recorded per shipment.)
update orders o set handed_over_at = t.handed_over_at, delivered_at = t.delivered_at, cancelled_at = t.cancelled_at,
  return_requested_at = t.return_requested_at
from (select order_id,
        min(at) filter (where status in ('SHIPPED', 'DELIVERED')) as handed_over_at,
        min(at) filter (where status = 'DELIVERED') as delivered_at,
        min(at) filter (where status = 'CANCELLED') as cancelled_at,
        min(at) filter (where status in ('RETURN_REQUESTED', 'RETURNED', 'REFUNDED')) as return_requested_at
      from order_timeline group by order_id) t
where o.order_id = t.order_id;
update orders set max_escalation_level = escalation_level where escalation_level > max_escalation_level;
update shipments s set order_created_at = o.created_at, order_channel = o.channel from orders o where o.order_id = s.order_id;

-- The report reads only these indexes (index-only scans when the visibility map allows): the
-- orders received in [from, to), optionally of one channel (PostgreSQL 18 skips over the leading
-- channel when none is given), with every column a KPI needs.
create index orders_report_idx on orders (channel, created_at)
  include (status, payment_method, currency, total, handed_over_at, delivered_at, cancelled_at, return_requested_at,
           max_escalation_level, delivered_late, cod_remitted_amount);
create index shipments_report_idx on shipments (order_channel, order_created_at)
  include (carrier, delivered_at, deliver_by) where delivered_at is not null;

-- Index-only means "the visibility map says the heap page holds no change since the last vacuum";
-- recent orders change all the time, so vacuum them sooner than the default 20 % of the table
-- (at a million orders, 200,000 changes), or the report visits the heap for the newest weeks.
alter table orders set (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);
alter table shipments set (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);
