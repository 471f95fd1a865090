// Patches applied to installed dependencies, idempotently: run by `npm install` (postinstall) and
// before `npm start` / `npm test` (ensure-deps.mjs). Plain Node: it runs right after an install.
//
// postgres 3.4.9 (the newest release) can take the whole process down when PostgreSQL goes away:
// a small write is deferred to a setImmediate, the connection closes before it runs, and the
// deferred write calls `socket.write` on a null socket — an uncaught TypeError thrown from the
// immediate, out of reach of any await (porsager/postgres#1154, #1208). The teardown paths also
// cancel that immediate without forgetting it, so a reused connection would never write again.
// The OMS meets this whenever PostgreSQL is killed or restarted under load (its e2e and chaos
// tests do both). The patch: a deferred write that finds no socket settles the connection's
// queries as CONNECTION_CLOSED (catchable, retried by callers) instead of throwing, and the
// teardown paths forget the cancelled immediate and the buffered bytes.
//
// @temporalio/worker 1.24.0: the workflow thread formats a stack trace for every promise a
// workflow creates (a promise hook, for the Web UI's "Stack Trace" view: `__stack_trace` and
// `__enhanced_stack_trace` queries), source-mapping each frame, although the view is read only
// when someone opens it (temporalio/sdk-typescript#1587: async code in workflows is slow). In
// `npm run bench` that was ~9% of the machine's CPU. The patch keeps capturing the stack at the
// promise's creation (V8's raw call sites) and formats it when the view is asked for (names a
// frame shows are then read at that time). It also compiles the lookups of the context's `Error`
// and activator once per context instead of a `new Function` per promise (the activator's twice:
// when a promise is made and when it settles). Written for 1.24.0 only: another version stops
// the install until the patch is reviewed. test/integration/ops.test.ts reads the view back.
//
// @temporalio/worker 1.24.0, again: Node's `vm` starts a watchdog thread (and an event loop for it)
// for every call into a workflow's context given a `timeout`, and joins it when the call returns;
// the SDK guards every call that way (its deadlock detection, 5 s), and an activation makes 4 to 6
// of them (activate, the condition loop, conclude). The patch runs the synchronous part of an
// activation (every call into the context it makes) under one guarded call in the workflow thread,
// and those calls inside it go unguarded. Node supports nested timeouts: the outer watchdog
// terminates whatever runs inside, and the activation fails with the same
// ERR_SCRIPT_EXECUTION_TIMEOUT the SDK turned into a failed workflow task before. Calls outside an
// activation (creating a workflow, disposing of it) keep their own guard. ~14 ms of node's CPU an
// order in `npm run bench` (docs/benchmarks.md); test/integration/deadlock.test.ts proves a
// workflow that never yields still fails its task while another workflow on the worker completes.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const POSTGRES_MARK = '/* oms-patch: null-socket-write */';
/** @typedef {{ from?: string, span?: [string, string], to: string }} Edit */
/** @type {Edit[]} */
const postgresEdits = [
  {
    from: '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
    to: `  function nextWrite(fn) {\n    ${POSTGRES_MARK}\n    if (!socket) {\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n    const x = socket.write(chunk, fn)`,
  },
  { from: '    terminated = true\n', to: '    terminated = true\n    chunk = null\n' },
  {
    from: '    clearImmediate(nextWriteTimer)\n    if (socket) {',
    to: '    clearImmediate(nextWriteTimer)\n    nextWriteTimer = null\n    if (socket) {',
  },
  {
    from: '    clearImmediate(nextWriteTimer)\n    socket.removeListener(',
    to: '    clearImmediate(nextWriteTimer)\n    nextWriteTimer = null\n    chunk = null\n    socket.removeListener(',
  },
];

