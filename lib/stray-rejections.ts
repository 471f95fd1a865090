/**
 * A PostgreSQL restart makes the `postgres` client reject a promise nobody awaits
 * (`write CONNECTION_CLOSED`); Node's default would kill the process for it, taking an API or
 * worker down with a database that is already coming back. Such rejections are logged and the
 * process carries on: the pool reconnects and callers see their own errors.
 */
import type { Logger } from './logger';

/** Logs unhandled rejections instead of dying on them. */
export function surviveStrayRejections(logger: Logger): void {
  process.on('unhandledRejection', (err) => {
    logger.warn('unhandled rejection (kept running)', { error: err instanceof Error ? err.message : String(err) });
  });
}
