/**
 * Records the histories of every path the suite drives, for the replay check.
 *
 * Run the whole suite with RECORD_PATH_HISTORIES=<label> and, before the dev server stops, the
 * teardown reads every order, shipment and return workflow of the run (finished or not), groups them by
 * what their histories do (the set of commands and messages: activity types, signals, updates,
 * children, timers, markers) and keeps the shortest history of each group in
 * `histories/paths/<label>/`. Each is first replayed against the code that recorded it: a history
 * that does not replay there (a test's own interceptor bundle) is left out and named in the log.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';

export const PATH_HISTORIES = fileURLToPath(new URL('./histories/paths', import.meta.url));
const TYPES = ['orderWorkflowV3', 'orderWorkflowV4', 'orderWorkflowV5', 'returnWorkflowV2'];

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** What one event adds to the path: its kind and the name of the activity, message, child or marker. */
function token(e: HistoryEvent): string | undefined {
  if (e.activityTaskScheduledEventAttributes) return `activity:${e.activityTaskScheduledEventAttributes.activityType?.name}`;
  if (e.workflowExecutionSignaledEventAttributes) return `signaled:${e.workflowExecutionSignaledEventAttributes.signalName}`;
  if (e.signalExternalWorkflowExecutionInitiatedEventAttributes)
    return `signal:${e.signalExternalWorkflowExecutionInitiatedEventAttributes.signalName}`;
  if (e.workflowExecutionUpdateAcceptedEventAttributes)
    return `update:${e.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest?.input?.name}`;
  if (e.startChildWorkflowExecutionInitiatedEventAttributes)
    return `child:${e.startChildWorkflowExecutionInitiatedEventAttributes.workflowType?.name}`;
  if (e.markerRecordedEventAttributes) return `marker:${e.markerRecordedEventAttributes.markerName}`;
  if (e.timerStartedEventAttributes) return 'timer';
  if (e.upsertWorkflowSearchAttributesEventAttributes) return 'search-attributes';
  if (e.childWorkflowExecutionFailedEventAttributes) return 'child-failed';
  if (e.activityTaskFailedEventAttributes) return 'activity-failed';
  return undefined;
}

/** The recorded path histories, parsed (gzipped JSON as the SDK writes it). */
export function readPathHistories(): { workflowId: string; history: unknown }[] {
  return readdirSync(PATH_HISTORIES, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json.gz'))
    .sort()
    .map((f) => ({ workflowId: f, history: JSON.parse(gunzipSync(readFileSync(join(PATH_HISTORIES, f))).toString('utf8')) as unknown }));
}

export async function recordPathHistories(opts: {
  address: string;
  namespace: string;
  bundlePath: string;
  label: string;
  log: (line: string) => void;
}): Promise<void> {
  const connection = await Connection.connect({ address: opts.address });
  const client = new Client({ connection, namespace: opts.namespace });
  const best = new Map<string, { name: string; json: Buffer; history: unknown }>();
  let seen = 0;
  try {
    // Running ones too (orders in their return window when the suite ends): a history replays as far as it goes.
    const query = `WorkflowType IN (${TYPES.map((t) => `'${t}'`).join(', ')})`;
    for await (const wf of client.workflow.list({ query })) {
      seen += 1;
      const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      const tokens = [...new Set((history.events ?? []).map(token).filter((t): t is string => t !== undefined))].sort();
      const key = `${wf.type}\n${tokens.join('\n')}`;
      const json = gzipSync(historyToJSON(history));
      const prev = best.get(key);
      if (prev && prev.json.length <= json.length) continue;
      const hash = createHash('sha256').update(key).digest('hex').slice(0, 10);
      best.set(key, { name: `${wf.type.replace(/V2$/, '')}-${hash}.json.gz`, json, history });
    }
    const dir = join(PATH_HISTORIES, opts.label);
    mkdirSync(dir, { recursive: true });
    let kept = 0;
    for (const { name, json, history } of best.values()) {
      try {
        await Worker.runReplayHistory({ workflowBundle: { codePath: opts.bundlePath } }, history, name);
      } catch (err) {
        opts.log(`path history ${name} left out: it does not replay against the recording code (${String(err).slice(0, 160)})`);
        continue;
      }
      writeFileSync(join(dir, name), json);
      kept += 1;
    }
    opts.log(`recorded ${kept} path histories (of ${best.size} paths, ${seen} workflows) into ${dir}`);
  } finally {
    await connection.close();
  }
}
