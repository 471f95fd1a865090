/**
 * Idempotency-Key on order commands, against the real stack: a retried (or concurrent) command
 * with the same key acts once and answers the same; a key reused for a different request is a
 * 422; after the workflow has closed, the same key still gets its answer — from the row written
 * after the effect, and from the workflow's history when that row was lost. Refusals are mapped
 * by their type: InvalidCommand → 400 naming the field, CommandRefused → 409.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, uniqueSuffix, type TestStack } from '../support/harness';

let stack: TestStack;

interface Problem {
  type: string;
  status: number;
  detail: string;
  errors?: { path: string; message: string }[];
}
interface OrderBody {
  status: string;
  waitingFor: string | null;
  returns: { returnId: string; status: string }[];
  cancelledLines: { lineNo: number; quantity: number }[];
  timeline: { status: string; event: string }[];
}

const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.ops })).json()) as OrderBody;
const until = (id: string, pred: (o: OrderBody) => boolean, what: string, timeoutMs = 30_000) =>
  eventually(
    async () => {
      const o = await getOrder(id);
      return pred(o) ? o : undefined;
    },
    { what: `${id}: ${what}`, timeoutMs },
  );
const submit = async (order: ReturnType<typeof makeOrder>, key: string = TEST_KEYS.web) => {
  const res = await stack.api('/v1/orders', { method: 'POST', key, json: order });
  expect(res.status).toBe(201);
  return ((await res.json()) as { orderId: string }).orderId;
};
/** A command POST; `idem` is the Idempotency-Key header. */
const command = async (path: string, json: unknown, opts: { idem?: string; key?: string } = {}) => {
  const res = await stack.api(path, {
    method: 'POST',
    key: opts.key ?? TEST_KEYS.ops,
    json,
    headers: opts.idem ? { 'Idempotency-Key': opts.idem } : {},
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const events = (o: OrderBody, re: RegExp) => o.timeline.filter((t) => re.test(t.event)).length;
const workflowStatus = async (id: string) => (await stack.client.workflow.getHandle(id).describe()).status.name;
const key = () => `key-${uniqueSuffix()}-${uniqueSuffix()}`;

beforeAll(async () => {
  stack = await startTestStack({
    returnWindows: { default: 120_000, shopify: 8000 },
    sandboxOptions: { autoProgress: { enabled: true, stepMs: 50 } },
  });
  // SKU-I ships at once; SKU-WAIT has no stock, so its orders wait in BACKORDERED (holdable, cancellable).
  await seedNetwork(stack.db.sql, { 'SKU-I': { 'WH-HCM': 100 }, 'SKU-WAIT': { 'WH-HCM': 0 } });
});
afterAll(async () => {
  await stack?.close();
});

describe('returns with an Idempotency-Key', () => {
  it('a retried and a concurrent POST /returns open one return; without a key each request is a new return', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-I', quantity: 4 }));
    await until(orderId, (o) => o.waitingFor === 'the return window to close', 'open for returns');
    const body = { lines: [{ lineNo: 1, quantity: 1 }], reason: 'does not fit' };
    const k = key();

    const first = await command(`/v1/orders/${orderId}/returns`, body, { idem: k, key: TEST_KEYS.cs });
    expect(first).toEqual({ status: 201, body: { returnId: `${orderId}-return-1` } });
    // The client did not see the answer and sends the same request again: same answer, no second return.
    expect(await command(`/v1/orders/${orderId}/returns`, body, { idem: k, key: TEST_KEYS.cs })).toEqual(first);
    // Four at once with a fresh key: one return between them.
    const k2 = key();
    const burst = await Promise.all(
      [0, 1, 2, 3].map(() => command(`/v1/orders/${orderId}/returns`, body, { idem: k2, key: TEST_KEYS.cs })),
    );
    expect(burst.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    expect(new Set(burst.map((r) => r.body.returnId))).toEqual(new Set([`${orderId}-return-2`]));
    // The order's picture shows a return once the step that opened it is written (a moment after the 201).
    const two = await until(orderId, (o) => o.returns.length >= 2, 'two returns recorded');
    expect(two.returns.map((r) => r.returnId)).toEqual([`${orderId}-return-1`, `${orderId}-return-2`]);

    // The same key for a different request is refused, and opens nothing.
    const reused = await command(`/v1/orders/${orderId}/returns`, { ...body, reason: 'changed my mind' }, { idem: k, key: TEST_KEYS.cs });
    expect(reused.status).toBe(422);
    expect(reused.body).toMatchObject({ type: 'https://durable-oms.dev/problems/idempotency-key-reused', status: 422 });
    // So is the same body from another API key: the actor is part of the request.
    expect((await command(`/v1/orders/${orderId}/returns`, body, { idem: k, key: TEST_KEYS.ops })).status).toBe(422);

    // What the header guards against: the same request twice without a key is two returns.
    expect((await command(`/v1/orders/${orderId}/returns`, body, { key: TEST_KEYS.cs })).body).toEqual({ returnId: `${orderId}-return-3` });
    expect((await command(`/v1/orders/${orderId}/returns`, body, { key: TEST_KEYS.cs })).body).toEqual({ returnId: `${orderId}-return-4` });
    // Every unit is on its way back now: the validator's InvalidCommand is a 400 naming the field.
    const none = await command(`/v1/orders/${orderId}/returns`, body, { idem: key(), key: TEST_KEYS.cs });
    expect(none.status).toBe(400);
    expect((none.body as unknown as Problem).errors).toEqual([{ path: 'lines', message: 'line 1 has 0 unit(s) left to return' }]);
    const four = await until(orderId, (o) => o.returns.length >= 4, 'four returns recorded');
    expect(four.returns).toHaveLength(4);
  });

  it('after the workflow has closed the same key answers the same — from its row, or from the history if the row was lost', async () => {
    const orderId = await submit(makeOrder({ channel: 'shopify', sku: 'SKU-I', quantity: 1 }), TEST_KEYS.shopify);
    await until(orderId, (o) => o.waitingFor === 'the return window to close', 'open for returns');
    const body = { lines: [{ lineNo: 1, quantity: 1 }], reason: 'arrived damaged' };
    const kReturn = key();
    const kInspect = key();
    const opened = await command(`/v1/orders/${orderId}/returns`, body, { idem: kReturn, key: TEST_KEYS.cs });
    expect(opened).toEqual({ status: 201, body: { returnId: `${orderId}-return-1` } });
    const returnId = `${orderId}-return-1`;
    await until(orderId, (o) => o.returns[0]?.status === 'received', 'return received');
    const inspected = await command(`/v1/orders/${orderId}/returns/${returnId}/inspection`, { result: 'accept' }, { idem: kInspect });
    expect(inspected).toEqual({ status: 200, body: { returnId } });
    await until(orderId, (o) => o.status === 'COMPLETED', 'completed', 60_000);
    await eventually(async () => (await workflowStatus(orderId)) === 'COMPLETED', { what: 'workflow closed' });

    // Closed: the same requests get the same answers; a new command is refused.
    expect(await command(`/v1/orders/${orderId}/returns`, body, { idem: kReturn, key: TEST_KEYS.cs })).toEqual(opened);
    expect(await command(`/v1/orders/${orderId}/returns/${returnId}/inspection`, { result: 'accept' }, { idem: kInspect })).toEqual(
      inspected,
    );
    expect((await command(`/v1/orders/${orderId}/returns`, body, { idem: key(), key: TEST_KEYS.cs })).status).toBe(409);

    // As if the API had died between the effect and its row: the history still has the answer.
    await stack.db.sql`delete from command_requests where order_id = ${orderId}`;
    expect(await command(`/v1/orders/${orderId}/returns`, body, { idem: kReturn, key: TEST_KEYS.cs })).toEqual(opened);
    const [row] = await stack.db.sql<
      { outcome: unknown }[]
    >`select outcome from command_requests where order_id = ${orderId} and command = 'returns' and idempotency_key = ${kReturn}`;
    expect(row?.outcome).toEqual({ returnId });
    // And a different request under that key, row lost or not, is told apart by the history.
    await stack.db.sql`delete from command_requests where order_id = ${orderId}`;
    expect(
      (await command(`/v1/orders/${orderId}/returns/${returnId}/inspection`, { result: 'reject', reason: 'worn' }, { idem: kInspect }))
        .status,
    ).toBe(422);
    expect((await getOrder(orderId)).returns).toEqual([expect.objectContaining({ returnId, status: 'accepted' })]);
  });
});

describe('hold, release and cancel with an Idempotency-Key', () => {
  it('hold and release act once however often they are sent; without a key a second hold is a 409 (CommandRefused)', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-WAIT', quantity: 1 }));
    await until(orderId, (o) => o.status === 'BACKORDERED', 'backordered');
    const kHold = key();
    const holds = await Promise.all(
      [0, 1, 2].map(() => command(`/v1/orders/${orderId}/hold`, { reason: 'customer called' }, { idem: kHold })),
    );
    expect(holds.map((h) => h.status)).toEqual([200, 200, 200]);
    expect(new Set(holds.map((h) => JSON.stringify(h.body))).size).toBe(1);
    expect(await command(`/v1/orders/${orderId}/hold`, { reason: 'customer called' }, { idem: kHold })).toEqual(holds[0]);
    expect((await command(`/v1/orders/${orderId}/hold`, { reason: 'something else' }, { idem: kHold })).status).toBe(422);
    const again = await command(`/v1/orders/${orderId}/hold`, { reason: 'customer called' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ type: 'https://durable-oms.dev/problems/conflict', detail: 'the order is already held by ops' });

    const kRelease = key();
    const releases = await Promise.all(
      [0, 1].map(() => command(`/v1/orders/${orderId}/release`, { decision: 'release', reason: 'confirmed' }, { idem: kRelease })),
    );
    expect(releases.map((r) => r.status)).toEqual([200, 200]);
    // release and reject share the command name: one key cannot be both.
    expect((await command(`/v1/orders/${orderId}/release`, { decision: 'reject', reason: 'confirmed' }, { idem: kRelease })).status).toBe(
      422,
    );
    // Both keyed releases answered 200, yet only one ran: a second release is refused.
    expect((await command(`/v1/orders/${orderId}/release`, { decision: 'release', reason: 'confirmed' })).status).toBe(409);
    expect(events(await getOrder(orderId), /^hold requested/)).toBe(1);
  });

  it('three concurrent partial cancels with one key cancel the units once', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-WAIT', quantity: 3 }));
    await until(orderId, (o) => o.status === 'BACKORDERED', 'backordered');
    const k = key();
    const body = { reason: 'customer wants one less', lines: [{ lineNo: 1, quantity: 1 }] };
    const answers = await Promise.all([0, 1, 2].map(() => command(`/v1/orders/${orderId}/cancel`, body, { idem: k, key: TEST_KEYS.cs })));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    for (const a of answers) expect(a.body).toMatchObject({ orderId, cancelledLines: [{ lineNo: 1, quantity: 1 }], refusedLines: [] });
    const o = await getOrder(orderId);
    expect(o.cancelledLines).toEqual([{ lineNo: 1, quantity: 1 }]);
    expect(o.status).toBe('BACKORDERED');
    // A whole-order cancel cannot reuse the key of a partial one.
    expect(
      (await command(`/v1/orders/${orderId}/cancel`, { reason: 'customer wants one less' }, { idem: k, key: TEST_KEYS.cs })).status,
    ).toBe(422);

    const kAll = key();
    const whole = await Promise.all(
      [0, 1].map(() => command(`/v1/orders/${orderId}/cancel`, { reason: 'customer cancelled' }, { idem: kAll, key: TEST_KEYS.cs })),
    );
    expect(whole.map((w) => w.status)).toEqual([200, 200]);
    expect(whole[0]!.body).toEqual(whole[1]!.body);
    await until(orderId, (x) => x.status === 'CANCELLED', 'cancelled');
    expect(await command(`/v1/orders/${orderId}/cancel`, { reason: 'customer cancelled' }, { idem: kAll, key: TEST_KEYS.cs })).toEqual(
      whole[0],
    );
  });

  it('an InvalidCommand from the validator is a 400 with its field; a malformed key is a 400 before anything is sent', async () => {
    const orderId = await submit(makeOrder({ sku: 'SKU-WAIT', quantity: 2 }));
    await until(orderId, (o) => o.status === 'BACKORDERED', 'backordered');
    expect(
      (await command(`/v1/orders/${orderId}/cancel`, { reason: 'one less', lines: [{ lineNo: 1, quantity: 1 }] }, { key: TEST_KEYS.cs }))
        .status,
    ).toBe(200);
    const tooMany = await command(
      `/v1/orders/${orderId}/cancel`,
      { reason: 'two less', lines: [{ lineNo: 1, quantity: 2 }] },
      { idem: key(), key: TEST_KEYS.cs },
    );
    expect(tooMany.status).toBe(400);
    expect((tooMany.body as unknown as Problem).errors).toEqual([{ path: 'lines', message: 'line 1 has 1 unit(s) left to cancel' }]);

    for (const bad of ['has space', 'x'.repeat(201), 'ünïcode']) {
      const r = await command(`/v1/orders/${orderId}/hold`, { reason: 'customer called' }, { idem: bad });
      expect(r.status, bad).toBe(400);
      expect((r.body as unknown as Problem).errors?.map((e) => e.path)).toEqual(['idempotency-key']);
    }
    expect(events(await getOrder(orderId), /^hold requested/)).toBe(0);
  });
});

describe('the OpenAPI document', () => {
  it('documents the Idempotency-Key header and the 422 on every command', async () => {
    const doc = (await (await fetch(`${stack.apiUrl}/openapi.json`)).json()) as {
      paths: Record<string, { post: { parameters: { name: string; in: string }[]; responses: Record<string, unknown> } }>;
    };
    for (const path of ['cancel', 'returns', 'returns/{returnId}/inspection', 'retry', 'hold', 'release'].map(
      (p) => `/v1/orders/{orderId}/${p}`,
    )) {
      const op = doc.paths[path]!.post;
      expect(
        op.parameters.filter((p) => p.in === 'header').map((p) => p.name),
        path,
      ).toEqual(['idempotency-key']);
      expect(Object.keys(op.responses), path).toContain('422');
    }
  });
});
