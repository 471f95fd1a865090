/**
 * E-invoices (docs/back-office.md): an order's invoices as the provider issued or refused them,
 * the issued document as the provider returned it, an ops retry of a rejected one (with the
 * buyer's tax code corrected when that was the reason), and every invoice in a state for finance.
 * Channels never see them.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { InvoiceRow, InvoicesRepo } from '../../db/invoices-repo';
import type { App } from '../app';
import { requireRoles } from '../auth';
import { problems } from '../errors';
import { pick } from '../schemas';

const Money = z.string().openapi({ example: '237000.00' });

const Invoice = z
  .object({
    invoiceKey: z.string().openapi({
      description: "The seller's key the provider deduplicates on: `<orderId>:<money fact>` (adjustments add `:<n>`).",
      example: 'order-web-10001:capture:cap_81f2',
    }),
    orderId: z.string(),
    kind: z.enum(['sale', 'adjustment', 'replacement']).openapi({
      description:
        '`adjustment`: reduces the sale invoice `originalKey` (a refund). `replacement`: replaces the invoice `originalKey` (the buyer named wrongly), with the same lines and amounts.',
    }),
    originalKey: z.string().nullable(),
    note: z.string().nullable().openapi({ description: 'Why a replacement replaced its original (printed on it).' }),
    status: z.enum(['pending', 'submitted', 'issued', 'rejected', 'replaced']).openapi({
      description:
        '`pending`: not sent yet (an adjustment or a replacement waits for its original); `submitted`: with the provider, being checked; `replaced`: issued, then replaced by another invoice — it no longer counts.',
    }),
    currency: z.string(),
    net: Money,
    vat: Money,
    gross: Money,
    lines: z.array(
      z.object({
        no: z.number().int(),
        sku: z.string(),
        rate: z.union([z.number(), z.literal('exempt')]).openapi({ description: 'VAT percent, or `exempt` (outside VAT).' }),
        net: Money,
        vat: Money,
        gross: Money,
      }),
    ),
    buyerTaxCode: z.string().nullable(),
    series: z.string().nullable().openapi({ example: '1C26TOM' }),
    number: z.string().nullable().openapi({ example: '00000042' }),
    authorityCode: z.string().nullable().openapi({ description: "The tax authority's code of the issued invoice." }),
    issuedAt: z.string().nullable(),
    reason: z
      .object({ code: z.string(), message: z.string() })
      .nullable()
      .openapi({ description: 'Why the provider rejected it (e.g. `buyer_tax_code_unknown`).' }),
    attempts: z.number().int(),
    lastError: z.string().nullable().openapi({ description: 'The last failure talking to the provider (retried with backoff).' }),
    document: z.string().nullable().openapi({ description: 'Where to download the issued invoice, as the provider returned it.' }),
  })
  .openapi('Invoice');

const view = (r: InvoiceRow): z.infer<typeof Invoice> => ({
  invoiceKey: r.invoiceKey,
  orderId: r.orderId,
  kind: r.kind,
  originalKey: r.originalKey,
  note: r.note,
  status: r.status,
  currency: r.currency,
  net: r.net,
  vat: r.vat,
  gross: r.gross,
  lines: r.lines,
  buyerTaxCode: r.buyer.taxCode ?? null,
  series: r.series,
  number: r.number,
  authorityCode: r.authorityCode,
  issuedAt: r.issuedAt?.toISOString() ?? null,
  reason: r.reason,
  attempts: r.attempts,
  lastError: r.lastError,
  document: r.hasDocument ? `/v1/orders/${encodeURIComponent(r.orderId)}/invoices/${encodeURIComponent(r.invoiceKey)}/document` : null,
});

const OrderParam = z.object({ orderId: z.string().min(1).max(200).openapi({ example: 'order-web-10001' }) });
const InvoiceParam = OrderParam.extend({
  invoiceKey: z
    .string()
    .regex(/^[\w.:-]{1,300}$/, "must be an invoice key: the order's id and its money fact, e.g. order-web-10001:capture:cap_81f2")
    .openapi({ example: 'order-web-10001:capture:cap_81f2' }),
});

const readers = requireRoles('finance', 'ops', 'cs', 'admin');

/** A Vietnamese taxpayer's code, as the buyer's on an invoice. */
const TaxCode = z.string().regex(/^\d{10}(-\d{3})?$/, 'must be a tax code: 10 digits, or 10-3 for a branch');

