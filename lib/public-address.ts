/**
 * Where the service may send a request that someone else chose the address of (an event
 * subscriber's URL): in production, public internet addresses only. Without this an admin key —
 * or whoever holds one — could point the worker at the cloud's metadata service
 * (169.254.169.254), the database, or anything else on the private network, and read its
 * answers' status codes in `GET /v1/subscriptions`.
 *
 * The check is made on the address the connection actually goes to (`publicOnlyLookup` is the
 * socket's own DNS lookup), not on a name looked up earlier: a name that resolved to a public
 * address when the subscriber was added and to a private one now (DNS rebinding) is refused too.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** The special-purpose ranges of RFC 6890 and its successors: nothing there is a public host. */
const NOT_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local: cloud metadata services live here
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the broadcast address
] as const)
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b::', 96], // NAT64: an IPv4 address behind it, any of the above
  ['64:ff9b:1::', 48], // local NAT64
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo among them)
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation (RFC 9637)
  ['2002::', 16], // 6to4: an IPv4 address inside
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const)
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv6');

/** Whether `ip` (an IPv4 or IPv6 address) is a public internet address; IPv4-mapped IPv6 is judged as its IPv4 address. */
export function isPublicAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  const mapped = family === 6 ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip) : null;
  if (mapped) return !NOT_PUBLIC.check(mapped[1]!, 'ipv4');
  return !NOT_PUBLIC.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** The host of `url` as an address or a name to resolve: no brackets, no trailing dot. */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');

/** Why `url`'s host, written as an address, is no public one; undefined for a public address or a name (the socket's lookup judges those). */
export function notPublicLiteral(url: URL): string | undefined {
  const host = hostOf(url);
  return isIP(host) && !isPublicAddress(host) ? `${host} is not a public address` : undefined;
}

/**
 * Why `url` cannot be reached at a public address now: an address that is no public one, or a
 * name that resolves to no public address. A name that does not resolve (yet) passes: each
 * delivery judges it again on the address it connects to.
 */
export async function notPublicTarget(url: URL): Promise<string | undefined> {
  const literal = notPublicLiteral(url);
  if (literal || isIP(hostOf(url))) return literal;
  const addresses = await lookupAll(hostOf(url)).catch(() => undefined);
  if (!addresses?.length || addresses.some((a) => isPublicAddress(a.address))) return undefined;
  // Not which ones: an answer that maps the private network is not for whoever asked.
  return `${hostOf(url)} resolves to no public address`;
}

const lookupAll = (host: string) =>
  new Promise<LookupAddress[]>((resolve, reject) =>
    dnsLookup(host, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
  );

/** An error a refused address fails the request with; its message names the host and the address. */
export class NotPublicAddressError extends Error {
  override name = 'NotPublicAddressError';
  readonly code = 'ENOTPUBLIC';
}

/**
 * A socket `lookup` that resolves as usual and keeps the public addresses only: the connection
 * goes to one of them, or fails naming what the host resolved to.
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    const usable = addresses.filter((a) => isPublicAddress(a.address));
    // The message goes where ops read it (`lastError`): it says that, not which private addresses.
    if (!usable.length) return callback(new NotPublicAddressError(`${hostname} resolves to no public address`), '', 0);
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable);
    callback(null, usable[0]!.address, usable[0]!.family);
  });
};
