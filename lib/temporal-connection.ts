/**
 * How the processes reach the Temporal frontend beyond its address: TLS (a CA and server name of
 * its own, a client certificate for mTLS) and Temporal Cloud's API key. The certificate files are
 * read at start; their content is never logged.
 */
import { readFileSync } from 'node:fs';
import type { Config } from './config';

export interface TemporalConnectionOptions {
  tls?: {
    clientCertPair?: { crt: Buffer; key: Buffer };
    serverRootCACertificate?: Buffer;
    serverNameOverride?: string;
  };
  apiKey?: string;
}

export function temporalConnectionOptions(t: Pick<Config['temporal'], 'tls' | 'apiKey'>): TemporalConnectionOptions {
  const tls = t.tls;
  return {
    ...(tls
      ? {
          tls: {
            ...(tls.certPath && tls.keyPath ? { clientCertPair: { crt: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) } } : {}),
            ...(tls.caPath ? { serverRootCACertificate: readFileSync(tls.caPath) } : {}),
            ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
          },
        }
      : {}),
    ...(t.apiKey ? { apiKey: t.apiKey } : {}),
  };
}
