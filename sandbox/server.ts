/**
 * The sandbox: emulated payment gateway, warehouse, carriers and sales channels over real
 * HTTP, so the OMS's activities meet API keys, idempotency keys, signatures, declines and
 * failures in dev and tests exactly as they would in production.
 *
 * Routes: /payments/v1, /wms/v1, /carriers/:carrier/v1, /channels/:channel/v1, /einvoice/v1 (Bearer key
 * required; the e-invoice provider's requests are signed too), /tax/v2 (HTTP Basic with the tax
 * account and the key, sandbox/tax.ts) and /sandbox/* (test controls and ledgers, no key, no latency).
 *
 * With a state dir, everything the outside world would remember (payments, idempotency
 * answers, pick orders, bookings and unsent webhooks, channel orders and pushes, messages) is
 * journaled before each answer and reloaded on start; faults and `/sandbox/config` are test
 * controls and start afresh from the options.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { z } from 'zod';
import { createCarriers } from './carriers';
import { createChannels } from './channels';
import { createEInvoice } from './einvoice';
import { createTaxService } from './tax';
import { json, parseBody, type SandboxConfig, type SandboxEnv } from './common';
import { faultControl, FaultStore } from './faults';
import { IdempotencyStore } from './idempotency';
import { createPayments, DEFAULT_AUTHORIZATION_TTL_MS } from './payments';
import { createNotify } from './notify';
import { StateStore } from './state';
import { createWms } from './wms';

/** The default merchant key; the OMS's dev config uses the same one. */
export const DEV_SANDBOX_KEY = 'dev-sandbox-merchant-key';

/** How to start a sandbox. */
export interface SandboxOptions {
  /** 0 = random free port (default 0). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Bearer key required on every non-/sandbox route; default DEV_SANDBOX_KEY. */
  merchantKey?: string;
  /** Carrier webhooks go to POST `${omsBaseUrl}/v1/carriers/${carrier}/webhooks`. */
  omsBaseUrl?: string;
  /** HMAC secrets; default { ghn: 'dev-ghn-secret', vtp: 'dev-vtp-secret' }. */
  carrierSecrets?: Record<string, string>;
  /** Sales channels' secrets (sign notifications, check API calls); default: the OMS's dev secrets. */
  channelSecrets?: Record<string, string>;
  /** Added before every non-/sandbox response; default 0. */
  latencyMs?: number;
  /** Default { enabled: true, stepMs: 200 }. */
  autoProgress?: { enabled: boolean; stepMs: number };
  /** Keep state in this dir across restarts (journal + lock); default: in memory only. */
  stateDir?: string;
  /** fdatasync the journal before answering; default true (false: survives a killed process, not a power cut). */
  stateFsync?: boolean;
  /** Lifetime of new payment authorisations; default 7 days. */
  authorizationTtlMs?: number;
}

/** A running sandbox. */
export interface Sandbox {
  url: string;
  port: number;
  /** Closes the server, clears every timer and cuts short fault sleeps and webhook calls. */
  stop(): Promise<void>;
  /** The OMS usually starts after the sandbox; webhooks wait until this is set. */
  setOmsBaseUrl(url: string): void;
}

const configSchema = z.object({
  latencyMs: z.number().int().min(0).optional(),
  autoProgress: z.object({ enabled: z.boolean().optional(), stepMs: z.number().int().min(1).optional() }).optional(),
  authorizationTtlMs: z.number().int().min(0).optional(),
});

