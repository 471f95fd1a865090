/**
 * Structured JSON logs, one object a line. Fields named like personal data or secrets are
 * redacted here, and every string (the message too) is scrubbed of e-mail- and phone-shaped
 * text, so a careless call site or an error message quoting its input cannot leak them.
 */
import { PII_KEY, REDACTED, scrubText } from './personal-data';

type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value instanceof Error) return { name: value.name, message: scrubText(value.message) };
  if (value instanceof Date) return value.toISOString();
  if (value === null || typeof value !== 'object') return value;
  // Deeper than this is not worth reading, and unredacted it could carry anything.
  if (depth > 4) return '[truncated]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = PII_KEY.test(k) ? REDACTED : redact(v, depth + 1);
  return out;
}

/** A logger writing JSON lines to `write` (stdout by default). */
export function createLogger(opts: { level?: Level; base?: Record<string, unknown>; write?: (line: string) => void } = {}): Logger {
  const min = order[opts.level ?? 'info'];
  const base = opts.base ?? {};
  const write = opts.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const log = (level: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, msg: scrubText(msg), ...(redact({ ...base, ...fields }) as object) }));
  };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => createLogger({ ...opts, base: { ...base, ...fields } }),
  };
}
