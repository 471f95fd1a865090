/** Orders: intake from channels; reading and commands for customer service and ops. */
import { createRoute, z } from '@hono/zod-openapi';
import { TAX_CATEGORIES } from '../../domain/tax';
import { CanonicalOrderSchema, CHANNELS, ORDER_STATUSES } from '../../domain/order';
import type { App } from '../app';
import { requireRoles, type Principal } from '../auth';
import { problems } from '../errors';
import { CursorQuery, decodeCursor, encodeCursor, pick } from '../schemas';
import { IDEMPOTENCY_KEY } from '../services/idempotent-commands';
import type { OrderService } from '../services/order-service';
import type { OrderRow } from '../../db/orders-repo';
import { addressFor, customerFor, mayFindByContact, piiViewFor, scrubberFor, type PiiView } from '../../lib/personal-data';

/** The `Idempotency-Key` header every order command takes (docs/design.md, "Failures"). */
const CommandHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(IDEMPOTENCY_KEY, 'must be 1-200 letters, digits, dot, underscore, colon or dash')
    .optional()
    .openapi({
      description:
        'Makes a retry of this request safe: the same key (on this order and command) acts once and answers with the first ' +
        'outcome — also while the first request is still running, and after the order has closed. The key is used as the Temporal ' +
        'Update id (`<command>:<key>`). A key already used for a different request is a 422. Without it, every request is a new command.',
      example: '5b0c2f3e-9d1a-4c57-8d3e-2f6a1b7c9e40',
    }),
});
const keyOf = (h: z.infer<typeof CommandHeaders>) => h['idempotency-key'];

const OrderIdParam = z.object({ orderId: z.string().min(1).max(200).openapi({ example: 'order-web-10001' }) });

const IntakeResult = z
  .object({ orderId: z.string(), status: z.enum(ORDER_STATUSES) })
  .openapi('IntakeResult', { example: { orderId: 'order-web-10001', status: 'RECEIVED' } });

/** A web order as `POST /v1/orders` takes it (the README's quick start), two lines of the dev catalog. */
const ORDER_EXAMPLE = {
  channel: 'web',
  channelOrderId: '10001',
  currency: 'VND',
  customer: { id: 'cust-1001', name: 'Nguyễn Văn An', email: 'an.nguyen@example.vn', phone: '0901234567' },
  shippingAddress: { name: 'Nguyễn Văn An', line1: '12 Lê Lợi', ward: 'Bến Nghé', district: 'Quận 1', city: 'Hồ Chí Minh', country: 'VN' },
  lines: [
    { sku: 'TSHIRT-M', quantity: 2, unitPrice: '149000.00' },
    { sku: 'COFFEE-S', quantity: 1, unitPrice: '185000.00' },
  ],
  shippingFee: '30000.00',
  total: '513000.00',
  payment: { method: 'prepaid', token: 'tok_visa' },
  placedAt: '2026-11-21T10:00:00+07:00',
};

