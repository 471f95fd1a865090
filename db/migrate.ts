/**
 * Forward-only SQL migrations: `db/migrations/NNNN_name.sql`, applied in name order, each in its
 * own transaction, recorded with a checksum so an edited migration is caught instead of ignored.
 * An advisory lock lets the API and several workers start at once without racing.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from 'postgres';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));
const LOCK_ID = 7_231_001;

export interface Migration {
  version: string;
  sql: string;
  checksum: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = readFileSync(join(dir, f), 'utf8');
      return { version: f.replace(/\.sql$/, ''), sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/** Applies pending migrations; returns the versions applied now. */
export async function migrate(sql: Sql, opts: { dir?: string; log?: (line: string) => void } = {}): Promise<string[]> {
  const migrations = readMigrations(opts.dir);
  const reserved = await sql.reserve();
  try {
    await reserved`select pg_advisory_lock(${LOCK_ID})`;
    await reserved`create table if not exists schema_migrations (
      version text primary key, checksum text not null, applied_at timestamptz not null default now())`;
    const applied = new Map(
      (await reserved<{ version: string; checksum: string }[]>`select version, checksum from schema_migrations`).map((r) => [
        r.version,
        r.checksum,
      ]),
    );
    const done: string[] = [];
    for (const m of migrations) {
      const existing = applied.get(m.version);
      if (existing) {
        if (existing !== m.checksum) throw new Error(`migration ${m.version} was edited after it was applied; add a new migration instead`);
        continue;
      }
      await reserved.unsafe('begin');
      try {
        await reserved.unsafe(m.sql);
        await reserved`insert into schema_migrations (version, checksum) values (${m.version}, ${m.checksum})`;
        await reserved.unsafe('commit');
      } catch (err) {
        await reserved.unsafe('rollback');
        throw new Error(`migration ${m.version} failed: ${(err as Error).message}`);
      }
      opts.log?.(`applied migration ${m.version}`);
      done.push(m.version);
    }
    return done;
  } finally {
    await reserved`select pg_advisory_unlock(${LOCK_ID})`.catch(() => undefined);
    reserved.release();
  }
}
