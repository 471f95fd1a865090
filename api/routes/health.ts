/** Liveness, readiness and metrics: unauthenticated, for load balancers and Prometheus. */
import { createRoute, z } from '@hono/zod-openapi';
import type { App } from '../app';
import type { ApiMetrics } from '../metrics';

export interface HealthChecks {
  postgres: () => Promise<void>;
  temporal: () => Promise<void>;
}

const ReadySchema = z
  .object({
    status: z.enum(['ready', 'not-ready']),
    checks: z.object({ postgres: z.string(), temporal: z.string() }),
  })
  .openapi('Readiness', { example: { status: 'not-ready', checks: { postgres: 'ok', temporal: 'failing: no answer in 2000 ms' } } });

const withTimeout = async (check: () => Promise<void>, ms: number): Promise<string> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, rej) => {
        timer = setTimeout(() => rej(new Error(`no answer in ${ms} ms`)), ms);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return `failing: ${(err as Error).message.slice(0, 120)}`;
  } finally {
    clearTimeout(timer);
  }
};

export function registerHealthRoutes(app: App, checks: HealthChecks, metrics: ApiMetrics): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/healthz',
      tags: ['health'],
      summary: 'Liveness: the process answers',
      responses: {
        200: {
          description: 'Alive',
          content: { 'application/json': { schema: z.object({ status: z.literal('ok') }).openapi({ example: { status: 'ok' } }) } },
        },
      },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/readyz',
      tags: ['health'],
      summary: 'Readiness: Temporal and PostgreSQL reachable',
      responses: {
        200: { description: 'Ready', content: { 'application/json': { schema: ReadySchema } } },
        503: { description: 'A dependency is unreachable', content: { 'application/json': { schema: ReadySchema } } },
      },
    }),
    async (c) => {
      const [postgres, temporal] = await Promise.all([withTimeout(checks.postgres, 2000), withTimeout(checks.temporal, 2000)]);
      const ok = postgres === 'ok' && temporal === 'ok';
      return ok
        ? c.json({ status: 'ready' as const, checks: { postgres, temporal } }, 200)
        : c.json({ status: 'not-ready' as const, checks: { postgres, temporal } }, 503);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/metrics',
      tags: ['health'],
      summary: 'Prometheus metrics',
      responses: {
        200: {
          description: 'Prometheus text format',
          content: {
            'text/plain': {
              schema: z.string().openapi({ example: 'oms_http_requests_total{method="GET",route="/v1/orders/:orderId",status="200"} 42' }),
            },
          },
        },
      },
    }),
    async (c) => c.text(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }),
  );
}
