/**
 * Bearer API keys with roles. Keys are held only as SHA-256 digests: a heap dump or a log line
 * never carries a usable key.
 */
import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { ApiKeySpec, Role } from '../lib/config';
import { problems } from './errors';

export interface Principal {
  role: Role;
  channel?: string;
  keyId: string;
}

export type AuthEnv = { Variables: { principal: Principal | undefined; requestId: string } };

const digest = (key: string) => createHash('sha256').update(key).digest('hex');

/** Looks keys up by digest. */
export class KeyStore {
  private readonly byDigest = new Map<string, Principal>();
  constructor(specs: ApiKeySpec[]) {
    for (const s of specs) {
      const d = digest(s.key);
      this.byDigest.set(d, { role: s.role, ...(s.channel ? { channel: s.channel } : {}), keyId: d.slice(0, 12) });
    }
  }
  lookup(key: string): Principal | undefined {
    return this.byDigest.get(digest(key));
  }
}

/** Resolves the caller, if any. Routes declare the roles they accept with `requireRoles`. */
export function authenticate(keys: KeyStore): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    let principal: Principal | undefined;
    if (header) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      principal = match ? keys.lookup(match[1]!) : undefined;
      if (!principal) throw problems.unauthorized('The API key is not recognised.');
    }
    c.set('principal', principal);
    await next();
  };
}

/** Where `requireRoles` leaves its roles on the middleware, for the OpenAPI document (`x-roles`). */
const ROLES_OF = Symbol('roles');
type RoleGate = MiddlewareHandler<AuthEnv> & { [ROLES_OF]: readonly Role[] };

/**
 * 401 without a key, 403 with a key of another role. The roles stay readable on the returned
 * middleware (`rolesOf`), so the API document states each route's roles from the same source
 * that enforces them.
 */
export function requireRoles(...roles: Role[]): MiddlewareHandler<AuthEnv> {
  const gate: MiddlewareHandler<AuthEnv> = async (c, next) => {
    const p = c.get('principal');
    if (!p) throw problems.unauthorized();
    if (!roles.includes(p.role)) throw problems.forbidden(`This route needs one of the roles: ${roles.join(', ')}.`);
    await next();
  };
  return Object.assign(gate, { [ROLES_OF]: Object.freeze([...roles]) });
}

/** The roles a `requireRoles` middleware admits; undefined for any other handler. */
export function rolesOf(handler: unknown): readonly Role[] | undefined {
  return typeof handler === 'function' && ROLES_OF in handler ? (handler as RoleGate)[ROLES_OF] : undefined;
}
