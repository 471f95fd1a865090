/**
 * Patches decided in the workflow's first task. On replay, `patched(id)` is true only once the
 * server has handed over the task whose commands hold the patch's marker. A local activity that
 * completes just as a new event arrives can have its continuation run live in the next task but
 * on replay in the task before it; a `patched()` reached in that continuation then says false on
 * replay and true live: a nondeterminism error that leaves the workflow stuck. Asked in the
 * first task, every new workflow records all its markers there, and the later calls at the
 * patched places find them known. Histories recorded before a patch existed have no marker in
 * their first task, so for them the later calls decide as before.
 */
import { patched } from '@temporalio/workflow';

export function decidePatchesUpFront(ids: readonly string[]): void {
  for (const id of ids) patched(id);
}
