/**
 * The standalone worker serves the Temporal SDK's runtime metrics for Prometheus. The SDK runtime
 * is installed once per process, so each case runs `worker/main.ts` as a child process, as a
 * deployment does: the metrics show the workflow it ran, and a port already in use costs the
 * metrics, not the worker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../lib/dev-services';
import type { helloWorkflow } from '../../workflows/hello';
import { createTestDatabase, uniqueSuffix } from '../support/harness';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const children: ChildProcess[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await db?.drop();
});

/** Starts `worker/main.ts` with these extra variables; resolves once it logged "worker started". */
async function startWorker(taskQueue: string, env: Record<string, string>): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      OMS_TASK_QUEUE: taskQueue,
      OMS_STOCK_SYNC_CHANNELS: 'none',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
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
  return { child, out: () => out };
}

async function stop(child: ChildProcess): Promise<number | null> {
  child.kill('SIGTERM');
  return child.exitCode ?? new Promise((resolve) => child.once('exit', resolve));
}

async function runHello(taskQueue: string): Promise<string> {
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  try {
    return await new Client({ connection }).workflow.execute<typeof helloWorkflow>('helloWorkflow', {
      taskQueue,
      workflowId: `hello-${taskQueue}`,
      args: ['metrics'],
    });
  } finally {
    await connection.close();
  }
}

describe('worker metrics', () => {
  it('serves the Temporal SDK metrics of the workflows it ran on OMS_WORKER_METRICS_PORT', async () => {
    const taskQueue = `worker-metrics-${uniqueSuffix()}`;
    const port = await freePort();
    const { child, out } = await startWorker(taskQueue, { OMS_WORKER_METRICS_PORT: String(port) });
    try {
      const url = `http://127.0.0.1:${port}/metrics`;
      expect(out()).toContain(`"metrics":"${url}"`);
      expect(await runHello(taskQueue)).toMatch(/^Hello, metrics!/);
      // Core exports on scrape; the completion is counted once the workflow task is done.
      let text = '';
      const deadline = Date.now() + 15_000;
      const completed = new RegExp(`^temporal_workflow_completed\\{[^}]*task_queue="${taskQueue}"[^}]*\\} 1$`, 'm');
      while (Date.now() < deadline && !completed.test(text)) {
        const res = await fetch(url);
        expect(res.status).toBe(200);
        text = await res.text();
        if (!completed.test(text)) await new Promise((r) => setTimeout(r, 250));
      }
      expect(text).toMatch(completed);
      expect(text).toMatch(/^# TYPE temporal_workflow_task_execution_latency histogram$/m);
      expect(text).toMatch(new RegExp(`^temporal_workflow_task_execution_latency_count\\{[^}]*task_queue="${taskQueue}"`, 'm'));
      expect(text).toMatch(/^temporal_request\{/m);
      expect(await stop(child)).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);

  it('runs without metrics, saying so, when the port is taken', async () => {
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      const taskQueue = `worker-metrics-busy-${uniqueSuffix()}`;
      const { child, out } = await startWorker(taskQueue, { OMS_WORKER_METRICS_PORT: String(port) });
      try {
        expect(out()).toContain('worker metrics not exported');
        expect(out()).toContain(`127.0.0.1:${port}`);
        expect(out()).toContain('"metrics":"off"');
        // It still does its job.
        expect(await runHello(taskQueue)).toMatch(/^Hello, metrics!/);
        expect(await stop(child)).toBe(0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  }, 90_000);
});
