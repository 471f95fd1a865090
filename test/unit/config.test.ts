import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheFitsHeap, ConfigError, DEFAULT_WORKER_SIZING, DEV_CARRIER_SECRETS, DEV_CHANNEL_SECRETS, loadConfig } from '../../lib/config';
import { resolveSystems } from '../../lib/stack';
import { temporalConnectionOptions } from '../../lib/temporal-connection';

describe('loadConfig', () => {
  it('gives sane defaults on an empty environment', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.temporal.namespace).toBe('default');
    expect(c.dataDir).toBe('.data');
    expect(c.databaseUrl).toBeUndefined();
    expect(c.apiKeys).toBeUndefined();
    expect(c.channelSecrets.shopify).toBeTruthy();
  });

  it('parses API keys with roles and channels', () => {
    const c = loadConfig({ OMS_API_KEYS: 'channel:web=k1k1k1k1, cs=k2k2k2k2,ops=k3k3k3k3,admin=k4k4k4k4,carrier=k5k5k5k5' });
    expect(c.apiKeys).toEqual([
      { role: 'channel', channel: 'web', key: 'k1k1k1k1' },
      { role: 'cs', key: 'k2k2k2k2' },
      { role: 'ops', key: 'k3k3k3k3' },
      { role: 'admin', key: 'k4k4k4k4' },
      { role: 'carrier', key: 'k5k5k5k5' },
    ]);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ TEMPORAL_ADDRESS: 'no-port' }, 'TEMPORAL_ADDRESS'],
    [{ OMS_API_KEYS: 'root=abcdefgh' }, 'OMS_API_KEYS'],
    [{ OMS_API_KEYS: 'channel=abcdefgh' }, 'OMS_API_KEYS'],
    [{ OMS_API_KEYS: 'cs=short' }, 'OMS_API_KEYS'],
    [{ OMS_CHANNEL_SECRETS: 'shopify' }, 'OMS_CHANNEL_SECRETS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ OMS_SHIP_BY: 'shopee:2d' }, 'OMS_SHIP_BY'],
    [{ OMS_ESCALATION_STEP: 'daily' }, 'OMS_ESCALATION_STEP'],
    [{ OMS_RTS_POLICY: 'destroy' }, 'OMS_RTS_POLICY'],
  ])('rejects %o naming %s in one line', (env, variable) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.startsWith(`invalid ${variable}:`)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it('reads SLA deadlines per channel and the escalation ladder; SLA timers are on by default', () => {
    expect(loadConfig({}).orderSettings).toMatchObject({
      rtsPolicy: 'refund',
      sla: {
        shipByMs: { default: 2 * 86_400_000 },
        deliverByMs: { default: 5 * 86_400_000 },
        graceMs: 86_400_000,
        stepMs: 86_400_000,
        codRemitByMs: 7 * 86_400_000,
      },
    });
    const c = loadConfig({
      OMS_SHIP_BY: 'default=1d,shopee=36h',
      OMS_DELIVER_BY: 'tiktok=3d',
      OMS_ESCALATION_GRACE: '12h',
      OMS_ESCALATION_STEP: '6h',
      OMS_COD_REMIT_BY: '10d',
      OMS_RTS_POLICY: 'reship',
    });
    expect(c.orderSettings).toMatchObject({
      rtsPolicy: 'reship',
      sla: {
        shipByMs: { default: 86_400_000, shopee: 36 * 3_600_000 },
        deliverByMs: { default: 5 * 86_400_000, tiktok: 3 * 86_400_000 },
        graceMs: 12 * 3_600_000,
        stepMs: 6 * 3_600_000,
        codRemitByMs: 10 * 86_400_000,
      },
    });
  });

  it('runs the embedded PostgreSQL durably unless OMS_PG_FSYNC=off names the non-durable mode', () => {
    expect(loadConfig({}).pgFsync).toBe(true);
    expect(loadConfig({ OMS_PG_FSYNC: 'on' }).pgFsync).toBe(true);
    expect(loadConfig({ OMS_PG_FSYNC: 'off' }).pgFsync).toBe(false);
    expect(() => loadConfig({ OMS_PG_FSYNC: 'false' })).toThrow(/^invalid OMS_PG_FSYNC: must be on \(durable, the default\) or off/);
  });

  it('sizes the worker with a fixed workflow cache, never more workflow tasks at once than it caches', () => {
    expect(loadConfig({}).workerSizing).toEqual({
      maxCachedWorkflows: 250,
      maxWorkflowTasks: 40,
      maxActivities: 100,
      maxLocalActivities: 100,
      queues: ['orders', 'carriers', 'channels'],
      callsPerSecond: { carriers: 50, channels: 20 },
    });
    expect(
      loadConfig({ OMS_WORKER_MAX_CACHED_WORKFLOWS: '20', OMS_WORKER_MAX_WORKFLOW_TASKS: '64', OMS_WORKER_MAX_ACTIVITIES: '8' })
        .workerSizing,
    ).toMatchObject({ maxCachedWorkflows: 20, maxWorkflowTasks: 20, maxActivities: 8, maxLocalActivities: 100 });
    expect(() => loadConfig({ OMS_WORKER_MAX_CACHED_WORKFLOWS: '1' })).toThrow(/^invalid OMS_WORKER_MAX_CACHED_WORKFLOWS: /);
    expect(() => loadConfig({ OMS_WORKER_MAX_ACTIVITIES: 'lots' })).toThrow(/^invalid OMS_WORKER_MAX_ACTIVITIES: /);
  });

  it('serves the task queues named, with the outside ones rate limited', () => {
    const c = loadConfig({ OMS_WORKER_QUEUES: 'carriers, channels', OMS_CARRIER_CALLS_PER_SECOND: '2.5' }).workerSizing;
    expect(c.queues).toEqual(['carriers', 'channels']);
    expect(c.callsPerSecond).toEqual({ carriers: 2.5, channels: 20 });
    expect(() => loadConfig({ OMS_WORKER_QUEUES: 'orders,payments' })).toThrow(/^invalid OMS_WORKER_QUEUES: unknown task queue "payments"/);
    expect(() => loadConfig({ OMS_CHANNEL_CALLS_PER_SECOND: '0' })).toThrow(/^invalid OMS_CHANNEL_CALLS_PER_SECOND: /);
  });

  it('does not echo secret values in its error', () => {
    expect(() => loadConfig({ OMS_API_KEYS: 'nope:x:y=supersecretvalue' })).toThrow(ConfigError);
    try {
      loadConfig({ OMS_API_KEYS: 'nope:x:y=supersecretvalue' });
    } catch (e) {
      expect((e as Error).message).not.toContain('supersecretvalue');
    }
  });
});

