/**
 * Carrier tracking webhooks, in each carrier's own format: `POST /v1/carriers/{carrier}/webhooks`.
 * No API key: each carrier authenticates the way it really does (GHN: a secret in the callback
 * URL's query; Viettel Post: the secret in the `Authorization` header), checked in constant time
 * before the body is read. The carrier's adapter (activities/carriers/adapters) reads the native
 * body and maps it onto the tracking events the shipment and return workflows understand.
 *
 * Each event is forwarded to its workflow (which never moves a shipment backwards when events
 * arrive out of order), then deduplicated by its derived event id: the dedupe row is written
 * after the signal went through, so a crash in between makes the carrier's retry apply it.
 * Statuses that move nothing, and ones the adapter does not know, are recorded, logged and
 * answered 200: a carrier retries anything else, and a payload problem must not become a retry loop.
 */
import { z } from '@hono/zod-openapi';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Context } from 'hono';
import {
  CARRIER_ADAPTERS,
  hasCarrierAdapter,
  TRACKING_STATUSES,
  WEBHOOK_CARRIERS,
  type CarrierAdapter,
  type CarrierWebhook,
  type InboundWebhook,
  type TrackingEvent,
} from '../../activities/carriers/adapters';
import { GHN_WEBHOOK_EXAMPLE, GhnWebhookSchema } from '../../activities/carriers/adapters/ghn';
import { VTP_WEBHOOK_EXAMPLE, VtpWebhookSchema } from '../../activities/carriers/adapters/vtp';
import type { OrdersRepo } from '../../db/orders-repo';
import type { Logger } from '../../lib/logger';
import { carrierEventSignal, type CarrierEvent } from '../../workflows/messages';
import type { App } from '../app';
import { ProblemError, problems } from '../errors';
import { pick } from '../schemas';

export interface CarrierWebhookDeps {
  client: Client;
  orders: OrdersRepo;
  secrets: Record<string, string>;
  logger: Logger;
}

/** Our shipment or return id, as the carrier echoes it (GHN ClientOrderCode, VTP ORDER_REFERENCE): the workflow id. */
const OUR_REFERENCE = /^order-[A-Za-z0-9._-]+-(?:shipment|return)-\d+$/;

const OUTCOMES = ['applied', 'duplicate', 'no_effect', 'unknown_parcel', 'shipment_closed'] as const;
type Outcome = (typeof OUTCOMES)[number];

const WebhookAnswer = z
  .object({
    accepted: z.literal(true),
    duplicate: z.boolean().openapi({ description: 'Every event of this webhook had been taken before; nothing new happened.' }),
    trackingCode: z.string().openapi({ example: 'GHN0123456789' }),
    events: z.array(
      z.object({
        eventId: z.string().openapi({
          description: 'Derived: carrier, tracking code, type, native status and time.',
          example: 'ghn:GHN0123456789:switch_status:delivered:2026-11-22T04:02:58.774Z',
        }),
        nativeStatus: z.string().openapi({ example: 'delivered' }),
        status: z.enum(TRACKING_STATUSES).nullable().openapi({ description: 'What it means here; null: acknowledged without effect.' }),
        outcome: z.enum(OUTCOMES).openapi({
          description:
            '`applied`: forwarded to the shipment (or return); `duplicate`: taken before; `no_effect`: a status that moves nothing ' +
            'or one not known (recorded, logged); `unknown_parcel`: no shipment of ours has this parcel (Viettel Post only; GHN gets a 409 to send it again); ' +
            '`shipment_closed`: the shipment had finished.',
        }),
      }),
    ),
  })
  .openapi('CarrierWebhookAnswer');
type Answer = z.infer<typeof WebhookAnswer>;

const WebhookBody = z.union([GhnWebhookSchema, VtpWebhookSchema]).openapi(
  'CarrierWebhookBody',
  {
    description: "The carrier's own payload, by `{carrier}`: ghn → GhnWebhook, vtp → VtpWebhook.",
  },
  { unionPreferredType: 'oneOf' },
);

