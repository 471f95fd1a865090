/**
 * `npm run temporal:search-attributes` on a real cluster: registers the order search attributes in
 * a namespace that lacks them, and leaves them alone when they exist.
 */
import { spawnSync } from 'node:child_process';
import { Connection } from '@temporalio/client';
import Long from 'long';
import { describe, expect, inject, it } from 'vitest';
import { ORDER_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { eventually } from '../support/fixtures';
import { uniqueSuffix } from '../support/harness';

const run = (namespace: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'scripts/register-search-attributes.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: namespace,
    },
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('registering search attributes', () => {
  it('adds the missing ones to a fresh namespace, then finds nothing to do', async () => {
    const namespace = `sa-${uniqueSuffix()}`;
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(86_400) },
      });
      await eventually(async () => (await connection.workflowService.describeNamespace({ namespace })).namespaceInfo?.name === namespace, {
        what: 'namespace ready',
      });
      const first = run(namespace);
      expect(first.status).toBe(0);
      expect(first.stdout).toContain(`Registered in ${namespace}: `);
      const listed = await connection.operatorService.listSearchAttributes({ namespace });
      for (const k of ORDER_SEARCH_ATTRIBUTES) expect(Object.keys(listed.customAttributes ?? {})).toContain(k.name);
      const second = run(namespace);
      expect(second.status).toBe(0);
      expect(second.stdout).toContain(`All ${ORDER_SEARCH_ATTRIBUTES.length} order search attributes already exist in ${namespace}.`);
    } finally {
      await connection.close();
    }
  }, 90_000);
});
