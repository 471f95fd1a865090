/**
 * The launcher's liveness probe on a real Temporal dev server: a server that stays alive but stops
 * answering (SIGSTOP here; in the wild its SQLite store wedges with `Error interrupted (9)`) is
 * killed and restarted on the same database file, and answers again with its namespace intact.
 * Without the probe nothing would notice: the process never exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, inject } from 'vitest';
import { freePort, probeTemporal, startTemporalDevServer, supervise } from '../../lib/dev-services';
import { eventually } from '../support/fixtures';

const dir = mkdtempSync(join(tmpdir(), 'oms-liveness-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the dev server's liveness probe", () => {
  it('restarts a server that is alive but silent, on the same database, and it answers again', async () => {
    const lines: string[] = [];
    const gaveUp: string[] = [];
    const port = await freePort();
    const cliPath = inject('temporalCliPath') || undefined;
    const server = await supervise({
      name: 'Temporal dev server',
      log: (l) => lines.push(l),
      onGiveUp: (r) => gaveUp.push(r),
      start: () =>
        startTemporalDevServer({ cliPath, port, uiPort: 0, namespace: 'default', ui: false, dbFile: join(dir, 'temporal.sqlite') }),
      liveness: { probe: (s) => probeTemporal(s.address, 'default', 1000), intervalMs: 500, unhealthyAfterMs: 3000 },
    });
    try {
      const first = server.current();
      await probeTemporal(first.address, 'default', 5000);
      // A workflow started before the hang must still be there after the restart (same SQLite file).
      const { Client, Connection } = await import('@temporalio/client');
      const before = await Connection.connect({ address: first.address });
      await new Client({ connection: before }).workflow.start('nobodyRunsThis', {
        taskQueue: 'liveness-test',
        workflowId: 'kept-across-restart',
        args: [],
      });
      await before.close();

      process.kill(first.pid!, 'SIGSTOP');
      await expect(probeTemporal(first.address, 'default', 1000)).rejects.toThrow();
      const next = await eventually(() => Promise.resolve(server.current() !== first ? server.current() : undefined), {
        timeoutMs: 60_000,
        what: 'a restart',
      });
      expect(next.pid).not.toBe(first.pid);
      expect(lines.some((l) => /is alive but has not answered for \d+ s .*killing it to restart it/.test(l))).toBe(true);
      await eventually(
        async () => {
          await probeTemporal(next.address, 'default', 2000);
          return true;
        },
        { timeoutMs: 30_000, what: 'answers again' },
      );
      const after = await Connection.connect({ address: next.address });
      const described = await new Client({ connection: after }).workflow.getHandle('kept-across-restart').describe();
      expect(described.status.name).toBe('RUNNING');
      await after.close();
      expect(gaveUp).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 120_000);
});
