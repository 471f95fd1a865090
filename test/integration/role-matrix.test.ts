/**
 * Every documented operation × every role, over real HTTP against a real stack (Temporal,
 * PostgreSQL, sandbox): no key → 401, an unknown key → 401, a role outside the operation's
 * `x-roles` → 403, a role inside → the handler runs (neither 401 nor 403). Signed webhooks answer
 * 401 to a missing or wrong signature whatever API key comes along. Every status seen — and the
 * 400/413/415 the HTTP layer gives to bad params, oversized and non-JSON bodies — must be one the
 * document lists for that operation. Then: nothing leaks across channels.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../../activities/channels/adapters';
import { CHANNELS } from '../../domain/order';
import { DEV_CARRIER_SECRETS, DEV_CHANNEL_SECRETS } from '../../lib/config';
import { ghnWebhook, vtpWebhook } from '../support/carrier-webhooks';
import { makeOrder } from '../support/fixtures';
import { startTestStack, TEST_KEYS, uniqueSuffix, type TestStack } from '../support/harness';
import { operationsOf, PUBLIC_OPERATIONS, SIGNED_OPERATIONS, type OpenApiDocument, type Operation } from '../support/openapi';

/** The callers: no key, a key nobody issued, and one key per role (two channel keys). */
const CALLERS = {
  none: { key: undefined, role: undefined, channel: undefined },
  unknown: { key: 'not-a-key-anyone-issued', role: undefined, channel: undefined },
  'channel:web': { key: TEST_KEYS.web, role: 'channel', channel: 'web' },
  'channel:shopify': { key: TEST_KEYS.shopify, role: 'channel', channel: 'shopify' },
  cs: { key: TEST_KEYS.cs, role: 'cs', channel: undefined },
  ops: { key: TEST_KEYS.ops, role: 'ops', channel: undefined },
  admin: { key: TEST_KEYS.admin, role: 'admin', channel: undefined },
  carrier: { key: TEST_KEYS.carrier, role: 'carrier', channel: undefined },
  finance: { key: TEST_KEYS.finance, role: 'finance', channel: undefined },
} as const;
type CallerName = keyof typeof CALLERS;
const CALLER_NAMES = Object.keys(CALLERS) as CallerName[];

let stack: TestStack;
let doc: OpenApiDocument;
/** One order per channel key, for the matrix (its commands may cancel or hold them). */
const matrixOrders: Record<'web' | 'shopify', { orderId: string; customerId: string }> = {} as never;
let subscriptionId = '';

interface Problem {
  type: string;
  status: number;
  detail: string;
}
interface Page {
  items: { orderId: string; channel: string }[];
  nextCursor: string | null;
}

async function place(channel: 'web' | 'shopify', over: Parameters<typeof makeOrder>[0] = {}) {
  const order = makeOrder({ channel, sku: 'TSHIRT-M', ...over });
  order.lines.push({ sku: 'COFFEE-S', quantity: 1, unitPrice: '185000.00' });
  const res = await stack.api('/v1/orders', { method: 'POST', key: channel === 'web' ? TEST_KEYS.web : TEST_KEYS.shopify, json: order });
  expect(res.status, await res.clone().text()).toBe(201);
  const { orderId } = (await res.json()) as { orderId: string };
  return { orderId, customerId: order.customer.id, channelOrderId: order.channelOrderId, order };
}

/** A real id for each path parameter, so an admitted caller reaches the handler with something that exists. */
function pathFor(path: string, caller: CallerName): string {
  const own = CALLERS[caller].channel === 'shopify' ? matrixOrders.shopify : matrixOrders.web;
  const ids: Record<string, string> = {
    orderId: own.orderId,
    returnId: `${own.orderId}-return-1`,
    sku: 'TSHIRT-M',
    warehouseId: 'WH-HCM',
    id: 'WH-HCM',
    customerId: own.customerId,
    channel: 'web',
    carrier: 'ghn',
    file: 'swagger-ui.css',
    subscriptionId,
    invoiceKey: `${own.orderId}:capture:none`,
    code: `${own.orderId}:capture:none`,
    heldId: '987654321',
  };
  return path.replaceAll(/\{([^}]+)\}/g, (_, name: string) => {
    const v = ids[name];
    if (v === undefined) throw new Error(`${path}: no test value for path parameter {${name}}: add one to pathFor`);
    return encodeURIComponent(v);
  });
}

