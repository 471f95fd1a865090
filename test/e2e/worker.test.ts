/**
 * The standalone worker of a real deployment: it connects to the given Temporal and PostgreSQL,
 * runs workflows, and on SIGTERM drains and exits 0.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { helloWorkflow } from '../../workflows/hello';
import { createTestDatabase, uniqueSuffix } from '../support/harness';
import { Client, Connection } from '@temporalio/client';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('worker process', () => {
  it('runs workflows and stops cleanly on SIGTERM', async () => {
    const taskQueue = `worker-e2e-${uniqueSuffix()}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        DATABASE_URL: db.url,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        OMS_TASK_QUEUE: taskQueue,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (out.includes('"worker started"')) {
            clearInterval(t);
            resolve();
          }
          if (child.exitCode !== null) {
            clearInterval(t);
            reject(new Error(out));
          }
        }, 100);
      });
      const connection = await Connection.connect({ address: inject('temporalAddress') });
      try {
        const result = await new Client({ connection }).workflow.execute<typeof helloWorkflow>('helloWorkflow', {
          taskQueue,
          workflowId: `hello-${taskQueue}`,
          args: ['worker'],
        });
        expect(result).toMatch(/^Hello, worker!/);
      } finally {
        await connection.close();
      }
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(0);
      expect(out).toContain('"worker stopped"');
      // Connection details never reach the logs.
      expect(out).not.toContain(new URL(db.url).password);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
