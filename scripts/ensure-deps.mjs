// Installs npm dependencies when they are missing or older than the lockfile, so `npm start`
// and `npm test` work on a fresh clone. Plain Node on purpose: nothing is installed yet.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const lock = 'package-lock.json';
const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  const started = Date.now();
  // `npm ci`: exactly the lockfile (which lists every platform's optional native packages), and
  // the checkout stays clean — `npm install` may rewrite package-lock.json.
  console.log('Installing npm dependencies with npm ci (once per clone, and after the lockfile changes)...');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('npm ci failed; see the output above.');
    process.exit(r.status ?? 1);
  }
  console.log(`npm dependencies installed in ${Math.round((Date.now() - started) / 1000)}s.`);
}

// Installed before this patch existed (or by hand with --ignore-scripts): patch now. Idempotent.
const patched = spawnSync(process.execPath, ['scripts/patch-deps.mjs'], { stdio: 'inherit' });
if (patched.status !== 0) process.exit(patched.status ?? 1);
