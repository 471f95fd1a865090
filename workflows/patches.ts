/**
 * How a workflow asks whether a change applies to the run it is in.
 *
 * Orders live for weeks, so a changed workflow must still replay the runs that started before
 * the change. Two ways, both here:
 *
 * - Patches (`patched(id)`) on the workflow types of runs already in flight: decided in the
 *   workflow's first task. On replay, `patched(id)` is true only once the server has handed over
 *   the task whose commands hold the patch's marker. A local activity that completes just as a
 *   new event arrives can have its continuation run live in the next task but on replay in the
 *   task before it; a `patched()` reached in that continuation then says false on replay and true
 *   live: a nondeterminism error that leaves the workflow stuck. Asked in the first task, every
 *   new workflow records all its markers there, and the later calls at the patched places find
 *   them known. Histories recorded before a patch existed have no marker in their first task, so
 *   for them the later calls decide as before.
 * - A versioned workflow type (`orderWorkflowV2`, …) for new runs: every patch of the type
 *   before it applies, and none is recorded. Each patch costs a run two history events (its
 *   marker and the search-attribute upsert the SDK makes beside it), so new runs start lean and
 *   only the patches made after the version bump are recorded.
 */
import { patched } from '@temporalio/workflow';

export interface Patches<Id extends string> {
  /** Whether the change `id` applies to this run. */
  has(id: Id): boolean;
}

/** The patches of a run of an older workflow type: markers, all decided in the first task. */
export function recordedPatches<Id extends string>(ids: readonly Id[]): Patches<Id> {
  for (const id of ids) patched(id);
  return { has: (id) => patched(id) };
}

/** A run of a versioned type: every listed change applies; `later` ones (made after the version) are recorded. */
export function versionedPatches<Id extends string>(later: readonly Id[] = []): Patches<Id> {
  const recorded = recordedPatches(later);
  return { has: (id) => (later.includes(id) ? recorded.has(id) : true) };
}
