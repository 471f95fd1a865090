/**
 * `npm run build`: what a production image runs, compiled to JavaScript (no tsx, no TypeScript
 * at run time):
 *   dist/api.js, dist/worker.js  the two entry points, bundled by esbuild; npm packages stay
 *                                imports, resolved from a production install (`npm ci --omit=dev`)
 *   dist/workflows.js            the workflow bundle, prebuilt: the worker loads it instead of
 *                                bundling workflows/ with webpack at every start
 *   dist/migrations/*.sql        the schema migrations, applied at start as from source
 * `--out <dir>` writes elsewhere (default dist/). Progress is printed per step.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleWorkflows } from '../worker/create-worker';
import { MIGRATIONS_DIR } from '../db/migrate';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const outFlag = process.argv.indexOf('--out');
const out = resolve(outFlag >= 0 ? process.argv[outFlag + 1]! : join(ROOT, 'dist'));
const t0 = performance.now();
const step = (what: string) => process.stdout.write(`build: ${what} (${((performance.now() - t0) / 1000).toFixed(1)}s)\n`);

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'migrations'), { recursive: true });
await build({
  entryPoints: { api: join(ROOT, 'api/main.ts'), worker: join(ROOT, 'worker/main.ts') },
  outdir: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  // Packages come from node_modules at run time: the image installs the production ones only.
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
step('dist/api.js, dist/worker.js');
const workflows = await bundleWorkflows();
writeFileSync(join(out, 'workflows.js'), workflows.code);
step('dist/workflows.js (workflow bundle)');
for (const f of readdirSync(MIGRATIONS_DIR)) copyFileSync(join(MIGRATIONS_DIR, f), join(out, 'migrations', f));
step(`dist/migrations (${readdirSync(MIGRATIONS_DIR).length} files); done: ${out}`);
