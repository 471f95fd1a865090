/** Small HTTP helpers for the sandbox tests: every call goes over real HTTP with fetch. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { DEV_SANDBOX_KEY, startSandbox, type Sandbox, type SandboxOptions } from '../../sandbox/server';

export interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
  /** The body exactly as sent, for byte-for-byte comparisons. */
  text: string;
}

export interface CallOptions {
  /** Idempotency-Key; a fresh one by default for POSTs, `null` to send none. */
  idem?: string | null;
  /** Merchant key; `null` sends no Authorization header. */
  key?: string | null;
}

/** Calls a sandbox route and returns status, parsed JSON body and headers. */
export async function call(sb: Pick<Sandbox, 'url'>, method: string, path: string, body?: unknown, o: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const key = o.key === undefined ? DEV_SANDBOX_KEY : o.key;
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  const idem = o.idem === undefined ? (method === 'POST' ? randomUUID() : null) : o.idem;
  if (idem !== null) headers['Idempotency-Key'] = idem;
  const res = await fetch(`${sb.url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers, text };
}

/** Polls until `check` returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One sandbox for the file (no automatic tracking progress), reset before each test, stopped after. */
export function useQuietSandbox(): () => Sandbox {
  let sb: Sandbox | undefined;
  beforeAll(async () => {
    sb = await startSandbox({ autoProgress: { enabled: false, stepMs: 50 } });
  });
  afterAll(async () => {
    await sb?.stop();
  });
  beforeEach(async () => {
    await call(sb!, 'POST', '/sandbox/reset', {});
  });
  return () => sb!;
}

/**
 * Sandboxes a test starts itself (to restart them over a state dir): each stopped, and every state
 * dir removed, after each test.
 */
export function useSandboxes(base: SandboxOptions = {}) {
  let running: Sandbox[] = [];
  let dirs: string[] = [];
  afterEach(async () => {
    for (const sb of running) await sb.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    running = [];
    dirs = [];
  });
  return {
    /** A sandbox with `base` and `o`; with a state dir, journaled there (without fsync: tests). */
    async start(stateDir?: string, o: SandboxOptions = {}): Promise<Sandbox> {
      const sb = await startSandbox({ ...base, ...(stateDir ? { stateDir, stateFsync: false } : {}), ...o });
      running.push(sb);
      return sb;
    },
    async stop(sb: Sandbox): Promise<void> {
      await sb.stop();
      running = running.filter((x) => x !== sb);
    },
    /** A fresh state dir, removed after the test. */
    stateDir(prefix = 'sandbox-state-'): string {
      const d = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
  };
}

/** The refusal a call ends with (a business answer of the outside system), asserted to be one. */
export async function refusal(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}
