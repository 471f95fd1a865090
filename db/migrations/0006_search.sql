-- Customer-service search: by channel order number, by the customer's phone or e-mail, and an
-- inventory adjustment history paged newest first.
--
-- Phone and e-mail are matched on a normalised key computed by the two functions below, in SQL
-- only, so the index and the query can never disagree about what "the same number" is. They
-- are expression indexes over the canonical order (no new columns: nothing to backfill, no table
-- rewrite). Each index leads with the key and carries the list's order (created_at desc,
-- order_id desc), so a search reads one index range in page order whatever the table's size.
--
-- Migrations run in a transaction, so these indexes are built with a lock on `orders`. On a
-- large live table, create them first with `create index concurrently` under the same names:
-- `if not exists` then leaves them be.

-- E-mail: trimmed and lower-cased (the local part is case-insensitive in practice everywhere
-- customers are concerned).
create or replace function oms_email_key(raw text) returns text
  language sql immutable parallel safe
  return nullif(lower(btrim(raw)), '');

-- Phone, digits only, in international form without '+'. Vietnam is the home country: a national
-- number (0 + 9 digits, or the 9 digits alone) is the same as +84 and 84 followed by them.
-- `00` is the international call prefix. Fewer than 8 digits is not a phone number.
create or replace function oms_phone_key_digits(d text, international boolean) returns text
  language sql immutable parallel safe
  return case
    when d is null or length(d) < 8 then null
    when international then d
    when d like '00%' then substr(d, 3)
    when d like '0%' then '84' || substr(d, 2)
    when length(d) = 9 then '84' || d
    else d
  end;

create or replace function oms_phone_key(raw text) returns text
  language sql immutable parallel safe
  return oms_phone_key_digits(regexp_replace(raw, '[^0-9]', '', 'g'), left(btrim(raw), 1) = '+');

create index if not exists orders_customer_email_key_idx
  on orders (oms_email_key(canonical -> 'customer' ->> 'email'), created_at desc, order_id desc)
  where oms_email_key(canonical -> 'customer' ->> 'email') is not null;

create index if not exists orders_customer_phone_key_idx
  on orders (oms_phone_key(canonical -> 'customer' ->> 'phone'), created_at desc, order_id desc)
  where oms_phone_key(canonical -> 'customer' ->> 'phone') is not null;

-- A channel order number alone (the unique key leads with the channel, which cs may not know);
-- it names one order per channel, so there is nothing to page through.
create index if not exists orders_channel_order_id_idx on orders (channel_order_id);

-- Adjustment history of a SKU, optionally in one warehouse, newest first with a unique tie-break.
-- The first replaces 0001's (sku, created_at desc), which had no tie-break for stable paging.
create index if not exists stock_adjustments_history_idx on stock_adjustments (sku, created_at desc, id desc);
drop index if exists stock_adjustments_sku_idx;
create index if not exists stock_adjustments_warehouse_history_idx on stock_adjustments (sku, warehouse_id, created_at desc, id desc);
