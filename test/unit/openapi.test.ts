/**
 * The OpenAPI document is complete: every route the real app serves (Hono's `app.routes` of the app
 * `createApp` builds) is documented, and every operation has a summary, its auth (API-key roles in
 * `x-roles`, or the signature header of a signed webhook), a response for each status the HTTP layer
 * can answer with, a request schema where it takes a body, and an example. The role-matrix
 * integration test then proves the documented statuses and roles against a running stack.
 */
import { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../../api/auth';
import { createApp } from '../../api/create-app';
import { createApiMetrics } from '../../api/metrics';
import { createSql, type Sql } from '../../db/client';
import { DEFAULT_ORDER_SETTINGS } from '../../domain/settings';
import { WorkflowStartRelay } from '../../intake/workflow-starts';
import { createLogger } from '../../lib/logger';
import { gapsOf, hasExample, operationsOf, type OpenApiDocument, type Operation } from '../support/openapi';

let sql: Sql;
let app: ReturnType<typeof createApp>;
let doc: OpenApiDocument;

beforeAll(async () => {
  // The real app with real (lazy) clients: nothing here connects, only routing and the document are exercised.
  sql = createSql('postgres://oms:unused@127.0.0.1:9/unused', { max: 1 });
  const client = new Client();
  const logger = createLogger({ write: () => undefined });
  app = createApp({
    keys: new KeyStore([]),
    logger,
    metrics: createApiMetrics(),
    bodyLimitBytes: 1024,
    health: { postgres: () => Promise.resolve(), temporal: () => Promise.resolve() },
    client,
    sql,
    starts: new WorkflowStartRelay({ sql, client, logger }),
    taskQueue: 'openapi-test',
    orderSettings: DEFAULT_ORDER_SETTINGS,
    carrierSecrets: {},
    returnWindows: { default: 0 },
  });
  const res = await app.request('/openapi.json');
  expect(res.status).toBe(200);
  doc = (await res.json()) as OpenApiDocument;
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
});

describe('OpenAPI document', () => {
  it('documents every route the app serves, and nothing it does not serve', () => {
    const served = new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`));
    const documented = new Set(operationsOf(doc).map((o) => `${o.method.toUpperCase()} ${o.path.replaceAll(/\{([^}]+)\}/g, ':$1')}`));
    expect(served.size).toBeGreaterThan(20);
    expect(
      [...served].filter((r) => !documented.has(r)),
      'served but missing from /openapi.json',
    ).toEqual([]);
    expect(
      [...documented].filter((r) => !served.has(r)),
      'documented but not served',
    ).toEqual([]);
  });

  it('gives every operation a summary, its auth, every status, a request schema and an example', () => {
    const found: Record<string, string[]> = {};
    for (const { key, method, path, op } of operationsOf(doc)) {
      const gaps = gapsOf(doc, method, path, op);
      if (gaps.length) found[key] = gaps;
    }
    expect(found).toEqual({});
  });

  it("states each protected operation's roles as enforced by its requireRoles middleware", () => {
    const roles = Object.fromEntries(
      operationsOf(doc)
        .filter((o) => o.op['x-roles'])
        .map((o) => [o.key, o.op['x-roles']]),
    );
    // A sample pinned by hand, so a change of roles shows up here as well as in the role matrix.
    expect(roles).toMatchObject({
      'POST /v1/orders': ['channel'],
      'GET /v1/orders/{orderId}': ['cs', 'ops', 'channel'],
      'POST /v1/orders/{orderId}/retry': ['ops'],
      'PUT /v1/inventory/{sku}/{warehouseId}': ['admin'],
      'GET /v1/customers/{customerId}/orders': ['cs', 'ops'],
    });
    expect(doc.paths['/v1/orders/{orderId}/retry']!.post!.description).toContain('Roles: `ops`.');
  });

  it('the checker finds gaps in a deficient operation (it is not vacuous)', () => {
    const bare: Operation = {
      responses: { 200: { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } } },
      requestBody: { content: { 'application/json': {} } },
    };
    expect(gapsOf(doc, 'post', '/v1/things/{id}', { ...bare, parameters: [{ in: 'path', name: 'id' }] })).toEqual([
      'has no summary',
      'is protected but documents no apiKey security',
      'is protected but states no x-roles (requireRoles middleware)',
      'is protected but documents no 401 response',
      'is protected but documents no 403 response',
      'takes a body but documents no request schema',
      'takes a body but documents no 400 response',
      'takes a body but documents no 413 response',
      'takes a JSON body but documents no 415 response',
      'takes id, which are validated, but documents no 400 response',
      'has no example in its request or responses',
    ]);
    expect(
      gapsOf(doc, 'post', '/v1/carriers/{carrier}/webhooks', {
        summary: 'x',
        security: [{ apiKey: [] }],
        responses: { 200: { description: 'ok' } },
      }),
    ).toEqual(expect.arrayContaining(['is public or signed, yet documents an API key', 'is signed but documents no signature header']));
    // An example behind a $ref counts; a property that happens to be named "example" does not.
    const withRef: OpenApiDocument = {
      paths: {},
      components: {
        schemas: { A: { type: 'object', example: { a: 1 } }, B: { type: 'object', properties: { example: { type: 'string' } } } },
      },
    };
    expect(hasExample(withRef, { schema: { $ref: '#/components/schemas/A' } })).toBe(true);
    expect(hasExample(withRef, { schema: { $ref: '#/components/schemas/B' } })).toBe(false);
  });
});
