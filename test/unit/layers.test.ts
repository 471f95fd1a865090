/**
 * The layer rule in eslint.config.js bites: a forbidden import in a real file of each guarded
 * folder is reported, and an allowed one is not (`npm run check` runs the rule over the tree).
 */
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const eslint = new ESLint({ cwd: root });
const restricted = async (file: string, from: string) => {
  const [r] = await eslint.lintText(`import * as m from '${from}';\nexport const x = m;\n`, { filePath: `${root}/${file}` });
  return r!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
};

describe('layers', () => {
  it.each([
    ['activities/http.ts', '../api/errors'],
    ['activities/channels/channel-activities.ts', '../../api/services/order-service'],
    ['intake/order-intake.ts', '../api/errors'],
    ['domain/money.ts', '../db/client'],
    ['domain/money.ts', '../lib/logger'],
    ['db/orders-repo.ts', '../workflows/messages'],
    ['worker/create-worker.ts', '../sandbox/server'],
    ['sandbox/server.ts', '../db/client'],
  ])(
    '%s may not import %s',
    async (file, from) => {
      expect(await restricted(file, from)).toHaveLength(1);
    },
    60_000,
  );

  it.each([
    ['activities/channels/channel-activities.ts', '../../intake/order-intake'],
    ['api/routes/orders.ts', '../../intake/order-intake'],
    ['db/orders-repo.ts', '../domain/order'],
    ['intake/order-intake.ts', '../db/orders-repo'],
  ])(
    '%s may import %s',
    async (file, from) => {
      expect(await restricted(file, from)).toEqual([]);
    },
    60_000,
  );
});
