/**
 * One development service in a process (and process group) of its own, so the chaos runner can
 * `kill -9` it with everything it started — the embedded PostgreSQL server, the Temporal dev
 * server on its SQLite file, or a real Temporal server on PostgreSQL (cluster mode) — and start it
 * again on the same data. Prints one line
 * `chaos-service ready {json}` when it serves; SIGTERM stops it cleanly.
 */
import { z } from 'zod';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { startEmbeddedPostgres, startTemporalDevServer, type RunningService } from '../../lib/dev-services';
import {
  ensureTemporalServer,
  ensureNamespace,
  registerOrderSearchAttributes,
  setupTemporalSchemas,
  startTemporalServer,
  writeTemporalServerConfig,
} from '../../lib/temporal-server';

const envSchema = z.discriminatedUnion('CHAOS_SERVICE', [
  z.object({
    CHAOS_SERVICE: z.literal('postgres'),
    CHAOS_DIR: z.string().min(1),
    CHAOS_PORT: z.coerce.number().int().min(1).max(65535),
    CHAOS_DATABASE: z.string().min(1),
    // Killed processes lose nothing without fsync; only a power cut would. The chaos run kills processes.
    CHAOS_PG_FSYNC: z.enum(['on', 'off']).default('off'),
  }),
  z.object({
    CHAOS_SERVICE: z.literal('temporal'),
    CHAOS_DB_FILE: z.string().min(1),
    CHAOS_PORT: z.coerce.number().int().min(1).max(65535),
    CHAOS_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_CLI_PATH: z.string().optional(),
  }),
  z.object({
    CHAOS_SERVICE: z.literal('temporal-server'),
    CHAOS_DIR: z.string().min(1),
    CHAOS_PORT: z.coerce.number().int().min(1).max(65535),
    /** Ports of the server's other services and membership rings, comma-separated (8). */
    CHAOS_PORTS: z.string().regex(/^\d+(,\d+){7}$/),
    CHAOS_PG_HOST: z.string().min(1),
    CHAOS_PG_PORT: z.coerce.number().int().min(1).max(65535),
    CHAOS_PG_USER: z.string().min(1),
    CHAOS_PG_PASSWORD: z.string().min(1),
    CHAOS_NAMESPACE: z.string().min(1).default('default'),
  }),
]);

const parsed = envSchema.safeParse(process.env);
if (!parsed.success) {
  process.stderr.write(`chaos-service: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n`);
  process.exit(2);
}
const env = parsed.data;
const log = (line: string) => process.stderr.write(`${line}\n`);

let service: RunningService;
let ready: Record<string, unknown>;
try {
  if (env.CHAOS_SERVICE === 'postgres') {
    const pg = await startEmbeddedPostgres({
      dir: env.CHAOS_DIR,
      port: env.CHAOS_PORT,
      database: env.CHAOS_DATABASE,
      fsync: env.CHAOS_PG_FSYNC === 'on',
      log,
    });
    service = pg;
    ready = { url: pg.url, pid: pg.pid };
    // A server that dies under us (not by our SIGTERM) takes this host with it, so the runner sees it.
    void pg.exited.then((why) => {
      log(`postgres ended: ${why}`);
      process.exit(1);
    });
  } else if (env.CHAOS_SERVICE === 'temporal-server') {
    const s = await startRealServer(env);
    service = s;
    ready = { address: s.address, pid: s.pid };
  } else {
    const t = await startTemporalDevServer({
      cliPath: env.TEMPORAL_CLI_PATH,
      port: env.CHAOS_PORT,
      uiPort: 0,
      namespace: env.CHAOS_NAMESPACE,
      dbFile: env.CHAOS_DB_FILE,
      ui: false,
      log,
    });
    service = t;
    ready = { address: t.address, source: t.source };
  }
} catch (err) {
  log(`chaos-service: ${env.CHAOS_SERVICE} did not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
process.stdout.write(`chaos-service ready ${JSON.stringify(ready)}\n`);

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.removeAllListeners(sig);
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    void service.stop().finally(() => process.exit(0));
  });
}

/**
 * A real Temporal server (cluster mode): built once, its schemas set up on the PostgreSQL of the
 * run (retried until PostgreSQL answers), started on its own config, the namespace and the search
 * attributes registered. The server dying takes this host with it, so the runner sees it.
 */
async function startRealServer(
  e: Extract<typeof env, { CHAOS_SERVICE: 'temporal-server' }>,
): Promise<RunningService & { address: string; pid: number }> {
  const bins = await ensureTemporalServer(log);
  const pg = { host: e.CHAOS_PG_HOST, port: e.CHAOS_PG_PORT, user: e.CHAOS_PG_USER, password: e.CHAOS_PG_PASSWORD };
  for (let attempt = 1; ; attempt++) {
    try {
      setupTemporalSchemas(bins, pg, log);
      break;
    } catch (err) {
      if (attempt >= 60) throw err;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  const configDir = writeTemporalServerConfig(e.CHAOS_DIR, pg, e.CHAOS_PORT, e.CHAOS_PORTS.split(',').map(Number));
  const out = createWriteStream(join(e.CHAOS_DIR, 'server.log'), { flags: 'a' });
  const child = startTemporalServer(bins, configDir, out);
  const exited = new Promise<string>((resolve) => child.once('exit', (code, sig) => resolve(`exit ${code ?? sig}`)));
  let stopRequested = false;
  void exited.then((why) => {
    if (stopRequested) return;
    log(`temporal server ended: ${why}`);
    process.exit(1);
  });
  const address = `127.0.0.1:${e.CHAOS_PORT}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await ensureNamespace(connection, e.CHAOS_NAMESPACE, log);
        const added = await registerOrderSearchAttributes(connection, e.CHAOS_NAMESPACE);
        if (added.length) log(`search attributes registered: ${added.map((k) => k.name).join(', ')}`);
        // A namespace just registered reaches the frontend's cache a moment later.
        await connection.workflowService.describeNamespace({ namespace: e.CHAOS_NAMESPACE });
      } finally {
        await connection.close();
      }
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the Temporal server did not serve within 180 s: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  return {
    address,
    pid: child.pid!,
    stop: async () => {
      stopRequested = true;
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
