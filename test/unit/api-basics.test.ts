/**
 * The HTTP layer's contract (auth, problem documents, limits) over the real Hono app. The health
 * checks here are plain functions on purpose: what is under test is the HTTP layer, not the
 * services (the stack test proves readiness against real Temporal and PostgreSQL).
 */
import { describe, expect, it } from 'vitest';
import { createRoute, z } from '@hono/zod-openapi';
import { createBaseApp, addDocs } from '../../api/app';
import { KeyStore, requireRoles } from '../../api/auth';
import { createApiMetrics } from '../../api/metrics';
import { createLogger } from '../../lib/logger';

function buildApp(opts: { failing?: boolean } = {}) {
  const logs: string[] = [];
  const app = createBaseApp({
    keys: new KeyStore([
      { role: 'ops', key: 'ops-key-123' },
      { role: 'channel', channel: 'web', key: 'web-key-123' },
    ]),
    logger: createLogger({ write: (l) => logs.push(l) }),
    metrics: createApiMetrics(),
    bodyLimitBytes: 1024,
    health: {
      postgres: () => (opts.failing ? Promise.reject(new Error('connection refused')) : Promise.resolve()),
      temporal: () => Promise.resolve(),
    },
  });
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/echo',
      middleware: [requireRoles('ops')] as const,
      request: {
        body: {
          content: {
            'application/json': {
              schema: z.object({ name: z.string().min(1), items: z.array(z.object({ qty: z.number().int().positive() })) }),
            },
          },
          required: true,
        },
      },
      responses: { 200: { description: 'ok', content: { 'application/json': { schema: z.object({ name: z.string() }) } } } },
    }),
    (c) => c.json({ name: c.req.valid('json').name }, 200),
  );
  app.get('/v1/boom', () => {
    throw new Error('secret internals at /srv/app.ts:12');
  });
  // What postgres.js throws for a pooled connection the database dropped (a restart).
  app.get('/v1/db-gone', () => {
    throw Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:5432'), { code: 'CONNECTION_CLOSED' });
  });
  addDocs(app);
  return { app, logs };
}

const post = (app: ReturnType<typeof buildApp>['app'], body: string, key?: string) =>
  app.request('/v1/echo', {
    method: 'POST',
    body,
    headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
  });

describe('API basics', () => {
  it('a database connection lost mid-request is a 503 to send again (Retry-After), not a 500', async () => {
    const { app } = buildApp();
    const res = await app.request('/v1/db-gone');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const body = (await res.json()) as { status: number; detail: string };
    expect(body.status).toBe(503);
    expect(body.detail).toMatch(/send the request again/i);
    expect((await app.request('/v1/boom')).status).toBe(500);
  });

  it('answers /healthz and /readyz, and 503 when a dependency fails', async () => {
    const { app } = buildApp();
    expect((await app.request('/healthz')).status).toBe(200);
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(200);
    const { app: failing } = buildApp({ failing: true });
    const notReady = await failing.request('/readyz');
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({
      status: 'not-ready',
      checks: { postgres: expect.stringContaining('failing') as string, temporal: 'ok' },
    });
  });

  it('401 without a key and with an unknown key; 403 with the wrong role', async () => {
    const { app } = buildApp();
    const none = await post(app, '{"name":"a","items":[]}');
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toContain('application/problem+json');
    expect(((await none.json()) as { type: string }).type).toMatch(/unauthorized$/);
    expect((await post(app, '{"name":"a","items":[]}', 'not-a-key')).status).toBe(401);
    const wrongRole = await post(app, '{"name":"a","items":[]}', 'web-key-123');
    expect(wrongRole.status).toBe(403);
    expect(((await wrongRole.json()) as { type: string }).type).toMatch(/forbidden$/);
    expect((await post(app, '{"name":"a","items":[]}', 'ops-key-123')).status).toBe(200);
  });

  it('malformed JSON → 400 problem; invalid fields → 400 listing the field paths', async () => {
    const { app } = buildApp();
    const malformed = await post(app, '{"name": "a",', 'ops-key-123');
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('content-type')).toContain('application/problem+json');
    expect(((await malformed.json()) as { type: string }).type).toMatch(/malformed-json$/);
    const invalid = await post(app, '{"name":"","items":[{"qty":0}]}', 'ops-key-123');
    expect(invalid.status).toBe(400);
    const problem = (await invalid.json()) as { type: string; errors: { path: string }[] };
    expect(problem.type).toMatch(/validation-error$/);
    expect(problem.errors.map((e) => e.path).sort()).toEqual(['items.0.qty', 'name']);
  });

  it('oversized body → 413 problem', async () => {
    const { app } = buildApp();
    const res = await post(app, JSON.stringify({ name: 'x'.repeat(5000), items: [] }), 'ops-key-123');
    expect(res.status).toBe(413);
    expect(((await res.json()) as { type: string }).type).toMatch(/payload-too-large$/);
  });

  it('unknown route → 404 problem; an internal error → 500 without internals', async () => {
    const { app, logs } = buildApp();
    const missing = await app.request('/v1/nothing-here', { headers: { Authorization: 'Bearer ops-key-123' } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    const boom = await app.request('/v1/boom', { headers: { Authorization: 'Bearer ops-key-123' } });
    expect(boom.status).toBe(500);
    const text = await boom.text();
    expect(text).not.toContain('/srv/app.ts');
    expect(logs.some((l) => l.includes('unhandled error'))).toBe(true);
  });

  it('serves the OpenAPI document, the docs page and Prometheus metrics by route', async () => {
    const { app } = buildApp();
    await post(app, '{"name":"a","items":[]}', 'ops-key-123');
    const doc = (await (await app.request('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/v1/echo']));
    expect(doc.components.securitySchemes.apiKey).toBeDefined();
    const docs = await app.request('/docs');
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('/docs/assets/swagger-ui-bundle.js');
    expect(await (await app.request('/docs/assets/init.js')).text()).toContain("url: '/openapi.json'");
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/oms_http_requests_total\{method="POST",route="\/v1\/echo",status="200"\} 1/);
  });
});
