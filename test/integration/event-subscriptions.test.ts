/**
 * The event feed delivered by signed webhooks (docs/back-office.md): a subscriber — a real HTTP
 * server here, checking every signature with the secret it was given — is down while orders run
 * to DELIVERED, then comes back and receives every event afterwards, in feed order and so in
 * order per order, none lost; ops see the failures meanwhile; a replay by ops delivers a chosen
 * range again. Real PostgreSQL, Temporal and worker relay behind the real app.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { SubscriptionsRepo } from '../../db/subscriptions-repo';
import { placeAndDeliver, startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

interface FeedEvent {
  position: string;
  eventId: string;
  type: string;
  orderId: string;
  seq: number;
  status: string;
}

let stack: TestStack;
let subscriber: Server;
let subscriberUrl: string;
/** What the subscriber does with a delivery: answer 503 (down) or take it. */
let up = false;
let secret = '';
const received: FeedEvent[] = [];
const refused: number[] = [];
const badSignatures: string[] = [];

/** Checks `t=<unix>,v1=<hex>` as a subscriber would: HMAC-SHA256 of "<t>.<body>" with the secret. */
function signatureValid(header: string | undefined, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m || Math.abs(Date.now() / 1000 - Number(m[1])) > 300) return false;
  const want = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(want, Buffer.from(m[2]!, 'hex'));
}

beforeAll(async () => {
  subscriber = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (!signatureValid(req.headers['x-oms-signature'] as string | undefined, body)) {
        badSignatures.push(String(req.headers['x-oms-signature']));
        res.writeHead(401).end();
        return;
      }
      if (!up) {
        refused.push(Date.now());
        res.writeHead(503).end();
        return;
      }
      received.push(...(JSON.parse(body) as { events: FeedEvent[] }).events);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
  subscriberUrl = `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}/oms-events`;
  stack = await startTestStack({
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } },
    eventDeliveries: { pollMs: 200, retryMinMs: 200, retryMaxMs: 1000 },
  });
  await seedNetwork(stack.db.sql, { 'SUB-A': { 'WH-HCM': 50 } });
});
afterAll(async () => {
  await stack?.close();
  subscriber?.close();
});

const feed = async (after: string) =>
  ((await (await stack.api(`/v1/events?after=${after}&limit=500`, { key: TEST_KEYS.ops })).json()) as { items: FeedEvent[] }).items;

