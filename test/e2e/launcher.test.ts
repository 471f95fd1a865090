/**
 * `npm start` as a user runs it: the whole stack comes up on embedded defaults, /readyz is 200,
 * a workflow round trip goes through the worker to PostgreSQL, the printed dev keys work, and
 * Ctrl-C leaves no process behind. Also: a bad environment variable stops it at once.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { postgresProcessesOf, readRunRecord } from '../../lib/dev-recovery';
import { freePort } from '../../lib/dev-services';
import type { helloWorkflow } from '../../workflows/hello';

// As `npm start` runs it: node with the tsx loader, so signals reach the launcher itself.
const START = ['--import', 'tsx', 'scripts/start.ts'];
const dataDir = mkdtempSync(join(tmpdir(), 'oms-launcher-'));
chmodSync(dataDir, 0o755);
let child: ChildProcess | undefined;

// A test that failed with its launcher still up stops it, so the next one does not find it running.
afterEach(async () => {
  if (!child || child.exitCode !== null) return;
  const running = child;
  const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
  running.kill('SIGINT');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  if (running.exitCode === null) running.kill('SIGKILL');
}, 30_000);
afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

const processesUsing = (needle: string) =>
  spawnSync('pgrep', ['-f', needle], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .filter((pid) => Number(pid) !== process.pid);

describe('npm start', () => {
  it('brings the stack up, answers /readyz, runs a workflow round trip, and stops cleanly on Ctrl-C', async () => {
    const [port, temporalPort, uiPort, pgPort, sandboxPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      PORT: String(port),
      TEMPORAL_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
      OMS_PG_PORT: String(pgPort),
      SANDBOX_PORT: String(sandboxPort),
      OMS_DATA_DIR: dataDir,
      TEMPORAL_CLI_PATH: inject('temporalCliPath'),
      OMS_TASK_QUEUE: 'orders',
    };
    child = spawn(process.execPath, START, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        // The ready block comes in several writes: wait for its last line, not its first.
        if (out.includes('[oms] Ctrl-C stops everything.')) {
          clearInterval(timer);
          resolve();
        }
        if (child!.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`launcher exited: ${out}`));
        }
      }, 100);
    });
    expect(out).toContain(`API            http://127.0.0.1:${port}`);
    expect(out).toContain(`Temporal Web UI http://127.0.0.1:${uiPort}`);
    expect(out).toContain('/docs');

    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', temporal: 'ok' } });

    const connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
    try {
      const client = new Client({ connection });
      const greeting = await client.workflow.execute<typeof helloWorkflow>('helloWorkflow', {
        taskQueue: 'orders',
        workflowId: `hello-${Date.now()}`,
        args: ['launcher'],
      });
      expect(greeting).toMatch(/^Hello, launcher! \(PostgreSQL 18\./);
    } finally {
      await connection.close();
    }

    // The printed admin key works, and the dev seed is there.
    const adminKey = /admin=(\S+)/.exec(out)?.[1];
    expect(adminKey).toBeDefined();
    const products = await fetch(`http://127.0.0.1:${port}/v1/products?limit=5`, { headers: { Authorization: `Bearer ${adminKey}` } });
    expect(products.status).toBe(200);
    expect(((await products.json()) as { items: unknown[] }).items).toHaveLength(5);

    expect(processesUsing(dataDir).length).toBeGreaterThan(0);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child!.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(out).toContain('[oms] stopped.');
    // postgres (-D <dataDir>/pg) and the dev server (--db-filename <dataDir>/...) are gone, and so
    // are the postgres backends (their working directory is the data dir); the run record too.
    expect(processesUsing(dataDir)).toEqual([]);
    expect(postgresProcessesOf(join(dataDir, 'pg'))).toEqual([]);
    expect(readRunRecord(dataDir)).toBeUndefined();
  }, 150_000);

  it('names a port that another program holds, and starts nothing', async () => {
    const squatter = await new Promise<Server>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    });
    const port = (squatter.address() as { port: number }).port;
    try {
      const r = spawnSync(process.execPath, START, {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', OMS_DATA_DIR: dataDir, OMS_PG_PORT: String(port) },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.status).toBe(1);
      expect(r.stdout).toContain(`[oms] failed to start: port ${port} (OMS_PG_PORT) is in use by another program — pid ${process.pid} (`);
      expect(r.stdout).toContain('; stop it or set OMS_PG_PORT to a free port');
      expect(r.stdout).not.toContain('starting embedded PostgreSQL');
      expect(readRunRecord(dataDir)).toBeUndefined();
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it.each([
    ['PORT', 'not-a-port'],
    ['DATABASE_URL', 'mysql://nope'],
    ['OMS_API_KEYS', 'superuser=abcdefghij'],
    ['OMS_HOLD_TIMEOUT', 'soon'],
  ])('exits at start with a one-line reason when %s is bad', (variable, value) => {
    const r = spawnSync(process.execPath, START, {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', OMS_DATA_DIR: dataDir, [variable]: value },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^config error: invalid ${variable}: `));
    expect(r.stderr).not.toContain(value === 'superuser=abcdefghij' ? 'abcdefghij' : '\u0000');
  });
});
