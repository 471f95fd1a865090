/**
 * Property-based tests (fast-check, fixed seeds, bounded runs) of the two ways an order gets in,
 * over real HTTP against a real stack: `POST /v1/orders` and the signed channel webhooks.
 * Bodies are arbitrary JSON-ish values, or a valid payload with one field mutated (wrong type,
 * 2^53+1, huge or negative numbers, unicode, NUL and lone surrogates, empty strings, deep
 * nesting, strings up to and past the body limit, extra keys). Webhooks are signed correctly,
 * so the payload parser is reached.
 *
 * Properties: never a 5xx; every 4xx is an `application/problem+json` document with a `type`;
 * `POST /v1/orders` answers 2xx exactly when the canonical schema accepts the body (and it is
 * the key's channel); and a refused request never leaves an order row or a started workflow.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_CHANNEL_ACCOUNTS } from '../../activities/channels/adapters';
import { unstorableText } from '../../api/storable-text';
import { hmacBase64, hmacHex } from '../../activities/channels/adapters/common';
import { CanonicalOrderSchema, type Channel } from '../../domain/order';
import { DEV_CARRIER_SECRETS, DEV_CHANNEL_SECRETS } from '../../lib/config';
import { startTestStack, TEST_KEYS, uniqueSuffix, type TestStack } from '../support/harness';
import { isOrderWorkflowType } from '../../workflows/types';

/** The harness's API body limit (startTestStack). */
const BODY_LIMIT = 64 * 1024;
const SEED = 20261201;

let stack: TestStack;
/** Workflow ids the API said it took in (2xx): the only ones allowed to exist. */
const accepted = new Set<string>();
/** Order ids of requests the API refused: none may have a row or a workflow. */
const refused = new Set<string>();
const counts = { requests: 0, byStatus: {} as Record<number, number> };
const accept = (workflowId: string) => {
  accepted.add(workflowId);
  refused.delete(workflowId.replace(/^intake-/, 'order-'));
};

beforeAll(async () => {
  stack = await startTestStack({ seed: true, stockSync: false, sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } } });
});
afterAll(async () => {
  // What the API logged for any 5xx: the first place to look when a property fails.
  const unhandled = stack?.logs.filter((l) => l.includes('unhandled error')) ?? [];
  for (const l of unhandled.slice(0, 5)) process.stdout.write(`[fuzz] API log: ${l.slice(0, 1500)}\n`);
  await stack?.close();
});

// ---------------------------------------------------------------------------------------------
// Hostile values and mutations

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A number JSON.stringify cannot write (2^53+1 and friends): spliced into the text as written. */
const RAW = (text: string) => `__raw_number_${text}__`;
const unraw = (text: string) => text.replace(/"__raw_number_([-0-9.eE+]+)__"/g, '$1');

const nest = (depth: number): Json => {
  let v: Json = 'x';
  for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
  return v;
};

const codeUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n)), maxLength: 12 });
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    false,
    '',
    '   ',
    '\t\n',
    0,
    -1,
    -0.5,
    1.5,
    1e308,
    -1e308,
    5e-324,
    1e21,
    2 ** 53,
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_SAFE_INTEGER,
    RAW('9007199254740993'),
    RAW('1e400'),
    RAW('-1e400'),
    RAW('123456789012345678901234567890'),
    10_001,
    10_000,
    2 ** 31,
    -(2 ** 31),
  ),
  fc.constantFrom<Json>(
    '9999999999999.99',
    '99999999999999.99',
    '0.001',
    '-1.00',
    '1e5',
    '0x10',
    'Infinity',
    'NaN',
    '١٢٣',
    '00000000000001.00',
  ),
  fc.constantFrom<Json>(
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udc00y',
    '\u202eevil',
    '\u200b',
    '🛒🇻🇳',
    'Nguyễn Văn An',
    'Z͑ͫ̓ͪ̂ͫ̽͏̴̙̤̞͉͚̯̞̠͍',
    '<script>alert(1)</script>',
    "'; drop table orders; --",
    '../../etc/passwd',
    '%00',
    '\\u0000',
    '{"$ne":null}',
    '__proto__',
  ),
  fc.constantFrom<Json>(
    { __proto__: null, constructor: { prototype: { polluted: true } } } as unknown as Json,
    { toString: 1 },
    [],
    {},
    [[]],
    [null],
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  codeUnits,
  // Strings up to (and past) the body limit.
  fc.integer({ min: 1_000, max: BODY_LIMIT + 2_000 }).map((n) => 'é'.repeat(Math.floor(n / 2))),
  fc.integer({ min: 8, max: 3_000 }).map(nest),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

/** Every path in a JSON value (objects and arrays), the root included. */
function pathsOf(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...pathsOf(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...prefix, k]));
  return out;
}

