/**
 * Subscribers to the event feed (docs/back-office.md): admins add and remove them; ops see how
 * far each has taken the feed, what failed last, and can deliver a range again.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Subscription, SubscriptionsRepo } from '../../db/subscriptions-repo';
import { CHANNELS } from '../../domain/order';
import { notPublicTarget } from '../../lib/public-address';
import type { App } from '../app';
import { requireRoles } from '../auth';
import { problems } from '../errors';
import { pick } from '../schemas';

const Position = z.string().regex(/^\d{1,18}$/, 'must be a position from the event feed (digits)');
const IdParam = z.object({ subscriptionId: z.string().min(1).max(100).openapi({ example: 'sub_4f1c2a9e0b7d6c5e3a21' }) });

const SubscriptionInput = z
  .object({
    url: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .max(2000)
      .openapi({ description: 'Where deliveries are POSTed.', example: 'https://erp.example.vn/oms-events' }),
    channel: z.enum(CHANNELS).optional().openapi({ description: "Only the events of this channel's orders." }),
    from: z
      .enum(['now', 'start'])
      .default('now')
      .openapi({ description: '`now`: events from now on (the default); `start`: the whole feed first.' }),
  })
  .strict()
  .openapi('SubscriptionInput', { example: { url: 'https://erp.example.vn/oms-events', from: 'now' } });

const SubscriptionView = z
  .object({
    subscriptionId: z.string(),
    url: z.string(),
    channel: z.string().nullable(),
    position: z.string().openapi({ description: 'The last feed position the subscriber took (answered 2xx).' }),
    createdAt: z.string(),
    attempts: z.number().int().openapi({ description: 'Failed deliveries in a row; 0 when the last one went through.' }),
    nextAttemptAt: z.string(),
    lastError: z.string().nullable(),
    delivered: z.number().int().openapi({ description: 'Events delivered so far (deliveries again after a replay count again).' }),
    lastDeliveredAt: z.string().nullable(),
    replay: z.object({ until: z.string(), resumeAt: z.string() }).nullable().openapi({
      description:
        'A replayed range under way: events up to `until` go again, then deliveries go on after `resumeAt` (where the subscriber had been); null otherwise.',
    }),
  })
  .openapi('Subscription', {
    example: {
      subscriptionId: 'sub_4f1c2a9e0b7d6c5e3a21',
      url: 'https://erp.example.vn/oms-events',
      channel: null,
      position: '1042',
      createdAt: '2026-12-01T02:00:00.000Z',
      attempts: 0,
      nextAttemptAt: '2026-12-02T08:00:01.500Z',
      lastError: null,
      delivered: 1042,
      lastDeliveredAt: '2026-12-02T08:00:01.480Z',
      replay: null,
    },
  });
const Created = SubscriptionView.extend({
  secret: z.string().openapi({ description: 'Signs every delivery (`X-OMS-Signature`); shown this once only.' }),
}).openapi('SubscriptionCreated');

const view = (s: Subscription) => ({
  ...s,
  createdAt: s.createdAt.toISOString(),
  nextAttemptAt: s.nextAttemptAt.toISOString(),
  lastDeliveredAt: s.lastDeliveredAt?.toISOString() ?? null,
});

export function registerSubscriptionRoutes(app: App, subs: SubscriptionsRepo, o: { urls: 'any' | 'https' }): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/subscriptions',
      tags: ['back office'],
      summary: 'Subscribe a system (ERP, CRM, the books) to the event feed by signed webhooks',
      // In production mode the URL must be https, at a public address.
      description:
        'Deliveries are POSTs of `{subscriptionId, events: [FeedEvent…]}` (up to 100, in feed order, so in order per order), signed `X-OMS-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; a 2xx takes them, anything else is retried with backoff (1 s doubling to 5 min) with the same events. At least once: deduplicate by `eventId`.',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('admin')] as const,
      request: { body: { content: { 'application/json': { schema: SubscriptionInput } }, required: true } },
      responses: {
        201: { description: 'Subscribed; the secret is shown this once', content: { 'application/json': { schema: Created } } },
        ...pick(400, 401, 403, 413, 415),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      if (o.urls === 'https' && !body.url.startsWith('https:'))
        throw problems.validation([{ path: 'url', message: 'must be an https URL (production mode)' }]);
      // Production: a public address (names are checked again at each delivery, on the address connected to).
      const local = o.urls === 'https' ? await notPublicTarget(new URL(body.url)) : undefined;
      if (local) throw problems.validation([{ path: 'url', message: `must be a public address (production mode): ${local}` }]);
      const s = await subs.create(body);
      return c.json({ ...view(s), secret: s.secret }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/subscriptions',
      tags: ['back office'],
      summary: 'The subscribers: how far each has taken the feed, and what failed last',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('ops', 'admin')] as const,
      responses: {
        200: {
          description: 'Every subscription',
          content: { 'application/json': { schema: z.object({ items: z.array(SubscriptionView) }) } },
        },
        ...pick(401, 403),
      },
    }),
    async (c) => c.json({ items: (await subs.list()).map(view) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/subscriptions/{subscriptionId}/replay',
      tags: ['back office'],
      summary: 'Deliver a range of the feed again: the events after a position (up to another, if given), at once',
      description:
        'With `after` only, every event after it goes again and deliveries go on from there. With `until` too, the events in (`after`, `until`] go again, then deliveries go on from where the subscriber had been: nothing past `until` comes twice. An `until` at or past where the subscriber had been is the same as none.',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('ops', 'admin')] as const,
      request: {
        params: IdParam,
        body: {
          content: {
            'application/json': {
              schema: z
                .object({
                  after: Position,
                  until: Position.optional().openapi({ description: 'The last position to deliver again.' }),
                })
                .strict()
                .refine((r) => r.until === undefined || BigInt(r.until) > BigInt(r.after), {
                  path: ['until'],
                  message: 'must be after `after`',
                })
                .openapi('ReplayInput', { example: { after: '1000', until: '1042' } }),
            },
          },
          required: true,
        },
      },
      responses: {
        200: { description: 'The subscription, its position moved back', content: { 'application/json': { schema: SubscriptionView } } },
        ...pick(400, 401, 403, 404, 413, 415),
      },
    }),
    async (c) => {
      const { subscriptionId } = c.req.valid('param');
      const { after, until } = c.req.valid('json');
      const s = await subs.rewind(subscriptionId, BigInt(after), until === undefined ? undefined : BigInt(until));
      if (!s) throw problems.notFound(`No subscription ${subscriptionId}.`);
      return c.json(view(s), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/subscriptions/{subscriptionId}',
      tags: ['back office'],
      summary: 'Unsubscribe: no more deliveries',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('admin')] as const,
      request: { params: IdParam },
      responses: { 204: { description: 'Unsubscribed' }, ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      const { subscriptionId } = c.req.valid('param');
      if (!(await subs.remove(subscriptionId))) throw problems.notFound(`No subscription ${subscriptionId}.`);
      return c.body(null, 204);
    },
  );
}
