/**
 * Durable sandbox state. Real gateways, warehouses and carriers don't forget when a process
 * restarts, so neither does the sandbox when it has a state dir: every change is appended to
 * `journal.jsonl` as one JSON line (`put`/`del` of a record by kind and id, `add` to a list)
 * with a synchronous write before the HTTP answer goes out, and (by default) fdatasync'd with
 * group commit. On start the journal is replayed (a torn last line from a crash is skipped with
 * a warning) and compacted into a fresh file holding one line per live record. Without a state
 * dir the same interface keeps nothing on disk and behaviour is purely in memory.
 */
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { parseJsonWithBigInts, stringifyJson } from '../lib/lossless-json';

/** One journal line. */
type Line =
  | { t: 'meta'; version: number }
  | { t: 'put'; k: string; id: string; v: unknown }
  | { t: 'del'; k: string; id: string }
  | { t: 'add'; k: string; v: unknown };

const JOURNAL = 'journal.jsonl';
const LOCK = 'lock';
const VERSION = 1;

/** Dirs this process has open: a second open in the same process is as wrong as one from another. */
const openDirs = new Set<string>();

/** How to open a state store. */
export interface StateOptions {
  /** Where the journal lives; undefined = in memory only. */
  dir?: string | undefined;
  /** fdatasync before answering (survives power loss, not only a killed process); default true. */
  fsync?: boolean | undefined;
  /** Where load warnings go; default console.warn. */
  warn?: ((message: string) => void) | undefined;
}

/** The sandbox's state on disk (or nowhere): records by kind + id, and append-only lists. */
export class StateStore {
  private maps = new Map<string, Map<string, unknown>>();
  private lists = new Map<string, unknown[]>();
  private fd: number | undefined;
  private depth = 0;
  private buffer: string[] = [];
  private closed = false;
  private written = 0;
  private synced = 0;
  private syncing: Promise<void> | undefined;
  private scheduled = false;

  private constructor(
    private readonly dir: string | undefined,
    private readonly fsync: boolean,
  ) {}

  /** Opens (and compacts) the journal in `dir`, or an in-memory store when there is none. */
  static open(o: StateOptions = {}): StateStore {
    if (!o.dir) return new StateStore(undefined, false);
    const dir = resolve(o.dir);
    const store = new StateStore(dir, o.fsync ?? true);
    mkdirSync(dir, { recursive: true });
    takeLock(dir);
    try {
      store.load(join(dir, JOURNAL), o.warn ?? ((m) => console.warn(`[sandbox] ${m}`)));
      store.compact();
    } catch (err) {
      releaseLock(dir);
      throw err;
    }
    return store;
  }

  /** True when changes go to disk. */
  get durable(): boolean {
    return this.dir !== undefined;
  }

  /** The records of a kind as loaded; the caller owns the map from then on. */
  map<T>(kind: string): Map<string, T> {
    const m = this.maps.get(kind) ?? new Map<string, unknown>();
    this.maps.delete(kind);
    return m as Map<string, T>;
  }

  /** The list of a kind as loaded; the caller owns it from then on. */
  list<T>(kind: string): T[] {
    const l = this.lists.get(kind) ?? [];
    this.lists.delete(kind);
    return l as T[];
  }

  /** Records the current value of one record (whole, so replay needs no history). */
  put(kind: string, id: string, value: unknown): void {
    this.write({ t: 'put', k: kind, id, v: value });
  }

  del(kind: string, id: string): void {
    this.write({ t: 'del', k: kind, id });
  }

  /** Appends to a list (ledgers, received pushes, webhook attempts). */
  add(kind: string, value: unknown): void {
    this.write({ t: 'add', k: kind, v: value });
  }

  /**
   * Runs `fn` and writes every change it made in a single write, so a crash can't keep an
   * effect and lose the idempotency answer stored with it (or the other way round).
   */
  atomic<T>(fn: () => T): T {
    this.depth += 1;
    try {
      return fn();
    } finally {
      this.depth -= 1;
      if (this.depth === 0 && this.buffer.length) {
        const chunk = this.buffer.join('');
        this.buffer = [];
        this.append(chunk);
      }
    }
  }

  /** Resolves once everything written so far is on stable storage (one fdatasync for many writers). */
  async flush(): Promise<void> {
    const target = this.written;
    while (this.fsync && this.fd !== undefined && this.synced < target) {
      if (!this.syncing) {
        const upTo = this.written;
        const fd = this.fd;
        this.syncing = new Promise<void>((res) => {
          fdatasync(fd, (err) => {
            // A failed sync is reported but not retried forever: the write itself already happened.
            if (err && !this.closed) console.error('[sandbox] fdatasync failed', err);
            this.synced = Math.max(this.synced, upTo);
            this.syncing = undefined;
            res();
          });
        });
      }
      await this.syncing;
    }
  }

