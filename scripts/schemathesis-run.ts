/**
 * One schemathesis run against a live API: every operation of its own `/openapi.json`, each
 * with the API key of a role it admits (signed webhooks with none: they must refuse unsigned
 * bodies with a 4xx), a fixed seed and a bounded number of examples. The run's HAR report (every
 * request and its answer) is read back into figures: requests, statuses, 5xx, and which orders
 * the API accepted (2xx) — so a caller can prove no workflow started from anything else.
 * Used by `npm run fuzz` (scripts/fuzz.ts) and the suite (test/fuzz/schemathesis.test.ts).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sql } from '../db/client';
import type { Role } from '../lib/config';
import { isOrderWorkflowType } from '../workflows/types';

/** One API key per role the run uses; `channel` is a key of the channel its orders claim. */
export type RoleKeys = Record<Exclude<Role, 'carrier' | 'finance'>, string>;

export interface SchemathesisRunOptions {
  /** The `st` command (scripts/ensure-schemathesis.ts). */
  st: string;
  apiUrl: string;
  keys: RoleKeys;
  /** Test cases per operation in the fuzzing phase (the coverage phase adds its own boundary cases). */
  maxExamples: number;
  /** More (or fewer) for some operations, by `METHOD /path`: the intake deserves the most. */
  examplesFor?: Record<string, number>;
  seed: number;
  /** Checks to run; `not_a_server_error` at least. */
  checks: string[];
  /** Where the config and the reports go. */
  workDir: string;
  workers?: number;
  /** Schemathesis' phases; all but stateful by default (the document has no links to follow). */
  phases?: string[];
  /** A time budget for the whole run, in seconds. */
  maxTimeSeconds?: number;
  log?: (line: string) => void;
}

/** One request schemathesis sent and the answer it got. */
export interface Exchange {
  method: string;
  /** The URL path, without the query. */
  path: string;
  status: number;
  contentType: string;
  requestBody: string | undefined;
  responseBody: string;
}

export interface SchemathesisFigures {
  exitCode: number;
  durationMs: number;
  operations: number;
  requests: number;
  byStatus: Record<string, number>;
  serverErrors: Exchange[];
  /** Failed checks and run errors as schemathesis reported them (JUnit), e.g. a schema mismatch. */
  checkFailures: string[];
  /** Order ids the API accepted with a 2xx (`POST /v1/orders`, channel webhooks). */
  acceptedOrderIds: Set<string>;
  exchanges: Exchange[];
  /** The last lines of schemathesis' own output, for a failure message. */
  outputTail: string;
}

interface OpenApiDoc {
  paths: Record<string, Record<string, { 'x-roles'?: string[] }>>;
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch']);

/**
 * The key each operation is called with: reads as `cs` (the role that sees everything about a
 * customer, so the most code runs), commands as `ops`, catalog writes as `admin`, intake as the
 * channel. Operations without `x-roles` (probes, docs, signed webhooks) get no key.
 */
export function keyFor(method: string, roles: string[] | undefined, keys: RoleKeys): string | undefined {
  if (!roles?.length) return undefined;
  const order: (keyof RoleKeys)[] = method === 'get' ? ['cs', 'ops', 'admin', 'channel'] : ['ops', 'admin', 'cs', 'channel'];
  const role = order.find((r) => roles.includes(r));
  return role ? keys[role] : undefined;
}

const tomlString = (s: string) => JSON.stringify(s);
const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * schemathesis.toml: the examples per operation, and one `[[operations]]` entry per operation
 * that takes a key or its own number of examples. (Examples go here, not on the command line:
 * a CLI option would override every operation's own.)
 */
export function configFor(
  doc: OpenApiDoc,
  keys: RoleKeys,
  maxExamples: number,
  examplesFor: Record<string, number> = {},
): { toml: string; operations: number } {
  const parts: string[] = ['# Written by scripts/schemathesis-run.ts for one run.', '[generation]', `max-examples = ${maxExamples}`, ''];
  let operations = 0;
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!HTTP_METHODS.has(method)) continue;
      operations += 1;
      const key = keyFor(method, op['x-roles'], keys);
      const examples = examplesFor[`${method.toUpperCase()} ${path}`];
      if (!key && examples === undefined) continue;
      parts.push(
        '[[operations]]',
        `include-path-regex = ${tomlString(`^${escapeRegex(path)}$`)}`,
        `include-method = ${tomlString(method.toUpperCase())}`,
      );
      if (key) parts.push(`headers = { Authorization = ${tomlString(`Bearer ${key}`)} }`);
      if (examples !== undefined) parts.push(`generation = { max-examples = ${examples} }`);
      parts.push('');
    }
  }
  return { toml: parts.join('\n'), operations };
}