describe('production mode fails closed (lib/config.ts)', () => {
  const PROD: Record<string, string> = {
    OMS_ENV: 'production',
    DATABASE_URL: 'postgres://oms@db:5432/oms',
    TEMPORAL_ADDRESS: 'temporal:7233',
    OMS_API_KEYS: 'channel:web=webkey-1a2b,cs=cskey-1a2b,ops=opskey-1a2b,admin=adminkey-1a2b,carrier=carrierkey-1a2b',
    OMS_CHANNELS: 'web,shopee',
    OMS_CARRIERS: 'ghn',
    OMS_CHANNEL_SECRETS: 'web=prod-web-9d8c,shopee=prod-shopee-9d8c',
    OMS_CARRIER_SECRETS: 'ghn=prod-ghn-9d8c',
    OMS_PAYMENTS_URL: 'https://pay.example.com/api',
    OMS_PAYMENTS_KEY: 'pay-key-9d8c',
    OMS_WMS_URL: 'https://wms.example.com',
    OMS_WMS_KEY: 'wms-key-9d8c',
    OMS_NOTIFY_URL: 'https://notify.example.com',
    OMS_NOTIFY_KEY: 'notify-key-9d8c',
    OMS_INVOICING_URL: 'https://einvoice.example.vn/api',
    OMS_INVOICING_KEY: 'einvoice-key-9d8c',
    OMS_CHANNEL_WEB_URL: 'https://shop.example.com/oms-api',
    OMS_CHANNEL_WEB_KEY: 'web-api-key-9d8c',
    OMS_CHANNEL_SHOPEE_URL: 'https://partner.shopeemobile.com',
    OMS_CHANNEL_SHOPEE_KEY: 'shopee-api-key-9d8c',
    OMS_CARRIER_GHN_URL: 'https://online-gateway.ghn.vn/shiip/public-api',
    OMS_CARRIER_GHN_KEY: 'ghn-api-key-9d8c',
  };
  const secretValues = Object.entries(PROD)
    .filter(([k]) => /KEY|SECRET/.test(k))
    .flatMap(([, v]) => v.split(',').map((x) => x.split('=').pop()!));
  const refusal = (env: Record<string, string | undefined>): string[] => {
    try {
      loadConfig(env, { service: true });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message.split('\n');
    }
    throw new Error('production mode started');
  };

  it('starts with every setting: only the given secrets, each system at its own URL and key', () => {
    const c = loadConfig(PROD, { service: true });
    expect(c.mode).toBe('production');
    expect(c.channels).toEqual(['web', 'shopee']);
    expect(c.channelSecrets).toEqual({ web: 'prod-web-9d8c', shopee: 'prod-shopee-9d8c' });
    expect(c.carrierSecrets).toEqual({ ghn: 'prod-ghn-9d8c' });
    const systems = resolveSystems(c, 'http://sandbox.invalid');
    expect(systems.payments).toMatchObject({ baseUrl: 'https://pay.example.com/api', apiKey: 'pay-key-9d8c' });
    expect(systems.invoicing).toMatchObject({ baseUrl: 'https://einvoice.example.vn/api', apiKey: 'einvoice-key-9d8c' });
    expect(Object.keys(systems.channels)).toEqual(['web', 'shopee']);
    expect(systems.channels.shopee).toMatchObject({ baseUrl: 'https://partner.shopeemobile.com', apiKey: 'shopee-api-key-9d8c' });
    expect(systems.carriers).toEqual({
      ghn: expect.objectContaining({ baseUrl: 'https://online-gateway.ghn.vn/shiip/public-api' }) as unknown,
    });
    expect(JSON.stringify(systems)).not.toContain('sandbox');
    // Stock sync only reaches channels taken orders from.
    expect(c.stockSync.channels.every((ch) => c.channels.includes(ch))).toBe(true);
  });

  it.each(Object.keys(PROD).filter((k) => k !== 'OMS_ENV'))('refuses to start without %s, naming it in one line', (variable) => {
    const lines = refusal({ ...PROD, [variable]: undefined });
    expect(lines.every((l) => l.startsWith('production mode: '))).toBe(true);
    const naming = variable === 'OMS_CHANNEL_SECRETS' || variable === 'OMS_CARRIER_SECRETS' ? `${variable} has no secret` : variable;
    expect(lines.some((l) => l.includes(naming))).toBe(true);
    for (const v of secretValues) expect(lines.join('\n')).not.toContain(v);
  });

  it('an empty production environment names each missing setting, one per line; NODE_ENV=production is production too', () => {
    const lines = refusal({ NODE_ENV: 'production' });
    const named = lines.map((l) => /^production mode: (\S+)/.exec(l)![1]);
    expect(named).toEqual([
      'DATABASE_URL',
      'TEMPORAL_ADDRESS',
      'OMS_API_KEYS',
      'OMS_CHANNELS',
      'OMS_CARRIERS',
      'OMS_PAYMENTS_URL',
      'OMS_PAYMENTS_KEY',
      'OMS_WMS_URL',
      'OMS_WMS_KEY',
      'OMS_NOTIFY_URL',
      'OMS_NOTIFY_KEY',
      'OMS_INVOICING_URL',
      'OMS_INVOICING_KEY',
    ]);
  });

  it('never takes a development secret, the sandbox, or a default carrier it does not book with', () => {
    const lines = refusal({
      ...PROD,
      OMS_CHANNEL_SECRETS: `web=${DEV_CHANNEL_SECRETS.web},shopee=prod-shopee-9d8c`,
      OMS_CARRIER_SECRETS: `ghn=${DEV_CARRIER_SECRETS.ghn}`,
      OMS_SANDBOX_URL: 'http://sandbox:4000',
      OMS_DEFAULT_CARRIER: 'vtp',
    });
    expect(lines).toEqual([
      'production mode: OMS_CHANNEL_SECRETS: the secret of channel web is the development one, published in the repository',
      'production mode: OMS_CARRIER_SECRETS: the secret of carrier ghn is the development one, published in the repository',
      'production mode: OMS_DEFAULT_CARRIER: vtp is not among OMS_CARRIERS',
      'production mode: OMS_SANDBOX_URL: the sandbox is for development; set each outside system instead',
    ]);
    expect(lines.join('\n')).not.toContain(DEV_CHANNEL_SECRETS.web);
  });

  it('a tool (search attributes, migrations) in production needs only its own settings; it still never takes a dev secret', () => {
    const c = loadConfig({ NODE_ENV: 'production', TEMPORAL_ADDRESS: 'temporal:7233' });
    expect(c.mode).toBe('production');
    expect(c.channelSecrets).toEqual({});
  });

  it('tax: production without a tax service keeps the local rule set; with one, half-set or with a key that is not account:licence, refuses', () => {
    expect(resolveSystems(loadConfig(PROD, { service: true }), 'http://sandbox.invalid').tax).toBeUndefined();
    const withTax = {
      ...PROD,
      OMS_TAX_URL: 'https://rest.tax.example.com/api/v2',
      OMS_TAX_KEY: '2000123456:lic-9d8c',
      OMS_TAX_COMPANY: 'SHOP-VN',
    };
    expect(resolveSystems(loadConfig(withTax, { service: true }), 'http://sandbox.invalid').tax).toMatchObject({
      baseUrl: 'https://rest.tax.example.com/api/v2',
      apiKey: '2000123456:lic-9d8c',
      companyCode: 'SHOP-VN',
    });
    expect(refusal({ ...withTax, OMS_TAX_KEY: undefined })).toEqual([
      "production mode: OMS_TAX_KEY is required: the tax service's API key",
    ]);
    expect(refusal({ ...withTax, OMS_TAX_KEY: 'lic-9d8c' })).toEqual([
      'invalid OMS_TAX_KEY: must be the account id and licence key, account:licenceKey',
    ]);
    expect(refusal({ ...withTax, OMS_TAX_COMPANY: 'shop vn' })[0]).toMatch(/^invalid OMS_TAX_COMPANY/);
    // Development: the sandbox's tax service unless one is set.
    const dev = resolveSystems(loadConfig({}), 'http://127.0.0.1:4000');
    expect(dev.tax).toMatchObject({ baseUrl: 'http://127.0.0.1:4000/tax/v2', companyCode: 'OMS-VN' });
  });

  it('channels whose prices exclude tax: none by default; a name that is not a channel is refused', () => {
    expect(loadConfig({}).orderSettings.pricesExcludeTax).toBeUndefined();
    expect(loadConfig({ OMS_PRICES_EXCLUDE_TAX: 'pos,web' }).orderSettings.pricesExcludeTax).toEqual(['pos', 'web']);
    expect(refusal({ OMS_PRICES_EXCLUDE_TAX: 'pos,amazon' })[0]).toMatch(/^invalid OMS_PRICES_EXCLUDE_TAX/);
  });

  it('a prepaid sale is invoiced at its handover unless told on delivery; anything else names the setting', () => {
    expect(loadConfig({}).invoicePrepaidAt).toBe('handover');
    expect(loadConfig({ OMS_INVOICE_PREPAID_AT: 'delivery' }).invoicePrepaidAt).toBe('delivery');
    expect(refusal({ OMS_INVOICE_PREPAID_AT: 'shipping' })[0]).toMatch(/^invalid OMS_INVOICE_PREPAID_AT/);
  });

  it('development stays as it was: dev secrets, every channel, the sandbox for what is not set', () => {
    const c = loadConfig({ OMS_PAYMENTS_URL: 'http://127.0.0.1:9999/pay' });
    expect(c.mode).toBe('development');
    expect(c.channelSecrets).toMatchObject(DEV_CHANNEL_SECRETS);
    const systems = resolveSystems(c, 'http://127.0.0.1:4000');
    expect(systems.payments).toMatchObject({ baseUrl: 'http://127.0.0.1:9999/pay', apiKey: c.systemsKey });
    expect(systems.wms.baseUrl).toBe('http://127.0.0.1:4000/wms');
    expect(systems.channels.lazada!.baseUrl).toBe('http://127.0.0.1:4000/channels/lazada');
    expect(systems.carriers.vtp!.baseUrl).toBe('http://127.0.0.1:4000/carriers/vtp');
  });

  it('Temporal over TLS: a client certificate needs its key; the files are read into the connection options', () => {
    expect(refusal({ TEMPORAL_TLS_CERT: '/x/client.pem' })).toEqual([
      'invalid TEMPORAL_TLS_KEY: a client certificate (TEMPORAL_TLS_CERT) needs its key',
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'oms-tls-'));
    try {
      for (const f of ['client.pem', 'client.key', 'ca.pem']) writeFileSync(join(dir, f), `-----BEGIN ${f}-----`);
      const c = loadConfig({
        TEMPORAL_TLS_CERT: join(dir, 'client.pem'),
        TEMPORAL_TLS_KEY: join(dir, 'client.key'),
        TEMPORAL_TLS_CA: join(dir, 'ca.pem'),
        TEMPORAL_TLS_SERVER_NAME: 'ns.tmprl.cloud',
        TEMPORAL_API_KEY: 'cloud-api-key',
      });
      const o = temporalConnectionOptions(c.temporal);
      expect(o.tls?.clientCertPair?.crt.toString()).toBe('-----BEGIN client.pem-----');
      expect(o.tls?.clientCertPair?.key.toString()).toBe('-----BEGIN client.key-----');
      expect(o.tls?.serverRootCACertificate?.toString()).toBe('-----BEGIN ca.pem-----');
      expect(o.tls?.serverNameOverride).toBe('ns.tmprl.cloud');
      expect(o.apiKey).toBe('cloud-api-key');
      expect(temporalConnectionOptions(loadConfig({}).temporal)).toEqual({});
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('worker cache against the heap (lib/config.ts cacheFitsHeap)', () => {
  it('the default cache fits a 256 MB heap; a 1,000 cache does not; the default heap of a big machine fits any sane cache', () => {
    const MB = 2 ** 20;
    expect(cacheFitsHeap(DEFAULT_WORKER_SIZING.maxCachedWorkflows, 256 * MB).fits).toBe(true);
    expect(cacheFitsHeap(1000, 256 * MB)).toEqual({ fits: false, needMiB: 464, heapMiB: 256 });
    expect(cacheFitsHeap(2000, 4096 * MB).fits).toBe(true);
  });
});
