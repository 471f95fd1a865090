/**
 * Sales-channel webhooks: `POST /v1/channels/{channel}/webhooks`, in each channel's own format.
 * No API key: the channel's signature over the raw body is the authentication (secret from
 * OMS_CHANNEL_SECRETS), checked before anything is read or written. Each event is accepted once
 * (platforms deliver at least once), and the answer is quick: a full order (Shopify, web/POS) is
 * taken in as `POST /v1/orders` would; a marketplace's thin notification starts an intake
 * workflow that pulls the order from the platform's order-detail API with retries.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ADAPTERS, channelCredentials, isChannel, type InboundRequest } from '../../activities/channels/adapters';
import { LazadaPushSchema } from '../../activities/channels/adapters/lazada';
import { ShopeePushSchema } from '../../activities/channels/adapters/shopee';
import { ShopifyOrderSchema } from '../../activities/channels/adapters/shopify';
import { TikTokPushSchema } from '../../activities/channels/adapters/tiktok';
import { ChannelStore } from '../../activities/channels/channel-store';
import { CanonicalOrderSchema, CHANNELS, orderIdFor } from '../../domain/order';
import type { Logger } from '../../lib/logger';
import type { ChannelIntakeInput } from '../../workflows/channel-intake';
import { channelOrderEventSignal, type ChannelOrderEvent } from '../../workflows/messages';
import { parseJsonKeepingBigIds } from '../../lib/lossless-json';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { App } from '../app';
import { requireRoles } from '../auth';
import { ProblemError, problems } from '../errors';
import { pick } from '../schemas';
import { unstorableText } from '../storable-text';
import { enqueueStart } from '../../db/workflow-starts-repo';
import { intakeOrder, type IntakeDeps } from '../../intake/order-intake';

export interface ChannelWebhookDeps extends IntakeDeps {
  client: Client;
  /** Per channel (OMS_CHANNEL_SECRETS); a channel without a secret is not served. */
  secrets: Record<string, string>;
  logger: Logger;
}

/** One intake workflow per marketplace order: concurrent notifications of it join the same one. */
export const intakeWorkflowId = (channel: string, channelOrderId: string) => `intake-${channel}-${channelOrderId}`;

const WebhookAnswer = z
  .object({
    accepted: z.literal(true),
    duplicate: z.boolean().openapi({ description: 'This event (or this order) was accepted before; nothing new was started.' }),
    orderId: z.string().openapi({ example: 'order-shopee-241121ABCD1234' }),
    action: z.enum(['intake', 'wait', 'cancel_request', 'cancelled', 'return_request', 'track', 'ignore']).openapi({
      description:
        '`intake`: the order is being taken in; `wait`: not yet an order to fulfil (unpaid, platform hold); ' +
        '`cancelled`, `cancel_request`: the order is cancelled when nothing was handed to the carrier yet, else flagged for ops; ' +
        '`return_request`: the order is flagged for ops; `track`: recorded, nothing started; ' +
        '`ignore`: not about an order (a test or verification ping, a message type the OMS does not act on).',
    }),
    nativeStatus: z.string().openapi({ example: 'READY_TO_SHIP' }),
    notes: z
      .array(z.object({ path: z.string(), value: z.string(), note: z.string() }))
      .optional()
      .openapi({
        description:
          'What the payload carried that the OMS did not expect but accepted (an unknown status, a null), also listed at GET /v1/channels/payload-notes.',
      }),
  })
  .openapi('ChannelWebhookAnswer');
type Answer = z.infer<typeof WebhookAnswer>;

