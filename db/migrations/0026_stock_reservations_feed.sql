-- Stock held for orders in the event feed (docs/back-office.md): each reservation an order makes,
-- and each release (cancel, cut, expiry) and commit (handover: the units leave the building) of
-- it, appended to feed_events in the statement that changes the reservation (`stock.reserved`,
-- `stock.released`, `stock.committed`), so an ERP's stock ledger follows what is promised, not
-- only what is counted (`stock.adjusted`).
alter table feed_events drop constraint feed_events_type_check;
alter table feed_events add constraint feed_events_type_check check (type in (
  'invoice.status', 'shipment.status', 'return.status', 'stock.reserved', 'stock.released', 'stock.committed'));
