/**
 * API process for a real deployment: DATABASE_URL, TEMPORAL_ADDRESS and OMS_API_KEYS come from
 * the environment; workers run apart. In production mode (lib/config.ts) it refuses to start
 * without every key, secret and outside system; in development the rest is the sandbox's.
 */
import { loadConfigOrExit } from '../lib/config';
import { loadOrCreateDevKeys } from '../lib/dev-keys';
import { createLogger } from '../lib/logger';
import { surviveStrayRejections } from '../lib/stray-rejections';
import { resolveSystems, startStack } from '../lib/stack';
import { temporalConnectionOptions } from '../lib/temporal-connection';

const config = loadConfigOrExit(process.env, { service: true });
const logger = createLogger({ level: config.logLevel, base: { service: 'oms-api' } });
surviveStrayRejections(logger);
if (!config.databaseUrl) {
  process.stderr.write('config error: invalid DATABASE_URL: required for a standalone API (npm start runs an embedded one)\n');
  process.exit(1);
}
const stack = await startStack({
  databaseUrl: config.databaseUrl,
  temporalAddress: config.temporal.address ?? '127.0.0.1:7233',
  namespace: config.temporal.namespace,
  taskQueue: config.taskQueue,
  host: config.host,
  port: config.port,
  // Production mode has refused to start without OMS_API_KEYS: keys are generated in development only.
  apiKeys: config.apiKeys ?? loadOrCreateDevKeys(config.dataDir).keys,
  bodyLimitBytes: config.bodyLimitBytes,
  logger,
  orderSettings: config.orderSettings,
  rules: config.rules,
  carrierSecrets: config.carrierSecrets,
  channelSecrets: config.channelSecrets,
  systemsKey: config.systemsKey,
  returnWindows: config.returnWindows,
  runWorker: false,
  // Events leave for other companies' systems: over TLS only, in production.
  subscriberUrls: config.mode === 'production' ? 'https' : 'any',
  temporalConnection: temporalConnectionOptions(config.temporal),
  ...(config.mode === 'production'
    ? { systems: resolveSystems(config, '') }
    : config.sandbox.url
      ? { sandboxUrl: config.sandbox.url }
      : {}),
});
logger.info('api started', { url: stack.apiUrl, mode: config.mode });
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    void stack.stop().then(() => process.exit(0));
  });
