/**
 * Installs schemathesis from PyPI, with every dependency pinned (scripts/schemathesis-requirements.txt),
 * into a Python venv outside the clone, once per machine, and returns its `st` command. Later
 * clones, runs and CI reuse the venv; a venv made from other pins is rebuilt. Needs python3 ≥ 3.9
 * with the venv module, and says so plainly when it is absent.
 *
 * Run on its own (`tsx scripts/ensure-schemathesis.ts`) it installs and prints where.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The schemathesis release the fuzz run is written against (its v4 CLI and report formats). */
export const SCHEMATHESIS_VERSION = '4.32.5';
const REQUIREMENTS = fileURLToPath(new URL('./schemathesis-requirements.txt', import.meta.url));

/** Where the venv lives: under the same cache as the Temporal CLI build. */
export function schemathesisVenvDir(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'durable-oms', 'schemathesis-venv');
}

/** Thrown when this machine cannot run schemathesis at all (no python3, no venv module). */
export class SchemathesisUnavailable extends Error {
  override name = 'SchemathesisUnavailable';
}

function findPython(): string {
  for (const cmd of ['python3', 'python']) {
    const r = spawnSync(cmd, ['-c', 'import sys, venv; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
    if (r.status === 0) {
      const [major, minor] = r.stdout.trim().split('.').map(Number);
      if (major === 3 && minor! >= 9) return cmd;
    }
  }
  throw new SchemathesisUnavailable(
    'schemathesis needs python3 (3.9 or later, with the venv module: `apt-get install python3 python3-venv`), and none was found on PATH.',
  );
}

function run(cmd: string, args: string[], log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 30) tail.shift();
        // pip's own progress lines, so a first install on a slow link is visibly alive.
        if (/^(Collecting|Downloading|Installing|Successfully)/.test(line.trim())) log(`  ${line.trim()}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${tail.join('\n')}`)),
    );
  });
}

/** The venv's `st`, installing the pinned schemathesis first when the venv is missing or made from other pins. */
export async function ensureSchemathesis(
  log: (line: string) => void = () => {},
  env: Record<string, string | undefined> = process.env,
): Promise<string> {
  const venv = schemathesisVenvDir(env);
  const st = join(venv, 'bin', 'st');
  const stamp = join(venv, 'durable-oms-pins');
  const requirements = readFileSync(REQUIREMENTS, 'utf8');
  if (!requirements.includes(`schemathesis==${SCHEMATHESIS_VERSION}\n`))
    throw new Error(`${REQUIREMENTS} does not pin schemathesis==${SCHEMATHESIS_VERSION}`);
  const pins = createHash('sha256').update(requirements).digest('hex');
  if (existsSync(st) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === pins) return st;

  const python = findPython();
  const t0 = Date.now();
  log(`Installing schemathesis ${SCHEMATHESIS_VERSION} into ${venv} (once per machine)...`);
  rmSync(venv, { recursive: true, force: true });
  mkdirSync(dirname(venv), { recursive: true });
  await run(python, ['-m', 'venv', venv], log);
  const pip = join(venv, 'bin', 'pip');
  await run(pip, ['install', '--disable-pip-version-check', '--no-input', '-r', REQUIREMENTS], log);
  if (!existsSync(st)) throw new Error(`schemathesis installed, but ${st} is missing`);
  // Written last: a half-finished install is redone next time instead of being trusted.
  writeFileSync(stamp, `${pins}\n`);
  log(`schemathesis ${SCHEMATHESIS_VERSION} installed in ${Math.round((Date.now() - t0) / 1000)}s.`);
  return st;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureSchemathesis((l) => console.log(l)).then(
    (st) => console.log(`schemathesis: ${st}`),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}
