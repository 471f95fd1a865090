/**
 * `GET /v1/events?after=`: the event feed for systems that poll (ERP, CRM, the books): every step
 * of every order, in the order it was written, paged by position (docs/back-office.md).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { toFeedEvent, type EventsRepo } from '../../db/events-repo';
import { CHANNELS } from '../../domain/order';
import { piiViewFor, scrubberFor } from '../../lib/personal-data';
import type { App } from '../app';
import { requireRoles } from '../auth';
import { pick } from '../schemas';

const Query = z.object({
  after: z
    .string()
    .regex(/^\d{1,18}$/, 'must be a position from this feed (digits)')
    .default('0')
    .openapi({
      description: "Events after this position: `0` (the default) for the start, then the previous page's `next`.",
      example: '0',
    }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  channel: z.enum(CHANNELS).optional().openapi({ description: "Only the events of this channel's orders." }),
});

const OrderStepEvent = z
  .object({
    position: z.string().openapi({ description: 'Where the event sits in the feed; strictly increasing.', example: '1042' }),
    eventId: z.string().openapi({
      description:
        '`<orderId>:<seq>`. Delivered at least once: the same id again (at a later position) is the step replaced after a lost workflow task; keep the newest.',
      example: 'order-web-10001:3',
    }),
    type: z.literal('order.step'),
    version: z.literal(1),
    orderId: z.string(),
    channel: z.string(),
    channelOrderId: z.string(),
    seq: z.number().int().openapi({ description: "The step's number in its order: in order per order." }),
    status: z.string().openapi({ description: 'The order status after this step.' }),
    event: z.string(),
    detail: z.record(z.string(), z.unknown()),
    actor: z.string(),
    at: z.string(),
  })
  .openapi('OrderStepEvent');

const StockEvent = z
  .object({
    position: z.string(),
    eventId: z.string().openapi({ description: '`stock:<adjustment id>`.', example: 'stock:311' }),
    type: z.literal('stock.adjusted'),
    version: z.literal(1),
    sku: z.string(),
    warehouseId: z.string(),
    onHandBefore: z.number().int(),
    onHandAfter: z.number().int(),
    reason: z.string(),
    actor: z.string(),
    at: z.string(),
  })
  .openapi('StockEvent', {
    description: "A logged change of a SKU's on-hand count at a warehouse: an admin's count, a restock from a return.",
  });

const Money = z.string().openapi({ example: '237000.00' });
const InvoiceEvent = z
  .object({
    position: z.string(),
    eventId: z.string().openapi({
      description: '`invoice.status:<position>`: one per state an invoice reached; `invoiceKey` names the invoice.',
      example: 'invoice.status:1187',
    }),
    type: z.literal('invoice.status'),
    version: z.literal(1),
    orderId: z.string(),
    channel: z.string(),
    channelOrderId: z.string(),
    invoiceKey: z.string(),
    kind: z.enum(['sale', 'adjustment', 'replacement']),
    originalKey: z.string().nullable(),
    status: z.enum(['pending', 'submitted', 'issued', 'rejected', 'replaced']),
    currency: z.string(),
    net: Money,
    vat: Money,
    gross: Money,
    series: z.string().nullable(),
    number: z.string().nullable(),
    reason: z.object({ code: z.string(), message: z.string() }).nullable(),
    at: z.string(),
  })
  .openapi('InvoiceEvent', {
    description:
      "An e-invoice of an order reached a state: planned (`pending`, with the step that told the sale or refund), `issued` (its series and number), `rejected` (the provider's reason), or `pending` again after an ops retry; a `replacement` (kind) of an issued invoice, and the original then `replaced` (both added to version 1: a reader ignores values it does not know) (docs/back-office.md).",
  });

const ShipmentEvent = z
  .object({
    position: z.string(),
    eventId: z
      .string()
      .openapi({ description: '`shipment.status:<position>`: one per status a shipment reached.', example: 'shipment.status:1190' }),
    type: z.literal('shipment.status'),
    version: z.literal(1),
    orderId: z.string(),
    channel: z.string(),
    channelOrderId: z.string(),
    shipmentId: z.string(),
    warehouseId: z.string(),
    carrier: z.string().nullable(),
    bookingId: z.string().nullable(),
    trackingNumber: z.string().nullable(),
    status: z.string().openapi({ description: 'planned, booked, picked_up, in_transit, delivered, ...', example: 'picked_up' }),
    deliverBy: z.string().nullable(),
    at: z.string(),
  })
  .openapi('ShipmentEvent', {
    description:
      'A shipment of an order reached a status it had not had (its status only moves forward): booked with a carrier and tracking number, handed over, delivered, returned to the sender...',
  });

const ReturnEvent = z
  .object({
    position: z.string(),
    eventId: z
      .string()
      .openapi({ description: '`return.status:<position>`: one per status a return reached.', example: 'return.status:1204' }),
    type: z.literal('return.status'),
    version: z.literal(1),
    orderId: z.string(),
    channel: z.string(),
    channelOrderId: z.string(),
    returnId: z.string(),
    status: z.enum(['requested', 'label_sent', 'in_transit', 'received', 'accepted', 'rejected', 'expired']),
    lines: z.array(z.object({ lineNo: z.number().int(), sku: z.string(), quantity: z.number().int() })),
    trackingNumber: z.string().nullable(),
    refundDue: Money.nullable().openapi({ description: 'What the return refunds when accepted.' }),
    refunded: Money.nullable(),
    exchange: z.string().nullable().openapi({ description: "An exchange's state (a replacement instead of a refund), or null." }),
    at: z.string(),
  })
  .openapi('ReturnEvent', {
    description:
      'A return of an order was requested or reached a new status: label sent, parcel in transit, received, accepted (refunded or exchanged), rejected, expired.',
  });

const ReservationEvent = z
  .object({
    position: z.string(),
    eventId: z.string().openapi({
      description: '`<type>:<position>`: one per change of the stock an order holds.',
      example: 'stock.reserved:1041',
    }),
    type: z.enum(['stock.reserved', 'stock.released', 'stock.committed']).openapi({
      description:
        '`stock.reserved`: units set aside for the order at a warehouse (no longer available to promise); `stock.released`: given back (cancelled, cut, expired); `stock.committed`: handed over to the carrier (on hand drops by them).',
    }),
    version: z.literal(1),
    orderId: z.string(),
    channel: z.string(),
    channelOrderId: z.string(),
    lines: z.array(z.object({ lineNo: z.number().int(), sku: z.string(), warehouseId: z.string(), quantity: z.number().int().positive() })),
    reservation: z.string().optional().openapi({
      description:
        "Stock held under another key than the order's own: an exchange's replacement (the return's id), or a parcel sent again after it came back to the sender (`<shipmentId>-reship`).",
    }),
    at: z.string(),
  })
  .openapi('ReservationEvent', {
    description:
      "Stock an order holds changed: the units of each of its lines at each warehouse that were reserved, released or handed over by this step. With `stock.adjusted` (on-hand counts) a reader's ledger follows both what is counted and what is promised.",
  });

export const FeedEvent = z
  .discriminatedUnion('type', [OrderStepEvent, StockEvent, InvoiceEvent, ShipmentEvent, ReturnEvent, ReservationEvent])
  .openapi('FeedEvent');

const FeedPage = z
  .object({
    items: z.array(FeedEvent),
    next: z.string().openapi({ description: 'Ask again with `after=next` (the same position when nothing new came).' }),
  })
  .openapi('FeedPage');

export function registerEventRoutes(app: App, events: EventsRepo): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/events',
      tags: ['back office'],
      summary:
        'The event feed: every order step, stock count and reservation, shipment and return status and invoice state, in the order written, after a position',
      description:
        "For systems that poll. Positions increase; an event is shown only once every transaction that could still write an earlier position has ended, so paging with `after=next` never skips one. Personal data in the events' text is scrubbed for ops and admins as in the order API.",
      security: [{ apiKey: [] }],
      middleware: [requireRoles('ops', 'admin')] as const,
      request: { query: Query },
      responses: {
        200: { description: 'A page of events', content: { 'application/json': { schema: FeedPage } } },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await events.after(BigInt(q.after), q.limit, q.channel);
      const view = piiViewFor(c.get('principal')!.role);
      const items = rows.map((r) =>
        toFeedEvent(r, (step) => scrubberFor(view, { customer: step.customer, address: step.shippingAddress })),
      );
      return c.json({ items, next: items.at(-1)?.position ?? q.after }, 200);
    },
  );
}
