/**
 * A benchmark stopped by Ctrl-C or a kill leaves its scratch directory (an embedded PostgreSQL's
 * data, ~150 MB) behind; the next run removes those whose owner process has ended, and only those.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { benchDir, removeStaleBenchDirs } from '../../scripts/bench-dirs';

const base = mkdtempSync(join(tmpdir(), 'bench-dirs-test-'));
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** The pid of a process that has ended (a real one, run to its end). */
const endedPid = (): number => {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
};

describe('bench scratch directories', () => {
  it('names their owner, and are reachable by another user (PostgreSQL runs as postgres under root)', () => {
    const dir = benchDir('x-', base);
    expect(dir.startsWith(join(base, 'oms-bench-x-'))).toBe(true);
    expect(readFileSync(join(dir, 'owner.pid'), 'utf8').trim()).toBe(String(process.pid));
    expect(statSync(dir).mode & 0o777).toBe(0o755);
  });

  it('removes those whose owner has ended; keeps a live owner’s, one without an owner file, and what is not a bench’s', () => {
    const live = benchDir('', base);
    const dead = benchDir('', base);
    writeFileSync(join(dead, 'owner.pid'), `${endedPid()}\n`);
    mkdirSync(join(dead, 'pg', 'base'), { recursive: true });
    writeFileSync(join(dead, 'pg', 'base', 'data'), 'x'.repeat(1000));
    const older = join(base, 'oms-bench-older');
    mkdirSync(older);
    const other = join(base, 'something-else');
    mkdirSync(other);
    writeFileSync(join(other, 'owner.pid'), `${endedPid()}\n`);

    expect(removeStaleBenchDirs(base)).toEqual([dead]);
    expect(existsSync(dead)).toBe(false);
    expect([live, older, other].every((d) => existsSync(d))).toBe(true);
    expect(removeStaleBenchDirs(base)).toEqual([]);
  });

  it('leaves a directory whose owner file it cannot read as a pid', () => {
    const dir = benchDir('', base);
    writeFileSync(join(dir, 'owner.pid'), 'not a pid\n');
    expect(removeStaleBenchDirs(base)).toEqual([]);
    expect(existsSync(dir)).toBe(true);
  });
});
