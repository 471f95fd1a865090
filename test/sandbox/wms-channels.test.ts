import { describe, expect, it } from 'vitest';
import { call, useQuietSandbox } from './helpers';

const sandbox = useQuietSandbox();

const push = (channel: string, orderId: string, status: string, seq: number) =>
  call(sandbox(), 'POST', `/channels/${channel}/v1/order-status`, {
    orderId,
    channelOrderId: `ch-${orderId}`,
    status,
    seq,
    occurredAt: new Date().toISOString(),
  });

describe('sandbox wms', () => {
  it('packs with summed weights, cancels, and replays a lost response', async () => {
    await call(sandbox(), 'POST', '/sandbox/faults', { service: 'wms', op: 'pick', match: { orderId: 'o-w' }, action: 'lose_response' });
    const body = {
      orderId: 'o-w',
      shipmentId: 's1',
      warehouseId: 'wh-hcm',
      lines: [
        { sku: 'A', quantity: 2, weightGrams: 300 },
        { sku: 'B', quantity: 1 },
      ],
    };
    expect((await call(sandbox(), 'POST', '/wms/v1/pick-orders', body, { idem: 'pk' })).status).toBe(500);
    const r = await call(sandbox(), 'POST', '/wms/v1/pick-orders', body, { idem: 'pk' });
    expect(r).toMatchObject({ status: 201, body: { status: 'packed', weightGrams: 1100 } });
    const id = r.body.pickOrderId as string;
    expect(await call(sandbox(), 'POST', `/wms/v1/pick-orders/${id}/cancel`, {})).toMatchObject({
      status: 200,
      body: { status: 'cancelled' },
    });
    const led = (await call(sandbox(), 'GET', '/sandbox/ledger/wms?orderId=o-w')).body.pickOrders as { status: string }[];
    expect(led).toHaveLength(1);
    expect(led[0]?.status).toBe('cancelled');
  });
});

describe('sandbox channels', () => {
  it('keeps the highest seq; an older push is stale and does not overwrite', async () => {
    expect((await push('shopee', 'o-c', 'shipped', 3)).body).toEqual({ accepted: true });
    expect((await push('shopee', 'o-c', 'packed', 2)).body).toEqual({ accepted: true, stale: true });
    const led = await call(sandbox(), 'GET', '/sandbox/ledger/channels?channel=shopee&orderId=o-c');
    expect((led.body.latest as Record<string, unknown>)['o-c']).toMatchObject({ status: 'shipped', seq: 3 });
    expect((led.body.pushes as unknown[]).length).toBe(2);
    expect((await push('shopee', 'o-c', 'delivered', 4)).body).toEqual({ accepted: true });
  });

  it('accepts stock, 404s unknown channels, and honours channel-matched faults', async () => {
    expect((await call(sandbox(), 'POST', '/channels/web/v1/stock', { items: [{ sku: 'A', available: 3 }] })).status).toBe(200);
    expect((await call(sandbox(), 'POST', '/channels/ebay/v1/stock', { items: [{ sku: 'A', available: 3 }] })).status).toBe(404);
    await call(sandbox(), 'POST', '/sandbox/faults', { service: 'channels', op: 'push', match: { channel: 'tiktok' }, action: 'error500' });
    expect((await push('lazada', 'o-f', 'paid', 1)).status).toBe(200);
    expect((await push('tiktok', 'o-f', 'paid', 1)).status).toBe(500);
    expect((await push('tiktok', 'o-f', 'paid', 1)).status).toBe(200);
    const led = await call(sandbox(), 'GET', '/sandbox/ledger/channels?channel=web');
    expect((led.body.stock as unknown[]).length).toBe(1);
  });

  it('applies configured latency to merchant routes only', async () => {
    await call(sandbox(), 'POST', '/sandbox/config', { latencyMs: 120 });
    const t0 = Date.now();
    await push('web', 'o-l', 'paid', 1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    const t1 = Date.now();
    await call(sandbox(), 'GET', '/sandbox/ledger/channels');
    expect(Date.now() - t1).toBeLessThan(100);
  });
});
