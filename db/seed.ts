/**
 * Development data: four warehouses across Vietnam and a few dozen SKUs with stock. Loaded by
 * `npm start` into an empty database only, so it never touches real data.
 */
import type { Sql } from './client';

const WAREHOUSES = [
  {
    id: 'WH-HN',
    name: 'Ha Noi fulfilment centre',
    city: 'Ha Noi',
    lat: 21.0285,
    lng: 105.8542,
    regions: ['north', 'central'],
    capacity: 2000,
  },
  { id: 'WH-DN', name: 'Da Nang hub', city: 'Da Nang', lat: 16.0544, lng: 108.2022, regions: ['central'], capacity: 500 },
  {
    id: 'WH-HCM',
    name: 'Ho Chi Minh fulfilment centre',
    city: 'Ho Chi Minh',
    lat: 10.7769,
    lng: 106.7009,
    regions: ['south', 'central'],
    capacity: 3000,
  },
  { id: 'WH-CT', name: 'Can Tho depot', city: 'Can Tho', lat: 10.0452, lng: 105.7469, regions: ['south'], capacity: 300 },
];

const FAMILIES = [
  { prefix: 'TSHIRT', name: 'Cotton T-shirt', price: 149000, grams: 200 },
  { prefix: 'SNEAKER', name: 'Running sneaker', price: 890000, grams: 900 },
  { prefix: 'PHONECASE', name: 'Phone case', price: 79000, grams: 60 },
  { prefix: 'RICECOOKER', name: 'Rice cooker 1.8L', price: 1250000, grams: 3200 },
  { prefix: 'COFFEE', name: 'Ground coffee 500g', price: 185000, grams: 520 },
  { prefix: 'BACKPACK', name: 'Laptop backpack', price: 459000, grams: 850 },
];
const VARIANTS = ['S', 'M', 'L', 'XL', 'RED', 'BLUE'];

export async function seedIfEmpty(sql: Sql): Promise<{ warehouses: number; products: number; stockRows: number } | undefined> {
  const [{ n } = { n: 0 }] = await sql<{ n: number }[]>`select count(*)::int as n from products`;
  if (n > 0) return undefined;
  return sql.begin(async (tx) => {
    for (const w of WAREHOUSES) {
      await tx`insert into warehouses (id, name, city, lat, lng, regions_served, daily_capacity)
               values (${w.id}, ${w.name}, ${w.city}, ${w.lat}, ${w.lng}, ${w.regions}, ${w.capacity}) on conflict do nothing`;
    }
    let products = 0;
    let stockRows = 0;
    for (const [fi, f] of FAMILIES.entries()) {
      for (const [vi, v] of VARIANTS.entries()) {
        const sku = `${f.prefix}-${v}`;
        await tx`insert into products (sku, name, unit_price, weight_grams) values (${sku}, ${`${f.name} ${v}`}, ${f.price}, ${f.grams}) on conflict do nothing`;
        products++;
        for (const [wi, w] of WAREHOUSES.entries()) {
          // Deterministic, uneven stock: some SKUs are missing from some warehouses, so splits happen.
          const onHand = (fi * 7 + vi * 3 + wi * 5) % 4 === 0 ? 0 : 20 + ((fi * 13 + vi * 17 + wi * 11) % 80);
          await tx`insert into stock (sku, warehouse_id, on_hand, safety_stock) values (${sku}, ${w.id}, ${onHand}, ${onHand > 0 ? 2 : 0}) on conflict do nothing`;
          stockRows++;
        }
      }
    }
    return { warehouses: WAREHOUSES.length, products, stockRows };
  });
}
