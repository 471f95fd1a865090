/**
 * Money facts the back office could not book (docs/back-office.md, "The back office never holds an
 * order"): the order went on, its step's facts wait here with the error. Ops and finance list them
 * and book them again once the cause is mended.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { BackOfficeHeldRepo, HeldRow } from '../../db/back-office-repo';
import type { App } from '../app';
import { requireRoles } from '../auth';
import { problems } from '../errors';
import { pick } from '../schemas';

const Held = z
  .object({
    heldId: z.string().openapi({ example: '17' }),
    orderId: z.string(),
    seq: z.number().int().openapi({ description: 'The order step whose money facts these are.' }),
    facts: z
      .array(z.record(z.string(), z.unknown()))
      .openapi({ description: 'The money facts as the workflow told them (kind, key, amount, …).' }),
    at: z.string(),
    error: z.string().openapi({ description: 'Why they could not be booked (the latest attempt).' }),
    createdAt: z.string(),
    bookedAt: z.string().nullable().openapi({ description: 'When an ops booking succeeded; null while they wait.' }),
  })
  .openapi('HeldMoneyFacts');

const view = (r: HeldRow): z.infer<typeof Held> => ({
  heldId: r.heldId,
  orderId: r.orderId,
  seq: r.seq,
  facts: r.facts,
  at: r.at.toISOString(),
  error: r.error,
  createdAt: r.createdAt.toISOString(),
  bookedAt: r.bookedAt?.toISOString() ?? null,
});

const roles = requireRoles('finance', 'ops', 'admin');

export function registerHeldRoutes(app: App, held: BackOfficeHeldRepo): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/accounting/held',
      tags: ['back office'],
      summary: 'Money facts the journal, invoices or tax documents could not book (the order went on without them)',
      security: [{ apiKey: [] }],
      middleware: [roles] as const,
      request: {
        query: z.object({
          open: z
            .enum(['true', 'false'])
            .default('true')
            .openapi({ description: '`true`: only those still waiting; `false`: booked ones too.' }),
          after: z
            .string()
            .regex(/^\d{1,19}$/, "must be the previous page's `next`")
            .optional(),
          limit: z.coerce.number().int().min(1).max(500).default(100),
        }),
      },
      responses: {
        200: {
          description: 'A page, oldest first',
          content: { 'application/json': { schema: z.object({ items: z.array(Held), next: z.string().nullable() }) } },
        },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await held.list({ open: q.open === 'true', after: q.after, limit: q.limit + 1 });
      const items = rows.slice(0, q.limit).map(view);
      return c.json({ items, next: rows.length > q.limit ? (items.at(-1)?.heldId ?? null) : null }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/accounting/held/{heldId}/book',
      tags: ['back office'],
      summary: 'Book held money facts again, once the cause is mended',
      description:
        'Writes the journal entries, invoices and tax documents of the facts not booked yet (each fact once, so booking again is safe). 409 when they were booked already, or when they still cannot be (the error is answered and kept).',
      security: [{ apiKey: [] }],
      middleware: [roles] as const,
      request: {
        params: z.object({
          heldId: z
            .string()
            .regex(/^\d{1,19}$/, 'must be a held id')
            .openapi({ example: '17' }),
        }),
      },
      responses: {
        200: { description: 'Booked', content: { 'application/json': { schema: Held } } },
        ...pick(400, 401, 403, 404, 409),
      },
    }),
    async (c) => {
      const { heldId } = c.req.valid('param');
      const r = await held.book(heldId);
      if (r === 'not_found') throw problems.notFound(`No held money facts ${heldId}.`);
      if (r === 'booked') throw problems.conflict(`Held money facts ${heldId} are booked already.`);
      if ('stillFails' in r)
        throw problems.conflict(`Held money facts ${heldId} still cannot be booked: ${r.stillFails}`, { error: r.stillFails });
      return c.json(view(r), 200);
    },
  );
}
