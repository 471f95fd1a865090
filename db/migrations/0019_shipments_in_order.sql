-- Orders from `orderWorkflowV3` on run their shipments inside the order's workflow (no child
-- workflow per parcel): the workflow says so with its first step, and the carrier webhook route
-- sends a parcel's events to the order's workflow instead of the shipment's. Orders taken in
-- before keep false: their shipments are child workflows.
alter table orders add column shipments_in_order boolean not null default false;