const STACKS_MARK = '/* oms-patch: lazy-promise-stacks */';
const ACTIVATOR_FROM = 'function getActivator(promise) {\n';
const ACTIVATOR_TO = '/**\n * Internal helper to format callsite';
const INIT_FROM = '                    // Reset currentStackTrace just in case (it will be set in `prepareStackTrace` above)\n';
const INIT_TO = '                    // This is weird but apparently it happens\n';
/** @type {Edit[]} */
const stackEdits = [
  {
    // The getter of a context's activator is compiled once per context, not once per promise (it reads the live global).
    span: [ACTIVATOR_FROM, ACTIVATOR_TO],
    to: `const activatorGetters = new WeakMap();
function getActivator(promise) {
    // Access the global scope associated with the promise (unique per workflow - vm.context)
    const ctor = promise.constructor.constructor;
    let get = activatorGetters.get(ctor);
    if (get === undefined) {
        get = ctor('return globalThis.__TEMPORAL_ACTIVATOR__');
        activatorGetters.set(ctor, get);
    }
    return get();
}
`,
  },
  {
    // The handlers learn a raw mode, a cached Error per context, and a stack formatted on first read.
    from: '    promiseHookInstalled = false;\n    installed = false;\n',
    to: `    promiseHookInstalled = false;
    installed = false;
    ${STACKS_MARK}
    rawStack = false;
    errorCtors = new WeakMap();
    lazyStack(sites) {
        let value;
        const read = () => {
            if (value)
                return value;
            // Call sites keep their frames' functions alive: held only until formatted (or the promise settles).
            // The formatting \`new Error().stack\` did at the promise's creation, on the same call sites.
            this.currentStackTrace = undefined;
            const text = Error.prepareStackTrace({ toString: () => 'Error', constructor: undefined }, sites);
            const formatted = (0, common_1.cutoffStackTrace)(text.replace(/^Error\\n\\s*at [^\\n]+\\n(\\s*at initAll \\(node:internal\\/promise_hooks:\\d+:\\d+\\)\\n)?/, ''));
            const structured = this.currentStackTrace ?? [];
            this.currentStackTrace = undefined;
            cutoffStructuredStackTrace(structured);
            value = { formatted, structured };
            sites = undefined;
            return value;
        };
        return {
            get formatted() { return read().formatted; },
            get structured() { return read().structured; },
        };
    }
`,
  },
  {
    // In raw mode a workflow error's stack is its call sites, unformatted.
    from: '            // Set the currentStackTrace so it can be used in the promise `init` hook below\n',
    to: '            if (this.rawStack)\n                return stackTraces;\n            // Set the currentStackTrace so it can be used in the promise `init` hook below\n',
  },
  {
    // The hook captures call sites only; aggregators (Promise.all, race, …) are told by their top frames.
    span: [INIT_FROM, INIT_TO],
    to: `                    const ctor = promise.constructor;
                    let ErrorCtor = this.errorCtors.get(ctor);
                    if (ErrorCtor === undefined) {
                        ErrorCtor = ctor.constructor('return globalThis.Error')();
                        this.errorCtors.set(ctor, ErrorCtor);
                    }
                    const wasRaw = this.rawStack;
                    this.rawStack = true;
                    let sites;
                    try {
                        sites = new ErrorCtor().stack;
                    }
                    finally {
                        this.rawStack = wasRaw;
                    }
                    if (!Array.isArray(sites) || typeof sites[0]?.getFileName !== 'function')
                        return;
                    const top = sites[1]?.getFunctionName() === 'initAll' && sites[1].getFileName() === 'node:internal/promise_hooks' ? 2 : 1;
                    // A frame as the formatted stack shows it when it is not in the workflow bundle ('' when it is).
                    const native = (i) => (sites[top + i] && !sites[top + i].getFileName() ? \`    at \${sites[top + i]}\` : '');
                    const aggregator = /^    at (Function|Promise)\\.(race|all|allSettled|any) \\(<anonymous>\\)$/;
                    let stackTrace;
                    if (currentAggregation && sites.length > top + 2 && native(0) === '    at Promise.then (<anonymous>)' && aggregator.test(native(1))) {
                        // Skip internal promises created by the aggregator and link directly.
                        promise = currentAggregation;
                        stackTrace = store.promiseToStack.get(currentAggregation); // Must exist
                    }
                    else {
                        stackTrace = this.lazyStack(sites);
                        currentAggregation = sites.length > top + 1 && aggregator.test(native(0)) ? promise : undefined;
                    }
`,
  },
];

