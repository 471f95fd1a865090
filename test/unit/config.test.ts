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
  ])('rejects %o naming %s in one line', (env, variable) => {
    let error: unknown;
    try { loadConfig(env); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.startsWith(`invalid ${variable}:`)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it('does not echo secret values in its error', () => {
    expect(() => loadConfig({ OMS_API_KEYS: 'nope:x:y=supersecretvalue' })).toThrow(ConfigError);
    try { loadConfig({ OMS_API_KEYS: 'nope:x:y=supersecretvalue' }); } catch (e) {
      expect((e as Error).message).not.toContain('supersecretvalue');
    }
  });
});
