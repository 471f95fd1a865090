/**
 * A real Temporal server (not the dev server) on PostgreSQL, for cluster mode: the server and its
 * SQL schema tool built once with Go from the module proxy into a cache outside the clone, the
 * schemas (`temporal`, `temporal_visibility`, plugin postgres12) set up from the schema files in
 * the module cache, a config of its own, and the server started as a child process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from '@temporalio/client';
import type Long from 'long';
import { ORDER_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { findGo, goInstall, isExecutable } from './temporal-cli';

/** The newest server release the machine's Go builds (v1.32 needs a newer Go). */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';

export interface TemporalServerBinaries {
  server: string;
  sqlTool: string;
  /** The PostgreSQL schema directory of this release (`.../schema/postgresql/v12`). */
  schemaDir: string;
}

function serverCacheDir(env: Record<string, string | undefined>): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'durable-oms', 'temporal-server', TEMPORAL_SERVER_VERSION);
}

/** Finds the cached server and schema tool, or builds them (about 2.5 minutes the first time). */
export async function ensureTemporalServer(
  log: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
): Promise<TemporalServerBinaries> {
  const go = findGo(env);
  if (!go) throw new Error('cluster mode builds the Temporal server with Go, and Go is not installed');
  const bin = join(serverCacheDir(env), 'bin');
  const server = join(bin, 'server');
  const sqlTool = join(bin, 'sql');
  if (!isExecutable(server) || !isExecutable(sqlTool)) {
    await goInstall(
      go,
      [`go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`, `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`],
      bin,
      `the Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL tool`,
      log,
      env,
    );
  }
  const modCache = spawnSync(go, ['env', 'GOMODCACHE'], { encoding: 'utf8', env: { ...env } }).stdout.trim();
  const schemaDir = join(modCache, `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`, 'schema', 'postgresql', 'v12');
  if (!existsSync(schemaDir)) {
    // The binaries are cached but the module cache was cleaned: fetch the module's source again.
    const got = spawnSync(go, ['mod', 'download', `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`], {
      stdio: 'inherit',
      env: { ...env },
    });
    if (got.status !== 0 || !existsSync(schemaDir))
      throw new Error(`the schema files of ${TEMPORAL_SERVER_VERSION} are not in ${schemaDir}`);
  }
  return { server, sqlTool, schemaDir };
}

export interface PostgresEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** Creates (if missing) and migrates Temporal's two databases to this release's schema. Idempotent. */
export function setupTemporalSchemas(bins: TemporalServerBinaries, pg: PostgresEndpoint, log: (line: string) => void): void {
  const base = ['--plugin', 'postgres12', '--ep', pg.host, '-p', String(pg.port), '-u', pg.user, '--pw', pg.password];
  const run = (args: string[]) => {
    const r = spawnSync(bins.sqlTool, [...base, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`temporal sql tool ${args.join(' ')} failed: ${(r.stderr || r.stdout).slice(-800)}`);
  };
  for (const [db, dir] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ] as const) {
    // create-database fails when it exists; setup-schema -v 0.0 is idempotent; update-schema applies what is new.
    spawnSync(bins.sqlTool, [...base, '--db', db, 'create-database'], { encoding: 'utf8' });
    run(['--db', db, 'setup-schema', '-v', '0.0']);
    run(['--db', db, 'update-schema', '-d', join(bins.schemaDir, dir, 'versioned')]);
    log(`temporal schema ${db} ready`);
  }
}

/** The server's config: one node, every service, PostgreSQL for history and visibility. */
export function writeTemporalServerConfig(dir: string, pg: PostgresEndpoint, frontendPort: number, ports: number[]): string {
  mkdirSync(dir, { recursive: true });
  const [historyPort, matchingPort, workerPort, membership1, membership2, membership3, membership4, httpPort] = ports;
  const sqlStore = (db: string) => `
      sql:
        pluginName: "postgres12"
        databaseName: "${db}"
        connectAddr: "${pg.host}:${pg.port}"
        connectProtocol: "tcp"
        user: "${pg.user}"
        password: "${pg.password}"
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: "1h"`;
  const yaml = `log:
  stdout: true
  level: warn

persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
    default:${sqlStore('temporal')}
    visibility:${sqlStore('temporal_visibility')}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"

services:
  frontend:
    rpc:
      grpcPort: ${frontendPort}
      membershipPort: ${membership1}
      bindOnLocalHost: true
      httpPort: ${httpPort}
  matching:
    rpc:
      grpcPort: ${matchingPort}
      membershipPort: ${membership2}
      bindOnLocalHost: true
  history:
    rpc:
      grpcPort: ${historyPort}
      membershipPort: ${membership3}
      bindOnLocalHost: true
  worker:
    rpc:
      grpcPort: ${workerPort}
      membershipPort: ${membership4}
      bindOnLocalHost: true

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${frontendPort}"

dcRedirectionPolicy:
  policy: "noop"

archival:
  history:
    state: "disabled"
  visibility:
    state: "disabled"

namespaceDefaults:
  archival:
    history:
      state: "disabled"
    visibility:
      state: "disabled"

dynamicConfigClient:
  filepath: "${join(dir, 'dynamic.yaml')}"
  pollInterval: "60s"
`;
  writeFileSync(join(dir, 'development.yaml'), yaml);
  // Short caches, so a namespace and search attributes registered at start are seen at once.
  writeFileSync(
    join(dir, 'dynamic.yaml'),
    `frontend.enableUpdateWorkflowExecution:
  - value: true
frontend.enableUpdateWorkflowExecutionAsyncAccepted:
  - value: true
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
    constraints: {}
`,
  );
  return dir;
}

/** Starts the server on its config; its output goes to `logFile`'s stream. */
export function startTemporalServer(bins: TemporalServerBinaries, configDir: string, out: NodeJS.WritableStream): ChildProcess {
  const child = spawn(bins.server, ['--root', configDir, '--config', '.', '--env', 'development', '--allow-no-auth', 'start'], {
    cwd: configDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  return child;
}

const INDEXED_VALUE_TYPE: Record<string, number> = { TEXT: 1, KEYWORD: 2, INT: 3, DOUBLE: 4, BOOL: 5, DATETIME: 6, KEYWORD_LIST: 7 };

/** Registers the namespace when it is missing (a fresh cluster has none). */
export async function ensureNamespace(
  connection: Connection,
  namespace: string,
  log: (line: string) => void,
  retentionDays = 3,
): Promise<void> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch {
    await connection.workflowService.registerNamespace({
      namespace,
      // protobufjs takes a number for an int64; the type names Long.
      workflowExecutionRetentionPeriod: { seconds: (retentionDays * 86_400) as unknown as Long },
    });
    log(`namespace ${namespace} registered`);
  }
}

/** Adds the order search attributes the namespace lacks; returns those it added. */
export async function registerOrderSearchAttributes(connection: Connection, namespace: string) {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = ORDER_SEARCH_ATTRIBUTES.filter((k) => !(k.name in (existing.customAttributes ?? {})));
  if (missing.length) {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED_VALUE_TYPE[k.type]!])),
    });
  }
  return missing;
}

/**
 * A free loopback port below 32768: the server keeps its membership ports in a PostgreSQL
 * smallint column, so the kernel's ephemeral ports (32768 and up, what port 0 gives) fail there.
 */
export async function freeLowPort(taken: ReadonlySet<number> = new Set()): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below 32768 on 127.0.0.1');
}
