/**
 * The sandbox carrier retries webhooks the way real carriers do: a growing delay, for days, not
 * six attempts in three seconds. The schedule is a test control (`/sandbox/carriers/webhook-retry`)
 * so these run fast; a delivery in retry survives a sandbox restart and carries on counting; a
 * `carriers`/`webhook` fault drops deliveries on the way, and they are retried like any other.
 * Real HTTP between the sandbox and a webhook receiver that authenticates GHN's way (token in the URL).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_WEBHOOK_RETRY, webhookRetryDelay } from '../../sandbox/carriers';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { call, waitFor } from '../sandbox/helpers';
import { WebhookReceiver } from '../sandbox/webhook-receiver';

interface Attempt {
  eventId: string;
  bookingId: string;
  status: string;
  attempt: number;
  responseStatus: number | null;
  error?: string;
  at: string;
}

const rx = new WebhookReceiver();
let running: Sandbox[] = [];
let dirs: string[] = [];
beforeAll(() => rx.start());
afterAll(() => rx.stop());
afterEach(async () => {
  for (const sb of running) await sb.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  running = [];
  dirs = [];
  rx.events = [];
  rx.down = false;
  rx.refused = 0;
});

const start = async (stateDir?: string): Promise<Sandbox> => {
  const sb = await startSandbox({ omsBaseUrl: rx.url, autoProgress: { enabled: false, stepMs: 1000 }, ...(stateDir ? { stateDir } : {}) });
  running.push(sb);
  return sb;
};
const stop = async (sb: Sandbox) => {
  await sb.stop();
  running = running.filter((x) => x !== sb);
};
const FAST = { initialMs: 20, factor: 2, maxDelayMs: 160, giveUpAfterMs: 600_000 };
/** Books a parcel: its booking id (for the controls) and tracking number (what its webhooks name). */
const book = async (sb: Sandbox, orderId: string) =>
  (
    await call(sb, 'POST', '/carriers/ghn/v1/shipments', {
      orderId,
      shipmentId: `${orderId}-s1`,
      from: { warehouseId: 'wh-hcm', city: 'Ho Chi Minh City' },
      to: { name: 'An', line1: '1 Le Loi', city: 'Hanoi', country: 'VN' },
      weightGrams: 900,
    })
  ).body as { bookingId: string; trackingNumber: string };
const attempts = async (sb: Sandbox, orderId: string) =>
  (await call(sb, 'GET', `/sandbox/ledger/carriers?orderId=${orderId}`)).body.webhooks as Attempt[];

describe('carrier webhook retries', () => {
  it('the default schedule grows to hourly retries and keeps trying for three days', () => {
    const delays: number[] = [];
    let elapsed = 0;
    for (let n = 1; ; n++) {
      const d = webhookRetryDelay(DEFAULT_WEBHOOK_RETRY, n, 0, elapsed);
      if (d === undefined) break;
      delays.push(d);
      elapsed += d;
    }
    // The old schedule gave up after 6 attempts, 3.1 s after the first.
    expect(delays.slice(0, 5)).toEqual([100, 200, 400, 800, 1600]);
    expect(delays.every((d, i) => i === 0 || d >= delays[i - 1]!)).toBe(true);
    expect(Math.max(...delays)).toBe(3_600_000);
    expect(elapsed).toBeGreaterThan(71 * 3_600_000);
    expect(elapsed).toBeLessThanOrEqual(72 * 3_600_000);
  });

  it('does not give up after six refusals: after ten and more the event arrives, each wait at least as long as scheduled', async () => {
    const sb = await start();
    expect((await call(sb, 'POST', '/sandbox/carriers/webhook-retry', FAST)).body).toEqual(FAST);
    await call(sb, 'POST', '/sandbox/carriers/hold', { orderId: 'o-long' });
    const { bookingId: id, trackingNumber: code } = await book(sb, 'o-long');
    rx.down = true;
    await call(sb, 'POST', `/sandbox/carriers/${id}/advance`, {});
    await waitFor(async () => (await attempts(sb, 'o-long')).length >= 10, 20_000);
    rx.down = false;
    await waitFor(() => rx.statuses(code).includes('picked_up'), 20_000);
    const hooks = await attempts(sb, 'o-long');
    expect(hooks.map((h) => h.attempt)).toEqual(hooks.map((_, i) => i + 1));
    expect(hooks.length).toBeGreaterThanOrEqual(11);
    expect(hooks.slice(0, -1).every((h) => h.responseStatus === 503)).toBe(true);
    expect(hooks.at(-1)!.responseStatus).toBe(204);
    // A timer never fires early: attempt n+1 came at least the schedule's delay after attempt n.
    const at = hooks.map((h) => Date.parse(h.at));
    for (let n = 1; n < hooks.length; n++)
      expect(at[n]! - at[n - 1]!).toBeGreaterThanOrEqual(Math.min(FAST.maxDelayMs, FAST.initialMs * 2 ** (n - 1)) - 2);
  });

  it('a delivery in retry survives a restart and carries on counting its attempts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-webhook-retry-'));
    dirs.push(dir);
    const a = await start(dir);
    await call(a, 'POST', '/sandbox/carriers/webhook-retry', FAST);
    await call(a, 'POST', '/sandbox/carriers/hold', { orderId: 'o-restart' });
    const { bookingId: id, trackingNumber: code } = await book(a, 'o-restart');
    rx.down = true;
    await call(a, 'POST', `/sandbox/carriers/${id}/advance`, {});
    await waitFor(async () => (await attempts(a, 'o-restart')).length >= 4, 20_000);
    await stop(a);

    const b = await start(dir);
    await call(b, 'POST', '/sandbox/carriers/webhook-retry', FAST);
    const before = (await attempts(b, 'o-restart')).length;
    await waitFor(async () => (await attempts(b, 'o-restart')).length >= before + 3, 20_000);
    rx.down = false;
    await waitFor(() => rx.statuses(code).includes('picked_up'), 20_000);
    const hooks = await attempts(b, 'o-restart');
    expect(hooks.map((h) => h.attempt)).toEqual(hooks.map((_, i) => i + 1));
    expect(hooks.at(-1)!.responseStatus).toBe(204);
    expect(rx.statuses(code)).toEqual(['picked_up']);
  });

  it('a webhook fault drops deliveries on the way; once it is cleared, the retry delivers', async () => {
    const sb = await start();
    await call(sb, 'POST', '/sandbox/carriers/webhook-retry', FAST);
    await call(sb, 'POST', '/sandbox/carriers/hold', { orderId: 'o-drop' });
    const { bookingId: id, trackingNumber: code } = await book(sb, 'o-drop');
    expect(
      (
        await call(sb, 'POST', '/sandbox/faults', {
          service: 'carriers',
          op: 'webhook',
          match: { orderId: 'o-drop' },
          action: 'error500',
          times: -1,
        })
      ).status,
    ).toBe(201);
    await call(sb, 'POST', `/sandbox/carriers/${id}/advance`, {});
    await waitFor(async () => (await attempts(sb, 'o-drop')).length >= 3, 20_000);
    expect(rx.statuses(code)).toEqual([]);
    expect(rx.refused).toBe(0);
    await call(sb, 'DELETE', '/sandbox/faults');
    await waitFor(() => rx.statuses(code).includes('picked_up'), 20_000);
    const hooks = await attempts(sb, 'o-drop');
    expect(hooks.slice(0, -1).every((h) => h.responseStatus === null && /not delivered \(fault: error500\)/.test(h.error ?? ''))).toBe(
      true,
    );
    expect(hooks.at(-1)!.responseStatus).toBe(204);
  });
});