interface HarEntry {
  request: { method: string; url: string; postData?: { text?: string } };
  response: { status: number; content?: { mimeType?: string; text?: string } };
}

/** Reads the HAR report into exchanges. */
export function readHar(file: string): Exchange[] {
  const har = JSON.parse(readFileSync(file, 'utf8')) as { log: { entries: HarEntry[] } };
  return har.log.entries.map((e) => ({
    method: e.request.method,
    path: new URL(e.request.url).pathname,
    status: e.response.status,
    contentType: e.response.content?.mimeType ?? '',
    requestBody: e.request.postData?.text,
    responseBody: e.response.content?.text ?? '',
  }));
}

/** The order ids in 2xx answers of the two intake routes. */
export function acceptedOrders(exchanges: Exchange[]): Set<string> {
  const ids = new Set<string>();
  for (const x of exchanges) {
    if (x.method !== 'POST' || x.status < 200 || x.status >= 300) continue;
    if (x.path !== '/v1/orders' && !/^\/v1\/channels\/[^/]+\/webhooks$/.test(x.path)) continue;
    try {
      const body = JSON.parse(x.responseBody) as { orderId?: unknown };
      if (typeof body.orderId === 'string') ids.add(body.orderId);
    } catch {
      /* a 2xx without a JSON body names no order */
    }
  }
  return ids;
}

const unescapeXml = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#10;/g, '\n')
    .replace(/&amp;/g, '&');

/** The failures and errors of a JUnit report: operation, kind and the start of the message. */
export function junitFailures(xml: string): string[] {
  const out: string[] = [];
  for (const m of xml.matchAll(/<testcase[^>]*name="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g)) {
    for (const f of m[2]!.matchAll(/<(failure|error)([^>]*)>([\s\S]*?)<\/\1>/g)) {
      const message = /message="([^"]*)"/.exec(f[2]!)?.[1] ?? f[3]!;
      out.push(`${unescapeXml(m[1]!)} (${f[1]}): ${unescapeXml(message).trim().split('\n').slice(0, 6).join(' | ').slice(0, 600)}`);
    }
  }
  return out;
}