const OrderSummary = z
  .object({
    orderId: z.string(),
    channel: z.string(),
    channelOrderId: z.string(),
    customerId: z.string(),
    status: z.string(),
    needsAttention: z.boolean(),
    attentionReason: z.string().nullable(),
    escalationLevel: z.number().int(),
    total: z.string(),
    currency: z.string(),
    paymentMethod: z.string(),
    placedAt: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('OrderSummary');

/** The customer as the caller's role may see them: full for cs, masked for ops, absent otherwise (README "Personal data"). */
const CustomerView = z
  .object({
    id: z.string(),
    name: z.string(),
    email: z.string().optional(),
    phone: z.string().optional(),
  })
  .openapi('CustomerView', { description: 'cs: as sent; ops: masked (`N*** V*** A***`, `a***@example.vn`, `*******567`).' });

export const OrderListItem = OrderSummary.extend({ customer: CustomerView.optional() }).openapi('OrderListItem');
export const OrderPage = z.object({ items: z.array(OrderListItem), nextCursor: z.string().nullable() }).openapi('OrderPage');

/** A list row for `view`: the customer masked or left out, and free text scrubbed below `full`. */
export function listItem(r: OrderRow, view: PiiView) {
  const scrub = scrubberFor(view, { customer: r.canonical.customer, address: r.canonical.shippingAddress });
  const customer = customerFor(view, r.canonical.customer) as z.infer<typeof CustomerView> | undefined;
  return { ...summary(r), attentionReason: scrub(r.attentionReason), ...(customer ? { customer } : {}) };
}

/** The list's paging key: created_at to the microsecond, then order_id. A forged value is a 400, not a SQL error. */
const OrderCursor = z.object({
  createdAt: z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/),
  orderId: z.string().max(200),
});
export function orderCursor(cursor: string | undefined) {
  const after = decodeCursor(cursor, OrderCursor);
  if (cursor && !after) throw problems.validation([{ path: 'cursor', message: 'not a cursor this API issued' }]);
  return after;
}
/** `rows` were fetched with limit + 1: the extra row only says there is a next page. */
export function orderPage(rows: OrderRow[], limit: number, view: PiiView): z.infer<typeof OrderPage> {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => listItem(r, view)),
    nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.createdAtExact, orderId: last.orderId }) : null,
  };
}

const TaxAmounts = { net: z.string(), tax: z.string(), gross: z.string() };
const QuotedLine = z.object({
  sku: z.string(),
  category: z.enum(TAX_CATEGORIES),
  rate: z.number().openapi({ description: 'Percent: 10, 8, 5 or 0.' }),
  ...TaxAmounts,
});
const OrderTax = z
  .object({
    provider: z.enum(['local-vn-vat', 'channel']).openapi({
      description:
        '`local-vn-vat`: the rule set calculated the tax; `channel`: the tax the channel charged on top of prices without tax, laid over the lines.',
    }),
    pricesIncludeTax: z.boolean(),
    lines: z.array(QuotedLine.extend({ lineNo: z.number().int() })),
    shipping: QuotedLine.optional(),
    groups: z.array(z.object({ rate: z.union([z.number(), z.literal('exempt')]), ...TaxAmounts })),
    ...TaxAmounts,
    sharesWeighTax: z.literal(true).optional().openapi({
      description:
        "Prices before tax, and each parcel's and return's share of the total weighs its goods with their own tax, so its VAT is theirs (orders taken before this: by net value, at the order's average rate).",
    }),
  })
  .openapi('OrderTax', {
    description:
      "VAT as quoted at intake by the local rule set (docs/back-office.md): per line by its SKU's category, shipping as a standard-rate service, the discount shared over them; per rate as an e-invoice totals them. Prices with tax (`pricesIncludeTax`): the tax is split out of them; without: it is added on top (the channel's own figure where it charged one). Null for orders taken in before tax was quoted.",
  });

const OrderDetail = OrderSummary.extend({
  lines: z.array(z.object({ lineNo: z.number().int(), sku: z.string(), quantity: z.number().int(), unitPrice: z.string() })),
  customer: CustomerView.optional(),
  shippingAddress: z.record(z.string(), z.unknown()).optional().openapi({
    description:
      'cs: the full address; ops: the delivery area only (ward, district, city, region, postal code, country); absent for other roles.',
  }),
  reasons: z.array(z.string()),
  waitingFor: z.string().nullable(),
  waitingUntil: z.string().nullable(),
  allocations: z.array(z.object({ lineNo: z.number().int(), sku: z.string(), warehouseId: z.string(), quantity: z.number().int() })),
  allocationWarehouses: z.array(z.object({ id: z.string(), distanceKm: z.number().nullable(), reason: z.string() })),
  shipments: z.array(z.record(z.string(), z.unknown())),
  payment: z.record(z.string(), z.unknown()),
  shortages: z.array(z.object({ sku: z.string(), requested: z.number(), available: z.number() })),
  returns: z.array(z.record(z.string(), z.unknown())),
  cancelledLines: z
    .array(z.object({ lineNo: z.number().int(), quantity: z.number().int() }))
    .openapi({ description: 'Units cancelled line by line while the rest of the order carried on.' }),
  tax: OrderTax.nullable(),
  timeline: z.array(
    z.object({
      seq: z.number().int(),
      status: z.string(),
      event: z.string(),
      detail: z.record(z.string(), z.unknown()),
      actor: z.string(),
      at: z.string(),
    }),
  ),
  source: z.enum(['projection', 'workflow']).openapi({
    description:
      'Always `projection`: status, details and timeline are one stored picture (read once the projection caught up with the workflow), so a status never comes without its timeline step. `workflow` is no longer served.',
  }),
}).openapi('OrderDetail');

