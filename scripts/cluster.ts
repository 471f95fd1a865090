/**
 * `npm run test:cluster`: the order service on a real Temporal cluster. A Temporal server
 * (go.temporal.io/server v1.29.1, built once with Go into ~/.cache/durable-oms, schemas set up
 * with its SQL tool) on PostgreSQL, two worker processes, two API processes and the sandbox on
 * its own; a mixed workload through both APIs while one worker is killed, one API is killed and
 * the Temporal server is restarted; then every order must finish and every invariant hold. It is
 * the chaos runner (scripts/chaos.ts) with these settings; any CHAOS_* variable still overrides.
 */
const CLUSTER_DEFAULTS: Record<string, string> = {
  CHAOS_TEMPORAL: 'cluster',
  CHAOS_APIS: '2',
  CHAOS_WORKERS: '2',
  CHAOS_ORDERS: '60',
  CHAOS_SECONDS: '90',
  CHAOS_DRAIN_SECONDS: '600',
  CHAOS_WORKER_KILLS: '1',
  CHAOS_API_KILLS: '1',
  CHAOS_TEMPORAL_RESTARTS: '1',
  CHAOS_STACK_KILLS: '0',
  CHAOS_PG_RESTARTS: '0',
  CHAOS_TEMPORAL_HANGS: '0',
  CHAOS_ERROR_RATE: '0.1',
  CHAOS_AUTH_EXPIRIES: '0',
};
for (const [k, v] of Object.entries(CLUSTER_DEFAULTS)) process.env[k] ??= v;
await import('./chaos');
export {};
