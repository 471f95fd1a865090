/**
 * The CI-sized chaos run: a few hundred orders through the real stack as separate processes —
 * its own PostgreSQL and Temporal dev server (it restarts them), the sandbox with a state dir, two
 * workers and the API — while workers, the API and then everything are killed with `kill -9`,
 * PostgreSQL and the dev server restart, the dev server hangs (SIGSTOP, healed only by the runner's
 * liveness watchdog), 30% of the gateway's, carriers' and channels' calls fail or time out and
 * authorisations expire. Once the faults stop, every order must settle (ops
 * retrying what needs attention) and every invariant must hold. `npm run chaos` is the long run.
 */
import { describe, expect, it } from 'vitest';
import { formatReport } from '../../scripts/chaos/report';
import { runChaos, type ChaosReport } from '../../scripts/chaos/run';

// The children get the tools' paths and home, none of this process's OMS settings.
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    (kv): kv is [string, string] => kv[1] !== undefined && /^(PATH|HOME|USER|LANG|LC_ALL|TMPDIR|TEMPORAL_CLI_PATH)$/.test(kv[0]),
  ),
);

describe('chaos (CI size)', () => {
  it(
    'keeps every invariant through worker, API and whole-stack kills, restarts, a hung dev server and 30% outside errors',
    async () => {
      const report: ChaosReport = await runChaos({
        orders: 200,
        workloadSeconds: 120,
        drainSeconds: 480,
        stallSeconds: 150,
        seed: 424242,
        workers: 2,
        maxInFlight: 100,
        faults: {
          workerKills: 3,
          apiKills: 1,
          stackKills: 1,
          postgresRestarts: 1,
          temporalRestarts: 1,
          temporalHangs: 1,
          errorRate: 0.3,
          authorizationTtlMs: 3_000_000,
          authorizationExpiries: 6,
        },
        returnWindow: '15s',
        backorderTimeout: '45s',
        sandboxStepMs: 300,
        baseEnv,
        log: (l) => {
          process.stdout.write(`[chaos] ${l}\n`);
        },
      });
      const text = formatReport(report);
      process.stdout.write(`\n${text}\n`);

      // The run did what it claims: the faults happened, at the rate asked for.
      expect(report.workload.notAccepted, text).toEqual([]);
      expect(report.orders.accepted).toBe(200);
      expect(report.faults['worker-kill']).toBe(3);
      expect(report.faults['api-kill']).toBe(1);
      expect(report.faults['stack-kill']).toBe(1);
      expect(report.faults['postgres-restart']).toBe(1);
      expect(report.faults['temporal-restart']).toBe(1);
      // The hung dev server (SIGSTOP, never continued) was healed by the liveness watchdog, and
      // only by it.
      expect(report.faults['temporal-hang']).toBe(1);
      expect(report.faults['temporal-hang NOT healed by the watchdog']).toBeUndefined();
      // The hang the plan injects is healed by the watchdog; a genuine wedge of the dev server on a busy machine would add one more.
      expect(report.watchdogRestarts, text).toBeGreaterThanOrEqual(1);
      expect(report.faults['authorisation expired now']).toBeGreaterThanOrEqual(1);
      const calls = report.sandboxFaults.filter((f) => f.action === 'error500').reduce((a, f) => a + f.matched, 0);
      const failed = report.sandboxFaults.reduce((a, f) => a + f.applied, 0);
      expect(calls).toBeGreaterThan(100);
      expect(failed / calls).toBeGreaterThan(0.2);
      expect(failed / calls).toBeLessThan(0.4);

      // And the OMS came through it: every order finished and every invariant holds.
      expect(report.orders.unsettled, text).toEqual([]);
      expect(
        report.invariants
          .filter((i) => i.violations.length)
          .map(
            (i) =>
              `${i.name}: ${i.violations
                .slice(0, 3)
                .map((v) => `${v.subject} ${v.detail}`)
                .join('; ')}`,
          ),
        text,
      ).toEqual([]);
      expect(report.ok).toBe(true);
    },
    25 * 60_000,
  );
});
