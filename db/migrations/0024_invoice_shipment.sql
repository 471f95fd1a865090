-- The shipment a sale invoice planned from a capture is for (docs/back-office.md): with
-- OMS_INVOICE_PREPAID_AT=delivery the relay issues it once that parcel is delivered (or has ended
-- otherwise) instead of at its handover. Invoices planned before this carry none and go out as
-- they always did.
alter table invoices add column shipment_id text;