const LineQuantity = z.object({ lineNo: z.number().int().min(1), quantity: z.number().int().min(1) });
const CancelBody = z
  .object({
    reason: z.string().trim().min(3).max(500),
    lines: z
      .array(LineQuantity)
      .min(1)
      .max(200)
      .optional()
      .openapi({
        description: 'Cancel only these units (partial cancellation); the rest of the order carries on. Omit to cancel the whole order.',
        example: [{ lineNo: 2, quantity: 1 }],
      }),
  })
  .openapi('CancelRequest', { example: { reason: 'customer asked to cancel by phone' } });
const CancelResult = z
  .object({
    orderId: z.string(),
    status: z.string(),
    cancelledLines: z.array(LineQuantity).optional(),
    refusedLines: z
      .array(LineQuantity)
      .optional()
      .openapi({ description: 'Units whose shipment the carrier already had: open a return for them.' }),
    pending: z
      .boolean()
      .optional()
      .openapi({ description: 'The shipments were still being undone when the answer was sent; the timeline tells the end.' }),
    cancelledShipments: z.array(z.string()).optional().openapi({
      description:
        'Whole-order cancel of a partly shipped order: the shipments cancelled; what already left carries on (open a return for it).',
    }),
  })
  .openapi('CancelResult');

const summary = (r: OrderRow) => ({
  orderId: r.orderId,
  channel: r.channel,
  channelOrderId: r.channelOrderId,
  customerId: r.customerId,
  status: r.status,
  needsAttention: r.needsAttention,
  attentionReason: r.attentionReason,
  escalationLevel: r.escalationLevel,
  total: r.total,
  currency: r.currency,
  paymentMethod: r.paymentMethod,
  placedAt: r.placedAt.toISOString(),
  createdAt: r.createdAt.toISOString(),
  updatedAt: r.updatedAt.toISOString(),
});

/** A channel key sees only its own channel's orders; staff roles see all. */
function assertCanSee(p: Principal, row: { channel: string }) {
  if (p.role === 'channel' && p.channel !== row.channel) throw problems.notFound();
}

const actorOf = (p: Principal) => `${p.role}${p.channel ? `:${p.channel}` : ''}:${p.keyId}`;