type Mutation = { kind: 'replace'; value: Json } | { kind: 'delete' } | { kind: 'extraKey'; key: string; value: Json } | { kind: 'wrap' };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: hostileValue.map((value) => ({ kind: 'replace' as const, value })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'delete' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('extraKey' as const),
      key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', '')),
      value: hostileValue,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'wrap' as const }) },
);

/** The document with `m` applied at `path` (the root can be replaced or wrapped, not deleted). */
function mutate(doc: Json, path: (string | number)[], m: Mutation): Json {
  const copy = structuredClone(doc);
  if (path.length === 0) return m.kind === 'replace' ? m.value : m.kind === 'wrap' ? [copy] : copy;
  let parent = copy as Record<string | number, Json>;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  const target = parent[last]!;
  if (m.kind === 'replace') parent[last] = m.value;
  else if (m.kind === 'wrap') parent[last] = [target];
  else if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else if (target && typeof target === 'object' && !Array.isArray(target))
    Object.defineProperty(target, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
  else parent[last] = { [m.key]: m.value, value: target };
  return copy;
}

/** Arbitrary request bodies that need not be JSON at all. */
const anyBody = fc.record({
  text: fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    hostileValue.map((v) => unraw(JSON.stringify(v))),
    fc.string({ maxLength: 200 }),
    codeUnits,
    fc.constantFrom(
      '',
      '{',
      '{"a":',
      '[1,2',
      'null',
      '{"channel":"web","channel":"pos"}',
      '\u0000',
      '{"a":"\\ud800"}',
      '{"a":"\\u0000"}',
      '{}'.repeat(40_000),
      // Nested 30,000 deep, just under the body limit.
      `${'['.repeat(30_000)}"\\u0000"${']'.repeat(30_000)}`,
      `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
    ),
  ),
  contentType: fc.constantFrom<string | undefined>(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/x-www-form-urlencoded',
    undefined,
  ),
});

// ---------------------------------------------------------------------------------------------
// Sending and checking

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

async function send(path: string, text: string, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(stack.apiUrl + path, { method: 'POST', headers, body: text });
  const body = await res.text();
  counts.requests += 1;
  counts.byStatus[res.status] = (counts.byStatus[res.status] ?? 0) + 1;
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body };
}

/** Never 5xx; a 4xx is a problem document with a type. */
function expectNoServerErrorAndProblems(a: Answer, what: string): void {
  expect(a.status, `${what} → ${a.status}: ${a.body.slice(0, 300)}`).toBeLessThan(500);
  if (a.status >= 400) {
    expect(a.contentType, `${what} → ${a.status}`).toMatch(/^application\/problem\+json/);
    const p = JSON.parse(a.body) as { type?: unknown; status?: unknown };
    expect(typeof p.type === 'string' && p.type.length > 0, `${what}: problem without a type: ${a.body.slice(0, 200)}`).toBe(true);
    expect(p.status).toBe(a.status);
  }
}

/** Accepted means the workflow runs, or its start is durably asked for (the relay starts it; intake never waits on Temporal). */
async function workflowOrStartAsked(id: string): Promise<boolean> {
  return (await startAsked(id)) || (await workflowExists(id));
}

async function startAsked(id: string): Promise<boolean> {
  return (await stack.db.sql`select 1 from workflow_starts where workflow_id = ${id}`).length > 0;
}

async function workflowExists(id: string): Promise<boolean> {
  try {
    await stack.client.workflow.getHandle(id).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** After a refusal: no order row, no order workflow, no intake workflow for any id the body named. */
async function expectNothingStarted(channel: string, ids: string[], what: string): Promise<void> {
  for (const id of ids) {
    const orderId = `order-${channel}-${id}`;
    // A constant hostile value (`0x10`) can be a valid order number another case got accepted.
    if (accepted.has(orderId) || accepted.has(`intake-${channel}-${id}`)) continue;
    refused.add(orderId);
    const rows = await stack.db.sql`select 1 from orders where order_id = ${orderId}`;
    expect(rows.length, `${what}: an order row for refused ${orderId}`).toBe(0);
    expect(await workflowOrStartAsked(orderId), `${what}: a workflow for refused ${orderId}`).toBe(false);
    expect(await workflowOrStartAsked(`intake-${channel}-${id}`), `${what}: an intake workflow for refused ${orderId}`).toBe(false);
  }
}

/** Strings a body may use as its order id, wherever the channel keeps it. */
function idsIn(v: unknown, keys: string[]): string[] {
  const out: string[] = [];
  const walk = (x: unknown, depth: number) => {
    if (depth > 6 || !x || typeof x !== 'object') return;
    for (const [k, val] of Object.entries(x)) {
      if (keys.includes(k) && (typeof val === 'string' || typeof val === 'number') && /^[A-Za-z0-9._-]{1,64}$/.test(String(val)))
        out.push(String(val));
      walk(val, depth + 1);
    }
  };
  walk(v, 0);
  return out;
}

const tryParse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
const fixture = (path: string): Json => JSON.parse(readFileSync(new URL(`../fixtures/channels/${path}`, import.meta.url), 'utf8')) as Json;

// ---------------------------------------------------------------------------------------------
// POST /v1/orders

/** A valid web order for the dev catalog, with a fresh order number. */
function validOrder(): Json {
  return {
    channel: 'web',
    channelOrderId: `PB${uniqueSuffix()}`,
    currency: 'VND',
    customer: { id: 'cust-prop-1', name: 'Nguyễn Văn An', email: 'an@example.vn', phone: '0901234567' },
    shippingAddress: {
      name: 'Nguyễn Văn An',
      line1: '12 Lê Lợi',
      ward: 'Bến Nghé',
      district: 'Quận 1',
      city: 'Hồ Chí Minh',
      country: 'VN',
      lat: 10.77,
      lng: 106.7,
    },
    lines: [
      { sku: 'TSHIRT-M', quantity: 2, unitPrice: '149000.00' },
      { sku: 'COFFEE-S', quantity: 1, unitPrice: '185000.00' },
    ],
    shippingFee: '30000.00',
    discount: '0.00',
    total: '513000.00',
    payment: { method: 'prepaid', token: 'tok_visa', provider: 'sandbox' },
    placedAt: '2026-11-21T10:00:00+07:00',
  };
}
const ORDER_PATHS = pathsOf(validOrder());

const postOrder = (text: string, contentType: string | undefined = 'application/json') =>
  send('/v1/orders', text, { Authorization: `Bearer ${TEST_KEYS.web}`, ...(contentType ? { 'Content-Type': contentType } : {}) });

/**
 * What `POST /v1/orders` must answer for this text: judged by the domain's own schema, plus the
 * API's one rule on top (text PostgreSQL can store: no NUL, no lone surrogate).
 */
function expectedIntake(text: string): 'accept' | 400 | 403 | 413 {
  if (Buffer.byteLength(text) > BODY_LIMIT) return 413;
  const parsed = CanonicalOrderSchema.safeParse(tryParse(text));
  if (!parsed.success || unstorableText(parsed.data)) return 400;
  return parsed.data.channel === 'web' ? 'accept' : 403;
}

async function checkIntake(text: string, a: Answer, what: string): Promise<void> {
  expectNoServerErrorAndProblems(a, what);
  const ids = idsIn(tryParse(text), ['channelOrderId']);
  if (a.status >= 200 && a.status < 300) {
    const { orderId } = JSON.parse(a.body) as { orderId: string };
    accept(orderId);
    expect(await workflowOrStartAsked(orderId), `${what}: accepted ${orderId} has no workflow`).toBe(true);
  } else {
    await expectNothingStarted('web', ids, what);
  }
}

describe('POST /v1/orders under hostile input', () => {
  it('arbitrary bodies and content types: a 4xx problem document, never a 5xx, never a workflow', async () => {
    await fc.assert(
      fc.asyncProperty(anyBody, async ({ text, contentType }) => {
        const a = await postOrder(text, contentType);
        await checkIntake(text, a, `body ${JSON.stringify(text.slice(0, 120))} as ${contentType}`);
        expect(a.status).toBeGreaterThanOrEqual(400);
      }),
      { numRuns: 120, seed: SEED, endOnFailure: true },
    );
  }, 300_000);

  it('near-valid orders (one field mutated): 2xx exactly when the canonical schema accepts it, else 4xx; a workflow exactly for a 2xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(ORDER_PATHS.length - 1), mutation, async (pathIndex, m) => {
        const path = ORDER_PATHS[pathIndex]!;
        const text = unraw(JSON.stringify(mutate(validOrder(), path, m)));
        const what = `${m.kind} at ${path.join('.') || '(root)'}: ${text.slice(0, 200)}`;
        const a = await postOrder(text);
        await checkIntake(text, a, what);
        const expected = expectedIntake(text);
        if (expected === 'accept') expect([200, 201], `${what} → ${a.status}: ${a.body.slice(0, 300)}`).toContain(a.status);
        else expect(a.status, `${what}: ${a.body.slice(0, 300)}`).toBe(expected);
      }),
      { numRuns: 300, seed: SEED, endOnFailure: true },
    );
  }, 300_000);

  it('the unmutated order is taken in (the property above is not vacuous)', async () => {
    const text = JSON.stringify(validOrder());
    const a = await postOrder(text);
    await checkIntake(text, a, 'valid order');
    expect(a.status).toBe(201);
  });

  it('regression: amounts that each fit but add up past what an order can hold are a 400 on `lines`, not a 500', async () => {
    const order = validOrder() as Record<string, Json>;
    // In a currency with cents, so that one cent under the bound is an amount the order can carry.
    order.currency = 'USD';
    order.lines = Array.from({ length: 200 }, (_, i) => ({ sku: `SKU-${i}`, quantity: 10_000, unitPrice: '9999999999999.99' }));
    delete order.total;
    const text = JSON.stringify(order);
    const a = await postOrder(text);
    await checkIntake(text, a, 'overflowing order');
    expect(a.status).toBe(400);
    expect((JSON.parse(a.body) as { errors: { path: string }[] }).errors.map((e) => e.path)).toContain('lines');
    // Just under the bound is still an order.
    order.lines = [{ sku: 'TSHIRT-M', quantity: 1, unitPrice: '9999999969999.99' }];
    const ok = JSON.stringify(order);
    const b = await postOrder(ok);
    await checkIntake(ok, b, 'largest order');
    expect(b.status).toBe(201);
  });
});

// ---------------------------------------------------------------------------------------------
// POST /v1/channels/{channel}/webhooks, signed as each platform signs

const WEBHOOK_CHANNELS = ['web', 'pos', 'shopify', 'shopee', 'lazada', 'tiktok'] as const satisfies readonly Channel[];
/** Where each channel's payload keeps the order id (for the "nothing started" check). */
const ID_KEYS: Record<Channel, string[]> = {
  web: ['channelOrderId'],
  pos: ['channelOrderId'],
  shopify: ['id'],
  shopee: ['ordersn'],
  lazada: ['trade_order_id'],
  tiktok: ['order_id'],
};
const digits = (n: number) => Array.from({ length: n }, (_, i) => String(((parseInt(uniqueSuffix(), 16) + i) % 9) + 1)).join('');

/** A valid payload of the channel with fresh ids (a fresh order each time). */
function validPayload(channel: Channel): Json {
  switch (channel) {
    case 'web':
    case 'pos':
      return { ...(validOrder() as Record<string, Json>), channel };
    case 'shopify':
      return { ...(fixture('shopify/orders-create-prepaid.json') as Record<string, Json>), id: Number(`58${digits(11)}`) };
    case 'shopee': {
      const p = fixture('shopee/push-ready-to-ship.json') as Record<string, Json>;
      return { ...p, data: { ...(p.data as Record<string, Json>), ordersn: `2612${uniqueSuffix().toUpperCase()}` } };
    }
    case 'lazada': {
      const p = fixture('lazada/push-pending.json') as Record<string, Json>;
      return { ...p, data: { ...(p.data as Record<string, Json>), trade_order_id: digits(15) } };
    }
    case 'tiktok': {
      const p = fixture('tiktok/push-awaiting-shipment.json') as Record<string, Json>;
      return { ...p, tts_notification_id: digits(19), data: { ...(p.data as Record<string, Json>), order_id: `57${digits(16)}` } };
    }
  }
}

/** The headers the platform would send: its signature over these exact bytes. */
function signedHeaders(channel: Channel, text: string, url: string, shopifyTopic = 'orders/create'): Record<string, string> {
  const secret = DEV_CHANNEL_SECRETS[channel]!;
  const appKey = DEV_CHANNEL_ACCOUNTS[channel]!.appKey;
  const json = { 'Content-Type': 'application/json' };
  switch (channel) {
    case 'web':
    case 'pos':
      return { ...json, 'X-Channel-Signature': hmacHex(secret, text) };
    case 'shopify':
      return {
        ...json,
        'X-Shopify-Hmac-Sha256': hmacBase64(secret, text),
        'X-Shopify-Topic': shopifyTopic,
        'X-Shopify-Webhook-Id': `wh-${uniqueSuffix()}`,
      };
    case 'shopee':
      return { ...json, Authorization: hmacHex(secret, `${url}|${text}`) };
    case 'lazada':
    case 'tiktok':
      return { ...json, Authorization: hmacHex(secret, appKey + text) };
  }
}

async function postWebhook(channel: Channel, text: string, headers?: Record<string, string>): Promise<Answer> {
  const path = `/v1/channels/${channel}/webhooks`;
  return send(path, text, headers ?? signedHeaders(channel, text, stack.apiUrl + path));
}

async function checkWebhook(channel: Channel, text: string, a: Answer, what: string): Promise<void> {
  expectNoServerErrorAndProblems(a, what);
  if (a.status >= 200 && a.status < 300) {
    const r = JSON.parse(a.body) as { orderId: string; action: string; duplicate: boolean };
    if (r.action === 'intake') {
      const thin = channel === 'shopee' || channel === 'lazada' || channel === 'tiktok';
      const id = thin ? r.orderId.replace(/^order-/, 'intake-') : r.orderId;
      accept(id);
      if (a.status === 202) expect(await workflowOrStartAsked(id), `${what}: accepted ${id} has no workflow`).toBe(true);
    }
  } else {
    await expectNothingStarted(channel, idsIn(tryParse(text), ID_KEYS[channel]), what);
  }
}

describe('POST /v1/channels/{channel}/webhooks under hostile input (correctly signed)', () => {
  it('arbitrary bodies on every channel: a 4xx problem document, never a 5xx, never a workflow', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...WEBHOOK_CHANNELS), anyBody, async (channel, { text }) => {
        const a = await postWebhook(channel, text);
        await checkWebhook(channel, text, a, `${channel} body ${JSON.stringify(text.slice(0, 120))}`);
      }),
      { numRuns: 120, seed: SEED, endOnFailure: true },
    );
  }, 300_000);

  it('near-valid payloads of every channel (one field mutated): never a 5xx; a refusal starts nothing', async () => {
    const paths = Object.fromEntries(WEBHOOK_CHANNELS.map((ch) => [ch, pathsOf(validPayload(ch))])) as Record<
      Channel,
      (string | number)[][]
    >;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...WEBHOOK_CHANNELS), fc.nat(), mutation, async (channel, n, m) => {
        const path = paths[channel][n % paths[channel].length]!;
        const text = unraw(JSON.stringify(mutate(validPayload(channel), path, m)));
        const a = await postWebhook(channel, text);
        await checkWebhook(channel, text, a, `${channel}: ${m.kind} at ${path.join('.') || '(root)'}: ${text.slice(0, 200)}`);
      }),
      { numRuns: 300, seed: SEED, endOnFailure: true },
    );
  }, 300_000);

  it('unmutated payloads are taken in on every channel (the property above is not vacuous)', async () => {
    for (const channel of WEBHOOK_CHANNELS) {
      const text = JSON.stringify(validPayload(channel));
      const a = await postWebhook(channel, text);
      await checkWebhook(channel, text, a, `${channel} valid`);
      expect(a.status, `${channel}: ${a.body.slice(0, 300)}`).toBe(202);
    }
  });

  it('a missing, wrong or misplaced signature is a 401 whatever the body, and nothing is recorded', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...WEBHOOK_CHANNELS),
        fc.constantFrom('none', 'other-secret', 'other-body', 'garbage'),
        async (channel, how) => {
          const text = JSON.stringify(validPayload(channel));
          const path = `/v1/channels/${channel}/webhooks`;
          const good = signedHeaders(channel, text, stack.apiUrl + path);
          const headers: Record<string, string> =
            how === 'none'
              ? { 'Content-Type': 'application/json' }
              : how === 'other-body'
                ? signedHeaders(channel, `${text} `, stack.apiUrl + path)
                : Object.fromEntries(
                    Object.entries(good).map(([k, v]) => [
                      k,
                      /signature|hmac|authorization/i.test(k) ? (how === 'garbage' ? 'zz%' : hmacHex('not-the-secret', text)) : v,
                    ]),
                  );
          const a = await postWebhook(channel, text, headers);
          await checkWebhook(channel, text, a, `${channel} with ${how} signature`);
          expect(a.status).toBe(401);
          const [events] = await stack.db.sql<
            { n: number }[]
          >`select count(*)::int as n from channel_events where channel_order_id = any(${idsIn(JSON.parse(text), ID_KEYS[channel])})`;
          expect(events!.n).toBe(0);
        },
      ),
      { numRuns: 40, seed: SEED },
    );
  }, 120_000);
});

describe('regressions: text the database cannot store (NUL, lone surrogates) is a 400 naming the field, before anything is written or started', () => {
  const fieldOf = (a: Answer) => (JSON.parse(a.body) as { errors?: { path: string }[] }).errors?.map((e) => e.path);

  it('POST /v1/orders: in a field or a key', async () => {
    for (const [mutateIt, path] of [
      [
        (o: Record<string, Json>) => {
          (o.customer as Record<string, Json>).name = 'An\u0000';
        },
        'customer.name',
      ],
      [
        (o: Record<string, Json>) => {
          (o.shippingAddress as Record<string, Json>).line1 = '12 L\ud800 Lợi';
        },
        'shippingAddress.line1',
      ],
      [
        (o: Record<string, Json>) => {
          (o.payment as Record<string, Json>).token = '\udc00tok';
        },
        'payment.token',
      ],
    ] as const) {
      const order = validOrder() as Record<string, Json>;
      mutateIt(order);
      const text = JSON.stringify(order);
      const a = await postOrder(text);
      await checkIntake(text, a, path);
      expect(a.status, a.body).toBe(400);
      expect(fieldOf(a)).toEqual([path]);
    }
  });

  it('signed webhooks: a thin channel (raw kept with the event) and a full one (raw kept in the intake log)', async () => {
    // Was: the intake workflow started, then storing the event failed → 500 with a workflow running.
    const shopee = validPayload('shopee') as { data: Record<string, Json> };
    shopee.data.completed_scenario = '\u0000';
    const text = JSON.stringify(shopee);
    const a = await postWebhook('shopee', text);
    await checkWebhook('shopee', text, a, 'shopee NUL');
    expect(a.status, a.body).toBe(400);
    expect(fieldOf(a)).toEqual(['data.completed_scenario']);

    const shopify = validPayload('shopify') as Record<string, Json>;
    shopify.note = 'giao giờ hành chính \ud83d';
    const text2 = JSON.stringify(shopify);
    const b = await postWebhook('shopify', text2);
    await checkWebhook('shopify', text2, b, 'shopify lone surrogate');
    expect(b.status, b.body).toBe(400);
    expect(fieldOf(b)).toEqual(['note']);
  });

  it('an authenticated carrier webhook', async () => {
    // In a field the OMS keeps (the parcel's code): refused, naming it. In one it never reads: taken.
    const event = JSON.stringify({ OrderCode: 'GHN\u0000', Status: 'delivered', Type: 'switch_status', Time: '2026-11-21T03:00:00Z' });
    const carrier = await send(`/v1/carriers/ghn/webhooks?token=${encodeURIComponent(DEV_CARRIER_SECRETS.ghn!)}`, event, {
      'Content-Type': 'application/json',
    });
    expectNoServerErrorAndProblems(carrier, 'carrier NUL');
    expect(carrier.status, carrier.body).toBe(400);
    expect(fieldOf(carrier)).toEqual(['OrderCode']);
    const unused = JSON.stringify({
      DATA: { ORDER_NUMBER: `VTP${uniqueSuffix()}`, ORDER_STATUS: 501, NOTE: 'giao \u0000 lại', RECEIVER_FULLNAME: 'An \ud83d' },
    });
    const taken = await send('/v1/carriers/vtp/webhooks', unused, {
      'Content-Type': 'application/json',
      Authorization: DEV_CARRIER_SECRETS.vtp!,
    });
    expectNoServerErrorAndProblems(taken, 'carrier NUL in an unread field');
    expect(taken.status, taken.body).toBe(200);
  });

  it('a query parameter', async () => {
    const list = await stack.api('/v1/orders?customerId=%00', { key: TEST_KEYS.cs });
    const answer: Answer = { status: list.status, contentType: list.headers.get('content-type') ?? '', body: await list.text() };
    expectNoServerErrorAndProblems(answer, 'query with NUL');
    expect(answer.status).toBe(400);
    expect(fieldOf(answer)).toEqual(['customerId']);
  });

  it('a command body', async () => {
    const order = validOrder();
    const placed = await postOrder(JSON.stringify(order));
    await checkIntake(JSON.stringify(order), placed, 'order to cancel');
    const { orderId } = JSON.parse(placed.body) as { orderId: string };
    const cancel = await stack.api(`/v1/orders/${orderId}/cancel`, {
      method: 'POST',
      key: TEST_KEYS.ops,
      json: { reason: 'changed \u0000 mind' },
    });
    const answer: Answer = { status: cancel.status, contentType: cancel.headers.get('content-type') ?? '', body: await cancel.text() };
    expectNoServerErrorAndProblems(answer, 'cancel with NUL');
    expect(answer.status, answer.body).toBe(400);
    expect(fieldOf(answer)).toEqual(['reason']);
    const [row] = await stack.db.sql<{ status: string }[]>`select status from orders where order_id = ${orderId}`;
    expect(['CANCELLING', 'CANCELLED']).not.toContain(row!.status);
  });
});

describe('after all of it', () => {
  it('every order row and every order or intake workflow on this stack belongs to a request answered 2xx', async () => {
    const rows = await stack.db.sql<{ orderId: string }[]>`select order_id as "orderId" from orders`;
    expect(rows.map((r) => r.orderId).filter((id) => !accepted.has(id))).toEqual([]);
    const started: string[] = [];
    for await (const w of stack.client.workflow.list({ query: `TaskQueue = '${stack.taskQueue}'` })) {
      if (isOrderWorkflowType(w.type) || w.type === 'channelIntakeWorkflow') started.push(w.workflowId);
    }
    expect(
      started.filter((id) => !accepted.has(id)),
      'workflows no accepted request explains',
    ).toEqual([]);
    expect(started.filter((id) => refused.has(id))).toEqual([]);
    process.stdout.write(
      `[fuzz] intake properties: ${counts.requests} requests, statuses ${JSON.stringify(counts.byStatus)}, ` +
        `${accepted.size} accepted, ${refused.size} refused order ids checked: no row, no workflow\n`,
    );
  });
});