/** The operation's documented request example: the body every caller sends. */
function exampleBody(op: Operation): unknown {
  const media = op.requestBody?.content?.['application/json'] as
    { example?: unknown; examples?: Record<string, { value: unknown }>; schema?: { $ref?: string; example?: unknown } } | undefined;
  if (!media) return undefined;
  if (media.example !== undefined) return media.example;
  const first = media.examples && Object.values(media.examples)[0];
  if (first) return first.value;
  const ref = media.schema?.$ref?.replace('#/components/schemas/', '');
  const schema = (ref ? doc.components?.schemas?.[ref] : media.schema) as { example?: unknown } | undefined;
  if (schema?.example === undefined)
    throw new Error('a body operation without a documented example (the OpenAPI test should have caught it)');
  return schema.example;
}

function bodyFor(key: string, op: Operation, caller: CallerName): unknown {
  const body = exampleBody(op);
  // A channel key submits orders for its own channel; a fresh order number each time.
  if (key === 'POST /v1/orders' && body && typeof body === 'object') {
    return { ...body, channel: CALLERS[caller].channel ?? 'web', channelOrderId: `RM${uniqueSuffix()}` };
  }
  return body;
}

async function call(
  method: string,
  path: string,
  opts: { key?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
) {
  const headers = new Headers(opts.headers);
  if (opts.key) headers.set('Authorization', `Bearer ${opts.key}`);
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers.set('Content-Type', 'application/json');
  }
  const res = await fetch(stack.apiUrl + path, { method: method.toUpperCase(), headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text };
}

/** Every status must be documented for its operation; every error must be a problem document. */
function expectDocumented(key: string, op: Operation, what: string, r: { status: number; type: string; text: string }) {
  expect(Object.keys(op.responses), `${key} (${what}) answered ${r.status}, which is not documented: ${r.text.slice(0, 300)}`).toContain(
    String(r.status),
  );
  expect(r.status, `${key} (${what}) failed on our side: ${r.text.slice(0, 300)}`).toBeLessThan(500);
  if (r.status >= 400) expect(r.type, `${key} (${what})`).toContain('application/problem+json');
}

beforeAll(async () => {
  // The dev catalog (TSHIRT-M, COFFEE-S, WH-HCM, ...): the documented examples act on real rows.
  // Parcels stay with the warehouse (no handover): orders remain cancellable throughout.
  stack = await startTestStack({
    seed: true,
    rules: { riskVelocityPerHour: 1000 },
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
  });
  const res = await stack.api('/openapi.json');
  expect(res.status).toBe(200);
  doc = (await res.json()) as OpenApiDocument;
  matrixOrders.web = await place('web');
  matrixOrders.shopify = await place('shopify');
  // A subscriber to the event feed (nobody listens at its URL: deliveries fail, retried, harmlessly).
  const sub = await stack.api('/v1/subscriptions', {
    method: 'POST',
    key: TEST_KEYS.admin,
    json: { url: 'http://127.0.0.1:9/oms-events' },
  });
  expect(sub.status).toBe(201);
  subscriptionId = ((await sub.json()) as { subscriptionId: string }).subscriptionId;
}, 180_000);
afterAll(async () => {
  await stack?.close();
});

describe('role matrix: every documented operation × every role', () => {
  it('covers every role and a meaningful set of operations', () => {
    const ops = operationsOf(doc);
    expect(ops.length).toBeGreaterThan(20);
    const roles = new Set(ops.flatMap((o) => o.op['x-roles'] ?? []));
    // Every staff and channel role is admitted somewhere (carriers call only their signed webhook).
    expect([...roles]).toEqual(expect.arrayContaining(['admin', 'channel', 'cs', 'ops', 'finance']));
  });

  it('API-key operations: no key or an unknown key → 401, a role outside x-roles → 403, inside → the handler runs', async () => {
    const table: string[] = [];
    let admittedCalls = 0;
    for (const { key, method, path, op } of operationsOf(doc)) {
      if (PUBLIC_OPERATIONS.includes(key) || SIGNED_OPERATIONS.includes(key)) continue;
      const roles = op['x-roles'] ?? [];
      expect(roles.length, `${key} states no x-roles`).toBeGreaterThan(0);
      const row: string[] = [];
      for (const caller of CALLER_NAMES) {
        const { key: apiKey, role } = CALLERS[caller];
        const r = await call(method, pathFor(path, caller), {
          ...(apiKey ? { key: apiKey } : {}),
          ...(op.requestBody ? { body: bodyFor(key, op, caller) } : {}),
        });
        row.push(`${caller}=${r.status}`);
        if (!role) {
          expect(r.status, `${key} as ${caller}: ${r.text}`).toBe(401);
        } else if (!roles.includes(role)) {
          expect(r.status, `${key} as ${caller}: ${r.text}`).toBe(403);
          expect((JSON.parse(r.text) as Problem).detail).toContain(roles.join(', '));
        } else {
          admittedCalls++;
          expect([401, 403], `${key} as ${caller} (admitted: ${roles.join(', ')}) → ${r.status}: ${r.text}`).not.toContain(r.status);
        }
        expectDocumented(key, op, caller, r);
      }
      table.push(`${key}: ${row.join(' ')}`);
    }
    expect(admittedCalls).toBeGreaterThan(30);
    // The matrix, for whoever reads the run.
    console.info(`role matrix\n${table.join('\n')}`);
  });

  it("the HTTP layer's own answers are documented: bad path params → 400, non-JSON body → 415, oversized body → 413, malformed JSON → 400", async () => {
    let probes = 0;
    for (const { key, method, path, op } of operationsOf(doc)) {
      if (PUBLIC_OPERATIONS.includes(key) || SIGNED_OPERATIONS.includes(key)) continue;
      const role = op['x-roles']![0]!;
      const caller = CALLER_NAMES.find((c) => CALLERS[c].role === role)!;
      const apiKey = CALLERS[caller].key!;
      const body = op.requestBody ? bodyFor(key, op, caller) : undefined;
      if (path.includes('{')) {
        // One parameter at a time made invalid (too long, and not an id's characters).
        for (const name of [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!)) {
          // pathFor encodes each value already (an invoice key's colons): the value as it stands in the path.
          const bad = pathFor(path, caller).replace(pathFor(`{${name}}`, caller), encodeURIComponent(`${'x'.repeat(250)}!`));
          const r = await call(method, bad, { key: apiKey, ...(body !== undefined ? { body } : {}) });
          expect(r.status, `${key} with a bad {${name}}: ${r.text}`).toBe(400);
          expectDocumented(key, op, `bad {${name}}`, r);
          probes++;
        }
      }
      if (op.requestBody) {
        const asText = await call(method, pathFor(path, caller), {
          key: apiKey,
          raw: JSON.stringify(body),
          headers: { 'Content-Type': 'text/plain' },
        });
        expect(asText.status, `${key} with text/plain: ${asText.text}`).toBe(415);
        expectDocumented(key, op, 'text/plain', asText);
        const huge = await call(method, pathFor(path, caller), {
          key: apiKey,
          raw: JSON.stringify({ reason: 'x'.repeat(70 * 1024) }),
          headers: { 'Content-Type': 'application/json' },
        });
        expect(huge.status, `${key} oversized: ${huge.text}`).toBe(413);
        expectDocumented(key, op, 'oversized', huge);
        const malformed = await call(method, pathFor(path, caller), {
          key: apiKey,
          raw: '{"reason": ',
          headers: { 'Content-Type': 'application/json' },
        });
        expect(malformed.status, `${key} malformed JSON: ${malformed.text}`).toBe(400);
        expectDocumented(key, op, 'malformed JSON', malformed);
        probes += 3;
      }
    }
    expect(probes).toBeGreaterThan(30);
  });

  it('public operations answer every caller, key or not', async () => {
    for (const key of PUBLIC_OPERATIONS) {
      const [method, path] = key.split(' ') as [string, string];
      const op = doc.paths[path]![method.toLowerCase()]!;
      for (const caller of CALLER_NAMES) {
        const apiKey = CALLERS[caller].key;
        const r = await call(method, pathFor(path, caller), apiKey ? { key: apiKey } : {});
        expect(r.status, `${key} as ${caller}: ${r.text.slice(0, 200)}`).toBe(200);
        expectDocumented(key, op, caller, r);
      }
    }
  });

  it('signed webhooks: a missing or wrong signature → 401 whatever API key comes along; the right one gets past', async () => {
    const carrierOp = doc.paths['/v1/carriers/{carrier}/webhooks']!.post!;
    const channelOp = doc.paths['/v1/channels/{channel}/webhooks']!.post!;
    const carrierBodies: Record<string, string> = {
      ghn: JSON.stringify(ghnWebhook({ orderCode: `GHN-${uniqueSuffix()}`, status: 'delivered' })),
      vtp: JSON.stringify(vtpWebhook({ orderNumber: `VTP-${uniqueSuffix()}`, status: 501 })),
    };
    for (const caller of CALLER_NAMES) {
      const apiKey = CALLERS[caller].key;
      const auth: Record<string, string> = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
      for (const carrier of Object.keys(DEV_CARRIER_SECRETS)) {
        // GHN's secret travels in the callback URL's token, VTP's in Authorization (where an API key, if any, stands instead).
        for (const secret of [undefined, 'ab'.repeat(32), 'not-the-secret', `Bearer ${DEV_CARRIER_SECRETS[carrier]!}`]) {
          const query = carrier === 'ghn' && secret !== undefined ? `?token=${encodeURIComponent(secret)}` : '';
          const headers: Record<string, string> = {
            'Content-Type': 'application/json',
            ...auth,
            ...(carrier === 'vtp' && secret !== undefined && !apiKey ? { Authorization: secret } : {}),
          };
          const r = await call('post', `/v1/carriers/${carrier}/webhooks${query}`, { raw: carrierBodies[carrier]!, headers });
          expect(r.status, `carrier ${carrier} as ${caller}, secret ${secret ?? 'none'}: ${r.text}`).toBe(401);
          expectDocumented('POST /v1/carriers/{carrier}/webhooks', carrierOp, caller, r);
        }
      }
      for (const channel of CHANNELS) {
        const header = ADAPTERS[channel].signature.header;
        const body = JSON.stringify(exampleBody(channelOp));
        for (const signature of [undefined, 'ab'.repeat(32), createHmac('sha256', 'not-the-secret').update(body).digest('base64')]) {
          // Where the channel signs in Authorization, the API key (if any) stands in that header's place.
          const headers: Record<string, string> = {
            'Content-Type': 'application/json',
            ...auth,
            ...(signature && !(header.toLowerCase() === 'authorization' && apiKey) ? { [header]: signature } : {}),
          };
          const r = await call('post', `/v1/channels/${channel}/webhooks`, { raw: body, headers });
          expect(r.status, `channel ${channel} as ${caller}, signature ${signature ?? 'none'}: ${r.text}`).toBe(401);
          expectDocumented('POST /v1/channels/{channel}/webhooks', channelOp, caller, r);
        }
      }
    }
    // Controls: the right secret with a body that is not an event is past auth (400, not 401).
    const junk = '{}';
    const carrierOk = await call('post', `/v1/carriers/ghn/webhooks?token=${encodeURIComponent(DEV_CARRIER_SECRETS.ghn!)}`, {
      raw: junk,
      headers: { 'Content-Type': 'application/json' },
    });
    expect(carrierOk.status, carrierOk.text).toBe(400);
    const vtpOk = await call('post', '/v1/carriers/vtp/webhooks', {
      raw: junk,
      headers: { 'Content-Type': 'application/json', Authorization: DEV_CARRIER_SECRETS.vtp! },
    });
    expect(vtpOk.status, vtpOk.text).toBe(400);
    const webOk = await call('post', '/v1/channels/web/webhooks', {
      raw: junk,
      headers: {
        'Content-Type': 'application/json',
        'X-Channel-Signature': createHmac('sha256', DEV_CHANNEL_SECRETS.web!).update(junk).digest('hex'),
      },
    });
    expect(webOk.status, webOk.text).toBe(400);
  });
});

describe('nothing leaks across channels', () => {
  let web: Awaited<ReturnType<typeof place>>;
  let shopify: Awaited<ReturnType<typeof place>>;
  const shopifyKey = { key: TEST_KEYS.shopify };

  beforeAll(async () => {
    web = await place('web', {
      customer: { id: `cust-leak-${uniqueSuffix()}`, name: 'Phạm Thị Lan', email: 'lan.pham@example.vn', phone: '0933111222' },
    });
    shopify = await place('shopify');
  });

  it('a shopify key cannot read a web order, nor a web key a shopify order (404, nothing in the body)', async () => {
    const r = await call('get', `/v1/orders/${web.orderId}`, shopifyKey);
    expect(r.status).toBe(404);
    expect(r.text).not.toContain('Phạm');
    expect(r.text).not.toContain(web.channelOrderId.slice(1));
    expect((await call('get', `/v1/orders/${shopify.orderId}`, { key: TEST_KEYS.web })).status).toBe(404);
    // Controls: each reads its own, and staff read both.
    expect((await call('get', `/v1/orders/${shopify.orderId}`, shopifyKey)).status).toBe(200);
    expect((await call('get', `/v1/orders/${web.orderId}`, { key: TEST_KEYS.web })).status).toBe(200);
    expect((await call('get', `/v1/orders/${web.orderId}`, { key: TEST_KEYS.cs })).status).toBe(200);
  });

  it("a channel key's list holds its own channel's orders only, whatever the filters", async () => {
    for (const [key, own, other] of [
      [TEST_KEYS.shopify, 'shopify', web],
      [TEST_KEYS.web, 'web', shopify],
    ] as const) {
      const seen: Page['items'] = [];
      let cursor: string | null = null;
      do {
        const r = await call('get', `/v1/orders?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { key });
        expect(r.status).toBe(200);
        const page = JSON.parse(r.text) as Page;
        seen.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(
        seen.every((i) => i.channel === own),
        JSON.stringify(seen),
      ).toBe(true);
      expect(seen.map((i) => i.orderId)).not.toContain(other.orderId);
      // Filters cannot widen it: the other channel by name is refused, by its customer or order number it is empty.
      expect((await call('get', `/v1/orders?channel=${other.order.channel}`, { key })).status).toBe(403);
      for (const q of [
        `customerId=${other.customerId}`,
        `channelOrderId=${other.channelOrderId}`,
        'needsAttention=false',
        `status=RECEIVED&limit=200`,
      ]) {
        const page = JSON.parse((await call('get', `/v1/orders?${q}`, { key })).text) as Page;
        expect(
          page.items.every((i) => i.channel === own),
          `${own} ?${q}`,
        ).toBe(true);
        expect(
          page.items.map((i) => i.orderId),
          `${own} ?${q}`,
        ).not.toContain(other.orderId);
      }
    }
    // Control: the same search finds the order for its own channel and for cs.
    const found = JSON.parse((await call('get', `/v1/orders?channelOrderId=${web.channelOrderId}`, { key: TEST_KEYS.web })).text) as Page;
    expect(found.items.map((i) => i.orderId)).toEqual([web.orderId]);
    const byCs = JSON.parse((await call('get', `/v1/orders?channelOrderId=${web.channelOrderId}`, { key: TEST_KEYS.cs })).text) as Page;
    expect(byCs.items.map((i) => i.orderId)).toEqual([web.orderId]);
  });

  it("a channel key cannot search by phone or e-mail, nor read a customer's history (403)", async () => {
    expect((await call('get', `/v1/orders?phone=${encodeURIComponent('0933111222')}`, shopifyKey)).status).toBe(403);
    expect((await call('get', `/v1/orders?email=${encodeURIComponent('lan.pham@example.vn')}`, shopifyKey)).status).toBe(403);
    expect((await call('get', `/v1/customers/${web.customerId}/orders`, shopifyKey)).status).toBe(403);
  });

  it('a shopify key cannot cancel, partly cancel, return, or submit a web order, and the order is untouched', async () => {
    expect(
      (await call('post', `/v1/orders/${web.orderId}/cancel`, { ...shopifyKey, body: { reason: 'not yours to cancel' } })).status,
    ).toBe(404);
    expect(
      (
        await call('post', `/v1/orders/${web.orderId}/cancel`, {
          ...shopifyKey,
          body: { reason: 'not yours either', lines: [{ lineNo: 1, quantity: 1 }] },
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await call('post', `/v1/orders/${web.orderId}/returns`, {
          ...shopifyKey,
          body: { lines: [{ lineNo: 1, quantity: 1 }], reason: 'not yours' },
        })
      ).status,
    ).toBe(403);
    const forged = { ...makeOrder({ channel: 'web', sku: 'TSHIRT-M' }) };
    const submit = await call('post', '/v1/orders', { ...shopifyKey, body: forged });
    expect(submit.status).toBe(403);
    expect((await call('get', `/v1/orders/order-web-${forged.channelOrderId}`, { key: TEST_KEYS.cs })).status).toBe(404);

    const detail = JSON.parse((await call('get', `/v1/orders/${web.orderId}`, { key: TEST_KEYS.cs })).text) as {
      status: string;
      cancelledLines: unknown[];
      timeline: { event: string; actor: string }[];
    };
    expect(['CANCELLING', 'CANCELLED']).not.toContain(detail.status);
    expect(detail.cancelledLines).toEqual([]);
    expect(detail.timeline.filter((t) => t.actor.startsWith('channel:shopify'))).toEqual([]);
    // Control: the order's own channel may cancel it.
    const own = await call('post', `/v1/orders/${web.orderId}/cancel`, {
      key: TEST_KEYS.web,
      body: { reason: 'customer changed their mind' },
    });
    expect(own.status, own.text).toBe(200);
  });
});
