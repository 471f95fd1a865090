/** Products and warehouses: read by staff, changed by admins. */
import { createRoute, z } from '@hono/zod-openapi';
import type { CatalogRepo } from '../../db/catalog-repo';
import { DECIMAL_RE } from '../../domain/money';
import { TAX_CATEGORIES } from '../../domain/tax';
import type { App } from '../app';
import { requireRoles } from '../auth';
import { CursorQuery, decodeCursor, encodeCursor, pick } from '../schemas';

const Sku = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/);
const ProductBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    unitPrice: z.string().regex(DECIMAL_RE, 'must be a decimal string like "125000.00"'),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .default('VND'),
    weightGrams: z.number().int().positive().max(1_000_000),
    active: z.boolean().default(true),
    taxCategory: z.enum(TAX_CATEGORIES).default('standard').openapi({
      description: 'VAT category (docs/back-office.md): standard 10%, reduced 8%, essential 5%, zero 0%, exempt (outside VAT).',
    }),
  })
  .openapi('ProductInput', {
    example: { name: 'Cotton T-shirt M', unitPrice: '149000.00', currency: 'VND', weightGrams: 200, active: true, taxCategory: 'reduced' },
  });
const Product = ProductBody.extend({ sku: z.string(), updatedAt: z.string() }).openapi('Product', {
  example: {
    sku: 'TSHIRT-M',
    name: 'Cotton T-shirt M',
    unitPrice: '149000.00',
    currency: 'VND',
    weightGrams: 200,
    active: true,
    taxCategory: 'reduced',
    updatedAt: '2026-11-21T03:00:00.000Z',
  },
});
const WarehouseBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    city: z.string().trim().min(1).max(100),
    lat: z.number().min(-90).max(90),
    lng: z.number().min(-180).max(180),
    regionsServed: z.array(z.enum(['north', 'central', 'south'])).min(1),
    dailyCapacity: z.number().int().min(0).max(1_000_000),
    active: z.boolean().default(true),
  })
  .openapi('WarehouseInput', {
    example: {
      name: 'Ho Chi Minh fulfilment centre',
      city: 'Ho Chi Minh',
      lat: 10.7769,
      lng: 106.7009,
      regionsServed: ['south', 'central'],
      dailyCapacity: 3000,
      active: true,
    },
  });
const Warehouse = WarehouseBody.extend({ id: z.string(), regionsServed: z.array(z.string()), updatedAt: z.string() }).openapi('Warehouse', {
  example: {
    id: 'WH-HCM',
    name: 'Ho Chi Minh fulfilment centre',
    city: 'Ho Chi Minh',
    lat: 10.7769,
    lng: 106.7009,
    regionsServed: ['south', 'central'],
    dailyCapacity: 3000,
    active: true,
    updatedAt: '2026-11-21T03:00:00.000Z',
  },
});

const iso = <T extends { updatedAt?: Date | undefined }>(x: T) => ({ ...x, updatedAt: x.updatedAt?.toISOString() ?? '' });

export function registerCatalogRoutes(app: App, catalog: CatalogRepo): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/products',
      tags: ['catalog'],
      summary: 'List products',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('cs', 'ops', 'admin')] as const,
      request: { query: CursorQuery },
      responses: {
        200: {
          description: 'A page of products',
          content: { 'application/json': { schema: z.object({ items: z.array(Product), nextCursor: z.string().nullable() }) } },
        },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await catalog.products({ after: decodeCursor(q.cursor, z.string()), limit: q.limit + 1 });
      const page = rows.slice(0, q.limit);
      return c.json({ items: page.map(iso), nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.sku) : null }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/products/{sku}',
      tags: ['catalog'],
      summary: 'Create or update a product',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('admin')] as const,
      request: { params: z.object({ sku: Sku }), body: { required: true, content: { 'application/json': { schema: ProductBody } } } },
      responses: {
        200: { description: 'Updated', content: { 'application/json': { schema: Product } } },
        201: { description: 'Created', content: { 'application/json': { schema: Product } } },
        ...pick(400, 401, 403, 413, 415),
      },
    }),
    async (c) => {
      const { product, created } = await catalog.upsertProduct({ sku: c.req.valid('param').sku, ...c.req.valid('json') });
      return c.json(iso(product), created ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/warehouses',
      tags: ['catalog'],
      summary: 'List warehouses',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('cs', 'ops', 'admin')] as const,
      responses: {
        200: { description: 'All warehouses', content: { 'application/json': { schema: z.object({ items: z.array(Warehouse) }) } } },
        ...pick(401, 403),
      },
    }),
    async (c) => c.json({ items: (await catalog.warehouses()).map(iso) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/warehouses/{id}',
      tags: ['catalog'],
      summary: 'Create or update a warehouse',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('admin')] as const,
      request: { params: z.object({ id: Sku }), body: { required: true, content: { 'application/json': { schema: WarehouseBody } } } },
      responses: {
        200: { description: 'Updated', content: { 'application/json': { schema: Warehouse } } },
        201: { description: 'Created', content: { 'application/json': { schema: Warehouse } } },
        ...pick(400, 401, 403, 413, 415),
      },
    }),
    async (c) => {
      const { warehouse, created } = await catalog.upsertWarehouse({ id: c.req.valid('param').id, ...c.req.valid('json') });
      return c.json(iso(warehouse), created ? 201 : 200);
    },
  );
}
