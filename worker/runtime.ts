/**
 * The SDK runtime is process-wide and can be installed once: its logs go through our structured
 * logger at warn level (the worker's lifecycle chatter is not news), and it can serve the SDK's
 * own metrics (workflow and activity task latencies, polls, failures, slots...) for Prometheus.
 */
import { DefaultLogger, Runtime, type RuntimeOptions } from '@temporalio/worker';
import type { Logger } from '../lib/logger';

export interface WorkerRuntime {
  /** The Prometheus scrape URL of the SDK's metrics; undefined when not exported. */
  metricsUrl: string | undefined;
}

let installed: WorkerRuntime | undefined;

/**
 * Installs the runtime once per process; later calls (the embedded worker of `npm start` after
 * the launcher) get the first installation back. A metrics port that cannot be opened (in use)
 * is logged and skipped: the worker runs without metrics rather than not at all.
 */
export function installRuntime(logger: Logger, options: { metrics?: { host: string; port: number } | undefined } = {}): WorkerRuntime {
  if (installed) return installed;
  const base = (): RuntimeOptions => ({
    // Our entry points handle SIGINT/SIGTERM themselves and shut every part down in order;
    // the SDK's own handler would re-raise the signal and end the process with 130.
    shutdownSignals: [],
    // Core's own lines (a failed workflow task, a slow one) come through it too, not to the console
    // beside our JSON lines in a format of their own.
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
    logger: new DefaultLogger('WARN', (entry) => {
      const fields = { ...entry.meta, sdk: true };
      if (entry.level === 'ERROR') logger.error(entry.message, fields);
      else logger.warn(entry.message, fields);
    }),
  });
  if (options.metrics) {
    const host = options.metrics.host.includes(':') ? `[${options.metrics.host}]` : options.metrics.host;
    const bindAddress = `${host}:${options.metrics.port}`;
    try {
      // SDK defaults otherwise (names, units), so Temporal's published SDK dashboards apply as they are.
      const plain = base();
      Runtime.install({ ...plain, telemetryOptions: { ...plain.telemetryOptions, metrics: { prometheus: { bindAddress } } } });
      installed = { metricsUrl: `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${options.metrics.port}/metrics` };
      return installed;
    } catch (err) {
      // A failed install leaves no runtime behind; the plain one below still goes in.
      logger.warn('worker metrics not exported: the Prometheus endpoint could not be opened', { listen: bindAddress, error: err });
    }
  }
  Runtime.install(base());
  installed = { metricsUrl: undefined };
  return installed;
}
