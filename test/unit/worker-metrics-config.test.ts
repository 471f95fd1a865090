/** OMS_WORKER_METRICS_PORT / _HOST: where the worker serves its Temporal SDK metrics, if anywhere. */
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_WORKER_METRICS_PORT, loadConfig } from '../../lib/config';

describe('worker metrics config', () => {
  it('defaults to the loopback interface on the usual exporter port', () => {
    expect(loadConfig({}).workerMetrics).toEqual({ host: '127.0.0.1', port: DEFAULT_WORKER_METRICS_PORT });
    expect(DEFAULT_WORKER_METRICS_PORT).toBe(9464);
  });

  it('takes a port and a host, and turns off with 0 or off', () => {
    expect(loadConfig({ OMS_WORKER_METRICS_PORT: '9100', OMS_WORKER_METRICS_HOST: '0.0.0.0' }).workerMetrics).toEqual({
      host: '0.0.0.0',
      port: 9100,
    });
    expect(loadConfig({ OMS_WORKER_METRICS_PORT: ' 9101 ' }).workerMetrics).toEqual({ host: '127.0.0.1', port: 9101 });
    expect(loadConfig({ OMS_WORKER_METRICS_PORT: 'off' }).workerMetrics).toBeUndefined();
    expect(loadConfig({ OMS_WORKER_METRICS_PORT: '0' }).workerMetrics).toBeUndefined();
  });

  it.each(['70000', 'abc', '-1', '9464x', '1.5'])('rejects %s naming the variable', (value) => {
    expect(() => loadConfig({ OMS_WORKER_METRICS_PORT: value })).toThrow(ConfigError);
    expect(() => loadConfig({ OMS_WORKER_METRICS_PORT: value })).toThrow(/^invalid OMS_WORKER_METRICS_PORT: must be a port/);
  });
});
