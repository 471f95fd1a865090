/** The one way the project opens PostgreSQL. numeric and bigint come back as strings, so money stays exact. */
import postgres, { type Sql } from 'postgres';

export type { Sql };

export function createSql(url: string, opts: { max?: number } = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => undefined,
    transform: { undefined: null },
    connection: { application_name: 'durable-oms' },
  });
}
