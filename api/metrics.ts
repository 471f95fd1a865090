/** Prometheus metrics for the API: a registry per app so tests and several apps never collide. */
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ApiMetrics { registry: Registry; middleware: MiddlewareHandler }

export function createApiMetrics(opts: { defaultMetrics?: boolean } = {}): ApiMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const requests = new Counter({ name: 'oms_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const latency = new Histogram({
    name: 'oms_http_request_duration_seconds', help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
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
