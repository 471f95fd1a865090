/** Test data and polling helpers shared by the integration suites. */
import { expect } from 'vitest';
import type { Sql } from '../../db/client';
import type { StatusWrite } from '../../db/orders-repo';
import type { CanonicalOrder } from '../../domain/order';
import { uniqueSuffix } from './harness';

export const WAREHOUSES = [
  { id: 'WH-HN', city: 'Ha Noi', lat: 21.0285, lng: 105.8542, regions: ['north', 'central'] },
  { id: 'WH-DN', city: 'Da Nang', lat: 16.0544, lng: 108.2022, regions: ['central'] },
  { id: 'WH-HCM', city: 'Ho Chi Minh', lat: 10.7769, lng: 106.7009, regions: ['south', 'central'] },
];

/** Warehouses plus the given products, with stock per warehouse: `{ SKU: { 'WH-HN': 5 } }`. */
export async function seedNetwork(
  sql: Sql,
  stock: Record<string, Record<string, number>>,
  opts: { price?: string; capacity?: number } = {},
): Promise<void> {
  for (const w of WAREHOUSES) {
    await sql`insert into warehouses (id, name, city, lat, lng, regions_served, daily_capacity)
              values (${w.id}, ${w.id}, ${w.city}, ${w.lat}, ${w.lng}, ${w.regions}, ${opts.capacity ?? 100000}) on conflict do nothing`;
  }
  for (const [sku, perWarehouse] of Object.entries(stock)) {
    await sql`insert into products (sku, name, unit_price, weight_grams) values (${sku}, ${sku}, ${opts.price ?? '100000.00'}, 400) on conflict do nothing`;
    for (const [wh, onHand] of Object.entries(perWarehouse)) {
      await sql`insert into stock (sku, warehouse_id, on_hand) values (${sku}, ${wh}, ${onHand})
                on conflict (sku, warehouse_id) do update set on_hand = excluded.on_hand`;
    }
  }
}

export function makeOrder(over: Partial<CanonicalOrder> & { sku?: string; quantity?: number } = {}): CanonicalOrder {
  const { sku = 'SKU-A', quantity = 1, ...rest } = over;
  return {
    channel: 'web',
    channelOrderId: `T${uniqueSuffix()}`,
    currency: 'VND',
    customer: { id: `cust-${uniqueSuffix()}`, name: 'Nguyễn Văn An', email: 'an@example.vn', phone: '0901234567' },
    shippingAddress: {
      name: 'Nguyễn Văn An',
      line1: '12 Lê Lợi',
      ward: 'Bến Nghé',
      district: 'Quận 1',
      city: 'Hồ Chí Minh',
      country: 'VN',
    },
    lines: [{ sku, quantity, unitPrice: '100000.00' }],
    payment: { method: 'prepaid', token: 'tok_visa' },
    placedAt: new Date().toISOString(),
    ...rest,
  };
}

/** Polls until `fn` returns a truthy value (or its assertions pass); fails with the last error. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = new Error(`${opts.what ?? 'condition'} not met yet`);
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw last instanceof Error ? last : new Error(String(last));
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 150));
  }
}

export async function stockRow(sql: Sql, sku: string, wh: string): Promise<{ onHand: number; reserved: number }> {
  const [r] = await sql<
    { onHand: number; reserved: number }[]
  >`select on_hand as "onHand", reserved from stock where sku = ${sku} and warehouse_id = ${wh}`;
  expect(r).toBeDefined();
  return r!;
}

/** The single row a query must return. */
export async function one<T>(query: PromiseLike<readonly T[]>): Promise<T> {
  const [row] = await query;
  if (row === undefined) throw new Error('expected a row, got none');
  return row;
}

/**
 * A step of a web order as the order workflow's `recordStatus` writes it, its push to the web
 * channel queued with it (the push names `channelOrderId` when given).
 */
export function webStep(orderId: string, seq: number, status: string, event: string, channelOrderId?: string): StatusWrite {
  const at = new Date().toISOString();
  return {
    orderId,
    seq,
    status,
    event,
    eventDetail: {},
    actor: 'system',
    at,
    needsAttention: false,
    attentionReason: null,
    escalationLevel: 0,
    detail: { status },
    push: {
      channel: 'web',
      input: { channel: 'web', orderId, status, seq, ...(channelOrderId ? { channelOrderId, occurredAt: at } : {}) },
    },
  };
}

/**
 * Makes PostgreSQL refuse, with a real error, every write of one order's rows in `table` (a
 * trigger): `could not extend file (test)`. Resolves to the function that lifts the refusal.
 */
export async function refuseWritesOf(sql: Sql, table: string, orderId: string, on = 'insert'): Promise<() => Promise<void>> {
  const name = `test_refuse_${table}`;
  await sql.unsafe(`create or replace function ${name}() returns trigger language plpgsql as $$
    begin
      if new.order_id = '${orderId}' then raise exception 'could not extend file (test)'; end if;
      return new;
    end $$`);
  await sql.unsafe(`create trigger ${name} before ${on} on ${table} for each row execute function ${name}()`);
  return async () => {
    await sql.unsafe(`drop trigger ${name} on ${table}`);
  };
}
