/**
 * `npm run fuzz`: schemathesis against a throwaway stack of its own — embedded PostgreSQL and a
 * Temporal dev server on free loopback ports, the sandbox, a worker and the API — then the
 * figures: requests generated, statuses, 5xx, failed checks, and workflows started by input the
 * API refused (must be 0). Exits 1 if anything failed. Bigger than the suite's run when asked:
 *
 *   npm run fuzz -- --examples 100 --intake-examples 500 --seed 7
 *
 * Everything it starts is stopped at the end (and on Ctrl-C); the reports stay in a temp dir
 * only when something failed, or with --keep-reports.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { loadConfigOrExit } from '../lib/config';
import { freePort, startEmbeddedPostgres, startTemporalDevServer, type RunningService } from '../lib/dev-services';
import { createLogger } from '../lib/logger';
import { startStack, type Stack } from '../lib/stack';
import { ensureSchemathesis } from './ensure-schemathesis';
import { describeFigures, runSchemathesis, workflowsStarted } from './schemathesis-run';

const { values: args } = parseArgs({
  options: {
    examples: { type: 'string', default: '10' },
    'intake-examples': { type: 'string', default: '50' },
    seed: { type: 'string', default: '20261201' },
    'keep-reports': { type: 'boolean', default: false },
  },
});
const int = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got ${v}`);
    process.exit(2);
  }
  return n;
};
const maxExamples = int('examples', args.examples);
const intakeExamples = int('intake-examples', args['intake-examples']);
const seed = int('seed', args.seed);

const say = (l: string) => console.log(`[fuzz] ${l}`);
const config = loadConfigOrExit();
const st = await ensureSchemathesis(say);

const dir = mkdtempSync(join(tmpdir(), 'oms-fuzz-'));
chmodSync(dir, 0o755);
const services: RunningService[] = [];
let stack: Stack | undefined;
const logLines: string[] = [];
const logger = createLogger({ level: 'warn', write: (l) => logLines.push(l) });

let stopping: Promise<void> | undefined;
const stopAll = () =>
  (stopping ??= (async () => {
    await stack?.stop().catch((e: unknown) => say(`stack stop failed: ${String(e)}`));
    for (const s of services.reverse()) await s.stop().catch((e: unknown) => say(`stop failed: ${String(e)}`));
  })());
process.once('SIGINT', () => {
  say('interrupted: stopping');
  void stopAll().then(() => process.exit(130));
});

let failed = false;
try {
  say('starting PostgreSQL, Temporal dev server, sandbox, worker and API on free loopback ports...');
  const [pg, temporal] = await Promise.all([
    freePort().then((port) => startEmbeddedPostgres({ dir: join(dir, 'pg'), port, database: 'oms_fuzz', fsync: false })),
    freePort().then((port) =>
      startTemporalDevServer({ cliPath: config.temporal.cliPath, port, uiPort: 0, namespace: 'default', ui: false }),
    ),
  ]);
  services.push(pg, temporal);
  const key = (role: string) => `fuzz-${role}-${randomBytes(8).toString('hex')}`;
  const keys = { channel: key('web'), cs: key('cs'), ops: key('ops'), admin: key('admin') };
  const taskQueue = 'fuzz';
  stack = await startStack({
    databaseUrl: pg.url,
    temporalAddress: temporal.address,
    namespace: 'default',
    taskQueue,
    host: '127.0.0.1',
    port: 0,
    apiKeys: [
      { role: 'channel', channel: 'web', key: keys.channel },
      { role: 'cs', key: keys.cs },
      { role: 'ops', key: keys.ops },
      { role: 'admin', key: keys.admin },
    ],
    bodyLimitBytes: config.bodyLimitBytes,
    logger,
    seed: true,
    stockSync: false,
    sandboxOptions: { autoProgress: { enabled: false, stepMs: 1000 } },
  });

  const f = await runSchemathesis({
    st,
    apiUrl: stack.apiUrl,
    keys,
    seed,
    maxExamples,
    examplesFor: { 'POST /v1/orders': intakeExamples },
    workDir: join(dir, 'schemathesis'),
    checks: ['not_a_server_error', 'status_code_conformance', 'content_type_conformance', 'response_schema_conformance'],
    log: say,
  });
  const wf = await workflowsStarted(stack.client, stack.sql, taskQueue, f.acceptedOrderIds);

  say(describeFigures(f));
  console.log('');
  console.log(
    `  requests generated            ${f.requests} (${f.operations} operations, seed ${seed}, ${maxExamples} examples each, ${intakeExamples} for POST /v1/orders)`,
  );
  console.log(
    `  statuses                      ${Object.entries(f.byStatus)
      .map(([s, n]) => `${s}×${n}`)
      .join(' ')}`,
  );
  console.log(`  5xx                           ${f.serverErrors.length}`);
  console.log(`  failed checks                 ${f.checkFailures.length}`);
  console.log(`  orders accepted (2xx)         ${f.acceptedOrderIds.size}`);
  console.log(`  workflows started             ${wf.started.length}`);
  console.log(`  by refused input              ${wf.byRefusedInput.length} workflows, ${wf.unacceptedRows.length} order rows`);
  console.log(`  duration                      ${(f.durationMs / 1000).toFixed(1)} s`);
  console.log('');
  for (const x of f.serverErrors.slice(0, 10)) say(`5xx: ${x.method} ${x.path} → ${x.status}: ${(x.requestBody ?? '').slice(0, 300)}`);
  for (const c of f.checkFailures.slice(0, 10)) say(`failed check: ${c}`);
  for (const w of wf.byRefusedInput) say(`started by refused input: ${w.type} ${w.workflowId}`);
  for (const l of logLines.filter((x) => x.includes('unhandled error')).slice(0, 10)) say(`API: ${l}`);
  failed =
    f.serverErrors.length > 0 ||
    f.checkFailures.length > 0 ||
    f.exitCode !== 0 ||
    wf.byRefusedInput.length > 0 ||
    wf.unacceptedRows.length > 0;
  if (f.exitCode !== 0 && f.checkFailures.length === 0) say(`schemathesis exited with ${f.exitCode}:\n${f.outputTail}`);
  say(failed ? 'FAILED' : 'OK: no 5xx, every answer as documented, no workflow from refused input');
} catch (err) {
  failed = true;
  say(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  await stopAll();
  if (failed || args['keep-reports']) {
    say(`reports kept in ${join(dir, 'schemathesis', 'reports')}`);
    rmSync(join(dir, 'pg'), { recursive: true, force: true });
  } else {
    rmSync(dir, { recursive: true, force: true });
  }
}
process.exit(failed ? 1 : 0);
