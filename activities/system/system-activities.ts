/** Activities that prove the wiring: the worker reaches PostgreSQL. */
import type { Sql } from '../../db/client';

export function createSystemActivities(deps: { sql: Sql }) {
  return {
    /** Greets by name, naming the PostgreSQL server that answered. */
    async greet(name: string): Promise<string> {
      const [row] = await deps.sql<{ version: string }[]>`select current_setting('server_version') as version`;
      return `Hello, ${name}! (PostgreSQL ${row?.version ?? 'unknown'})`;
    },
  };
}

export type SystemActivities = ReturnType<typeof createSystemActivities>;
