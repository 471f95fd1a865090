/**
 * One development service in a process (and process group) of its own, so the chaos runner can
 * `kill -9` it with everything it started — the embedded PostgreSQL server, or the Temporal dev
 * server on its SQLite file — and start it again on the same data. Prints one line
 * `chaos-service ready {json}` when it serves; SIGTERM stops it cleanly.
 */
import { z } from 'zod';
import { startEmbeddedPostgres, startTemporalDevServer, type RunningService } from '../../lib/dev-services';

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
