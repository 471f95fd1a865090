// Fetches a Node.js release from the npm registry into a cache outside the clone and prints its
// bin directory (progress on stderr). The node-<platform>-<arch> packages carry the official
// binary, so no download site is needed. CI runs the suite on it: `node scripts/ensure-node.mjs 24.22.3`.
// Plain Node on purpose: it runs before anything is installed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const version = process.argv[2];
if (!version || !/^\d+\.\d+\.\d+$/.test(version)) {
  console.error('usage: node scripts/ensure-node.mjs <major.minor.patch>');
  process.exit(2);
}
const pkg = `node-${process.platform}-${process.arch}`;
const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'durable-oms', 'node', `v${version}`);
const bin = join(dir, 'node_modules', pkg, 'bin');
const node = join(bin, 'node');
if (!existsSync(node)) {
  const started = Date.now();
  console.error(`Fetching Node.js ${version} (${pkg}) from the npm registry into ${dir} (once)...`);
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', dir, `${pkg}@${version}`], {
    stdio: ['ignore', 2, 2],
  });
  if (r.status !== 0 || !existsSync(node)) {
    console.error(`could not fetch ${pkg}@${version} (npm exit ${r.status})`);
    process.exit(1);
  }
  console.error(`Node.js ${version} fetched in ${Math.round((Date.now() - started) / 1000)}s.`);
}
const got = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
if (got !== `v${version}`) {
  console.error(`${node} says ${got || 'nothing'}, not v${version}`);
  process.exit(1);
}
process.stdout.write(`${bin}\n`);
