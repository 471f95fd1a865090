/** The project's entry points as child processes, their output collected, for the e2e tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import { eventually, makeOrder } from './fixtures';

export interface RunningEntry {
  child: ChildProcess;
  out: { text: string };
  exited: Promise<number | null>;
}

/**
 * Runs an entry point with only `env` (and PATH, HOME): from source through tsx (`api/main.ts`),
 * or compiled (`/…/dist/api.js`). Added to `children`, for the file's cleanup.
 */
export function runEntry(entry: string, env: Record<string, string>, children: ChildProcess[]): RunningEntry {
  const child = spawn(process.execPath, entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const out = { text: '' };
  child.stdout.on('data', (c: Buffer) => (out.text += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out.text += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out, exited };
}

/** Until the process printed its ready line (`"api started"`), or exited. */
export const untilReady = (p: RunningEntry, line: string, timeoutMs = 60_000) =>
  eventually(() => Promise.resolve(p.out.text.includes(line) || p.child.exitCode !== null ? true : undefined), {
    what: line,
    timeoutMs,
  });

/**
 * Starts `api/main.ts` and `worker/main.ts` with `env` (whose PORT is `port`), points the sandbox's
 * carrier webhooks at that API, and takes one order of `sku` to DELIVERED through them. Returns
 * the pair, still running, for the caller's own checks.
 */
export async function deliverThroughEntries(o: {
  env: Record<string, string>;
  port: number;
  sku: string;
  sandbox: { setOmsBaseUrl(url: string): void };
  children: ChildProcess[];
  keys: { channel: string; cs: string };
  what: string;
}): Promise<{ api: RunningEntry; worker: RunningEntry }> {
  const api = runEntry('api/main.ts', o.env, o.children);
  const worker = runEntry('worker/main.ts', o.env, o.children);
  await untilReady(api, '"api started"');
  await untilReady(worker, '"worker started"');
  expect(worker.child.exitCode, worker.out.text).toBeNull();
  expect(api.child.exitCode, api.out.text).toBeNull();
  const base = `http://127.0.0.1:${o.port}`;
  o.sandbox.setOmsBaseUrl(base);
  const res = await fetch(`${base}/v1/orders`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${o.keys.channel}` },
    body: JSON.stringify(makeOrder({ sku: o.sku })),
  });
  expect(res.status).toBe(201);
  const { orderId } = (await res.json()) as { orderId: string };
  let lastStatus = '';
  await eventually(
    async () => {
      const r = await fetch(`${base}/v1/orders/${orderId}`, { headers: { Authorization: `Bearer ${o.keys.cs}` } });
      lastStatus = ((await r.json()) as { status: string }).status;
      return lastStatus === 'DELIVERED' || undefined;
    },
    { what: `${orderId} delivered ${o.what}`, timeoutMs: 90_000 },
  ).catch((err: unknown) => {
    throw new Error(`${String(err)} (last status ${lastStatus})\n${worker.out.text.slice(-3000)}`);
  });
  return { api, worker };
}

/** Waits for a process that must not start: non-zero exit, no ready line, no stack trace; its one `temporal error:` line. */
export async function refusedToStart(p: RunningEntry): Promise<string | undefined> {
  expect(await p.exited, p.out.text).not.toBe(0);
  expect(p.out.text).not.toContain('"worker started"');
  expect(p.out.text).not.toMatch(/^\s+at /m);
  return p.out.text.split('\n').find((l) => l.startsWith('temporal error: cannot connect to 127.0.0.1:'));
}
