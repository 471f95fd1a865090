/**
 * API process for a real deployment: DATABASE_URL, TEMPORAL_ADDRESS, OMS_API_KEYS and
 * OMS_SANDBOX_URL (or real outside systems) come from the environment; workers run apart.
 */
import { loadConfigOrExit } from '../lib/config';
import { loadOrCreateDevKeys } from '../lib/dev-keys';
import { createLogger } from '../lib/logger';
import { surviveStrayRejections } from '../lib/stray-rejections';
import { startStack } from '../lib/stack';

const config = loadConfigOrExit();
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
  ...(config.sandbox.url ? { sandboxUrl: config.sandbox.url } : {}),
});
logger.info('api started', { url: stack.apiUrl });
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    void stack.stop().then(() => process.exit(0));
  });
