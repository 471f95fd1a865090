-- Tax (docs/back-office.md): each product's VAT category, and the order's tax as quoted at intake
-- by the local rule set (domain/tax.ts). Orders taken in before this carry no quote (null).
alter table products add column tax_category text not null default 'standard'
  check (tax_category in ('standard', 'reduced', 'essential', 'zero', 'exempt'));
alter table orders add column tax jsonb;
