/**
 * The pieces of cluster mode that are pure enough to check alone (the whole of it runs in
 * `npm run test:cluster`): ports the server can store, and a config that puts every service on
 * the ports it was given and both stores on the given PostgreSQL.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freeLowPort, writeTemporalServerConfig } from '../../lib/temporal-server';

describe('a real Temporal server (lib/temporal-server.ts)', () => {
  it('membership ports fit the smallint column the server keeps them in, and are free', async () => {
    const taken = new Set<number>();
    for (let i = 0; i < 9; i++) {
      const p = await freeLowPort(taken);
      expect(p).toBeGreaterThanOrEqual(20_000);
      expect(p).toBeLessThan(32_768);
      expect(taken.has(p)).toBe(false);
      taken.add(p);
    }
  });

  it('its config: every service on its port, both stores on the given PostgreSQL, the frontend as the cluster address', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oms-tserver-'));
    try {
      const ports = [21001, 21002, 21003, 21004, 21005, 21006, 21007, 21008];
      writeTemporalServerConfig(dir, { host: '127.0.0.1', port: 5999, user: 'oms', password: 'pw' }, 21000, ports);
      const yaml = readFileSync(join(dir, 'development.yaml'), 'utf8');
      for (const p of [21000, ...ports]) expect(yaml).toContain(String(p));
      expect(yaml.match(/pluginName: "postgres12"/g)).toHaveLength(2);
      expect(yaml).toContain('databaseName: "temporal"');
      expect(yaml).toContain('databaseName: "temporal_visibility"');
      expect(yaml.match(/connectAddr: "127.0.0.1:5999"/g)).toHaveLength(2);
      expect(yaml).toContain('rpcAddress: "127.0.0.1:21000"');
      expect(readFileSync(join(dir, 'dynamic.yaml'), 'utf8')).toContain('frontend.enableUpdateWorkflowExecution');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
