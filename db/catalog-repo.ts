/** Products and warehouses. */
import type { TaxCategory } from '../domain/tax';
import type { Sql } from './client';

export interface Product {
  sku: string;
  name: string;
  unitPrice: string;
  currency: string;
  weightGrams: number;
  active: boolean;
  /** Its VAT category (domain/tax.ts). */
  taxCategory: TaxCategory;
  updatedAt?: Date;
}
export interface Warehouse {
  id: string;
  name: string;
  city: string;
  lat: number;
  lng: number;
  regionsServed: string[];
  dailyCapacity: number;
  active: boolean;
  updatedAt?: Date;
}

const productCols = (s: Sql) =>
  s`sku, name, unit_price::text as "unitPrice", currency, weight_grams as "weightGrams", active, tax_category as "taxCategory",
    updated_at as "updatedAt"`;
const warehouseCols = (s: Sql) =>
  s`id, name, city, lat, lng, regions_served as "regionsServed", daily_capacity as "dailyCapacity", active, updated_at as "updatedAt"`;

export class CatalogRepo {
  constructor(private readonly sql: Sql) {}

  async products(opts: { after?: string | undefined; limit: number }): Promise<Product[]> {
    const s = this.sql;
    return s<
      Product[]
    >`select ${productCols(s)} from products ${opts.after ? s`where sku > ${opts.after}` : s``} order by sku limit ${opts.limit}`;
  }

  async productsBySku(skus: string[]): Promise<Map<string, Product>> {
    const rows = await this.sql<Product[]>`select ${productCols(this.sql)} from products where sku = any(${skus})`;
    return new Map(rows.map((r) => [r.sku, r]));
  }

  async upsertProduct(p: Product): Promise<{ product: Product; created: boolean }> {
    const [row] = await this.sql<(Product & { created: boolean })[]>`
      insert into products (sku, name, unit_price, currency, weight_grams, active, tax_category)
      values (${p.sku}, ${p.name}, ${p.unitPrice}, ${p.currency}, ${p.weightGrams}, ${p.active}, ${p.taxCategory})
      on conflict (sku) do update set name = excluded.name, unit_price = excluded.unit_price, currency = excluded.currency,
        weight_grams = excluded.weight_grams, active = excluded.active, tax_category = excluded.tax_category, updated_at = now()
      returning ${productCols(this.sql)}, (xmax = 0) as created`;
    const { created, ...product } = row!;
    return { product, created };
  }

  async warehouses(): Promise<Warehouse[]> {
    return this.sql<Warehouse[]>`select ${warehouseCols(this.sql)} from warehouses order by id`;
  }

  async upsertWarehouse(w: Warehouse): Promise<{ warehouse: Warehouse; created: boolean }> {
    const [row] = await this.sql<(Warehouse & { created: boolean })[]>`
      insert into warehouses (id, name, city, lat, lng, regions_served, daily_capacity, active)
      values (${w.id}, ${w.name}, ${w.city}, ${w.lat}, ${w.lng}, ${w.regionsServed}, ${w.dailyCapacity}, ${w.active})
      on conflict (id) do update set name = excluded.name, city = excluded.city, lat = excluded.lat, lng = excluded.lng,
        regions_served = excluded.regions_served, daily_capacity = excluded.daily_capacity, active = excluded.active, updated_at = now()
      returning ${warehouseCols(this.sql)}, (xmax = 0) as created`;
    const { created, ...warehouse } = row!;
    return { warehouse, created };
  }

  async servedRegions(): Promise<Set<string>> {
    const rows = await this.sql<{ region: string }[]>`select distinct unnest(regions_served) as region from warehouses where active`;
    return new Set(rows.map((r) => r.region));
  }
}
