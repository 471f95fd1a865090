/**
 * Development API keys: generated once, saved in the data dir (mode 0600) and printed, so a
 * fresh clone gets working credentials without any setup. Never used when OMS_API_KEYS is set.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiKeySpec } from './config';

const DEV_ROLES: Omit<ApiKeySpec, 'key'>[] = [
  { role: 'channel', channel: 'web' },
  { role: 'channel', channel: 'pos' },
  { role: 'channel', channel: 'shopify' },
  { role: 'channel', channel: 'shopee' },
  { role: 'channel', channel: 'lazada' },
  { role: 'channel', channel: 'tiktok' },
  { role: 'cs' },
  { role: 'ops' },
  { role: 'admin' },
  { role: 'carrier' },
  { role: 'finance' },
];

export function loadOrCreateDevKeys(dataDir: string): { keys: ApiKeySpec[]; created: boolean; file: string } {
  const file = join(dataDir, 'dev-api-keys.json');
  if (existsSync(file)) return { keys: JSON.parse(readFileSync(file, 'utf8')) as ApiKeySpec[], created: false, file };
  mkdirSync(dataDir, { recursive: true });
  const keys = DEV_ROLES.map((r) => ({ ...r, key: `oms_${r.channel ?? r.role}_${randomBytes(18).toString('base64url')}` }));
  writeFileSync(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return { keys, created: true, file };
}

export function describeKey(k: ApiKeySpec): string {
  return `${k.role}${k.channel ? `:${k.channel}` : ''}=${k.key}`;
}
