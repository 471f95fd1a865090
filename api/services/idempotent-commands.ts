/**
 * Idempotency-Key for order commands. The key becomes the Temporal Update id
 * (`<command>:<key>`), so Temporal itself lets a command act once: a retry — even one sent while
 * the first is still running — gets the first one's outcome, never a second effect. What Temporal
 * accepted under the key is read back from the workflow's history (the effect's own record) and
 * kept in `command_requests` after the fact; that row answers once the workflow has closed and
 * tells a key reused for a different request.
 */
import { createHash } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { decodeArrayFromPayloads, decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow/index.js';

/** The commands that take a key: the Update id's prefix and the key's scope (with the order). */
export type CommandName = 'cancel' | 'returns' | 'inspection' | 'retry' | 'hold' | 'release';

/** 1-200 characters, letters, digits and `._:-` (a UUID fits). */
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,200}$/;

export const updateIdFor = (command: CommandName, key: string) => `${command}:${key}`;

/** JSON with object keys sorted, so the same request always hashes the same. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x ?? null)).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** The request as Temporal sees it: Update name and argument (the actor included). */
export function requestHash(updateName: string, arg: unknown): string {
  return createHash('sha256').update(canonicalJson({ updateName, arg })).digest('hex');
}

export interface UpdateRecord {
  name: string;
  arg: unknown;
  /** Absent while the Update has not completed. */
  outcome?: { ok: true; value: unknown } | { ok: false; error: Error };
}

/** Update `updateId` as the workflow's history has it: the request accepted and, once completed, its outcome. */
export async function findUpdate(client: Client, handle: WorkflowHandle, updateId: string): Promise<UpdateRecord | undefined> {
  const converter = client.options.loadedDataConverter;
  const events = (await handle.fetchHistory()).events ?? [];
  let found: UpdateRecord | undefined;
  for (const e of events) {
    const accepted = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
    if (accepted?.meta?.updateId === updateId && !found) {
      const [arg] = await decodeArrayFromPayloads(converter, accepted.input?.args?.payloads);
      found = { name: accepted.input?.name ?? '', arg };
      continue;
    }
    const completed = e.workflowExecutionUpdateCompletedEventAttributes;
    if (found && completed?.meta?.updateId === updateId) {
      const o = completed.outcome;
      if (o?.success) {
        const [value] = await decodeArrayFromPayloads(converter, o.success.payloads);
        found.outcome = { ok: true, value };
      } else {
        found.outcome = {
          ok: false,
          error: (await decodeOptionalFailureToOptionalError(converter, o?.failure)) ?? new Error('the command failed'),
        };
      }
      break;
    }
  }
  return found;
}