/** Starts a sandbox on its own HTTP server; resolves once it listens. */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const merchantKey = opts.merchantKey ?? DEV_SANDBOX_KEY;
  const host = opts.host ?? '127.0.0.1';
  const initialConfig = (): SandboxConfig => ({
    latencyMs: opts.latencyMs ?? 0,
    autoProgress: { ...(opts.autoProgress ?? { enabled: true, stepMs: 200 }) },
    authorizationTtlMs: opts.authorizationTtlMs ?? DEFAULT_AUTHORIZATION_TTL_MS,
  });
  const state = StateStore.open({ dir: opts.stateDir, fsync: opts.stateFsync });
  const stopper = new AbortController();
  let omsBaseUrl = opts.omsBaseUrl;
  let baseUrl = '';
  const env: SandboxEnv = {
    config: initialConfig(),
    faults: new FaultStore(),
    idem: new IdempotencyStore(state),
    state,
    stopSignal: stopper.signal,
    carrierSecrets: opts.carrierSecrets ?? { ghn: 'dev-ghn-secret', vtp: 'dev-vtp-secret' },
    omsBaseUrl: () => omsBaseUrl,
    baseUrl: () => baseUrl,
  };

  const payments = createPayments(env);
  const wms = createWms(env);
  const notify = createNotify(env);
  const carriers = createCarriers(env);
  const channels = createChannels(env, opts.channelSecrets);
  const einvoice = createEInvoice(env, merchantKey);
  const tax = createTaxService(env, merchantKey);

  const app = new Hono();
  // Outermost: whatever a request changed is on disk before its answer leaves.
  app.use('*', async (_c, next) => {
    await next();
    await state.flush();
  });
  app.onError((err) => {
    // After stop() aborted sleeps and fetches, errors are expected; before, they're sandbox bugs.
    if (!stopper.signal.aborted) console.error('[sandbox] unhandled error', err);
    return json(500, { error: 'internal' });
  });
  app.notFound(() => json(404, { error: 'not_found' }));

  // Merchant routes: key first (like a real gateway, even unknown paths are 401 without it),
  // then the configured latency.
  app.use('*', async (c, next) => {
    if (c.req.path === '/sandbox' || c.req.path.startsWith('/sandbox/')) return next();
    // The tax service authenticates its own way (HTTP Basic, sandbox/tax.ts).
    const own = c.req.path.startsWith('/tax/');
    if (!own && c.req.header('Authorization') !== `Bearer ${merchantKey}`) return json(401, { error: 'unauthorized' });
    const ms = env.config.latencyMs;
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
    return next();
  });

  app.route('/payments/v1', payments.api);
  app.route('/wms/v1', wms.api);
  app.route('/notify/v1', notify.api);
  app.route('/carriers', carriers.api);
  app.route('/channels', channels.api);
  app.route('/einvoice/v1', einvoice.api);
  app.route('/tax/v2', tax.api);

  const control = new Hono();
  control.route('/', faultControl(env.faults));
  control.route('/', payments.control);
  control.route('/', wms.control);
  control.route('/', notify.control);
  control.route('/', carriers.control);
  control.route('/', channels.control);
  control.route('/', einvoice.control);
  control.route('/', tax.control);
  control.get('/config', () => json(200, env.config));
  control.post('/config', async (c) => {
    const p = await parseBody(c.req.raw, configSchema);
    if (!p.ok) return p.response;
    if (p.value.latencyMs !== undefined) env.config.latencyMs = p.value.latencyMs;
    if (p.value.autoProgress) env.config.autoProgress = { ...env.config.autoProgress, ...p.value.autoProgress };
    if (p.value.authorizationTtlMs !== undefined) env.config.authorizationTtlMs = p.value.authorizationTtlMs;
    carriers.rearm();
    return json(200, env.config);
  });
  control.post('/reset', () => {
    state.clear();
    env.faults.clear();
    env.idem.clear();
    payments.reset();
    wms.reset();
    notify.reset();
    carriers.reset();
    channels.reset();
    einvoice.reset();
    tax.reset();
    env.config = initialConfig();
    return json(200, { reset: true });
  });
  app.route('/sandbox', control);

  let listening: { server: ReturnType<typeof serve>; port: number };
  try {
    listening = await new Promise<{ server: ReturnType<typeof serve>; port: number }>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: opts.port ?? 0, hostname: host }, (info: AddressInfo) =>
        resolve({ server: s, port: info.port }),
      );
      s.once('error', reject);
    });
  } catch (err) {
    stopper.abort();
    carriers.stop();
    await state.close();
    throw err;
  }
  const { server, port } = listening;
  // A wildcard bind address is not something a client can connect to.
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  baseUrl = `http://${urlHost}:${port}`;

  let stopped: Promise<void> | undefined;
  return {
    url: baseUrl,
    port,
    setOmsBaseUrl(url: string): void {
      omsBaseUrl = url;
      carriers.flushPending();
    },
    stop(): Promise<void> {
      stopped ??= new Promise<void>((resolve) => {
        stopper.abort();
        carriers.stop();
        server.close(() => resolve());
        // Keep-alive sockets would otherwise hold close() open until they time out.
        const closable = server as { closeAllConnections?: () => void };
        closable.closeAllConnections?.();
      }).then(() => state.close());
      return stopped;
    },
  };
}
