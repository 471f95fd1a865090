/**
 * The SDK runtime is process-wide and can be installed once: its logs go through our structured
 * logger at warn level (the worker's lifecycle chatter is not news).
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Logger } from '../lib/logger';

let installed = false;

export function installRuntime(logger: Logger): void {
  if (installed) return;
  installed = true;
  Runtime.install({
    // Our entry points handle SIGINT/SIGTERM themselves and shut every part down in order;
    // the SDK's own handler would re-raise the signal and end the process with 130.
    shutdownSignals: [],
    logger: new DefaultLogger('WARN', (entry) => {
      const fields = { ...entry.meta, sdk: true };
      if (entry.level === 'ERROR') logger.error(entry.message, fields);
      else logger.warn(entry.message, fields);
    }),
  });
}
