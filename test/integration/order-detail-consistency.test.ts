/**
 * The order detail is one consistent picture: whatever status `GET /v1/orders/{id}` shows, the
 * timeline it shows with it already holds the step that set that status. The workflow moves its
 * state before the step is written to PostgreSQL, so a read path that mixes the live workflow
 * state with the stored timeline shows a status without its story (a race a busy machine hits).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ghnWebhook, postCarrierWebhook } from '../support/carrier-webhooks';
import { eventually, makeOrder, seedNetwork } from '../support/fixtures';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/harness';

interface OrderBody {
  status: string;
  shipments: { trackingNumber?: string; status: string }[];
  timeline: { seq: number; status: string; event: string; detail: { eventId?: string } }[];
}

describe('order detail consistency', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } } });
    await seedNetwork(stack.db.sql, { 'SKU-A': { 'WH-HCM': 50 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const getOrder = async (id: string) => (await (await stack.api(`/v1/orders/${id}`, { key: TEST_KEYS.cs })).json()) as OrderBody;
  const send = (event: Record<string, unknown>) => postCarrierWebhook(stack.apiUrl, 'ghn', event);

  it('never shows a status whose timeline step is missing, read as fast as the API answers through a whole lifecycle', async () => {
    const orderIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await stack.api('/v1/orders', { method: 'POST', key: TEST_KEYS.web, json: makeOrder({ payment: { method: 'cod' } }) });
      orderIds.push(((await res.json()) as { orderId: string }).orderId);
    }
    const inconsistent: string[] = [];
    let reads = 0;
    let stop = false;
    // Readers hammer every order while it moves; each answer is checked on its own.
    const readers = orderIds.flatMap((id) =>
      [0, 1].map(async () => {
        while (!stop) {
          const o = await getOrder(id);
          reads += 1;
          const last = o.timeline.at(-1);
          if (last && last.status !== o.status)
            inconsistent.push(`${id}: status ${o.status}, last timeline step #${last.seq} ${last.status} (${last.event})`);
          if (!last && o.status !== 'RECEIVED') inconsistent.push(`${id}: status ${o.status} with an empty timeline`);
        }
      }),
    );
    try {
      for (const id of orderIds) {
        const booked = await eventually(
          async () => {
            const o = await getOrder(id);
            return o.shipments[0]?.trackingNumber ? o : undefined;
          },
          { what: `${id} booked` },
        );
        const orderCode = booked.shipments[0]!.trackingNumber!;
        // GHN's own webhooks: picked, transporting, delivered.
        for (const status of ['picked', 'transporting', 'delivered']) {
          expect((await send(ghnWebhook({ orderCode, status }))).status).toBe(200);
        }
      }
      for (const id of orderIds) {
        const done = await eventually(
          async () => {
            const o = await getOrder(id);
            return o.status === 'DELIVERED' ? o : undefined;
          },
          { what: `${id} delivered` },
        );
        const code = done.shipments[0]!.trackingNumber!;
        expect(done.timeline.filter((t) => t.detail.eventId?.startsWith(`ghn:${code}:switch_status:delivered:`))).toHaveLength(1);
      }
    } finally {
      stop = true;
      await Promise.all(readers);
    }
    expect(reads).toBeGreaterThan(20);
    expect(inconsistent).toEqual([]);
  });
});
