/**
 * Crash recovery of `npm start` with no hands, on the real launcher (node + tsx, as `npm start`
 * runs it) and one data dir throughout:
 * - kill -9 of the whole process group with 50 orders in flight; the next start comes back on its
 *   own and every order reaches DELIVERED / COMPLETED (or a flagged state a retry clears), none Failed;
 * - kill -9 of the launcher alone: its PostgreSQL and dev server live on as orphans; the next start
 *   finds them by pid and /proc, stops them, and carries on (a second launcher on a live one is refused);
 * - kill -9 of PostgreSQL, then of the dev server, while it runs: both are restarted, orders finish;
 *   SIGTERM then leaves no process behind;
 * - a PostgreSQL that cannot be restarted (its port taken) stops everything with the reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cmdlineOf, isAlive, isTemporalOf, postgresProcessesOf, readRunRecord, type RunRecord } from '../../lib/dev-recovery';
import { freePort } from '../../lib/dev-services';
import { eventually } from '../support/fixtures';

const START = ['--import', 'tsx', 'scripts/start.ts'];
const dataDir = mkdtempSync(join(tmpdir(), 'oms-crash-'));
chmodSync(dataDir, 0o755);
const pgDir = join(dataDir, 'pg');
const temporalDb = join(dataDir, 'temporal.sqlite');

interface Launcher {
  child: ChildProcess;
  pid: number;
  output: () => string;
  exited: Promise<number | null>;
}

let env: Record<string, string>;
let api: string;
let temporalAddress: string;
const groups = new Set<number>();
const launchers: Launcher[] = [];

/** Starts the launcher in its own process group, as a terminal would run `npm start`. */
function launch(extraEnv: Record<string, string> = {}): Launcher {
  const child = spawn(process.execPath, START, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  groups.add(child.pid!);
  const l = { child, pid: child.pid!, output: () => out, exited };
  launchers.push(l);
  return l;
}

/** Polls a synchronous condition. */
const until = (cond: () => boolean, timeoutMs: number, what: string) =>
  eventually(() => Promise.resolve(cond()), { timeoutMs, intervalMs: 100, what });

async function ready(l: Launcher): Promise<void> {
  await until(
    () => {
      if (l.child.exitCode !== null) throw new Error(`launcher exited (${l.child.exitCode}):\n${l.output()}`);
      return l.output().includes('[oms] ready in');
    },
    120_000,
    'launcher ready',
  );
}

const waitFor = (l: Launcher, text: string, timeoutMs = 60_000) =>
  until(() => l.output().includes(text), timeoutMs, `launcher output "${text}"`);

const keys = () =>
  JSON.parse(readFileSync(join(dataDir, 'dev-api-keys.json'), 'utf8')) as { role: string; channel?: string; key: string }[];
const keyFor = (role: string, channel?: string) => keys().find((k) => k.role === role && k.channel === channel)!.key;

const CATALOG = [
  ['TSHIRT-M', '149000.00'],
  ['COFFEE-L', '185000.00'],
  ['PHONECASE-BLUE', '79000.00'],
  ['BACKPACK-S', '459000.00'],
] as const;
let orderSeq = 0;

/** Places `n` orders through the API (every fifth one cash on delivery); their ids. */
async function placeOrders(n: number): Promise<string[]> {
  const key = keyFor('channel', 'web');
  const run = Date.now().toString(36);
  return Promise.all(
    Array.from({ length: n }, async () => {
      const i = orderSeq++;
      const [sku, unitPrice] = CATALOG[i % CATALOG.length]!;
      // A channel sends an order again on a 503 (a database connection lost in a restart), as told.
      const send = () =>
        fetch(`${api}/v1/orders`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({
            channel: 'web',
            channelOrderId: `CR${run}-${i}`,
            currency: 'VND',
            customer: { id: `crash-cust-${i}`, name: 'Nguyễn Văn An', phone: '0901234567' },
            shippingAddress: { name: 'Nguyễn Văn An', line1: '12 Lê Lợi', district: 'Quận 1', city: 'Hồ Chí Minh', country: 'VN' },
            lines: [{ sku, quantity: 1, unitPrice }],
            payment: i % 5 === 4 ? { method: 'cod' } : { method: 'prepaid', token: 'tok_visa' },
            placedAt: new Date().toISOString(),
          }),
        });
      let res = await send();
      for (let again = 0; res.status === 503 && again < 5; again++) {
        await new Promise((r) => setTimeout(r, 500));
        res = await send();
      }
      expect(res.status, await res.clone().text()).toBe(201);
      return ((await res.json()) as { orderId: string }).orderId;
    }),
  );
}