const GUARD_MARK = '/* oms-patch: one-watchdog-per-activation */';
/** @type {Edit[]} */
const guardThreadEdits = [
  {
    from: 'let workflowCreator;\nlet workflowGetter;\n',
    to: `let workflowCreator;
let workflowGetter;
${GUARD_MARK}
// One watchdog per activation (scripts/patch-deps.mjs in the OMS): the calls into the workflow's
// context inside it (reusable-vm.js) go unguarded while \`globalThis[ACTIVATION_GUARD]\` is set.
const ACTIVATION_GUARD = Symbol.for('oms.activationGuard');
const guardVm = require('node:vm');
const guardContext = guardVm.createContext({});
const guardScript = new guardVm.Script('__omsGuarded()');
let activationTimeoutMs;
function guardActivation(fn) {
    if (!activationTimeoutMs || globalThis[ACTIVATION_GUARD])
        return fn();
    globalThis[ACTIVATION_GUARD] = true;
    guardContext.__omsGuarded = fn;
    try {
        return guardScript.runInContext(guardContext, { timeout: activationTimeoutMs, displayErrors: false });
    }
    finally {
        globalThis[ACTIVATION_GUARD] = false;
        guardContext.__omsGuarded = undefined;
    }
}
`,
  },
  {
    from: "        case 'init':\n",
    to: "        case 'init':\n            activationTimeoutMs = input.isolateExecutionTimeoutMs;\n",
  },
  {
    from: '            const completion = await workflow.activate(activation);\n',
    to: `            let completion;
            try {
                completion = await guardActivation(() => workflow.activate(activation));
            }
            catch (err) {
                // The outer watchdog fired: the same failed activation an inner one gave before.
                if (err?.code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT')
                    throw err;
                completion = { runId: workflow.activator.info.runId, failed: { failure: workflow.activator.errorToFailure(err) } };
            }
`,
  },
];
/** @type {Edit[]} */
const guardVmEdits = [
  {
    from: `                    return callIntoVmScript.runInContext(context, {
                        timeout: isolateExecutionTimeoutMs,
                        displayErrors: true,
                    });`,
    to: `                    ${GUARD_MARK}
                    // Inside an activation guarded as a whole (workflow-worker-thread.js), no watchdog of its own.
                    if (globalThis[Symbol.for('oms.activationGuard')])
                        return callIntoVmScript.runInContext(context, { displayErrors: true });
                    return callIntoVmScript.runInContext(context, {
                        timeout: isolateExecutionTimeoutMs,
                        displayErrors: true,
                    });`,
  },
];

const patches = [
  {
    name: 'null-socket',
    mark: POSTGRES_MARK,
    files: ['node_modules/postgres/src/connection.js', 'node_modules/postgres/cjs/src/connection.js'],
    edits: postgresEdits,
    hint: 'review scripts/patch-deps.mjs for this postgres version',
  },
  {
    name: 'lazy-promise-stacks',
    mark: STACKS_MARK,
    files: ['node_modules/@temporalio/worker/lib/workflow/vm-shared.js'],
    version: { manifest: 'node_modules/@temporalio/worker/package.json', expect: '1.24.0' },
    edits: stackEdits,
    hint: 'review scripts/patch-deps.mjs for this @temporalio/worker version (or drop the patch if the SDK formats lazily itself)',
  },
  {
    name: 'one-watchdog-per-activation (thread)',
    mark: GUARD_MARK,
    files: ['node_modules/@temporalio/worker/lib/workflow/workflow-worker-thread.js'],
    version: { manifest: 'node_modules/@temporalio/worker/package.json', expect: '1.24.0' },
    edits: guardThreadEdits,
    hint: 'review scripts/patch-deps.mjs for this @temporalio/worker version',
  },
  {
    name: 'one-watchdog-per-activation (context calls)',
    mark: GUARD_MARK,
    files: ['node_modules/@temporalio/worker/lib/workflow/reusable-vm.js'],
    version: { manifest: 'node_modules/@temporalio/worker/package.json', expect: '1.24.0' },
    edits: guardVmEdits,
    hint: 'review scripts/patch-deps.mjs for this @temporalio/worker version',
  },
];

let failed = false;
for (const patch of patches)
  for (const file of patch.files) {
    if (!existsSync(file)) continue;
    let text = readFileSync(file, 'utf8');
    if (text.includes(patch.mark)) continue;
    const manifest = patch.version ? /** @type {{ version?: string }} */ (JSON.parse(readFileSync(patch.version.manifest, 'utf8'))) : {};
    const version = manifest.version;
    if (patch.version && version !== patch.version.expect) {
      console.error(`patch-deps: the ${patch.name} patch is written for ${patch.version.expect}, not ${version}; ${patch.hint}.`);
      failed = true;
      continue;
    }
    let ok = true;
    for (const e of patch.edits) {
      if (e.span) {
        const from = text.indexOf(e.span[0]);
        const to = from < 0 ? -1 : text.indexOf(e.span[1], from);
        if (to < 0) ok = false;
        else text = text.slice(0, from) + e.to + text.slice(to);
      } else if (!text.includes(e.from)) ok = false;
      else text = text.replace(e.from, e.to);
      if (!ok) break;
    }
    if (!ok) {
      console.error(`patch-deps: ${file} does not contain the code the ${patch.name} patch expects; ${patch.hint}.`);
      failed = true;
      continue;
    }
    writeFileSync(file, text);
  }
if (failed) process.exit(1);
