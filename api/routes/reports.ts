/** Reports for ops: KPIs over the order projection (definitions in docs/design.md, "Reports"). */
import { createRoute, z } from '@hono/zod-openapi';
import type { ReportsRepo } from '../../db/reports-repo';
import { CHANNELS, ORDER_STATUSES } from '../../domain/order';
import type { App } from '../app';
import { requireRoles } from '../auth';
import { problems } from '../errors';
import { pick } from '../schemas';

/** Without `from`, the report covers this much time before `to`. */
export const DEFAULT_REPORT_DAYS = 30;
const DAY_MS = 86_400_000;

const Query = z.object({
  from: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({
      description: `Start of the window, inclusive, over the time each order was received (created_at). Default: \`to\` − ${DEFAULT_REPORT_DAYS} days.`,
      example: '2026-11-01T00:00:00+07:00',
    }),
  to: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ description: 'End of the window, exclusive. Default: now.', example: '2026-12-01T00:00:00+07:00' }),
  channel: z.enum(CHANNELS).optional().openapi({ description: 'Only the orders of this channel.' }),
});

const Rate = z.object({
  count: z.number().int(),
  of: z.number().int(),
  rate: z.number().nullable().openapi({ description: '`count / of`; null when `of` is 0.' }),
});
const Timing = z.object({
  orders: z.number().int().openapi({ description: 'Orders of the window that reached this moment.' }),
  medianSeconds: z.number().nullable(),
  p90Seconds: z.number().nullable(),
});
const StatusCounts = z.partialRecord(z.enum(ORDER_STATUSES), z.number().int());
export const ReportSummary = z
  .object({
    from: z.string(),
    to: z.string(),
    channel: z.enum(CHANNELS).nullable(),
    orders: z.object({
      total: z.number().int(),
      byStatus: StatusCounts,
      byChannel: z.partialRecord(z.enum(CHANNELS), z.object({ total: z.number().int(), byStatus: StatusCounts })),
    }),
    intakeToHandover: Timing.openapi({ description: 'Received → every live shipment with a carrier (first SHIPPED/DELIVERED).' }),
    intakeToDelivery: Timing.openapi({ description: 'Received → first DELIVERED.' }),
    slaBreachRate: Rate.openapi({ description: "Orders ever escalated or delivered after a shipment's deliver_by, of all orders." }),
    cancelRate: Rate.openapi({ description: 'CANCELLED orders, of all orders.' }),
    returnRate: Rate.openapi({ description: 'Delivered orders with a return requested, of delivered orders.' }),
    carrierOnTime: z.array(
      z.object({
        carrier: z.string(),
        delivered: z.number().int().openapi({ description: 'Shipments delivered.' }),
        measured: z.number().int().openapi({ description: 'Of those, shipments with a deliver_by promise.' }),
        onTime: z.number().int().openapi({ description: 'Of those, delivered at or before deliver_by.' }),
        rate: z.number().nullable().openapi({ description: '`onTime / measured`; null when nothing was measured.' }),
      }),
    ),
    codOutstanding: z
      .array(
        z.object({
          currency: z.string(),
          orders: z.number().int(),
          amount: z
            .string()
            .openapi({ description: 'Collected at the door, not yet remitted by the carrier (decimal string).', example: '450000.00' }),
        }),
      )
      .openapi({ description: 'Delivered COD orders the carrier has not fully remitted, per currency.' }),
  })
  .openapi('ReportSummary');

export function registerReportRoutes(app: App, reports: ReportsRepo): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/reports/summary',
      tags: ['ops'],
      summary: 'KPIs over the orders received in a window',
      description: `Every figure is about the orders received (created_at) in [from, to), optionally of one channel; default window: the last ${DEFAULT_REPORT_DAYS} days.`,
      security: [{ apiKey: [] }],
      middleware: [requireRoles('ops')] as const,
      request: { query: Query },
      responses: {
        200: { description: 'The KPI summary', content: { 'application/json': { schema: ReportSummary } } },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const to = q.to ? new Date(q.to) : new Date();
      const from = q.from ? new Date(q.from) : new Date(to.getTime() - DEFAULT_REPORT_DAYS * DAY_MS);
      // Only a given `from` can be after `to` (the default is before it).
      if (from > to)
        throw problems.validation(
          [{ path: 'from', message: `must not be after to (${to.toISOString()})` }],
          'The window ends before it starts.',
        );
      const window = { from: from.toISOString(), to: to.toISOString() };
      const summary = await reports.summary({ ...window, channel: q.channel });
      return c.json({ ...window, channel: q.channel ?? null, ...summary }, 200);
    },
  );
}