interface Row {
  orderId: string;
  status: string;
  needsAttention: boolean;
  attentionReason: string | null;
}

/** The orders' rows as the API lists them. */
async function statuses(ids: string[]): Promise<Row[]> {
  const res = await fetch(`${api}/v1/orders?limit=200`, { headers: { Authorization: `Bearer ${keyFor('ops')}` } });
  if (res.status !== 200) throw new Error(`GET /v1/orders: ${res.status}`);
  const items = ((await res.json()) as { items: Row[] }).items;
  const wanted = new Set(ids);
  return items.filter((r) => wanted.has(r.orderId));
}

const DONE = new Set(['DELIVERED', 'COMPLETED']);
const IN_FLIGHT = new Set(['FULFILLING', 'PARTIALLY_SHIPPED', 'SHIPPED']);
const tally = (rows: Row[]) =>
  rows.reduce<Record<string, number>>(
    (t, r) => ({
      ...t,
      [r.status + (r.needsAttention ? '+attention' : '')]: (t[r.status + (r.needsAttention ? '+attention' : '')] ?? 0) + 1,
    }),
    {},
  );

/** Waits until the orders are in flight: some with the warehouse, one at least with the carrier, not all delivered. */
async function inFlight(ids: string[], atLeast: number): Promise<Record<string, number>> {
  return eventually(
    async () => {
      const rows = await statuses(ids);
      const moving = rows.filter((r) => IN_FLIGHT.has(r.status)).length;
      const shipped = rows.filter((r) => r.status === 'SHIPPED' || r.status === 'PARTIALLY_SHIPPED').length;
      const done = rows.filter((r) => DONE.has(r.status)).length;
      return moving >= atLeast && shipped >= 1 && done < ids.length ? tally(rows) : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 100, what: `${atLeast} orders in flight` },
  );
}

async function failedWorkflows(): Promise<string[]> {
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const client = new Client({ connection });
    const ids: string[] = [];
    for await (const wf of client.workflow.list({ query: `ExecutionStatus = 'Failed'` })) ids.push(`${wf.workflowId} (${wf.type})`);
    return ids;
  } finally {
    await connection.close();
  }
}

/**
 * Every order reaches DELIVERED / COMPLETED; one parked with needsAttention gets an ops retry and
 * must then finish. Fails fast, naming them, as soon as any workflow is Failed.
 */
