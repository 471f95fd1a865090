/**
 * The HTTP API. `createApp(deps)` wires routes to injected dependencies (no module-level
 * clients), so tests build the same app against the real Temporal and PostgreSQL they started.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { except } from 'hono/combine';
import { HTTPException } from 'hono/http-exception';
import { routePath } from 'hono/route';
import { randomUUID } from 'node:crypto';
import type { Role } from '../lib/config';
import type { Logger } from '../lib/logger';
import { authenticate, rolesOf, type AuthEnv, type KeyStore } from './auth';
import { DOCS_ASSETS, docsAsset, docsPage } from './docs-page';
import { pick } from './schemas';
import { fieldErrors, ProblemError, problemResponse, problems, temporalUnreachable } from './errors';
import type { ApiMetrics } from './metrics';
import { registerHealthRoutes, type HealthChecks } from './routes/health';
import { unstorableText } from './storable-text';

export interface AppDeps {
  keys: KeyStore;
  logger: Logger;
  metrics: ApiMetrics;
  health: HealthChecks;
  bodyLimitBytes: number;
}

export type App = OpenAPIHono<AuthEnv>;

const ORDER_PATH = /^\/v1\/orders\/([^/]+)/;
/** Probes and scrapes: logged at debug only. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Route modules add themselves to the app; each declares its OpenAPI contract. */
export type RouteModule<D> = (app: App, deps: D) => void;

export function createBaseApp(deps: AppDeps): App {
  const app = new OpenAPIHono<AuthEnv>({
    // Every zod failure (body, query, params) becomes one problem document with field paths.
    defaultHook: (result) => {
      if (!result.success) throw problems.validation(fieldErrors(result.error));
      const unstorable = unstorableText(result.data);
      if (unstorable) throw problems.validation([unstorable]);
    },
  });

  app.use('*', async (c, next) => {
    c.set('requestId', c.req.header('x-request-id')?.slice(0, 64) || randomUUID());
    c.header('X-Request-Id', c.get('requestId'));
    await next();
  });
  // One structured line per request: the route pattern (never the query string, which may hold a
  // phone number), status and duration, keyed by the order (= workflow id) it concerns.
  app.use('*', accessLog(deps.logger));
  app.use('*', deps.metrics.middleware);
  app.use(
    '*',
    bodyLimit({
      maxSize: deps.bodyLimitBytes,
      onError: () => {
        throw problems.tooLarge(deps.bodyLimitBytes);
      },
    }),
  );
  // Channel and carrier webhooks authenticate the sender their own way, and some (Shopee, Lazada,
  // TikTok Shop, Viettel Post) put their signature or secret in Authorization: not an API key.
  app.use('/v1/*', except(['/v1/channels/:channel/webhooks', '/v1/carriers/:carrier/webhooks'], authenticate(deps.keys)));

  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key: `Authorization: Bearer <key>`. Its role decides what it may do.',
  });
  registerHealthRoutes(app, deps.health, deps.metrics);

  app.notFound(() => {
    throw problems.notFound('No route matches this method and path.');
  });
  app.onError((err, c) => {
    if (err instanceof ProblemError) return problemResponse(c, err);
    if (err instanceof HTTPException) {
      if (err.status === 400 && /json/i.test(err.message)) return problemResponse(c, problems.malformedJson());
      if (err.status === 413) return problemResponse(c, problems.tooLarge(deps.bodyLimitBytes));
      if (err.status === 415) return problemResponse(c, problems.unsupportedMediaType());
      return problemResponse(c, new ProblemError(err.status, 'http-error', 'Request failed', err.message || 'Request failed.'));
    }
    // Temporal unreachable or not answering in time: the request may be sent again (with its Idempotency-Key).
    if (temporalUnreachable(err)) {
      deps.logger.warn('Temporal did not answer', { requestId: c.get('requestId'), route: c.req.path, error: err.message });
      const res = problemResponse(
        c,
        problems.unavailable(
          'The workflow service did not answer in time. Send the request again (with the same Idempotency-Key) shortly.',
        ),
      );
      res.headers.set('Retry-After', '5');
      return res;
    }
    if (databaseConnectionLost(err)) {
      // A pooled connection the database dropped (a restart): nothing of the request was committed.
      deps.logger.warn('database connection lost', { requestId: c.get('requestId'), route: c.req.path, error: (err as Error).message });
      const res = problemResponse(c, problems.unavailable('The database connection was lost. Send the request again shortly.'));
      res.headers.set('Retry-After', '1');
      return res;
    }
    deps.logger.error('unhandled error', { requestId: c.get('requestId'), route: c.req.path, error: err });
    return problemResponse(c, problems.internal());
  });
  return app;
}