/** Runs schemathesis once and reads its reports. Resolves whatever schemathesis found; rejects only if it could not run. */
export async function runSchemathesis(o: SchemathesisRunOptions): Promise<SchemathesisFigures> {
  const log = o.log ?? (() => {});
  mkdirSync(o.workDir, { recursive: true });
  const docRes = await fetch(`${o.apiUrl}/openapi.json`);
  if (!docRes.ok) throw new Error(`GET /openapi.json answered ${docRes.status}`);
  const { toml, operations } = configFor((await docRes.json()) as OpenApiDoc, o.keys, o.maxExamples, o.examplesFor);
  const configFile = join(o.workDir, 'schemathesis.toml');
  writeFileSync(configFile, toml);
  const reportDir = join(o.workDir, 'reports');
  const harFile = join(reportDir, 'requests.har.json');
  const junitFile = join(reportDir, 'junit.xml');
  const args = [
    '--config-file',
    configFile,
    'run',
    `${o.apiUrl}/openapi.json`,
    '--url',
    o.apiUrl,
    '--checks',
    o.checks.join(','),
    '--seed',
    String(o.seed),
    '--phases',
    (o.phases ?? ['examples', 'coverage', 'fuzzing']).join(','),
    // One worker: hypothesis' source inspection is not thread-safe and errors now and then with more.
    '--workers',
    String(o.workers ?? 1),
    // No example database: a run must not depend on what an earlier one found.
    '--generation-database',
    'none',
    '--report',
    'junit,har',
    '--report-dir',
    reportDir,
    '--report-har-path',
    harFile,
    '--report-junit-path',
    junitFile,
    '--request-timeout',
    '30',
    '--no-color',
    '--continue-on-failure',
    ...(o.maxTimeSeconds ? ['--max-time', String(o.maxTimeSeconds)] : []),
  ];
  log(`schemathesis: ${operations} operations, seed ${o.seed}, ${o.maxExamples} examples each, checks ${o.checks.join(',')}`);
  const t0 = Date.now();
  const output: string[] = [];
  const exitCode = await new Promise<number>((resolve, reject) => {
    // The work dir is the cwd: nothing (.hypothesis, reports) lands in the clone.
    const child = spawn(o.st, args, { cwd: o.workDir, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        output.push(line);
        if (output.length > 400) output.shift();
        // Phase headers and the summary, so a long run shows it is alive.
        if (/^(Examples|Coverage|Fuzzing|Stateful|=+ [^=]|\d+ generated)/.test(line.trim())) log(`  ${line.trim()}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? -1));
  });
  const durationMs = Date.now() - t0;
  const outputTail = output.slice(-80).join('\n');
  let exchanges: Exchange[];
  try {
    exchanges = readHar(harFile);
  } catch (err) {
    throw new Error(
      `schemathesis exited with ${exitCode} and left no readable HAR report (${String(err)}):\n${outputTail}\nreports: ${safeList(reportDir)}`,
    );
  }
  const byStatus: Record<string, number> = {};
  for (const x of exchanges) byStatus[x.status] = (byStatus[x.status] ?? 0) + 1;
  let checkFailures: string[] = [];
  try {
    checkFailures = junitFailures(readFileSync(junitFile, 'utf8'));
  } catch {
    /* no JUnit report: the exit code says enough */
  }
  return {
    exitCode,
    durationMs,
    operations,
    requests: exchanges.length,
    byStatus,
    serverErrors: exchanges.filter((x) => x.status >= 500),
    checkFailures,
    acceptedOrderIds: acceptedOrders(exchanges),
    exchanges,
    outputTail,
  };
}

function safeList(dir: string): string {
  try {
    return readdirSync(dir).join(', ');
  } catch {
    return '(none)';
  }
}

/** One line per status class and the busiest statuses, for logs and docs. */
export function describeFigures(f: SchemathesisFigures): string {
  const statuses = Object.entries(f.byStatus)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([s, n]) => `${s}×${n}`)
    .join(' ');
  return (
    `${f.requests} requests over ${f.operations} operations in ${(f.durationMs / 1000).toFixed(1)}s; statuses ${statuses}; ` +
    `5xx: ${f.serverErrors.length}; failed checks: ${f.checkFailures.length}; orders accepted: ${f.acceptedOrderIds.size}`
  );
}

/** Who started what during a run: every order or intake workflow, and those no 2xx explains. */
export interface StartedWorkflows {
  started: { workflowId: string; type: string }[];
  byRefusedInput: { workflowId: string; type: string }[];
  /** Order rows in PostgreSQL whose intake the API did not answer with a 2xx. */
  unacceptedRows: string[];
}

/**
 * Checks that nothing but an accepted intake started an order: every row of `orders` and every
 * order or intake workflow on the task queue belongs to an order id answered 2xx. Visibility
 * lags a little, so it first waits until the listing shows every accepted order that runs here.
 */
export async function workflowsStarted(
  client: Client,
  sql: Sql,
  taskQueue: string,
  accepted: Set<string>,
  timeoutMs = 30_000,
): Promise<StartedWorkflows> {
  const rows = await sql<{ orderId: string }[]>`select order_id as "orderId" from orders`;
  const ours: string[] = [];
  for (const id of accepted) {
    try {
      if ((await client.workflow.getHandle(id).describe()).taskQueue === taskQueue) ours.push(id);
    } catch (err) {
      // Accepted but running elsewhere is impossible here; not found means it was never started.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  const deadline = Date.now() + timeoutMs;
  let listed: { workflowId: string; type: string }[] = [];
  for (;;) {
    listed = [];
    for await (const w of client.workflow.list({ query: `TaskQueue = '${taskQueue}'` }))
      listed.push({ workflowId: w.workflowId, type: w.type });
    if (ours.every((id) => listed.some((w) => w.workflowId === id))) break;
    if (Date.now() > deadline) throw new Error(`visibility did not list all ${ours.length} accepted orders within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const started = listed.filter((w) => isOrderWorkflowType(w.type) || w.type === 'channelIntakeWorkflow');
  return {
    started,
    byRefusedInput: started.filter((w) => !accepted.has(w.workflowId.replace(/^intake-/, 'order-'))),
    unacceptedRows: rows.map((r) => r.orderId).filter((id) => !accepted.has(id)),
  };
}
