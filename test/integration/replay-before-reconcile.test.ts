/**
 * Shipments and returns recorded with the workflow code from before tracking reconciliation,
 * re-authorisation share release and in-doubt booking settlement (commit e12c6db): each must
 * replay against today's code, which takes those paths only behind `patched(...)`. Recorded from
 * real runs: a shipment that re-authorised before capturing, one still in transit waiting for
 * webhooks, one cancelled while its booking call was cut short, a return received and accepted,
 * and a return still waiting for its parcel.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const HISTORIES = fileURLToPath(new URL('./histories-before-reconcile', import.meta.url));

describe('replay of histories from before the reconciliation changes', () => {
  const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));
  it('has the recorded histories', () => {
    expect(files.sort()).toEqual([
      'old-return-accepted.json',
      'old-return-waiting.json',
      'old-shipment-cancelled-booking-in-doubt.json',
      'old-shipment-in-transit.json',
      'old-shipment-reauthorised.json',
    ]);
  });
  for (const f of files) {
    it(`replays ${f}`, async () => {
      await Worker.runReplayHistory(
        { workflowBundle: { codePath: inject('workflowBundlePath') } },
        JSON.parse(readFileSync(join(HISTORIES, f), 'utf8')) as unknown,
        f,
      );
    });
  }
});
