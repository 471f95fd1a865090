-- Carrier webhooks name the parcel by its tracking code (GHN OrderCode, VTP ORDER_NUMBER), not by
-- our booking id: when the carrier did not echo our shipment id, the webhook route finds the
-- shipment by (carrier, tracking number). Without this index each such webhook scans shipments.
create index shipments_tracking_idx on shipments (carrier, tracking_number) where tracking_number is not null;
