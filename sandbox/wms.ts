/**
 * Emulated warehouse (WMS): a pick order is picked and packed at once (the OMS only needs the
 * packed weight to book a carrier), and can be cancelled.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { json, newId, nowIso, type SandboxEnv } from './common';
import { mutation } from './idempotency';

/** Weight assumed per unit when the OMS doesn't know it, so carriers always get a weight. */
const DEFAULT_UNIT_GRAMS = 500;

const pickSchema = z.object({
  orderId: z.string().min(1),
  shipmentId: z.string().min(1),
  warehouseId: z.string().min(1),
  lines: z
    .array(z.object({ sku: z.string().min(1), quantity: z.number().int().positive(), weightGrams: z.number().int().positive().optional() }))
    .min(1),
});

/** A pick order as the ledger shows it. */
export interface PickOrder {
  pickOrderId: string;
  orderId: string;
  shipmentId: string;
  warehouseId: string;
  lines: { sku: string; quantity: number; weightGrams?: number | undefined }[];
  status: 'packed' | 'cancelled';
  weightGrams: number;
  packedAt: string;
  cancelledAt?: string;
  idempotencyKey: string;
}

/** Builds the WMS API (`/wms/v1`) and its ledger route over the stored state. */
export function createWms(env: SandboxEnv) {
  const picks = env.state.map<PickOrder>('wms.pick');
  const save = (p: PickOrder) => env.state.put('wms.pick', p.pickOrderId, p);
  const scope = () => 'wms';
  const api = new Hono();

  api.post(
    '/pick-orders',
    mutation(env, {
      scope,
      service: 'wms',
      op: 'pick',
      schema: pickSchema,
      match: (_c, b) => ({ orderId: b.orderId }),
      effect: (_c, b, meta) => {
        const weightGrams = b.lines.reduce((s, l) => s + (l.weightGrams ?? DEFAULT_UNIT_GRAMS) * l.quantity, 0);
        const p: PickOrder = {
          pickOrderId: newId('pick'),
          orderId: b.orderId,
          shipmentId: b.shipmentId,
          warehouseId: b.warehouseId,
          lines: b.lines,
          status: 'packed',
          weightGrams,
          packedAt: nowIso(),
          idempotencyKey: meta.idempotencyKey,
        };
        picks.set(p.pickOrderId, p);
        save(p);
        return { status: 201, body: { pickOrderId: p.pickOrderId, status: p.status, packedAt: p.packedAt, weightGrams } };
      },
    }),
  );

  api.post(
    '/pick-orders/:id/cancel',
    mutation(env, {
      scope,
      service: 'wms',
      op: 'cancel',
      schema: z.object({}),
      match: (c) => ({ orderId: picks.get(c.req.param('id') ?? '')?.orderId }),
      effect: (c) => {
        const p = picks.get(c.req.param('id') ?? '');
        if (!p) return { status: 404, body: { error: 'not_found' } };
        if (p.status !== 'cancelled') {
          p.status = 'cancelled';
          p.cancelledAt = nowIso();
          save(p);
        }
        return { status: 200, body: { pickOrderId: p.pickOrderId, status: 'cancelled' } };
      },
    }),
  );

  const control = new Hono();
  control.get('/ledger/wms', (c) => {
    const orderId = c.req.query('orderId');
    const all = [...picks.values()];
    return json(200, { pickOrders: orderId ? all.filter((p) => p.orderId === orderId) : all });
  });

  return { api, control, reset: (): void => picks.clear() };
}
