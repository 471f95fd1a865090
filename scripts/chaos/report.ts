/** The chaos run's report as text: orders by final state, faults by kind, invariants checked and violated. */
import type { ChaosReport } from './run';

const table = (rows: string[][]): string[] => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd());
};
const entries = (o: Record<string, number>) => Object.entries(o).sort(([, a], [, b]) => b - a);

export function formatReport(r: ChaosReport, firstViolations = 5): string {
  const out: string[] = [];
  out.push(
    `chaos run: ${r.ok ? 'PASSED' : 'FAILED'} — seed ${r.options.seed}, ${r.orders.accepted} orders accepted of ${r.orders.planned} sent${r.stoppedEarly ? ` (stopped early; ${r.options.orders} planned)` : ''}, ${r.durations.totalS}s`,
  );
  out.push(`machine: ${r.machine}`);
  out.push(`durations: setup ${r.durations.setupS}s, workload + faults ${r.durations.workloadS}s, drain ${r.durations.drainS}s`);
  out.push('');
  out.push('orders by final state');
  out.push(...table([['state', 'orders'], ...entries(r.orders.byFinalStatus).map(([k, v]) => [k, String(v)])]));
  out.push(
    `  by intake: ${entries(r.orders.byPath)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  if (!r.orders.settled) {
    out.push(
      `  NOT FINISHED when the drain ended: ${r.orders.unsettled.length} (${r.orders.unsettled.slice(0, 5).join(', ')}${r.orders.unsettled.length > 5 ? ', ...' : ''})`,
    );
    for (const s of r.orders.stuck) out.push(`    ${s.orderId} (workflow ${s.status}): ${s.why}`);
  }
  out.push('');
  out.push('faults injected');
  out.push(...table([['kind', 'count'], ...entries(r.faults).map(([k, v]) => [k, String(v)])]));
  const matched = r.sandboxFaults.reduce((a, f) => a + f.matched, 0);
  const applied = r.sandboxFaults.reduce((a, f) => a + f.applied, 0);
  const byTarget = new Map<string, { calls: number; e500: number; timeout: number }>();
  for (const f of r.sandboxFaults) {
    const t = byTarget.get(f.target) ?? { calls: 0, e500: 0, timeout: 0 };
    // The 5xx fault is rolled first, so it sees every call; the timeout sees what the 5xx spared.
    if (f.action === 'error500') {
      t.calls += f.matched;
      t.e500 += f.applied;
    } else t.timeout += f.applied;
    byTarget.set(f.target, t);
  }
  const totalCalls = [...byTarget.values()].reduce((a, t) => a + t.calls, 0);
  out.push(
    `  outside-system calls failed: ${applied} of ${totalCalls} (${totalCalls ? ((100 * applied) / totalCalls).toFixed(1) : '0'}%; ${matched} fault rolls)`,
  );
  out.push(
    ...table([
      ['operation', 'calls', '5xx', 'timeouts'],
      ...[...byTarget.entries()].map(([k, t]) => [k, String(t.calls), String(t.e500), String(t.timeout)]),
    ]),
  );
  const w = r.workload;
  const wd = r.watchdog;
  if (wd) {
    out.push(
      `  liveness watchdog (not a fault: ${wd.target}, ${wd.probe} every ${wd.intervalMs / 1000}s with a ${wd.probeTimeoutMs / 1000}s deadline, kill -9 and restart after ${wd.unhealthyAfterMs / 1000}s without an answer): ${r.watchdogRestarts} restart(s); ${wd.probes} probes, ${wd.failedProbes} failed`,
    );
    for (const x of wd.restarts) {
      out.push(
        `    ${new Date(x.at).toISOString().slice(11, 19)}Z pid ${x.pid ?? '?'}: no answer for ${Math.round(x.failingForMs / 1000)}s (${x.failedProbes} probes; last: ${x.lastError.slice(0, 120)}); serving again after ${Math.round(x.restartMs / 100) / 10}s`,
      );
    }
  } else {
    out.push('  liveness watchdog: off');
  }
  out.push(
    `  duplicate channel webhooks ${w.duplicateWebhooks}, reordered (stale) channel webhooks ${w.reorderedWebhooks}, client retries through outages ${w.clientRetries}`,
  );
  out.push(
    `  outside queues' rate limits kept by the Temporal server: ${r.queueRateLimits.map((l) => `${l.queue} ${l.kept ?? 'none'}/s${l.kept === l.asked ? '' : ` (asked ${l.asked}/s)`}`).join(', ')}`,
  );
  out.push('');
  out.push('what customers and ops did');
  out.push(
    `  cancels ${w.cancels.sent} (${entries(w.cancels.answered)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ')})`,
  );
  out.push(
    `  line cancels ${w.lineCancels.sent} (${entries(w.lineCancels.answered)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ')})`,
  );
  out.push(
    `  returns requested ${w.returns.requested} (refused ${w.returns.refused}, order never delivered ${w.returns.notDelivered}), inspected: accepted ${w.returns.inspected.accept}, rejected ${w.returns.inspected.reject}, by ops ${r.recovery.opsInspections}`,
  );
  out.push(`  orders that needed an ops retry: ${r.recovery.ordersRetried} (${r.recovery.retryCalls} retry calls)`);
  for (const [reason, n] of entries(r.recovery.attentionReasons).slice(0, 8)) out.push(`    ${n} × ${reason}`);
  const exits = entries(r.recovery.unplannedExits);
  out.push(`  processes that died on their own (restarted): ${exits.length ? exits.map(([k, v]) => `${k} ×${v}`).join(', ') : 'none'}`);
  if (w.notAccepted.length)
    out.push(`  orders the OMS never accepted: ${w.notAccepted.length} (first: ${w.notAccepted[0]!.orderId}: ${w.notAccepted[0]!.why})`);
  out.push('');
  out.push('invariants');
  out.push(
    ...table([['invariant', 'checked', 'violated'], ...r.invariants.map((i) => [i.name, String(i.checked), String(i.violations.length)])]),
  );
  for (const i of r.invariants.filter((x) => x.violations.length)) {
    out.push(`  ${i.name}: ${i.description}`);
    for (const v of i.violations.slice(0, firstViolations)) out.push(`    ${v.subject}: ${v.detail}`);
    if (i.violations.length > firstViolations) out.push(`    ... and ${i.violations.length - firstViolations} more`);
  }
  return out.join('\n');
}