const WebhookBody = z
  .union([
    ShopifyOrderSchema.openapi('ShopifyOrderWebhook', {
      description: 'shopify: the order resource of an `orders/*` webhook (topic in X-Shopify-Topic).',
    }),
    ShopeePushSchema.openapi('ShopeeOrderStatusPush', { description: 'shopee: order status push (code 3).' }),
    LazadaPushSchema.openapi('LazadaTradeOrderMessage', { description: 'lazada: trade order message (message_type 0).' }),
    TikTokPushSchema.openapi('TikTokOrderStatusChange', { description: 'tiktok: ORDER_STATUS_CHANGE webhook (type 1).' }),
    CanonicalOrderSchema.openapi('CanonicalOrder'),
  ])
  .openapi(
    'ChannelWebhookBody',
    {
      description:
        "The channel's own payload, by `{channel}`: shopify → ShopifyOrderWebhook, shopee → ShopeeOrderStatusPush, lazada → LazadaTradeOrderMessage, tiktok → TikTokOrderStatusChange, web and pos → CanonicalOrder.",
    },
    { unionPreferredType: 'oneOf' },
  );

/**
 * Tells a running order what its channel said. False when Temporal could not be reached (the
 * platform's retry acts again); true when it was told, or when the order's workflow has closed
 * (a closed order has nothing left to cancel or flag: the event is recorded).
 */
async function tellOrder(deps: ChannelWebhookDeps, orderId: string, e: ChannelOrderEvent): Promise<boolean> {
  try {
    // An order taken in while Temporal was away runs first, or the platform's retry brings the event again.
    if (!(await deps.starts.ensureStarted(orderId))) return false;
    await deps.client.workflow.getHandle(orderId).signal(channelOrderEventSignal, e);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return true;
    deps.logger.warn('channel event not forwarded to the order', { orderId, error: err });
    return false;
  }
}