/** True when the workflow ran and has closed; false when there is no such workflow (yet). */
async function workflowClosed(handle: WorkflowHandle): Promise<boolean> {
  try {
    return (await handle.describe()).status.name !== 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

export function registerCarrierWebhookRoutes(app: App, deps: CarrierWebhookDeps): void {
  // Documented here, handled by a plain handler below: the body is read raw and tolerantly by the
  // carrier's adapter, after the authentication, never refused by a strict validator first.
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/v1/carriers/{carrier}/webhooks',
    tags: ['webhooks'],
    summary: "Tracking webhook from a carrier, in its own format, authenticated the carrier's way",
    description: [
      "Authenticated by the carrier's secret (`OMS_CARRIER_SECRETS`), compared in constant time, no API key:",
      ...WEBHOOK_CARRIERS.map(
        (c) =>
          `- \`${c}\`: ${CARRIER_ADAPTERS[c].auth.in === 'query' ? 'query parameter' : 'header'} \`${CARRIER_ADAPTERS[c].auth.name}\` = ${CARRIER_ADAPTERS[c].auth.scheme}.`,
      ),
      '',
      "The body is read tolerantly: only a webhook without the parcel's code or a status is refused (400). Unknown statuses, " +
        'nulls and fields the OMS does not use are accepted and answered 200. Events are deduplicated by an id derived from the ' +
        'carrier, the tracking code, the type, the status and its time; a replay answers `duplicate: true`. A parcel the OMS ' +
        'does not know (yet) is answered 409 for GHN (it retries: the event may have raced the booking) and 200 for Viettel Post ' +
        '(its checklist wants unknown orders acknowledged; the OMS polls VTP anyway).',
    ].join('\n'),
    request: {
      params: z.object({ carrier: z.enum(WEBHOOK_CARRIERS) }),
      query: z.object({
        token: z.string().optional().openapi({ description: 'ghn: the carrier secret, part of the callback URL registered with GHN.' }),
      }),
      headers: z.object({
        authorization: z.string().optional().openapi({ description: 'vtp: the carrier secret as is (no scheme word).' }),
      }),
      body: {
        required: true,
        content: {
          'application/json': {
            schema: WebhookBody,
            examples: {
              ghn: { summary: 'ghn: delivered (POST /v1/carriers/ghn/webhooks?token=…)', value: GHN_WEBHOOK_EXAMPLE },
              vtp: { summary: 'vtp: 501 delivered (POST /v1/carriers/vtp/webhooks, Authorization: …)', value: VTP_WEBHOOK_EXAMPLE },
            },
          },
        },
      },
    },
    responses: {
      200: {
        description: 'Taken: applied, a duplicate, a status that moves nothing, or (vtp) a parcel the OMS does not know',
        content: { 'application/json': { schema: WebhookAnswer } },
      },
      ...pick(400, 404, 413),
      401: {
        description: "The carrier's secret is missing or does not match; nothing was read or written",
        content: pick(401)[401].content,
      },
      409: {
        description: 'ghn: no shipment of ours has this parcel yet (nothing recorded); send it again later',
        content: pick(409)[409].content,
      },
      503: { description: 'Could not be forwarded now; nothing was recorded, send it again', content: pick(401)[401].content },
    },
  });

  app.post('/v1/carriers/:carrier/webhooks', async (c: Context) => {
    const carrier = c.req.param('carrier') ?? '';
    if (!hasCarrierAdapter(carrier)) throw problems.notFound(`Unknown carrier ${carrier}.`);
    const secret = deps.secrets[carrier];
    if (!secret) throw problems.notFound(`Carrier ${carrier} is not configured.`);
    const adapter = CARRIER_ADAPTERS[carrier];
    const rawBody = await c.req.text();
    const req: InboundWebhook = { rawBody, header: (n) => c.req.header(n), query: (n) => c.req.query(n) };
    if (!adapter.authenticate(req, secret)) {
      throw problems.unauthorized(`The ${carrier} webhook secret (${adapter.auth.in} ${adapter.auth.name}) is missing or does not match.`);
    }
    let body: unknown;
    try {
      body = JSON.parse(rawBody);
    } catch {
      throw problems.malformedJson();
    }
    const parsed = adapter.parseWebhook(body);
    if (!parsed.ok) throw problems.validation(parsed.issues, `The ${carrier} webhook cannot be acted on.`);
    const w = parsed.value;
    if (w.notes.length) deps.logger.warn('carrier webhook taken with notes', { carrier, trackingCode: w.trackingCode, notes: w.notes });

    const parcel = parcelFinder(deps, carrier, w);
    const events: Answer['events'] = [];
    for (const e of w.events) {
      const outcome = await takeEvent(deps, adapter, w, e, parcel);
      events.push({ eventId: e.eventId, nativeStatus: e.nativeStatus, status: e.status, outcome });
    }
    const answer: Answer = {
      accepted: true,
      duplicate: events.length > 0 && events.every((e) => e.outcome === 'duplicate'),
      trackingCode: w.trackingCode,
      events,
    };
    return c.json(answer, 200);
  });
}

