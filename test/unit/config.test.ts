import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config';

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

  it('does not echo secret values in its error', () => {
    expect(() => loadConfig({ OMS_API_KEYS: 'nope:x:y=supersecretvalue' })).toThrow(ConfigError);
    try {
      loadConfig({ OMS_API_KEYS: 'nope:x:y=supersecretvalue' });
    } catch (e) {
      expect((e as Error).message).not.toContain('supersecretvalue');
    }
  });
});