  /** Forgets everything, on disk too (`POST /sandbox/reset`). */
  clear(): void {
    this.buffer = [];
    this.maps.clear();
    this.lists.clear();
    if (this.fd === undefined) return;
    ftruncateSync(this.fd, 0);
    this.append(`${JSON.stringify({ t: 'meta', version: VERSION })}\n`);
  }

  /** Syncs, closes the journal and releases the dir; later writes are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.fd !== undefined) {
      if (this.fsync) fdatasyncSync(this.fd);
      closeSync(this.fd);
      this.fd = undefined;
    }
    if (this.dir) releaseLock(this.dir);
  }

  private write(line: Line): void {
    if (!this.dir || this.closed) return;
    const text = `${stringifyJson(line)}\n`;
    if (this.depth > 0) this.buffer.push(text);
    else this.append(text);
  }

  private append(text: string): void {
    if (this.fd === undefined || this.closed) return;
    writeAll(this.fd, text);
    this.written += 1;
    // Writes from timers (parcel progress, webhook attempts) get synced soon even with no request to wait on them.
    if (this.fsync && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        void this.flush();
      });
    }
  }

  private load(file: string, warn: (m: string) => void): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const lines = text.split('\n');
    // A file that doesn't end in a newline was cut mid-write; its last piece is the torn line.
    if (lines[lines.length - 1] === '') lines.pop();
    lines.forEach((raw, i) => {
      if (raw.trim() === '') return;
      const where = i === lines.length - 1 ? 'last line' : `line ${i + 1}`;
      let l: Line;
      try {
        l = parseJsonWithBigInts(raw) as Line;
      } catch {
        warn(`${file}: ${where} is not valid JSON (a write cut short by a crash?); skipped`);
        return;
      }
      if (l.t === 'meta') {
        if (l.version !== VERSION) throw new Error(`${file}: journal version ${l.version} is not ${VERSION}`);
      } else if (l.t === 'put' && typeof l.k === 'string' && typeof l.id === 'string') {
        this.mapOf(l.k).set(l.id, l.v);
      } else if (l.t === 'del' && typeof l.k === 'string' && typeof l.id === 'string') {
        this.mapOf(l.k).delete(l.id);
      } else if (l.t === 'add' && typeof l.k === 'string') {
        this.listOf(l.k).push(l.v);
      } else {
        warn(`${file}: ${where} is not a journal entry; skipped`);
      }
    });
  }

  /** Rewrites the journal as the loaded state alone (tmp file, fsync, rename) and opens it for appends. */
  private compact(): void {
    const dir = this.dir!;
    const file = join(dir, JOURNAL);
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      let chunk: string[] = [`${JSON.stringify({ t: 'meta', version: VERSION })}\n`];
      let size = 0;
      const out = (l: Line) => {
        const s = `${stringifyJson(l)}\n`;
        chunk.push(s);
        size += s.length;
        if (size > 1 << 20) {
          writeAll(fd, chunk.join(''));
          chunk = [];
          size = 0;
        }
      };
      for (const [k, m] of this.maps) for (const [id, v] of m) out({ t: 'put', k, id, v });
      for (const [k, l] of this.lists) for (const v of l) out({ t: 'add', k, v });
      writeAll(fd, chunk.join(''));
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    // The rename itself must be durable too, or a power cut could bring back the old file.
    const dfd = openSync(dir, 'r');
    try {
      fdatasyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    this.fd = openSync(file, 'a');
  }

  private mapOf(k: string): Map<string, unknown> {
    let m = this.maps.get(k);
    if (!m) this.maps.set(k, (m = new Map<string, unknown>()));
    return m;
  }

  private listOf(k: string): unknown[] {
    let l = this.lists.get(k);
    if (!l) this.lists.set(k, (l = []));
    return l;
  }
}

/** write(2) may write less than asked; a journal line must go out whole. */
function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off);
}

/** Is `pid` a live process that could be a sandbox (a node process)? */
function aliveSandbox(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // After a crash the pid may belong to an unrelated process by now; only a node one counts.
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node');
  } catch {
    return true;
  }
}

/**
 * One sandbox per state dir: two appending to one journal would interleave their state. A lock
 * left by a killed process (its pid gone, or reused by something else) is taken over.
 */
function takeLock(dir: string): void {
  const file = join(dir, LOCK);
  if (openDirs.has(dir)) throw new Error(`sandbox state dir ${dir} is already open in this process`);
  let holder: number | undefined;
  try {
    holder = Number(readFileSync(file, 'utf8').trim());
  } catch {
    holder = undefined;
  }
  if (holder && holder !== process.pid && aliveSandbox(holder)) {
    throw new Error(`sandbox state dir ${dir} is in use by process ${holder} (stop it, or remove ${file} if it is not a sandbox)`);
  }
  writeFileSync(file, `${process.pid}\n`);
  openDirs.add(dir);
}

function releaseLock(dir: string): void {
  openDirs.delete(dir);
  try {
    if (Number(readFileSync(join(dir, LOCK), 'utf8').trim()) === process.pid) unlinkSync(join(dir, LOCK));
  } catch {
    // Already gone.
  }
}