export function registerChannelWebhookRoutes(app: App, deps: ChannelWebhookDeps): void {
  const store = new ChannelStore(deps.sql);

  // Documented here, handled by a plain handler below: the signature covers the exact bytes,
  // so the body must not go through a JSON validator before it is verified.
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/v1/channels/{channel}/webhooks',
    tags: ['webhooks'],
    summary: 'Order webhook from a sales channel, in its own format, signed by the channel',
    description: [
      "Authenticated by the channel's signature over the raw body (no API key):",
      ...CHANNELS.map((ch) => `- \`${ch}\`: \`${ADAPTERS[ch].signature.header}\` = ${ADAPTERS[ch].signature.scheme}.`),
      '',
      'Shopify and web/POS send the whole order, which is taken in at once. Shopee, Lazada and TikTok Shop send a thin ' +
        'notification (order id + status); the order is then pulled from their order-detail API by an intake workflow ' +
        "(`intake-<channel>-<channel order id>`) that retries through the platform's outages. Events are deduplicated by the " +
        "channel's event id (or order id + status + time); a replay answers `duplicate: true`.",
    ].join('\n'),
    request: {
      params: z.object({ channel: z.enum(CHANNELS) }),
      headers: z.object({
        'x-shopify-hmac-sha256': z.string().optional(),
        'x-shopify-topic': z.string().optional(),
        'x-shopify-webhook-id': z.string().optional(),
        authorization: z.string().optional().openapi({ description: 'Shopee, Lazada, TikTok Shop: the hex signature (no scheme).' }),
        'x-channel-signature': z.string().optional(),
      }),
      body: {
        required: true,
        content: {
          'application/json': {
            schema: WebhookBody,
            examples: {
              shopee: {
                summary: 'shopee: an order became ready to ship (POST /v1/channels/shopee/webhooks)',
                value: {
                  shop_id: 880123456,
                  code: 3,
                  timestamp: 1795230345,
                  data: { ordersn: '261121K7QX3M2A', status: 'READY_TO_SHIP', update_time: 1795230344 },
                },
              },
              tiktok: {
                summary: 'tiktok: an order awaits shipment (POST /v1/channels/tiktok/webhooks)',
                value: {
                  type: 1,
                  tts_notification_id: '7440192837465019213',
                  shop_id: '7494000000000000001',
                  timestamp: 1795248305,
                  data: {
                    order_id: '579134826710459613',
                    order_status: 'AWAITING_SHIPMENT',
                    update_time: 1795248304,
                    is_on_hold_order: false,
                  },
                },
              },
            },
          },
        },
      },
    },
    responses: {
      202: {
        description: 'Accepted: the order is being taken in (`action: intake`)',
        content: { 'application/json': { schema: WebhookAnswer } },
      },
      200: {
        description: 'Acknowledged: a replay (`duplicate: true`), or a status that starts nothing',
        content: { 'application/json': { schema: WebhookAnswer } },
      },
      ...pick(400, 404, 413),
      401: { description: 'The signature is missing or does not match; nothing was read or written', content: pick(401)[401].content },
      503: { description: 'Could not be acted on now; nothing was kept, send it again', content: pick(401)[401].content },
    },
  });

  const NoteRow = z
    .object({
      channel: z.string(),
      path: z.string().openapi({ example: 'fulfillment_status' }),
      value: z.string().openapi({ example: 'pending' }),
      note: z.string(),
      count: z.number().int(),
      firstSeenAt: z.string(),
      lastSeenAt: z.string(),
      lastEventId: z.string().nullable(),
      lastOrderId: z.string().nullable(),
    })
    .openapi('ChannelPayloadNote');
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/channels/payload-notes',
      tags: ['ops'],
      summary: 'What the channels sent that the OMS accepted though it did not expect it',
      description:
        'Platforms add statuses and enum values without notice and send null where their documentation promises a value. ' +
        'Such payloads are accepted (refusing them would make the platform retry and finally disable the subscription); each ' +
        'surprise is counted here by channel, field path and value, with the last event and order that carried it.',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('ops')] as const,
      request: { query: z.object({ channel: z.enum(CHANNELS).optional() }) },
      responses: {
        200: {
          description: 'Newest first (at most 500)',
          content: { 'application/json': { schema: z.object({ notes: z.array(NoteRow) }) } },
        },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const rows = await store.payloadNotes(c.req.valid('query').channel);
      return c.json(
        { notes: rows.map((r) => ({ ...r, firstSeenAt: r.firstSeenAt.toISOString(), lastSeenAt: r.lastSeenAt.toISOString() })) },
        200,
      );
    },
  );

  app.post('/v1/channels/:channel/webhooks', async (c: Context) => {
    const channel = c.req.param('channel') ?? '';
    if (!isChannel(channel)) throw problems.notFound(`Unknown channel ${channel}.`);
    const secret = deps.secrets[channel];
    if (!secret) throw problems.notFound(`Channel ${channel} is not configured.`);
    const adapter = ADAPTERS[channel];

    const rawBody = await c.req.text();
    const req: InboundRequest = { rawBody, header: (n) => c.req.header(n), url: c.req.url };
    if (!adapter.verifyWebhook(req, channelCredentials(channel, secret))) {
      throw problems.unauthorized(`The ${adapter.signature.header} signature is missing or does not match.`);
    }
    let body: unknown;
    // Read without losing digits: the platforms' 64-bit ids come through as exact strings.
    try {
      body = parseJsonKeepingBigIds(rawBody);
    } catch {
      throw problems.malformedJson();
    }
    const unstorable = unstorableText(body);
    if (unstorable) throw problems.validation([unstorable], `The ${channel} payload is invalid.`);
    const parsed = adapter.parseWebhook(body, req);
    if (!parsed.ok) throw problems.validation(parsed.issues, `The ${channel} payload is invalid.`);
    const n = parsed.value;
    const orderId = orderIdFor(channel, n.channelOrderId);
    const notes = n.notes ?? [];
    const answer = (status: 200 | 202, duplicate: boolean) =>
      c.json(
        {
          accepted: true,
          duplicate,
          orderId,
          action: n.disposition,
          nativeStatus: n.nativeStatus,
          ...(notes.length ? { notes } : {}),
        } satisfies Answer,
        status,
      );

    const event = {
      channel,
      eventId: n.eventId,
      channelOrderId: n.channelOrderId,
      nativeStatus: n.nativeStatus,
      action: n.disposition,
      orderId,
      ...(adapter.delivery === 'thin' || n.disposition !== 'intake' ? { raw: body } : {}),
    };
    // Whatever fails below is ours, not the payload's: 503, nothing kept, the platform's retry acts.
    const act = async (): Promise<Response> => {
      if (await store.eventSeen(channel, n.eventId)) return answer(200, true);
      deps.logger.info('channel webhook accepted', {
        channel,
        eventId: n.eventId,
        nativeStatus: n.nativeStatus,
        action: n.disposition,
        notes: notes.length,
      });
      if (notes.length) await store.recordNotes(channel, notes, n.eventId, n.disposition === 'ignore' ? null : orderId);
      // What the channel says about an order already taken in: a cancellation, a return request.
      if (n.disposition === 'cancelled' || n.disposition === 'cancel_request' || n.disposition === 'return_request') {
        if (await store.orderExists(orderId)) {
          const told = await tellOrder(deps, orderId, {
            kind: n.disposition,
            reason: n.reason ?? `${channel}: ${n.nativeStatus}`,
            nativeStatus: n.nativeStatus,
            eventId: n.eventId,
            ...(n.platformRequestId ? { platformRequestId: n.platformRequestId } : {}),
          });
          if (!told) {
            deps.logger.warn('channel webhook not acted on', { channel, eventId: n.eventId });
            throw new ProblemError(503, 'unavailable', 'Service unavailable', 'The webhook could not be acted on now; send it again.');
          }
        }
        return answer(200, !(await store.recordEvent(event)));
      }
      // Unpaid, held, later-stage and unrelated events are recorded and acknowledged; nothing starts.
      if (n.disposition !== 'intake') return answer(200, !(await store.recordEvent(event)));
      // The effect first, then the event's row: a crash in between leaves no row and the platform's
      // retry acts again — harmless, intake and the intake workflow are idempotent by order id.
      let created: boolean | undefined;
      try {
        if (n.order) created = (await intakeOrder(deps, n.order, body)).created;
        else if (await store.orderExists(orderId)) created = false;
        else {
          const input: ChannelIntakeInput = {
            channel: channel as ChannelIntakeInput['channel'],
            channelOrderId: n.channelOrderId,
            notifiedStatus: n.nativeStatus,
            settings: deps.settings,
            returnWindows: deps.returnWindows,
          };
          // Asked for durably, started by the relay: the platform's answer does not wait on Temporal.
          await enqueueStart(deps.sql, {
            workflowId: intakeWorkflowId(channel, n.channelOrderId),
            kind: 'channel-intake',
            taskQueue: deps.taskQueue,
            input,
          });
          deps.starts.nudge();
        }
      } catch (err) {
        // A payload problem the intake found is the channel's to fix: never a 5xx.
        if (err instanceof ProblemError && err.status < 500) throw err;
        // Nothing was recorded: the platform's retry of this event is acted on.
        deps.logger.warn('channel webhook not acted on', { channel, eventId: n.eventId, error: err });
        throw new ProblemError(503, 'unavailable', 'Service unavailable', 'The webhook could not be acted on now; send it again.');
      }
      const fresh = await store.recordEvent(event);
      // A whole order says itself whether it is new; a notification is new unless a concurrent
      // delivery of the same event got its row in first (both joined the same intake workflow).
      if (created !== undefined) return answer(created ? 202 : 200, !created);
      return answer(fresh ? 202 : 200, !fresh);
    };
    try {
      return await act();
    } catch (err) {
      if (err instanceof ProblemError) throw err;
      deps.logger.warn('channel webhook not acted on', { channel, eventId: n.eventId, error: err });
      throw new ProblemError(503, 'unavailable', 'Service unavailable', 'The webhook could not be acted on now; send it again.');
    }
  });
}
