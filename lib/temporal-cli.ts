/**
 * Finds the `temporal` CLI, building it once with Go when it is nowhere to be found.
 * Order: TEMPORAL_CLI_PATH → `temporal` on PATH → cached build → `go install` into a cache
 * outside the clone (so later clones and CI reuse it) → null, meaning "let the SDK download it".
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The last CLI tag `go install` accepts: later tags carry a `replace` directive. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export function temporalCacheDir(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'durable-oms', 'temporal-cli', TEMPORAL_CLI_VERSION);
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: Record<string, string | undefined>): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export type CliSource = 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'built';

/** Looks without building. Throws when TEMPORAL_CLI_PATH names something that is not executable. */
export function findTemporalCli(
  cliPath: string | undefined,
  env: Record<string, string | undefined> = process.env,
): { path: string; source: CliSource } | undefined {
  if (cliPath) {
    if (!isExecutable(cliPath)) throw new Error(`TEMPORAL_CLI_PATH=${cliPath} is not an executable file`);
    return { path: cliPath, source: 'TEMPORAL_CLI_PATH' };
  }
  const fromPath = onPath('temporal', env);
  if (fromPath) return { path: fromPath, source: 'PATH' };
  const cached = join(temporalCacheDir(env), 'bin', 'temporal');
  if (isExecutable(cached)) return { path: cached, source: 'cache' };
  return undefined;
}

/**
 * Finds the CLI or builds it with Go. Returns undefined when Go is absent (the caller then
 * falls back to the SDK's download, which needs the internet).
 */
export async function ensureTemporalCli(
  cliPath: string | undefined,
  log: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
): Promise<{ path: string; source: CliSource } | undefined> {
  const found = findTemporalCli(cliPath, env);
  if (found) return found;
  const go = findGo(env);
  if (!go) return undefined;

  const bin = join(temporalCacheDir(env), 'bin');
  await goInstall(
    go,
    [`github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`],
    bin,
    `the Temporal CLI ${TEMPORAL_CLI_VERSION}`,
    log,
    env,
  );
  const path = join(bin, 'temporal');
  if (!existsSync(path)) throw new Error(`go install finished but ${path} is missing`);
  return { path, source: 'built' };
}

/** The `go` binary, when Go is installed and works. */
export function findGo(env: Record<string, string | undefined> = process.env): string | undefined {
  const go = onPath('go', env) ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  return go && spawnSync(go, ['version']).status === 0 ? go : undefined;
}

/**
 * `go install` of `packages` into `bin`, with a progress line every 15 s (modules downloaded,
 * packages compiled) and the build's last lines when it fails.
 */
export async function goInstall(
  go: string,
  packages: string[],
  bin: string,
  what: string,
  log: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
): Promise<void> {
  mkdirSync(bin, { recursive: true });
  const started = Date.now();
  log(`Building ${what} with Go into ${bin} (once; takes a few minutes)...`);
  await new Promise<void>((resolve, reject) => {
    const child = spawn(go, ['install', '-x', ...packages], {
      env: { ...env, GOBIN: bin, GOFLAGS: [env.GOFLAGS, '-buildvcs=false'].filter(Boolean).join(' ') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // `go install -x` narrates every step; condense it into a heartbeat with counts, and keep
    // the tail to show if the build fails.
    let downloads = 0;
    let compiles = 0;
    let buffered = '';
    const tail: string[] = [];
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('go: downloading') || /^# get .*\.zip: 200/.test(line)) downloads++;
        else if (/\/compile /.test(line)) compiles++;
        tail.push(line);
        if (tail.length > 30) tail.shift();
      }
    });
    const beat = setInterval(() => {
      log(`  ... ${Math.round((Date.now() - started) / 1000)}s: ${downloads} modules downloaded, ${compiles} packages compiled`);
    }, 15_000);
    child.on('error', (err) => {
      clearInterval(beat);
      reject(err);
    });
    child.on('close', (code) => {
      clearInterval(beat);
      if (code === 0) resolve();
      else {
        for (const line of tail) log(`  ${line}`);
        reject(new Error(`go install of ${what} failed (exit ${code})`));
      }
    });
  });
  log(`${what} built in ${Math.round((Date.now() - started) / 1000)}s`);
}

export const NO_TEMPORAL_CLI_HELP =
  'No Temporal CLI found and it could not be built or downloaded. Install Go (https://go.dev/dl) so it can be built, ' +
  'or install the `temporal` CLI yourself and put it on PATH (or set TEMPORAL_CLI_PATH), ' +
  'or set TEMPORAL_ADDRESS to use an existing Temporal cluster.';