async function allFinish(ids: string[], timeoutMs = 240_000): Promise<{ retried: string[] }> {
  const retried: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failed = await failedWorkflows();
    if (failed.length) throw new Error(`Failed workflows: ${failed.join(', ')}`);
    const rows = await statuses(ids).catch(() => [] as Row[]);
    for (const r of rows.filter((x) => x.needsAttention && !retried.includes(x.orderId))) {
      const res = await fetch(`${api}/v1/orders/${r.orderId}/retry`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${keyFor('ops')}` },
      });
      if (res.status === 200) retried.push(r.orderId);
    }
    if (rows.length === ids.length && rows.every((r) => DONE.has(r.status))) break;
    if (Date.now() > deadline) {
      // Say where the stragglers wait, so a failure points at the part that did not recover.
      const stuck = rows.filter((r) => !DONE.has(r.status)).slice(0, 5);
      const details = await Promise.all(
        stuck.map(async (r) => {
          const d = (await (
            await fetch(`${api}/v1/orders/${r.orderId}`, { headers: { Authorization: `Bearer ${keyFor('cs')}` } })
          ).json()) as Record<string, unknown>;
          return JSON.stringify({
            orderId: r.orderId,
            status: d.status,
            needsAttention: d.needsAttention,
            attentionReason: d.attentionReason,
            waitingFor: d.waitingFor,
            shipments: d.shipments,
            payment: d.payment,
          });
        }),
      );
      throw new Error(`not every order finished within ${timeoutMs / 1000} s: ${JSON.stringify(tally(rows))}\n${details.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  // The live view agrees with the list (the list is written by the workflow's activities).
  for (const id of ids) {
    const res = await fetch(`${api}/v1/orders/${id}`, { headers: { Authorization: `Bearer ${keyFor('cs')}` } });
    const body = (await res.json()) as Row;
    expect(DONE.has(body.status), `${id}: ${body.status}`).toBe(true);
    expect(body.needsAttention).toBe(false);
  }
  expect(await failedWorkflows()).toEqual([]);
  return { retried };
}

const record = (): RunRecord => {
  const r = readRunRecord(dataDir);
  if (!r) throw new Error('no run record in the data dir');
  return r;
};

/** Every process this data dir ever had, by /proc: none may be alive. */
function survivors(pids: number[]): string[] {
  const byPid = pids.filter(isAlive).map((p) => `${p}: ${cmdlineOf(p).join(' ')}`);
  const pg = postgresProcessesOf(pgDir).map((p) => `${p}: postgres of the data dir`);
  return [...new Set([...byPid, ...pg])];
}

beforeAll(async () => {
  const [port, temporalPort, uiPort, pgPort, sandboxPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  env = {
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
    OMS_WORKER_METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
    // Delivered orders close after a short return window, so the runs end in COMPLETED; a call
    // that died with the killed worker is retried after 10 s rather than the default 30 s.
    OMS_RETURN_WINDOWS: 'default=5s',
    OMS_STEP_TIMEOUT: '10s',
  };
  api = `http://127.0.0.1:${port}`;
  temporalAddress = `127.0.0.1:${temporalPort}`;
});

afterAll(async () => {
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const pid of postgresProcessesOf(pgDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await until(() => postgresProcessesOf(pgDir).length === 0, 10_000, 'no postgres left').catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start after a crash', () => {
  let current: Launcher;
  /** The next tests carry on with the launcher the one before left running: without it, fail at once. */
  const stillRunning = () => {
    if (current?.child.exitCode !== null)
      throw new Error(`no launcher left running by the previous test${current ? `; its output:\n${current.output()}` : ''}`);
  };

  it('kill -9 of the whole process group with 50 orders in flight: the next start recovers and all 50 finish, none Failed', async () => {
    current = launch();
    await ready(current);
    const first = record();
    expect(first.launcher.pid).toBe(current.pid);
    const children = [first.postgres!, first.temporal!];
    expect(children.every(isAlive)).toBe(true);

    const placed = Date.now();
    const ids = await placeOrders(50);
    const atKill = await inFlight(ids, 5);
    const killedAfter = (Date.now() - placed) / 1000;
    process.kill(-current.pid, 'SIGKILL');
    await current.exited;
    await until(() => survivors([current.pid, ...children]).length === 0, 15_000, 'the killed group gone');
    // A kill -9 runs no cleanup: the run record and PostgreSQL's lock file stay behind.
    expect(existsSync(join(pgDir, 'postmaster.pid'))).toBe(true);
    expect(readRunRecord(dataDir)?.launcher.pid).toBe(current.pid);

    const t0 = Date.now();
    current = launch();
    await ready(current);
    const readyAfter = (Date.now() - t0) / 1000;
    expect(current.output()).toContain(
      `[oms] the last run (pid ${first.launcher.pid}) did not stop cleanly; nothing of it was left running`,
    );
    const { retried } = await allFinish(ids);
    console.log(
      `group kill ${killedAfter.toFixed(1)} s after placing 50 orders, in flight: ${JSON.stringify(atKill)}; ready again in ${readyAfter.toFixed(1)} s; all 50 finished ${((Date.now() - t0) / 1000).toFixed(1)} s after the restart; retried: ${retried.length}`,
    );
  }, 480_000);

  it('kill -9 of the launcher alone: its orphaned PostgreSQL and dev server are found, stopped, and the orders finish', async () => {
    stillRunning();
    // A second launcher on the same data dir is refused, naming the one that runs.
    const [p1, p2, p3, p4, p5] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const second = launch({
      PORT: String(p1),
      TEMPORAL_PORT: String(p2),
      TEMPORAL_UI_PORT: String(p3),
      OMS_PG_PORT: String(p4),
      SANDBOX_PORT: String(p5),
    });
    expect(await second.exited).toBe(1);
    expect(second.output().trim().split('\n')).toEqual([
      `[oms] another npm start (pid ${current.pid}) is running on ${dataDir}; stop it first (Ctrl-C in its terminal, or kill ${current.pid})`,
    ]);
    expect(record().launcher.pid).toBe(current.pid);

    const before = record();
    const ids = await placeOrders(10);
    await inFlight(ids, 3);
    process.kill(current.pid, 'SIGKILL');
    await current.exited;
    // The children outlive their launcher.
    expect(isAlive(before.postgres!)).toBe(true);
    expect(isTemporalOf(before.temporal!, temporalDb)).toBe(true);

    current = launch();
    await ready(current);
    expect(current.output(), current.output()).toMatch(
      new RegExp(
        `\\[oms\\] recovered from an unclean stop of the last run \\(pid ${before.launcher.pid}\\): stopped its leftover PostgreSQL \\(pid ${before.postgres}( and \\d+ more of its processes)?\\) and Temporal dev server \\(pid ${before.temporal}\\)`,
      ),
    );
    expect(isAlive(before.postgres!)).toBe(false);
    expect(isAlive(before.temporal!)).toBe(false);
    const after = record();
    expect(after.launcher.pid).toBe(current.pid);
    expect(after.postgres).not.toBe(before.postgres);
    await allFinish(ids);
  }, 400_000);

  it('PostgreSQL or the dev server killed while it runs: restarted on the same port, orders carry on; SIGTERM leaves nothing', async () => {
    stillRunning();
    const ids = await placeOrders(8);
    await inFlight(ids, 2);
    const before = record();
    process.kill(before.postgres!, 'SIGKILL');
    await waitFor(current, `[oms] PostgreSQL (pid ${before.postgres}) killed by SIGKILL; restarting it in 0.5 s`);
    await waitFor(current, '[oms] PostgreSQL restarted (pid ');
    const mid = record();
    expect(mid.postgres).not.toBe(before.postgres);
    expect(isAlive(mid.postgres!)).toBe(true);

    process.kill(mid.temporal!, 'SIGKILL');
    await waitFor(current, `[oms] Temporal dev server (pid ${mid.temporal}) killed by SIGKILL; restarting it in 0.5 s`);
    await waitFor(current, '[oms] Temporal dev server restarted (pid ', 90_000);
    const after = record();
    expect(isTemporalOf(after.temporal!, temporalDb)).toBe(true);

    // The API's Temporal client and database pool reconnected: ready again, and new orders go through.
    await eventually(async () => (await fetch(`${api}/readyz`)).status === 200, { timeoutMs: 60_000, what: '/readyz 200' });
    const later = await placeOrders(4);
    await allFinish([...ids, ...later]);

    // (Ctrl-C is launcher.test.ts's; a service manager or `kill` sends SIGTERM.)
    current.child.kill('SIGTERM');
    expect(await current.exited).toBe(0);
    expect(current.output()).toContain('[oms] stopped.');
    expect(survivors([current.pid, before.postgres!, mid.postgres!, after.postgres!, mid.temporal!, after.temporal!])).toEqual([]);
    expect(readRunRecord(dataDir)).toBeUndefined();
  }, 400_000);

  it('a PostgreSQL that cannot be restarted stops everything with the reason, leaving nothing behind', async () => {
    // Whatever the tests before left running (when one failed midway) is stopped first.
    if (current && current.child.exitCode === null) {
      current.child.kill('SIGTERM');
      await current.exited;
    }
    current = launch();
    await ready(current);
    const run = record();
    let squatter: Server | undefined;
    const accepted = new Set<Socket>();
    try {
      process.kill(run.postgres!, 'SIGKILL');
      // Take its port the moment it is free, before the launcher's restart (0.5 s later).
      squatter = await eventually(
        () =>
          new Promise<Server | undefined>((resolve) => {
            const s = createServer((c) => {
              accepted.add(c);
              c.on('error', () => undefined);
            });
            s.once('error', () => resolve(undefined));
            s.listen(Number(env.OMS_PG_PORT), '127.0.0.1', () => resolve(s));
          }),
        { timeoutMs: 2000, intervalMs: 5, what: 'the PostgreSQL port free' },
      );
      const code = await Promise.race([current.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 150_000))]);
      expect(code, current.output()).toBe(1);
    } finally {
      for (const c of accepted) c.destroy();
      await new Promise((resolve) => (squatter ? squatter.close(resolve) : resolve(undefined)));
    }
    const out = current.output();
    expect(out).toMatch(
      /\[oms\] PostgreSQL could not be restarted: PostgreSQL did not start on port \d+ .*Address already in use.*\(gave up after 5 attempts\): stopping everything/,
    );
    expect(out).toMatch(/\[oms\] PostgreSQL could not be restarted: .*; trying again in 1 s \(attempt 2 of 5\)/);
    expect(out).toContain('[oms] stopped.');
    expect(survivors([run.launcher.pid, run.postgres!, run.temporal!])).toEqual([]);
  }, 400_000);
});