function accessLog(logger: Logger): MiddlewareHandler {
  return async (c, next) => {
    const start = performance.now();
    await next();
    const orderId = ORDER_PATH.exec(c.req.path)?.[1];
    const route = routePath(c, -1);
    const line = {
      requestId: c.res.headers.get('X-Request-Id'),
      method: c.req.method,
      route: route === '*' || route === '/*' ? 'unmatched' : route,
      status: c.res.status,
      ms: Math.round(performance.now() - start),
      ...(orderId ? { orderId, workflowId: orderId } : {}),
    };
    if (QUIET_PATHS.has(c.req.path)) logger.debug('http request', line);
    else logger.info('http request', line);
  };
}

/**
 * Serves the OpenAPI document and interactive docs; call after every route is registered.
 * Each operation's roles are read from its `requireRoles` middleware and stated as `x-roles`
 * (and in its description), so the document cannot drift from what is enforced.
 */
export function addDocs(app: App): void {
  documentRoles(app);
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Durable OMS API',
      version: '1',
      description:
        'Order management on durable execution: each order is one Temporal workflow. Errors are application/problem+json. ' +
        'Each operation lists the API-key roles it admits in `x-roles`; another role gets 403, no key 401.',
    },
    security: [],
  });
  app.get('/docs', docsPage);
  app.openapi(
    createRoute({
      method: 'get',
      path: '/docs/assets/{file}',
      tags: ['docs'],
      summary: "The docs page's scripts and styles, from the installed swagger-ui-dist package (no CDN)",
      request: { params: z.object({ file: z.enum([...DOCS_ASSETS, 'init.js']).openapi({ example: 'swagger-ui.css' }) }) },
      responses: {
        200: {
          description: 'The file, under the same Content-Security-Policy as the page',
          content: {
            'text/javascript': { schema: z.string().openapi({ example: 'window.ui = SwaggerUIBundle({ url: "/openapi.json" })' }) },
            'text/css': { schema: z.string().openapi({ example: '.swagger-ui { }' }) },
            'image/png': { schema: z.string().openapi({ format: 'binary' }) },
          },
        },
        ...pick(400),
      },
    }),
    (c) => docsAsset(c, c.req.valid('param').file) as never,
  );
  // The two routes above are plain handlers: documented here so the document covers every route.
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/openapi.json',
    tags: ['docs'],
    summary: "This API's OpenAPI 3.1 document",
    responses: {
      200: {
        description: 'The OpenAPI document',
        content: {
          'application/json': {
            schema: z
              .record(z.string(), z.unknown())
              .openapi({ example: { openapi: '3.1.0', info: { title: 'Durable OMS API', version: '1' }, paths: {} } }),
          },
        },
      },
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/docs',
    tags: ['docs'],
    summary: 'Interactive API reference (HTML) over /openapi.json, self-contained (no CDN) under a Content-Security-Policy',
    responses: {
      200: {
        description: 'An HTML page',
        content: { 'text/html': { schema: z.string().openapi({ example: '<!doctype html><html>…</html>' }) } },
      },
    },
  });
}

/** Hono's `:param` form of an OpenAPI `{param}` path. */
const honoPath = (path: string) => path.replaceAll(/\{([^}]+)\}/g, ':$1');

/** Copies the roles of each route's `requireRoles` middleware into its operation (`x-roles`). */
function documentRoles(app: App): void {
  const roles = new Map<string, readonly Role[]>();
  for (const r of app.routes) {
    const admitted = rolesOf(r.handler);
    if (!admitted) continue;
    const key = `${r.method} ${r.path}`;
    const before = roles.get(key);
    // Two gates on one route: a caller must pass both.
    roles.set(key, before ? before.filter((x) => admitted.includes(x)) : admitted);
  }
  for (const d of app.openAPIRegistry.definitions) {
    if (d.type !== 'route') continue;
    const admitted = roles.get(`${d.route.method.toUpperCase()} ${honoPath(d.route.path)}`);
    if (!admitted) continue;
    const line = `Roles: ${admitted.map((r) => `\`${r}\``).join(', ')}.`;
    Object.assign(d.route, { 'x-roles': [...admitted], description: d.route.description ? `${d.route.description}\n\n${line}` : line });
  }
}

/**
 * postgres.js's own codes for a connection that went away, the socket's, and PostgreSQL's
 * shutdown / not-yet-accepting states: the request may be sent again.
 */
function databaseConnectionLost(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    [
      'CONNECTION_CLOSED',
      'CONNECTION_ENDED',
      'CONNECTION_DESTROYED',
      'ECONNRESET',
      'ECONNREFUSED',
      'EPIPE',
      '57P01',
      '57P02',
      '57P03',
    ].includes(code)
  );
}
