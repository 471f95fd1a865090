/**
 * The installed postgres driver carries the null-socket patch (scripts/patch-deps.mjs): without
 * it, PostgreSQL killed under load can crash the OMS process with an uncaught TypeError from the
 * driver (the e2e crash-recovery test met it). Both builds are patched, and patching is idempotent.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const builds = ['node_modules/postgres/src/connection.js', 'node_modules/postgres/cjs/src/connection.js'];

describe('patched dependencies', () => {
  it('the postgres driver settles a deferred write on a closed connection instead of throwing, in both builds', () => {
    for (const file of builds) {
      const text = readFileSync(file, 'utf8');
      const nextWrite = text.slice(text.indexOf('function nextWrite('), text.indexOf('function connectTimedOut('));
      expect(nextWrite, file).toContain(
        "if (!socket) {\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))",
      );
      // The teardown paths forget the cancelled immediate, so a reconnected connection writes again.
      const closed = text.slice(text.indexOf('async function closed('), text.indexOf('async function closed(') + 300);
      expect(closed, file).toMatch(/clearImmediate\(nextWriteTimer\)\n\s+nextWriteTimer = null/);
    }
  });

  it('running the patch again changes nothing', () => {
    const before = builds.map((f) => readFileSync(f, 'utf8'));
    const r = spawnSync(process.execPath, ['scripts/patch-deps.mjs'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(builds.map((f) => readFileSync(f, 'utf8'))).toEqual(before);
  });
});
