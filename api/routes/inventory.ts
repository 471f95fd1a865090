/**
 * Stock per SKU and warehouse: ATP for staff, on-hand changes (with a reason) for admins, and the
 * history of those changes.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { StockAdjustment, StockRow } from '../../db/inventory-repo';
import type { App } from '../app';
import { requireRoles } from '../auth';
import { problems } from '../errors';
import { CursorQuery, decodeCursor, encodeCursor, pick } from '../schemas';
import type { InventoryService } from '../services/inventory-service';

const Id = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/);
const Stock = z
  .object({
    sku: z.string(),
    warehouseId: z.string(),
    onHand: z.number().int(),
    reserved: z.number().int(),
    safetyStock: z.number().int(),
    atp: z.number().int().openapi({ description: 'Available to promise: on hand − reserved − safety stock (never below 0).' }),
    updatedAt: z.string(),
  })
  .openapi('StockLevel', {
    example: {
      sku: 'TSHIRT-M',
      warehouseId: 'WH-HCM',
      onHand: 120,
      reserved: 8,
      safetyStock: 5,
      atp: 107,
      updatedAt: '2026-11-21T03:00:00.000Z',
    },
  });
const row = (r: StockRow) => ({ ...r, updatedAt: r.updatedAt.toISOString() });

const SkuStock = z
  .object({
    sku: z.string(),
    atp: z.number().int().openapi({ description: "Sum of the warehouses' ATP." }),
    onHand: z.number().int(),
    reserved: z.number().int(),
    safetyStock: z.number().int(),
    warehouses: z.array(Stock),
  })
  .openapi('SkuStock');

const Adjustment = z
  .object({
    id: z.string(),
    sku: z.string(),
    warehouseId: z.string(),
    onHandBefore: z.number().int(),
    onHandAfter: z.number().int(),
    change: z.number().int(),
    reason: z.string(),
    actor: z.string().openapi({ description: '`admin:<key id>` for a manual set, `system` for a return restock.' }),
    ref: z.string().nullable().openapi({ description: 'What caused it, for system changes: `<returnId>:<lineNo>` for a restock.' }),
    at: z.string(),
  })
  .openapi('StockAdjustment', {
    example: {
      id: '42',
      sku: 'TSHIRT-M',
      warehouseId: 'WH-HCM',
      onHandBefore: 100,
      onHandAfter: 120,
      change: 20,
      reason: 'cycle count',
      actor: 'admin:3f9a1c2b7d4e',
      ref: null,
      at: '2026-11-21T03:00:00.000Z',
    },
  });
const adjustment = (a: StockAdjustment) => ({
  id: a.id,
  sku: a.sku,
  warehouseId: a.warehouseId,
  onHandBefore: a.onHandBefore,
  onHandAfter: a.onHandAfter,
  change: a.onHandAfter - a.onHandBefore,
  reason: a.reason,
  actor: a.actor,
  ref: a.ref,
  at: a.createdAt.toISOString(),
});
const AdjustmentCursor = z.object({ createdAt: z.string().regex(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/), id: z.string().regex(/^\d{1,19}$/) });

export function registerInventoryRoutes(app: App, inventory: InventoryService): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/inventory',
      tags: ['inventory'],
      summary: 'Stock rows, paged',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('cs', 'ops', 'admin')] as const,
      request: { query: CursorQuery.extend({ sku: Id.optional(), warehouseId: Id.optional() }) },
      responses: {
        200: {
          description: 'A page of stock rows',
          content: { 'application/json': { schema: z.object({ items: z.array(Stock), nextCursor: z.string().nullable() }) } },
        },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const after = decodeCursor(q.cursor, z.object({ sku: z.string(), warehouseId: z.string() }));
      if (q.cursor && !after) throw problems.validation([{ path: 'cursor', message: 'not a cursor this API issued' }]);
      const rows = await inventory.repo.listStock({ sku: q.sku, warehouseId: q.warehouseId, after, limit: q.limit + 1 });
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return c.json(
        {
          items: page.map(row),
          nextCursor: rows.length > q.limit && last ? encodeCursor({ sku: last.sku, warehouseId: last.warehouseId }) : null,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/inventory/{sku}',
      tags: ['inventory'],
      summary: 'ATP of one SKU per warehouse',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('cs', 'ops', 'admin')] as const,
      request: { params: z.object({ sku: Id }) },
      responses: {
        200: { description: 'Stock per warehouse, and the totals', content: { 'application/json': { schema: SkuStock } } },
        ...pick(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { sku } = c.req.valid('param');
      const rows = await inventory.repo.stockOf(sku);
      if (rows.length === 0 && !(await inventory.repo.known(sku)).product) throw problems.notFound(`No product ${sku}.`);
      const sum = (f: (r: StockRow) => number) => rows.reduce((a, r) => a + f(r), 0);
      return c.json(
        {
          sku,
          atp: sum((r) => r.atp),
          onHand: sum((r) => r.onHand),
          reserved: sum((r) => r.reserved),
          safetyStock: sum((r) => r.safetyStock),
          warehouses: rows.map(row),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/inventory/{sku}/adjustments',
      tags: ['inventory'],
      summary: 'On-hand changes of a SKU (manual sets, return restocks), newest first; reservations are not adjustments',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('cs', 'ops', 'admin')] as const,
      request: { params: z.object({ sku: Id }), query: CursorQuery.extend({ warehouseId: Id.optional() }) },
      responses: {
        200: {
          description: 'A page of adjustments',
          content: { 'application/json': { schema: z.object({ items: z.array(Adjustment), nextCursor: z.string().nullable() }) } },
        },
        ...pick(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { sku } = c.req.valid('param');
      const q = c.req.valid('query');
      const after = decodeCursor(q.cursor, AdjustmentCursor);
      if (q.cursor && !after) throw problems.validation([{ path: 'cursor', message: 'not a cursor this API issued' }]);
      const known = await inventory.repo.known(sku, q.warehouseId);
      if (!known.product) throw problems.notFound(`No product ${sku}.`);
      if (!known.warehouse) throw problems.notFound(`No warehouse ${q.warehouseId}.`);
      const rows = await inventory.repo.adjustments({ sku, warehouseId: q.warehouseId, after, limit: q.limit + 1 });
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return c.json(
        {
          items: page.map(adjustment),
          nextCursor: rows.length > q.limit && last ? encodeCursor({ createdAt: last.createdAtExact, id: last.id }) : null,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/inventory/{sku}/{warehouseId}',
      tags: ['inventory'],
      summary: 'Set on hand (a restock wakes backordered orders)',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('admin')] as const,
      request: {
        params: z.object({ sku: Id, warehouseId: Id }),
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z
                .object({
                  onHand: z.number().int().min(0).max(100_000_000),
                  safetyStock: z.number().int().min(0).max(100_000_000).optional(),
                  reason: z.string().trim().min(3).max(500),
                })
                .openapi({ example: { onHand: 120, safetyStock: 5, reason: 'cycle count 2026-11-21' } }),
            },
          },
        },
      },
      responses: {
        200: {
          description: 'New level, and the backordered orders woken',
          content: {
            'application/json': { schema: z.object({ stock: Stock, onHandBefore: z.number().int(), wokenOrders: z.array(z.string()) }) },
          },
        },
        ...pick(400, 401, 403, 404, 409, 413, 415),
      },
    }),
    async (c) => {
      const { sku, warehouseId } = c.req.valid('param');
      const body = c.req.valid('json');
      const p = c.get('principal')!;
      const r = await inventory.setOnHand({ sku, warehouseId, ...body, actor: `${p.role}:${p.keyId}` });
      return c.json({ stock: row(r.row), onHandBefore: r.before, wokenOrders: r.woken }, 200);
    },
  );
}
