/**
 * A round trip through every part: workflow → worker → activity → PostgreSQL. The smoke test of
 * a deployment (`temporal workflow start --type helloWorkflow ...`) and of the test harness.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { SystemActivities } from '../activities/system/system-activities';

const { greet } = proxyActivities<SystemActivities>({ startToCloseTimeout: '10 seconds', retry: { maximumAttempts: 3 } });

export async function helloWorkflow(name: string): Promise<string> {
  return greet(name);
}
