/**
 * Tax committed (docs/back-office.md): an order's tax documents as the tax service committed or
 * refused them, with the service's own calculation beside the tax charged; an ops retry of a
 * refused one; and every document in a state for finance (`variance`, `refused`). Channels never
 * see them.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { TaxDocumentRow, TaxDocumentsRepo } from '../../db/tax-documents-repo';
import type { App } from '../app';
import { requireRoles } from '../auth';
import { problems } from '../errors';
import { pick } from '../schemas';

const Money = z.string().openapi({ example: '21545.00' });
const STATUSES = ['pending', 'committed', 'variance', 'refused'] as const;

const TaxDocument = z
  .object({
    code: z.string().openapi({
      description: 'The code the tax service deduplicates on: the key of the e-invoice it goes with.',
      example: 'order-web-10001:capture:cap_81f2',
    }),
    orderId: z.string(),
    kind: z
      .enum(['sale', 'return'])
      .openapi({ description: '`sale`: tax committed; `return`: tax refunded against the sale `originalCode`.' }),
    originalCode: z.string().nullable(),
    customerCode: z.string().openapi({ description: "The buyer's tax code, or `RETAIL`." }),
    status: z.enum(STATUSES).openapi({
      description:
        '`pending`: not committed yet (a return waits for its sale); `committed`; `variance`: committed, but the service calculates the tax of a line otherwise by more than rounding (3 steps of the currency), or kept another tax; `refused`: the service refused it (see `reason`), waiting for an ops retry.',
    }),
    currency: z.string(),
    gross: Money,
    tax: Money.openapi({ description: 'The VAT charged: the e-invoice’s and the journal’s.' }),
    taxCalculated: Money.nullable().openapi({ description: 'The tax the service calculates on the same lines, once committed.' }),
    provider: z.string().nullable().openapi({ description: '`tax-service` (OMS_TAX_URL) or `local-vn-vat` (the local rule set).' }),
    serviceRef: z.string().nullable(),
    committedAt: z.string().nullable(),
    lines: z.array(
      z.object({
        no: z.number().int(),
        sku: z.string(),
        rate: z.union([z.number(), z.literal('exempt')]),
        gross: Money,
        tax: Money,
        taxCalculated: Money.optional(),
      }),
    ),
    reason: z.object({ code: z.string(), message: z.string() }).nullable(),
    attempts: z.number().int(),
    lastError: z.string().nullable().openapi({ description: 'The last failure talking to the service (retried with backoff).' }),
  })
  .openapi('TaxDocument');

const view = (r: TaxDocumentRow): z.infer<typeof TaxDocument> => ({
  code: r.code,
  orderId: r.orderId,
  kind: r.kind,
  originalCode: r.originalCode,
  customerCode: r.customerCode,
  status: r.status,
  currency: r.currency,
  gross: r.gross,
  tax: r.tax,
  taxCalculated: r.taxCalculated,
  provider: r.provider,
  serviceRef: r.serviceRef,
  committedAt: r.committedAt?.toISOString() ?? null,
  lines: r.lines,
  reason: r.reason,
  attempts: r.attempts,
  lastError: r.lastError,
});

const OrderParam = z.object({ orderId: z.string().min(1).max(200).openapi({ example: 'order-web-10001' }) });
const DocumentParam = OrderParam.extend({
  code: z
    .string()
    .regex(/^[\w.:-]{1,300}$/, "must be a tax document's code: the order's id and its money fact, e.g. order-web-10001:capture:cap_81f2")
    .openapi({ example: 'order-web-10001:capture:cap_81f2' }),
});

export function registerTaxRoutes(app: App, documents: TaxDocumentsRepo): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orders/{orderId}/tax-documents',
      tags: ['back office'],
      summary: "An order's tax documents: the tax of each sale committed, the tax of each return refunded",
      security: [{ apiKey: [] }],
      middleware: [requireRoles('finance', 'ops', 'cs', 'admin')] as const,
      request: { params: OrderParam },
      responses: {
        200: {
          description: "The order's tax documents, oldest first",
          content: { 'application/json': { schema: z.object({ items: z.array(TaxDocument) }) } },
        },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const { orderId } = c.req.valid('param');
      return c.json({ items: (await documents.forOrder(orderId)).map(view) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orders/{orderId}/tax-documents/{code}/retry',
      tags: ['back office'],
      summary: 'Commit a refused tax document again, once its cause is mended',
      description: 'The document goes back to `pending` and the worker commits it at once; returns waiting for it follow.',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('finance', 'ops', 'admin')] as const,
      request: { params: DocumentParam },
      responses: {
        200: { description: 'Queued again', content: { 'application/json': { schema: TaxDocument } } },
        ...pick(400, 401, 403, 404, 409),
      },
    }),
    async (c) => {
      const { orderId, code } = c.req.valid('param');
      const r = await documents.retry(orderId, code);
      if (r === 'not_found') throw problems.notFound(`Order ${orderId} has no tax document ${code}.`);
      if (r === 'not_refused') throw problems.conflict(`Tax document ${code} was not refused: there is nothing to commit again.`);
      return c.json(view(r), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/accounting/tax-documents',
      tags: ['back office'],
      summary: 'Every tax document in a state — e.g. those at a variance with the tax service, or refused',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('finance', 'ops', 'admin')] as const,
      request: {
        query: z.object({
          status: z.enum(STATUSES).default('variance'),
          after: z.string().max(300).optional().openapi({ description: "The previous page's `next`." }),
          limit: z.coerce.number().int().min(1).max(500).default(100),
        }),
      },
      responses: {
        200: {
          description: 'A page of tax documents, by code',
          content: { 'application/json': { schema: z.object({ items: z.array(TaxDocument), next: z.string().nullable() }) } },
        },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await documents.byStatus(q.status, { after: q.after, limit: q.limit + 1 });
      const items = rows.slice(0, q.limit).map(view);
      return c.json({ items, next: rows.length > q.limit ? (items.at(-1)?.code ?? null) : null }, 200);
    },
  );
}
