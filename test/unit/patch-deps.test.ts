/**
 * The installed dependencies carry the patches of scripts/patch-deps.mjs, and patching is idempotent:
 * - the postgres driver's null-socket patch: without it, PostgreSQL killed under load can crash the
 *   OMS process with an uncaught TypeError from the driver (the e2e crash-recovery test met it);
 * - the Temporal worker's lazy promise stacks: the workflow thread no longer formats a stack per
 *   promise (test/integration/ops.test.ts reads the Web UI's stack view back through a real worker);
 * - one watchdog per activation instead of one per call into the workflow's context
 *   (test/integration/deadlock.test.ts proves a workflow that never yields still fails its task).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const builds = ['node_modules/postgres/src/connection.js', 'node_modules/postgres/cjs/src/connection.js'];
const workflowVm = 'node_modules/@temporalio/worker/lib/workflow/vm-shared.js';
const workflowThread = 'node_modules/@temporalio/worker/lib/workflow/workflow-worker-thread.js';
const reusableVm = 'node_modules/@temporalio/worker/lib/workflow/reusable-vm.js';

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

  it('an activation runs under one watchdog, and the calls into the context inside it under none', () => {
    const thread = readFileSync(workflowThread, 'utf8');
    const activate = thread.slice(thread.indexOf("case 'activate-workflow':"), thread.indexOf("case 'extract-sink-calls':"));
    expect(activate).toContain('completion = await guardActivation(() => workflow.activate(activation));');
    // The outer watchdog's timeout becomes the failed activation the SDK made of an inner one.
    expect(activate).toContain("if (err?.code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT')");
    expect(thread).toContain('activationTimeoutMs = input.isolateExecutionTimeoutMs;');
    const vm = readFileSync(reusableVm, 'utf8');
    const call = vm.slice(vm.indexOf('const workflowModule = new Proxy('), vm.indexOf('workflowModule.initRuntime('));
    expect(call).toContain(
      "if (globalThis[Symbol.for('oms.activationGuard')])\n                        return callIntoVmScript.runInContext(context, { displayErrors: true });",
    );
    // Outside an activation (creating a workflow, disposing of it) a call keeps its own watchdog.
    expect(call).toContain('timeout: isolateExecutionTimeoutMs,');
  });

  it('running the patch again changes nothing', () => {
    const files = [...builds, workflowVm, workflowThread, reusableVm];
    const before = files.map((f) => readFileSync(f, 'utf8'));
    const r = spawnSync(process.execPath, ['scripts/patch-deps.mjs'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(files.map((f) => readFileSync(f, 'utf8'))).toEqual(before);
  });
});
