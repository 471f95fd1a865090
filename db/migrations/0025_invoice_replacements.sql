-- Replacement invoices (docs/back-office.md): an issued invoice that named the buyer wrongly (a
-- business buyer's tax code, name or address) is not adjusted but replaced — the seller issues a
-- new invoice saying which one it replaces, and the old one no longer counts. The replacement is
-- a row of its own (`kind = 'replacement'`, `original_key` the invoice it replaces, the same money
-- fact, the same lines and amounts); once the provider issues it the original's status becomes
-- `replaced`. `note` is why it was replaced, printed on the replacement.
alter table invoices drop constraint invoices_kind_check;
alter table invoices add constraint invoices_kind_check check (kind in ('sale', 'adjustment', 'replacement'));
alter table invoices drop constraint invoices_status_check;
alter table invoices add constraint invoices_status_check check (status in ('pending', 'submitted', 'issued', 'rejected', 'replaced'));
alter table invoices add column note text;
