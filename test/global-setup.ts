/**
 * Starts, once for the whole run, a real PostgreSQL and a real Temporal dev server (or uses
 * DATABASE_URL / TEMPORAL_ADDRESS), migrates a template database, and bundles the workflows.
 * Test files clone the template into their own database, so their data never mixes.
 */
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createSql } from '../db/client';
import { migrate } from '../db/migrate';
import { loadConfig } from '../lib/config';
import { startEmbeddedPostgres, startTemporalDevServer, type RunningService } from '../lib/dev-services';
import { findTemporalCli } from '../lib/temporal-cli';
import { bundleWorkflows } from '../worker/create-worker';
import { onFreePort } from './support/ports';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    temporalAddress: string;
    temporalNamespace: string;
    workflowBundlePath: string;
    templateDatabase: string;
    temporalCliPath: string;
  }
}

export const TEMPLATE_DB = 'oms_test_template';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const config = loadConfig();
  const dir = mkdtempSync(join(tmpdir(), 'oms-test-'));
  chmodSync(dir, 0o755);
  const services: RunningService[] = [];
  const log = (l: string) => process.stdout.write(`[test-harness] ${l}\n`);
  const t0 = Date.now();

  const [pg, temporal, bundle] = await Promise.all([
    config.databaseUrl
      ? Promise.resolve({ url: config.databaseUrl, stop: () => Promise.resolve() })
      : // fsync off: the named non-durable mode (OMS_PG_FSYNC=off); a throwaway cluster needs no crash safety.
        onFreePort(
          'PostgreSQL',
          (port) => startEmbeddedPostgres({ dir: join(dir, 'pg'), port, database: 'postgres', fsync: false, log }),
          log,
        ),
    config.temporal.address
      ? Promise.resolve({
          address: config.temporal.address,
          source: 'TEMPORAL_ADDRESS',
          cliPath: findTemporalCli(config.temporal.cliPath)?.path,
          stop: () => Promise.resolve(),
        })
      : onFreePort(
          'Temporal',
          (port) =>
            startTemporalDevServer({
              cliPath: config.temporal.cliPath,
              port,
              uiPort: 0,
              namespace: config.temporal.namespace,
              ui: false,
              log,
            }),
          log,
        ),
    bundleWorkflows(),
  ]);
  services.push(pg, temporal);

  const admin = createSql(pg.url, { max: 1 });
  try {
    await admin.unsafe(`drop database if exists ${TEMPLATE_DB}`);
    await admin.unsafe(`create database ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const templateUrl = new URL(pg.url);
  templateUrl.pathname = `/${TEMPLATE_DB}`;
  const template = createSql(templateUrl.toString(), { max: 1 });
  try {
    await migrate(template);
  } finally {
    await template.end();
  }

  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  log(`PostgreSQL and Temporal (${temporal.source}) ready, workflows bundled, in ${((Date.now() - t0) / 1000).toFixed(1)}s`);

  project.provide('pgAdminUrl', pg.url);
  project.provide('temporalAddress', temporal.address);
  project.provide('temporalNamespace', config.temporal.namespace);
  project.provide('workflowBundlePath', bundlePath);
  project.provide('templateDatabase', TEMPLATE_DB);
  project.provide('temporalCliPath', temporal.cliPath ?? '');

  return async () => {
    if (process.env.RECORD_PATH_HISTORIES) {
      // Before the dev server stops: the histories of every path the suite drove (test/replay/record-paths.ts).
      const { recordPathHistories } = await import('./replay/record-paths');
      await recordPathHistories({
        address: temporal.address,
        namespace: config.temporal.namespace,
        bundlePath,
        label: process.env.RECORD_PATH_HISTORIES,
        log,
      }).catch((e: unknown) => log(`recording path histories failed: ${String(e)}`));
    }
    for (const s of services.reverse()) await s.stop().catch((e: unknown) => log(`stop failed: ${String(e)}`));
    rmSync(dir, { recursive: true, force: true });
  };
}
