// Installs npm dependencies when they are missing or older than the lockfile, so `npm start`
// and `npm test` work on a fresh clone. Plain Node on purpose: nothing is installed yet.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const lock = 'package-lock.json';
const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  const started = Date.now();
  // `npm install`, not `npm ci`: the lockfile lacks the optional native packages of other
  // platforms (the registry mirror it was made with does not serve them), which `npm ci` refuses.
  // With a consistent lockfile, `npm install` installs exactly the locked versions.
  console.log('Installing npm dependencies (once per clone)...');
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('npm install failed; see the output above.');
    process.exit(r.status ?? 1);
  }
  console.log(`npm dependencies installed in ${Math.round((Date.now() - started) / 1000)}s.`);
}

// Installed before this patch existed (or by hand with --ignore-scripts): patch now. Idempotent.
const patched = spawnSync(process.execPath, ['scripts/patch-deps.mjs'], { stdio: 'inherit' });
if (patched.status !== 0) process.exit(patched.status ?? 1);