export function registerOrderRoutes(app: App, orders: OrderService): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orders',
      tags: ['orders'],
      summary: 'Submit a canonical order (channel keys, own channel only)',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('channel')] as const,
      request: {
        body: {
          required: true,
          content: { 'application/json': { schema: CanonicalOrderSchema.openapi('CanonicalOrder'), example: ORDER_EXAMPLE } },
        },
      },
      responses: {
        201: {
          description:
            'Order accepted: recorded in PostgreSQL together with the request to start its workflow, which a relay starts at once, or as soon as ' +
            'Temporal is reachable again (none lost, none started twice). The answer never waits on Temporal. Until its workflow runs the order reads ' +
            '`RECEIVED`, and a command sent to it answers 503 (send it again).',
          content: { 'application/json': { schema: IntakeResult } },
        },
        200: {
          description: 'The same channel order was submitted before: the same order',
          content: { 'application/json': { schema: IntakeResult } },
        },
        ...pick(400, 401, 403, 413, 415),
      },
    }),
    async (c) => {
      const order = c.req.valid('json');
      const principal = c.get('principal')!;
      if (order.channel !== principal.channel) throw problems.forbidden(`This key submits orders for channel "${principal.channel}" only.`);
      const r = await orders.intake(order, order);
      return c.json({ orderId: r.orderId, status: r.status as (typeof ORDER_STATUSES)[number] }, r.created ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orders/{orderId}',
      tags: ['orders'],
      summary: 'One order: status, lines, allocations, shipments, payments, timeline',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('cs', 'ops', 'channel')] as const,
      request: { params: OrderIdParam },
      responses: {
        200: { description: 'The order', content: { 'application/json': { schema: OrderDetail } } },
        ...pick(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { orderId } = c.req.valid('param');
      const found = await orders.get(orderId);
      if (!found) throw problems.notFound(`No order ${orderId}.`);
      const p = c.get('principal')!;
      assertCanSee(p, found.row);
      const d = found.row.detail;
      // Personal data by role (README "Personal data"): free text and details are scrubbed below `full`.
      const view = piiViewFor(p.role);
      const { customer: buyer, shippingAddress: address } = found.row.canonical;
      const scrub = scrubberFor(view, { customer: buyer, address });
      const customer = customerFor(view, buyer) as z.infer<typeof CustomerView> | undefined;
      const shippingAddress = addressFor(view, address);
      return c.json(
        {
          ...listItem(found.row, view),
          lines: found.row.canonical.lines.map((l, i) => ({ lineNo: i + 1, ...l })),
          ...(customer ? { customer } : {}),
          ...(shippingAddress ? { shippingAddress } : {}),
          reasons: scrub((d.reasons as string[] | undefined) ?? []),
          waitingFor: scrub((d.waitingFor as string | null | undefined) ?? null),
          waitingUntil: (d.waitingUntil as string | null | undefined) ?? null,
          allocations: (d.allocations as never[] | undefined) ?? [],
          allocationWarehouses: (d.allocationWarehouses as never[] | undefined) ?? [],
          shipments: scrub((d.shipments as Record<string, unknown>[] | undefined) ?? []),
          payment: (d.payment as Record<string, unknown> | undefined) ?? { method: found.row.paymentMethod },
          shortages: (d.shortages as never[] | undefined) ?? [],
          returns: scrub((d.returns as Record<string, unknown>[] | undefined) ?? []),
          cancelledLines: (d.cancelledLines as never[] | undefined) ?? [],
          tax: found.row.tax,
          timeline: found.timeline.map((t) => ({ ...t, event: scrub(t.event), detail: scrub(t.detail), at: t.at.toISOString() })),
          source: 'projection' as const,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orders',
      tags: ['orders'],
      summary: 'List orders, newest first, from the projection',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('cs', 'ops', 'channel')] as const,
      request: {
        query: CursorQuery.extend({
          status: z.enum(ORDER_STATUSES).optional(),
          channel: z.enum(CHANNELS).optional(),
          customerId: z.string().max(64).optional(),
          needsAttention: z.enum(['true', 'false']).optional(),
          from: z.iso.datetime({ offset: true }).optional(),
          to: z.iso.datetime({ offset: true }).optional(),
          channelOrderId: z
            .string()
            .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be a channel order number: 1-64 letters, digits, dot, underscore or dash')
            .optional()
            .openapi({ description: 'The order number the channel gave the order (any channel unless `channel` is given).' }),
          phone: z
            .string()
            .trim()
            .max(30)
            .refine(
              (v) => /^\+?[0-9 ().-]+$/.test(v) && /^(?:\D*\d){8,15}\D*$/.test(v),
              'must be a phone number: 8-15 digits, optionally a leading + and spaces, dots, dashes or brackets',
            )
            .optional()
            .openapi({
              description:
                "The customer's phone in any format: `0901 234 567`, `+84901234567` and `84-901-234-567` are the same. Roles cs and ops only.",
              example: '0901234567',
            }),
          email: z
            .string()
            .trim()
            .max(254)
            .pipe(z.email('must be an e-mail address'))
            .optional()
            .openapi({ description: "The customer's e-mail, case-insensitive. Roles cs and ops only." }),
        }),
      },
      responses: {
        200: { description: 'A page of orders', content: { 'application/json': { schema: OrderPage } } },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const p = c.get('principal')!;
      if (p.role === 'channel' && q.channel && q.channel !== p.channel)
        throw problems.forbidden(`This key reads channel "${p.channel}" only.`);
      // Looking an order up by phone or e-mail reveals whose it is: only roles that may see personal data.
      if ((q.phone || q.email) && !mayFindByContact(p.role))
        throw problems.forbidden('Searching by phone or e-mail needs the cs or ops role.');
      const after = orderCursor(q.cursor);
      const rows = await orders.list({
        status: q.status,
        channel: p.role === 'channel' ? p.channel : q.channel,
        customerId: q.customerId,
        needsAttention: q.needsAttention === undefined ? undefined : q.needsAttention === 'true',
        from: q.from,
        to: q.to,
        channelOrderId: q.channelOrderId,
        phone: q.phone,
        email: q.email,
        after,
        limit: q.limit + 1,
      });
      return c.json(orderPage(rows, q.limit, piiViewFor(p.role)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orders/{orderId}/retry',
      tags: ['ops'],
      summary: 'Resume the steps of an order that need attention',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('ops')] as const,
      request: { params: OrderIdParam, headers: CommandHeaders },
      responses: {
        200: {
          description: 'The steps that will run again',
          content: {
            'application/json': {
              schema: z.object({ retried: z.array(z.string()) }).openapi({ example: { retried: ['shipment order-web-10001-shipment-1'] } }),
            },
          },
        },
        ...pick(400, 401, 403, 404, 409, 422),
      },
    }),
    async (c) => c.json(await orders.retry(c.req.valid('param').orderId, actorOf(c.get('principal')!), keyOf(c.req.valid('header'))), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orders/{orderId}/cancel',
      tags: ['orders'],
      summary: 'Cancel an order until it is handed to the carrier; compensation undoes exactly what was done',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('cs', 'ops', 'channel')] as const,
      request: {
        params: OrderIdParam,
        headers: CommandHeaders,
        body: { required: true, content: { 'application/json': { schema: CancelBody } } },
      },
      responses: {
        200: {
          description:
            'Whole order: CANCELLED, or CANCELLING while compensation runs. With `lines`: the units cancelled, and those refused because their shipment reached the carrier first',
          content: { 'application/json': { schema: CancelResult } },
        },
        ...pick(400, 401, 403, 404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const { orderId } = c.req.valid('param');
      const p = c.get('principal')!;
      const body = c.req.valid('json');
      const key = keyOf(c.req.valid('header'));
      const channel = p.role === 'channel' ? p.channel : undefined;
      if (body.lines) {
        const r = await orders.cancelLines(orderId, actorOf(p), body.reason, body.lines, channel, key);
        return c.json({ orderId, status: r.status, cancelledLines: r.cancelled, refusedLines: r.refused, pending: r.pending }, 200);
      }
      const r = await orders.cancel(orderId, actorOf(p), body.reason, channel, key);
      return c.json({ orderId, status: r.status, ...(r.cancelledShipments ? { cancelledShipments: r.cancelledShipments } : {}) }, 200);
    },
  );

  const ReturnBody = z
    .object({
      lines: z
        .array(z.object({ lineNo: z.number().int().min(1), quantity: z.number().int().min(1) }))
        .min(1)
        .max(200),
      reason: z.string().trim().min(3).max(500),
      exchange: z
        .boolean()
        .default(false)
        .openapi({ description: 'Ship a replacement (reserved now) once the parcel is back, instead of a refund.' }),
    })
    .openapi({ example: { lines: [{ lineNo: 1, quantity: 1 }], reason: 'wrong size, customer wants M', exchange: false } });
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orders/{orderId}/returns',
      tags: ['orders'],
      summary: 'Open a return (RMA) within the return window',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('cs', 'ops')] as const,
      request: {
        params: OrderIdParam,
        headers: CommandHeaders,
        body: { required: true, content: { 'application/json': { schema: ReturnBody } } },
      },
      responses: {
        201: {
          description:
            "Return opened (or, for a repeated Idempotency-Key, the return that request opened); a return label follows. The order's workflow has it; `GET /v1/orders/{orderId}` lists it once the step that opens it is written, a moment later.",
          content: { 'application/json': { schema: z.object({ returnId: z.string().openapi({ example: 'order-web-10001-return-1' }) }) } },
        },
        ...pick(400, 401, 403, 404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const { orderId } = c.req.valid('param');
      const r = await orders.requestReturn(orderId, actorOf(c.get('principal')!), c.req.valid('json'), keyOf(c.req.valid('header')));
      return c.json(r, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orders/{orderId}/returns/{returnId}/inspection',
      tags: ['ops'],
      summary: 'Record the inspection of a received return: accept (restock + refund) or reject',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('ops')] as const,
      request: {
        params: OrderIdParam.extend({ returnId: z.string().min(1).max(200) }),
        headers: CommandHeaders,
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z
                .object({ result: z.enum(['accept', 'reject']), reason: z.string().trim().max(500).optional() })
                .openapi({ example: { result: 'accept', reason: 'unworn, tags attached' } }),
            },
          },
        },
      },
      responses: {
        200: { description: 'Recorded', content: { 'application/json': { schema: z.object({ returnId: z.string() }) } } },
        ...pick(400, 401, 403, 404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const { orderId, returnId } = c.req.valid('param');
      const body = c.req.valid('json');
      const r = await orders.inspectReturn(
        orderId,
        actorOf(c.get('principal')!),
        { returnId, accept: body.result === 'accept', ...(body.reason ? { reason: body.reason } : {}) },
        keyOf(c.req.valid('header')),
      );
      return c.json(r, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orders/{orderId}/hold',
      tags: ['ops'],
      summary: 'Hold an order before its next step (until shipments are being prepared); release or reject it with /release',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('ops')] as const,
      request: {
        params: OrderIdParam,
        headers: CommandHeaders,
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z
                .object({ reason: z.string().trim().min(3).max(500) })
                .openapi({ example: { reason: 'customer called to change the address' } }),
            },
          },
        },
      },
      responses: {
        200: {
          description: 'Hold requested; the order shows ON_HOLD once it reaches its next step',
          content: { 'application/json': { schema: z.object({ orderId: z.string(), status: z.string() }) } },
        },
        ...pick(400, 401, 403, 404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const { orderId } = c.req.valid('param');
      const r = await orders.hold(orderId, actorOf(c.get('principal')!), c.req.valid('json').reason, keyOf(c.req.valid('header')));
      return c.json({ orderId, status: r.status }, 200);
    },
  );

  const HoldDecision = z
    .object({
      decision: z.enum(['release', 'reject']).default('release'),
      reason: z.string().trim().max(500).optional().openapi({ description: 'Required to reject; a note when releasing.' }),
    })
    .openapi({ example: { decision: 'release', reason: 'customer confirmed the order by phone' } });
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orders/{orderId}/release',
      tags: ['ops'],
      summary: 'Release a hold, or reject it with a reason (a risk hold rejects the order; an ops hold cancels it, with full compensation)',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('ops')] as const,
      request: {
        params: OrderIdParam,
        headers: CommandHeaders,
        body: { required: false, content: { 'application/json': { schema: HoldDecision } } },
      },
      responses: {
        200: {
          description: 'Decision taken',
          content: { 'application/json': { schema: z.object({ orderId: z.string(), decision: z.string() }) } },
        },
        ...pick(400, 401, 403, 404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const { orderId } = c.req.valid('param');
      const body = c.req.valid('json') ?? { decision: 'release' as const };
      const actor = actorOf(c.get('principal')!);
      const key = keyOf(c.req.valid('header'));
      if (body.decision === 'reject') {
        if (!body.reason) throw problems.validation([{ path: 'reason', message: 'a reason is required to reject' }]);
        await orders.rejectHold(orderId, actor, body.reason, key);
      } else {
        await orders.releaseHold(orderId, actor, body.reason, key);
      }
      return c.json({ orderId, decision: body.decision }, 200);
    },
  );
}
