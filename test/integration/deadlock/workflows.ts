/** Workflows for test/integration/deadlock.test.ts: one that never gives control back, one that does. */
import { sleep } from '@temporalio/workflow';

/** Never yields: its first activation runs until the SDK's deadlock timeout ends it. */
export function neverYields(): Promise<number> {
  let spins = 0;
  while (spins >= 0) spins += 1;
  return Promise.resolve(spins);
}

/** Yields `n` times (a timer each) and returns `n`. */
export async function yieldsOften(n: number): Promise<number> {
  for (let i = 0; i < n; i++) await sleep(10);
  return n;
}