describe('event subscriptions', () => {
  it('in production mode a subscriber must be reached over https, at a public address — checked again on the address each delivery connects to', async () => {
    const prod = await startTestStack({ subscriberUrls: 'https', eventDeliveries: { pollMs: 100, retryMinMs: 100, retryMaxMs: 200 } });
    try {
      const subscribe = (url: string) => prod.api('/v1/subscriptions', { method: 'POST', key: TEST_KEYS.admin, json: { url } });
      const plain = await subscribe('http://erp.example.vn/oms');
      expect(plain.status).toBe(400);
      expect(((await plain.json()) as { errors: { path: string; message: string }[] }).errors).toEqual([
        { path: 'url', message: 'must be an https URL (production mode)' },
      ]);
      // The cloud's metadata service, this machine, the private network: refused, saying why.
      for (const [url, why] of [
        ['https://169.254.169.254/latest/meta-data/', '169.254.169.254 is not a public address'],
        ['https://127.0.0.1:5432/', '127.0.0.1 is not a public address'],
        ['https://[::1]/', '::1 is not a public address'],
        ['https://10.0.3.7/erp', '10.0.3.7 is not a public address'],
      ]) {
        const res = await subscribe(url!);
        expect(res.status, url).toBe(400);
        expect(((await res.json()) as { errors: { path: string; message: string }[] }).errors).toEqual([
          { path: 'url', message: `must be a public address (production mode): ${why}` },
        ]);
      }
      // A name that resolves to this machine only, by the machine's own resolver.
      const named = await subscribe('https://localhost:7233/');
      expect(named.status).toBe(400);
      expect(((await named.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(
        /^must be a public address \(production mode\): localhost resolves to no public address$/,
      );
      expect((await subscribe('https://erp.example.vn/oms')).status).toBe(201);
      // A name that pointed somewhere public when it was added and points here now (DNS rebinding),
      // an address written in before this check, and a plain-http URL subscribed before production
      // mode: the relay connects to none (not even a TCP connection reaches this machine's server).
      let reached = 0;
      const local = createServer((_req, res) => res.writeHead(204).end());
      local.on('connection', () => reached++);
      await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
      const port = (local.address() as AddressInfo).port;
      try {
        await seedNetwork(prod.db.sql, { 'SUB-P': { 'WH-HCM': 1 } });
        const repo = new SubscriptionsRepo(prod.db.sql);
        const rebound = await repo.create({ url: `https://localhost:${port}/hook`, from: 'start' });
        const literal = await repo.create({ url: `https://127.0.0.1:${port}/hook`, from: 'start' });
        const plain = await repo.create({ url: `http://localhost:${port}/hook`, from: 'start' });
        const ids = [rebound.subscriptionId, literal.subscriptionId, plain.subscriptionId];
        const count = await prod.api('/v1/inventory/SUB-P/WH-HCM', {
          method: 'PUT',
          key: TEST_KEYS.admin,
          json: { onHand: 5, reason: 'count' },
        });
        expect(count.status, await count.clone().text()).toBe(200);
        const listed = await eventually(
          async () => {
            const l = (await (await prod.api('/v1/subscriptions', { key: TEST_KEYS.ops })).json()) as {
              items: { subscriptionId: string; attempts: number; lastError: string | null; position: string; delivered: number }[];
            };
            const mine = l.items.filter((x) => ids.includes(x.subscriptionId));
            return mine.length === 3 && mine.every((x) => x.attempts >= 2) ? mine : undefined;
          },
          { what: 'every delivery refused, twice', timeoutMs: 20_000 },
        );
        const byId = Object.fromEntries(listed.map((x) => [x.subscriptionId, x]));
        expect(byId[rebound.subscriptionId]!.lastError).toBe('localhost resolves to no public address');
        expect(byId[literal.subscriptionId]!.lastError).toBe('127.0.0.1 is not a public address');
        expect(byId[plain.subscriptionId]!.lastError).toBe('not an https URL (production mode)');
        expect(listed.map((x) => [x.position, x.delivered])).toEqual([
          ['0', 0],
          ['0', 0],
          ['0', 0],
        ]);
        expect(reached).toBe(0);
      } finally {
        local.close();
      }
    } finally {
      await prod.close();
    }
  });

  it('admins subscribe; bad input is named; other roles may not', async () => {
    const bad = await stack.api('/v1/subscriptions', { method: 'POST', key: TEST_KEYS.admin, json: { url: 'ftp://x', from: 'yesterday' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path).sort()).toEqual(['from', 'url']);
    expect((await stack.api('/v1/subscriptions', { method: 'POST', key: TEST_KEYS.ops, json: { url: subscriberUrl } })).status).toBe(403);
    expect((await stack.api('/v1/subscriptions', { key: TEST_KEYS.cs })).status).toBe(403);
    expect(
      (await stack.api('/v1/subscriptions/sub_none/replay', { method: 'POST', key: TEST_KEYS.ops, json: { after: '0' } })).status,
    ).toBe(404);
  });

  it('a subscriber down for a while receives every event afterwards, in order, none lost; ops see why meanwhile; a replay sends a range again', async () => {
    // A stock count before subscribing: "from now" starts after it too.
    const count = await stack.api('/v1/inventory/SUB-A/WH-HCM', {
      method: 'PUT',
      key: TEST_KEYS.admin,
      json: { onHand: 60, reason: 'count' },
    });
    expect(count.status).toBe(200);
    const res = await stack.api('/v1/subscriptions', { method: 'POST', key: TEST_KEYS.admin, json: { url: subscriberUrl } });
    expect(res.status).toBe(201);
    const sub = (await res.json()) as { subscriptionId: string; secret: string; position: string };
    secret = sub.secret;
    const start = sub.position;
    expect(await feed(start)).toEqual([]);
    const ids = await placeAndDeliver(
      stack,
      [1, 2, 3].map(() => makeOrder({ sku: 'SUB-A' })),
    );
    // Down all this while: deliveries were refused, retried, and ops can see it.
    expect(refused.length).toBeGreaterThan(1);
    expect(received).toEqual([]);
    const listed = (await (await stack.api('/v1/subscriptions', { key: TEST_KEYS.ops })).json()) as {
      items: { subscriptionId: string; attempts: number; lastError: string | null; position: string }[];
    };
    const mine = listed.items.find((s) => s.subscriptionId === sub.subscriptionId)!;
    expect(mine.lastError).toMatch(/subscriber answered 503/);
    expect(mine.position).toBe(start);
    // Their invoices are issued meanwhile (the last events of these orders for now), the subscriber still down.
    await eventually(
      async () => {
        const f = await feed(start);
        return ids.every((id) => f.some((e) => e.orderId === id && e.type === 'invoice.status' && e.status === 'issued')) || undefined;
      },
      { what: 'the orders invoiced', timeoutMs: 30_000 },
    );
    // Back up: everything since the subscription, exactly the feed, in its order — invoices included.
    up = true;
    const expected = await feed(start);
    expect(expected.length).toBeGreaterThan(ids.length * 5);
    await eventually(() => Promise.resolve(received.length >= expected.length ? true : undefined), {
      what: `${expected.length} events delivered`,
      timeoutMs: 30_000,
    });
    expect(received.map((e) => e.position)).toEqual(expected.map((e) => e.position));
    expect(received.filter((e) => e.type === 'invoice.status').map((e) => e.status)).toEqual(
      expect.arrayContaining(['pending', 'issued']) as unknown,
    );
    for (const id of ids) {
      const steps = received.filter((e) => e.orderId === id && e.type === 'order.step');
      const seqs = steps.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(steps.at(-1)!.status).toBe('DELIVERED');
    }
    expect(badSignatures).toEqual([]);
    // Ops replay from the middle: the events after that position come again, in order.
    const from = expected[Math.floor(expected.length / 2)]!.position;
    const before = received.length;
    const replay = await stack.api(`/v1/subscriptions/${sub.subscriptionId}/replay`, {
      method: 'POST',
      key: TEST_KEYS.ops,
      json: { after: from },
    });
    expect(replay.status).toBe(200);
    const again = expected.filter((e) => BigInt(e.position) > BigInt(from));
    await eventually(() => Promise.resolve(received.length >= before + again.length ? true : undefined), {
      what: 'the replayed range delivered',
      timeoutMs: 30_000,
    });
    expect(received.slice(before).map((e) => e.position)).toEqual(again.map((e) => e.position));

    // Events that are no order step reach an up-to-date subscriber on their own: an invoice replaced
    // (its replacement planned and issued, the original then replaced) writes no step.
    const sale = (await (await stack.api(`/v1/orders/${ids[0]}/invoices`, { key: TEST_KEYS.finance })).json()) as {
      items: { invoiceKey: string; kind: string }[];
    };
    const original = sale.items.find((i) => i.kind === 'sale')!.invoiceKey;
    const fix = { note: 'the buyer is a company', buyer: { name: 'Công ty Nhận', taxCode: '0312345678' } };
    const replaced = await stack.api(`/v1/orders/${ids[0]}/invoices/${encodeURIComponent(original)}/replace`, {
      method: 'POST',
      key: TEST_KEYS.finance,
      json: fix,
    });
    expect(replaced.status, await replaced.clone().text()).toBe(201);
    const invoiceStates = () =>
      received.filter((e) => e.type === 'invoice.status' && e.orderId === ids[0]).map((e) => e as FeedEvent & { kind: string });
    await eventually(() => Promise.resolve(invoiceStates().some((e) => e.kind === 'sale' && e.status === 'replaced') || undefined), {
      what: 'the replacement delivered',
      timeoutMs: 30_000,
    });
    expect(
      invoiceStates()
        .filter((e) => e.kind === 'replacement')
        .map((e) => e.status),
    ).toEqual(['pending', 'issued']);

    // A chosen range (after, until]: exactly those events again, then on from where the subscriber had
    // been — nothing past `until` twice, nothing new missed.
    const everything = await feed(start);
    const tip = everything.at(-1)!.position;
    expect(received.at(-1)!.position).toBe(tip);
    const [lo, hi] = [everything[Math.floor(everything.length / 4)]!.position, everything[Math.floor(everything.length / 3)]!.position];
    const replayRange = (body: unknown) =>
      stack.api(`/v1/subscriptions/${sub.subscriptionId}/replay`, { method: 'POST', key: TEST_KEYS.ops, json: body });
    const backwards = await replayRange({ after: hi, until: lo });
    expect(backwards.status).toBe(400);
    expect(((await backwards.json()) as { errors: { path: string; message: string }[] }).errors).toEqual([
      { path: 'until', message: 'must be after `after`' },
    ]);
    const mark = received.length;
    const ranged = await replayRange({ after: lo, until: hi });
    expect(ranged.status).toBe(200);
    expect(((await ranged.json()) as { replay: unknown }).replay).toEqual({ until: hi, resumeAt: tip });
    const inRange = everything.filter((e) => BigInt(e.position) > BigInt(lo) && BigInt(e.position) <= BigInt(hi));
    expect(inRange.length).toBeGreaterThan(2);
    // Something new meanwhile: it comes once, after the range.
    expect(
      (await stack.api('/v1/inventory/SUB-A/WH-HCM', { method: 'PUT', key: TEST_KEYS.admin, json: { onHand: 61, reason: 'recount' } }))
        .status,
    ).toBe(200);
    const fresh = await eventually(
      async () => {
        const f = await feed(tip);
        return f.length && received.some((e) => e.position === f.at(-1)!.position) ? f : undefined;
      },
      { what: 'the new event delivered after the range', timeoutMs: 30_000 },
    );
    expect(received.slice(mark).map((e) => e.position)).toEqual([...inRange, ...fresh].map((e) => e.position));
    const after = (await (await stack.api('/v1/subscriptions', { key: TEST_KEYS.ops })).json()) as {
      items: { subscriptionId: string; position: string; replay: unknown }[];
    };
    expect(after.items.find((x) => x.subscriptionId === sub.subscriptionId)).toMatchObject({
      position: fresh.at(-1)!.position,
      replay: null,
    });
    // Unsubscribed: nothing more goes out.
    expect((await stack.api(`/v1/subscriptions/${sub.subscriptionId}`, { method: 'DELETE', key: TEST_KEYS.admin })).status).toBe(204);
    expect((await stack.api(`/v1/subscriptions/${sub.subscriptionId}`, { method: 'DELETE', key: TEST_KEYS.admin })).status).toBe(404);
  }, 150_000);
});