export function registerInvoiceRoutes(app: App, invoices: InvoicesRepo): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orders/{orderId}/invoices',
      tags: ['back office'],
      summary: "An order's e-invoices: each sale (a capture at handover, COD cash at delivery) and each adjustment a refund made",
      security: [{ apiKey: [] }],
      middleware: [readers] as const,
      request: { params: OrderParam },
      responses: {
        200: {
          description: "The order's invoices, oldest first (none for an order that has not been paid for)",
          content: { 'application/json': { schema: z.object({ items: z.array(Invoice) }) } },
        },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const { orderId } = c.req.valid('param');
      return c.json({ items: (await invoices.forOrder(orderId)).map(view) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orders/{orderId}/invoices/{invoiceKey}/document',
      tags: ['back office'],
      summary: 'The issued invoice, as the e-invoice provider returned it (XML)',
      security: [{ apiKey: [] }],
      middleware: [readers] as const,
      request: { params: InvoiceParam },
      responses: {
        200: { description: 'The document', content: { 'application/xml': { schema: z.string() } } },
        ...pick(400, 401, 403, 404, 409),
      },
    }),
    async (c) => {
      const { orderId, invoiceKey } = c.req.valid('param');
      const d = await invoices.document(orderId, invoiceKey);
      if (!d) throw problems.notFound(`Order ${orderId} has no invoice ${invoiceKey}.`);
      if (!d.document)
        throw problems.conflict(`Invoice ${invoiceKey} is ${d.status}, not issued: it has no document yet.`, { status: d.status });
      return c.body(d.document, 200, { 'Content-Type': 'application/xml; charset=utf-8' });
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orders/{orderId}/invoices/{invoiceKey}/retry',
      tags: ['back office'],
      summary: 'Send a rejected invoice again, with the buyer’s tax code corrected when given',
      description:
        '`buyerTaxCode`: the corrected code, or null to issue without one (a consumer sale). The invoice goes back to `pending` and the worker sends it at once; adjustments waiting for it follow once it is issued.',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('finance', 'ops', 'admin')] as const,
      request: {
        params: InvoiceParam,
        body: {
          content: {
            'application/json': {
              schema: z
                .object({
                  buyerTaxCode: TaxCode.nullable().optional(),
                })
                .strict()
                .openapi({ example: { buyerTaxCode: '0312345678' } }),
            },
          },
          required: false,
        },
      },
      responses: {
        200: { description: 'Queued again', content: { 'application/json': { schema: Invoice } } },
        ...pick(400, 401, 403, 404, 409, 413, 415),
      },
    }),
    async (c) => {
      const { orderId, invoiceKey } = c.req.valid('param');
      const body = c.req.valid('json') as { buyerTaxCode?: string | null } | undefined;
      const r = await invoices.retry(orderId, invoiceKey, body?.buyerTaxCode);
      if (r === 'not_found') throw problems.notFound(`Order ${orderId} has no invoice ${invoiceKey}.`);
      if (r === 'not_rejected') throw problems.conflict(`Invoice ${invoiceKey} was not rejected: there is nothing to send again.`);
      if (r === 'original_moved_on')
        throw problems.conflict(
          `Invoice ${invoiceKey} replaces an invoice that refunds have adjusted since (or that is no longer issued): it can no longer replace it.`,
        );
      return c.json(view(r), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orders/{orderId}/invoices/{invoiceKey}/replace',
      tags: ['back office'],
      summary: 'Replace an issued invoice that named the buyer wrongly',
      description:
        "A new invoice of the same sale — the same lines and amounts — with the buyer's details corrected (`buyer.taxCode`: the right code, or null for a consumer sale), saying it replaces `invoiceKey` and why (`note`). The worker issues it like any other; once issued, the original is `replaced` and no longer counts, and later refunds adjust the replacement. An invoice a refund has adjusted is not replaced (409): its adjustments name it.",
      security: [{ apiKey: [] }],
      middleware: [requireRoles('finance', 'ops', 'admin')] as const,
      request: {
        params: InvoiceParam,
        body: {
          content: {
            'application/json': {
              schema: z
                .object({
                  note: z.string().trim().min(1).max(500).openapi({ description: 'Why the invoice is replaced.' }),
                  buyer: z
                    .object({
                      name: z.string().trim().min(1).max(200).optional(),
                      taxCode: TaxCode.nullable().optional(),
                      address: z.string().trim().min(1).max(800).optional(),
                      email: z.email().max(200).optional(),
                    })
                    .strict()
                    .refine((b) => Object.keys(b).length > 0, 'name what to correct: name, taxCode, address or email'),
                })
                .strict()
                .openapi({ example: { note: 'the buyer gave the tax code of its parent company', buyer: { taxCode: '0312345678-001' } } }),
            },
          },
          required: true,
        },
      },
      responses: {
        201: { description: 'The replacement, queued to be issued', content: { 'application/json': { schema: Invoice } } },
        ...pick(400, 401, 403, 404, 409, 413, 415),
      },
    }),
    async (c) => {
      const { orderId, invoiceKey } = c.req.valid('param');
      const body = c.req.valid('json');
      const r = await invoices.replace(orderId, invoiceKey, body);
      if (r === 'not_found') throw problems.notFound(`Order ${orderId} has no invoice ${invoiceKey}.`);
      if (r === 'not_replaceable') throw problems.conflict(`Invoice ${invoiceKey} is an adjustment: replace the sale invoice it adjusts.`);
      if (r === 'not_issued')
        throw problems.conflict(`Invoice ${invoiceKey} is not issued: a rejected one is sent again (retry), not replaced.`);
      if (r === 'replaced') throw problems.conflict(`Invoice ${invoiceKey} is replaced already: replace its replacement.`);
      if (r === 'adjusted') throw problems.conflict(`Invoice ${invoiceKey} has adjustments naming it: it is adjusted, not replaced.`);
      if (typeof r === 'object' && 'retry' in r)
        throw problems.conflict(`Invoice ${invoiceKey} has a rejected replacement, ${r.retry}: send that one again (retry) instead.`, {
          replacement: r.retry,
        });
      return c.json(view(r), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/accounting/invoices',
      tags: ['back office'],
      summary: 'Every invoice in a state — e.g. the rejected ones waiting for a retry',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('finance', 'ops', 'admin')] as const,
      request: {
        query: z.object({
          status: z.enum(['pending', 'submitted', 'issued', 'rejected', 'replaced']).default('rejected'),
          after: z.string().max(300).optional().openapi({ description: "The previous page's `next`." }),
          limit: z.coerce.number().int().min(1).max(500).default(100),
        }),
      },
      responses: {
        200: {
          description: 'A page of invoices, by key',
          content: { 'application/json': { schema: z.object({ items: z.array(Invoice), next: z.string().nullable() }) } },
        },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await invoices.byStatus(q.status, { after: q.after, limit: q.limit + 1 });
      const items = rows.slice(0, q.limit).map(view);
      return c.json({ items, next: rows.length > q.limit ? (items.at(-1)?.invoiceKey ?? null) : null }, 200);
    },
  );
}
