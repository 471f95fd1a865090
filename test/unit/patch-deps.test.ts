/**
 * The installed dependencies carry the patches of scripts/patch-deps.mjs, and patching is idempotent:
 * - the postgres driver's null-socket patch: without it, PostgreSQL killed under load can crash the
 *   OMS process with an uncaught TypeError from the driver (the e2e crash-recovery test met it);
 * - the Temporal worker's lazy promise stacks: the workflow thread no longer formats a stack per
 *   promise (test/integration/ops.test.ts reads the Web UI's stack view back through a real worker).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const builds = ['node_modules/postgres/src/connection.js', 'node_modules/postgres/cjs/src/connection.js'];
const workflowVm = 'node_modules/@temporalio/worker/lib/workflow/vm-shared.js';

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

  it("the workflow thread keeps a promise's call sites and formats them only when the stack view is read", () => {
    const text = readFileSync(workflowVm, 'utf8');
    const hook = text.slice(text.indexOf('init: (promise, parent) => {'), text.indexOf('settled(promise) {'));
    expect(hook).toContain('this.rawStack = true;');
    expect(hook).toContain('stackTrace = this.lazyStack(sites);');
    // No formatting per promise any more, and the context's Error and activator are looked up through getters compiled once per context.
    expect(hook).not.toContain('.stack?.replace(');
    expect(hook).not.toContain("fn('return globalThis.Error')()");
    const getActivator = text.slice(text.indexOf('function getActivator('), text.indexOf('function formatCallsiteName('));
    expect(getActivator).toContain('activatorGetters.get(ctor)');
    expect(getActivator).not.toContain("ctor('return globalThis.__TEMPORAL_ACTIVATOR__')()");
  });

  it('running the patch again changes nothing', () => {
    const files = [...builds, workflowVm];
    const before = files.map((f) => readFileSync(f, 'utf8'));
    const r = spawnSync(process.execPath, ['scripts/patch-deps.mjs'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(files.map((f) => readFileSync(f, 'utf8'))).toEqual(before);
  });
});
