/**
 * Emulated ops notification channel (a chat room's incoming webhook): the OMS posts escalations
 * here. Messages are deduplicated by idempotency key like any real webhook receiver would need.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { json, newId, nowIso, type SandboxEnv } from './common';
import { mutation } from './idempotency';

const messageSchema = z.object({
  orderId: z.string().min(1),
  shipmentId: z.string().min(1).optional(),
  kind: z.string().min(1),
  level: z.number().int().min(0),
  text: z.string().min(1).max(2000),
});

interface Message extends z.infer<typeof messageSchema> {
  messageId: string;
  at: string;
  idempotencyKey: string;
}

/** Builds the ops notification API (`/notify/v1`) and its ledger route over the stored state. */
export function createNotify(env: SandboxEnv) {
  const messages = env.state.list<Message>('notify.message');
  const api = new Hono();
  api.post(
    '/messages',
    mutation(env, {
      scope: () => 'notify',
      service: 'notify',
      op: 'message',
      schema: messageSchema,
      match: (_c, b) => ({ orderId: b.orderId }),
      effect: (_c, b, meta) => {
        const m: Message = { ...b, messageId: newId('msg'), at: nowIso(), idempotencyKey: meta.idempotencyKey };
        messages.push(m);
        env.state.add('notify.message', m);
        return { status: 201, body: { messageId: m.messageId } };
      },
    }),
  );
  const control = new Hono();
  control.get('/ledger/notifications', (c) => {
    const orderId = c.req.query('orderId');
    return json(200, { messages: messages.filter((m) => !orderId || m.orderId === orderId) });
  });
  return {
    api,
    control,
    reset: () => {
      messages.length = 0;
    },
  };
}
