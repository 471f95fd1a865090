/**
 * Carrier tracking webhooks. Authenticated by the carrier's HMAC over the raw body, forwarded to
 * the shipment workflow (which never moves a shipment backwards when events arrive out of order),
 * then deduplicated by event id (carriers deliver at least once): the dedupe row is written after
 * the signal went through, so a crash in between makes the carrier's retry apply it.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { OrdersRepo } from '../../db/orders-repo';
import type { Logger } from '../../lib/logger';
import { carrierEventSignal } from '../../workflows/messages';
import type { App } from '../app';
import { fieldErrors, ProblemError, problems } from '../errors';
import { pick } from '../schemas';
import { unstorableText } from '../storable-text';

const CarrierEventBody = z.object({
  eventId: z.string().min(1).max(200),
  bookingId: z.string().min(1).max(200),
  status: z.string().min(1).max(50),
  occurredAt: z.string().min(1).max(64),
  codAmount: z.string().optional(),
  /** Our shipment id, sent as the client reference at booking and echoed by the carrier. */
  shipmentId: z.string().regex(/^order-[A-Za-z0-9._-]+-shipment-\d+$/).optional(),
  /** For return parcels: our return id, echoed the same way. */
  returnId: z.string().regex(/^order-[A-Za-z0-9._-]+-return-\d+$/).optional(),
}).passthrough().openapi('CarrierEvent');

/** True when the workflow ran and has closed; false when there is no such workflow (yet). */
async function shipmentClosed(handle: WorkflowHandle): Promise<boolean> {
  try {
    return (await handle.describe()).status.name !== 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

export function verifyHmacHex(secret: string, raw: string, signature: string | undefined): boolean {
  if (!signature || !/^[0-9a-f]{64}$/i.test(signature)) return false;
  const expected = createHmac('sha256', secret).update(raw).digest();
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

export function registerCarrierWebhookRoutes(app: App, deps: { client: Client; orders: OrdersRepo; secrets: Record<string, string>; logger: Logger }): void {
  app.openAPIRegistry.register('CarrierEvent', CarrierEventBody);
  app.openapi(createRoute({
    method: 'post', path: '/v1/carriers/{carrier}/webhooks', tags: ['webhooks'],
    summary: 'Tracking event from a carrier, signed with X-Carrier-Signature: hex HMAC-SHA256 of the raw body',
    request: {
      params: z.object({ carrier: z.string().max(32) }),
      headers: z.object({ 'x-carrier-signature': z.string().optional() }),
      // A plain $ref, not a zod schema: the route reads the exact bytes the signature covers.
      body: {
        required: true,
        content: { 'application/json': {
          schema: { $ref: '#/components/schemas/CarrierEvent' },
          example: { eventId: 'evt_3f9a1c', bookingId: 'bk_e8b8f252a008a4f0', status: 'delivered', occurredAt: '2026-11-21T10:00:00+07:00', shipmentId: 'order-web-10001-shipment-1' },
        } },
      },
    },
    responses: {
      200: { description: 'Accepted (or a duplicate, acknowledged)', content: { 'application/json': { schema: z.object({ accepted: z.boolean(), duplicate: z.boolean() }) } } },
      ...pick(400, 401, 404, 409, 413),
      503: { description: 'Could not be forwarded now; send again', content: pick(401)[401].content },
    },
    description: 'Body: a `CarrierEvent` JSON object. It is read raw, not through the schema validator: the signature covers the exact bytes.',
  }), async (c) => {
    const { carrier } = c.req.valid('param');
    const secret = deps.secrets[carrier];
    if (!secret) throw problems.notFound(`Unknown carrier ${carrier}.`);
    const raw = await c.req.text();
    if (!verifyHmacHex(secret, raw, c.req.header('x-carrier-signature'))) throw problems.unauthorized('The webhook signature does not match.');
    let json: unknown;
    try { json = JSON.parse(raw); } catch { throw problems.malformedJson(); }
    const unstorable = unstorableText(json);
    if (unstorable) throw problems.validation([unstorable]);
    const parsed = CarrierEventBody.safeParse(json);
    if (!parsed.success) throw problems.validation(fieldErrors(parsed.error));
    const e = parsed.data;
    // The carrier echoes our shipment id (its "client reference"), so an event that races the
    // booking's answer still finds its workflow. Without it, look the booking up.
    const shipmentId = e.returnId ?? e.shipmentId ?? (await deps.orders.shipmentByBooking(carrier, e.bookingId))?.shipmentId;
    if (!shipmentId) throw problems.conflict(`Unknown booking ${e.bookingId}; send again later.`);
    if (await deps.orders.carrierEventSeen(carrier, e.eventId)) return c.json({ accepted: true, duplicate: true }, 200);
    // The effect first, the dedupe row after it: a crash between the two leaves no row, and the
    // carrier's retry signals again — harmless, the shipment workflow ignores an event id it has seen.
    const handle = deps.client.workflow.getHandle(shipmentId);
    try {
      await handle.signal(carrierEventSignal, {
        eventId: e.eventId, status: e.status, occurredAt: e.occurredAt, ...(e.codAmount ? { codAmount: e.codAmount } : {}),
      });
    } catch (err) {
      const closed = err instanceof WorkflowNotFoundError ? await shipmentClosed(handle).catch(() => undefined) : undefined;
      if (closed) {
        // A finished shipment has nothing left to learn from this event.
        await deps.orders.recordCarrierEvent(carrier, e.eventId, e.bookingId, e.status);
        return c.json({ accepted: true, duplicate: false }, 200);
      }
      deps.logger.warn('carrier event not forwarded', { carrier, eventId: e.eventId, error: err });
      // Nothing recorded either way: the carrier's retry is acted on.
      if (closed === false) throw problems.conflict(`No shipment ${shipmentId} yet; send again later.`);
      throw new ProblemError(503, 'unavailable', 'Service unavailable', 'The event could not be forwarded; send it again.');
    }
    const fresh = await deps.orders.recordCarrierEvent(carrier, e.eventId, e.bookingId, e.status);
    if (!fresh) return c.json({ accepted: true, duplicate: true }, 200);
    return c.json({ accepted: true, duplicate: false }, 200);
  });
}
