/**
 * The sandbox as a process of its own (`npm run sandbox`): for dev, compose, and the chaos
 * runner, which kills and restarts it. SIGTERM/SIGINT stop it cleanly; with
 * SANDBOX_STATE_DIR its state survives that and `kill -9` alike.
 */
import { z } from 'zod';
import { DEV_CARRIER_SECRETS, DEV_CHANNEL_SECRETS } from '../lib/config';
import { DEV_SANDBOX_KEY, startSandbox } from './server';

const optional = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

/** "name=secret,name=secret", as OMS_CARRIER_SECRETS / OMS_CHANNEL_SECRETS are given to the OMS. */
const namedSecrets = optional.transform((raw, ctx): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const entry of (raw ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    if (eq <= 0 || eq === entry.length - 1) {
      ctx.addIssue({ code: 'custom', message: `entry "${entry.slice(0, Math.max(eq, 0)) || '?'}" must be name=secret` });
      return z.NEVER;
    }
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
});

const envSchema = z.object({
  SANDBOX_PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  SANDBOX_HOST: z.string().trim().min(1).default('127.0.0.1'),
  SANDBOX_STATE_DIR: optional,
  /** Where carrier webhooks go (the OMS API's base URL). */
  SANDBOX_OMS_URL: optional.pipe(z.url({ protocol: /^https?$/ }).optional()),
  SANDBOX_KEY: z.string().min(8).default(DEV_SANDBOX_KEY),
  SANDBOX_STEP_MS: z.coerce.number().int().min(1).default(200),
  /** Lifetime of new payment authorisations in ms; default 7 days. */
  SANDBOX_AUTH_TTL_MS: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).optional()),
  /** `off`: journal writes survive a killed process but are not fdatasync'd (faster; for benchmarks). */
  SANDBOX_FSYNC: z.enum(['on', 'off']).default('on'),
  OMS_CARRIER_SECRETS: namedSecrets,
  OMS_CHANNEL_SECRETS: namedSecrets,
});

const parsed = envSchema.safeParse(process.env);
if (!parsed.success) {
  for (const i of parsed.error.issues) console.error(`sandbox: ${i.path.join('.')}: ${i.message}`);
  process.exit(2);
}
const env = parsed.data;

const sandbox = await startSandbox({
  port: env.SANDBOX_PORT,
  host: env.SANDBOX_HOST,
  merchantKey: env.SANDBOX_KEY,
  omsBaseUrl: env.SANDBOX_OMS_URL ?? 'http://127.0.0.1:3000',
  carrierSecrets: { ...DEV_CARRIER_SECRETS, ...env.OMS_CARRIER_SECRETS },
  channelSecrets: { ...DEV_CHANNEL_SECRETS, ...env.OMS_CHANNEL_SECRETS },
  autoProgress: { enabled: true, stepMs: env.SANDBOX_STEP_MS },
  stateFsync: env.SANDBOX_FSYNC === 'on',
  ...(env.SANDBOX_STATE_DIR ? { stateDir: env.SANDBOX_STATE_DIR } : {}),
  ...(env.SANDBOX_AUTH_TTL_MS !== undefined ? { authorizationTtlMs: env.SANDBOX_AUTH_TTL_MS } : {}),
}).catch((err: unknown) => {
  console.error(`sandbox: failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
console.log(`sandbox listening on ${sandbox.url}${env.SANDBOX_STATE_DIR ? ` (state: ${env.SANDBOX_STATE_DIR})` : ''}`);

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  void sandbox.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error('sandbox: stop failed', err);
      process.exit(1);
    },
  );
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