/** The parcel (a shipment or a return) and the workflow it runs in. */
interface Parcel {
  parcelId: string;
  workflowId: string;
  /** A shipment running inside its order's workflow: the event names it. */
  inOrder: boolean;
}

/**
 * The parcel this webhook is about and its workflow, looked up once: the echoed reference, else
 * the booking by tracking code; a shipment of an order from `orderWorkflowV3` on runs in the
 * order's workflow.
 */
function parcelFinder(deps: CarrierWebhookDeps, carrier: string, w: CarrierWebhook): () => Promise<Parcel | undefined> {
  let found: Promise<Parcel | undefined> | undefined;
  return () =>
    (found ??= (async () => {
      // The carrier echoes our shipment (or return) id, so an event that races the booking's answer
      // still finds its workflow. Without it, the booking is looked up by the parcel's code.
      const s =
        w.reference && OUR_REFERENCE.test(w.reference)
          ? { shipmentId: w.reference, orderId: undefined }
          : ((await deps.orders.shipmentByTracking(carrier, w.trackingCode)) ??
            (await deps.orders.shipmentByBooking(carrier, w.trackingCode)));
      if (!s) return undefined;
      return { parcelId: s.shipmentId, ...(await deps.orders.shipmentWorkflow(s.shipmentId, s.orderId)) };
    })());
}

async function takeEvent(
  deps: CarrierWebhookDeps,
  adapter: CarrierAdapter,
  w: CarrierWebhook,
  e: TrackingEvent,
  parcel: () => Promise<Parcel | undefined>,
): Promise<Outcome> {
  const carrier = adapter.carrier;
  const log = { carrier, trackingCode: w.trackingCode, eventId: e.eventId, nativeStatus: e.nativeStatus };
  if (await deps.orders.carrierEventSeen(carrier, e.eventId)) return 'duplicate';
  if (e.status === null) {
    // Nothing to forward: recorded (so ops can find it: status `unknown:<native>`) and acknowledged.
    if (e.noEffect === 'unknown') deps.logger.warn('carrier status not known: acknowledged without effect', log);
    else deps.logger.info('carrier status acknowledged without effect', log);
    const fresh = await deps.orders.recordCarrierEvent(
      carrier,
      e.eventId,
      w.trackingCode,
      `${e.noEffect === 'unknown' ? 'unknown' : 'none'}:${e.nativeStatus}`,
    );
    return fresh ? 'no_effect' : 'duplicate';
  }
  const unknownParcel = (why: string): Outcome => {
    if (adapter.unknownParcel === 'retry') throw problems.conflict(`${why}; send it again later.`);
    deps.logger.warn('carrier event for a parcel the OMS does not know: acknowledged', { ...log, why });
    return 'unknown_parcel';
  };
  const found = await parcel();
  if (!found) return unknownParcel(`No shipment has ${carrier} parcel ${w.trackingCode}`);
  const { workflowId, parcelId } = found;
  const signal: CarrierEvent = {
    eventId: e.eventId,
    status: e.status,
    occurredAt: e.occurredAt,
    ...(e.status === 'cod_remitted' && e.codAmount ? { codAmount: e.codAmount } : {}),
    ...(found.inOrder ? { shipmentId: parcelId } : {}),
  };
  // The effect first, the dedupe row after it: a crash between the two leaves no row, and the
  // carrier's retry signals again — harmless, the workflow ignores an event id it has seen.
  const handle = deps.client.workflow.getHandle(workflowId);
  try {
    await handle.signal(carrierEventSignal, signal);
  } catch (err) {
    const closed = err instanceof WorkflowNotFoundError ? await workflowClosed(handle).catch(() => undefined) : undefined;
    if (closed) {
      // A finished shipment has nothing left to learn from this event.
      await deps.orders.recordCarrierEvent(carrier, e.eventId, w.trackingCode, e.status);
      return 'shipment_closed';
    }
    // Nothing recorded either way: the carrier's retry is acted on.
    if (closed === false) return unknownParcel(`No shipment ${parcelId} yet`);
    deps.logger.warn('carrier event not forwarded', { ...log, error: err });
    throw new ProblemError(503, 'unavailable', 'Service unavailable', 'The event could not be forwarded; send it again.');
  }
  deps.logger.info('carrier event applied', { ...log, status: e.status, workflowId });
  return (await deps.orders.recordCarrierEvent(carrier, e.eventId, w.trackingCode, e.status)) ? 'applied' : 'duplicate';
}
