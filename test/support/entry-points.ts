/** The project's entry points as child processes, their output collected, for the e2e tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { eventually } from './fixtures';

export interface RunningEntry {
  child: ChildProcess;
  out: { text: string };
  exited: Promise<number | null>;
}

/**
 * Runs an entry point with only `env` (and PATH, HOME): from source through tsx (`api/main.ts`),
 * or compiled (`/…/dist/api.js`). Added to `children`, for the file's cleanup.
 */
export function runEntry(entry: string, env: Record<string, string>, children: ChildProcess[]): RunningEntry {
  const child = spawn(process.execPath, entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const out = { text: '' };
  child.stdout.on('data', (c: Buffer) => (out.text += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out.text += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out, exited };
}

/** Until the process printed its ready line (`"api started"`), or exited. */
export const untilReady = (p: RunningEntry, line: string, timeoutMs = 60_000) =>
  eventually(() => Promise.resolve(p.out.text.includes(line) || p.child.exitCode !== null ? true : undefined), {
    what: line,
    timeoutMs,
  });
