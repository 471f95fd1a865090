/** Prometheus metrics for the API: a registry per app so tests and several apps never collide. */
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkflowStartRelay } from '../intake/workflow-starts';

export interface ApiMetrics {
  registry: Registry;
  middleware: MiddlewareHandler;
}

export function createApiMetrics(opts: { defaultMetrics?: boolean } = {}): ApiMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'oms_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'oms_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const middleware: MiddlewareHandler = async (c, next) => {
    const start = performance.now();
    await next();
    // The route pattern, not the raw path: ids in paths would explode the label set.
    const route = routePath(c, -1);
    const labels = { method: c.req.method, route: route === '*' || route === '/*' ? 'unmatched' : route, status: String(c.res.status) };
    requests.inc(labels);
    latency.observe(labels, (performance.now() - start) / 1000);
  };
  return { registry, middleware };
}

/**
 * The workflow-start backlog, read from PostgreSQL at scrape time (shared by every API process):
 * accepted orders and notifications whose workflow has not started yet, and how old the oldest is.
 * A growing backlog means Temporal is down or behind; orders are still being accepted.
 */
export function addStartBacklogMetrics(registry: Registry, starts: WorkflowStartRelay): void {
  let last: Promise<{ pending: number; oldestAgeSeconds: number; failing: number }> | undefined;
  // One query per scrape, however many gauges read it.
  const stats = () =>
    (last ??= starts.backlog().finally(() =>
      setTimeout(() => {
        last = undefined;
      }, 0),
    ));
  new Gauge({
    name: 'oms_workflow_starts_pending',
    help: 'Accepted orders and channel notifications whose workflow is not started yet (database-wide: every API process reports the same; aggregate with max)',
    registers: [registry],
    async collect() {
      this.set((await stats().catch(() => ({ pending: Number.NaN }))).pending);
    },
  });
  new Gauge({
    name: 'oms_workflow_starts_oldest_seconds',
    help: 'Age of the oldest workflow start still waiting (database-wide; aggregate with max)',
    registers: [registry],
    async collect() {
      this.set((await stats().catch(() => ({ oldestAgeSeconds: Number.NaN }))).oldestAgeSeconds);
    },
  });
  new Counter({
    name: 'oms_workflow_starts_total',
    help: "Workflow starts made by this process's relay, by outcome",
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ outcome: 'started' }, starts.counts.started);
      this.inc({ outcome: 'already_started' }, starts.counts.alreadyStarted);
      this.inc({ outcome: 'failed' }, starts.counts.failed);
    },
  });
}
