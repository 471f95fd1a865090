/**
 * Where a subscriber may be reached in production (lib/public-address.ts): public internet
 * addresses only — judged on the address itself, and on what a name resolves to through the
 * machine's real resolver.
 */
import { describe, expect, it } from 'vitest';
import { isPublicAddress, notPublicLiteral, NotPublicAddressError, notPublicTarget, publicOnlyLookup } from '../../lib/public-address';

describe('public addresses', () => {
  it.each([
    ['8.8.8.8', true],
    ['1.1.1.1', true],
    ['203.113.131.1', true], // a Vietnamese ISP's range, next to the documentation one
    ['2606:4700:4700::1111', true],
    ['2001:4860:4860::8888', true],
    ['::ffff:8.8.8.8', true],
    ['127.0.0.1', false],
    ['127.255.0.9', false],
    ['10.1.2.3', false],
    ['172.16.0.1', false],
    ['172.31.255.255', false],
    ['172.32.0.1', true],
    ['192.168.1.10', false],
    ['169.254.169.254', false], // the cloud's metadata service
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['203.0.113.7', false],
    ['224.0.0.1', false],
    ['255.255.255.255', false],
    ['::1', false],
    ['::', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:169.254.169.254', false],
    ['fd12:3456::1', false],
    ['fe80::1', false],
    ['2001:db8::1', false],
    ['3fff:1::1', false],
    ['64:ff9b::a9fe:a9fe', false],
    ['ff02::1', false],
    ['not-an-address', false],
  ])('%s is public: %s', (ip, expected) => {
    expect(isPublicAddress(ip)).toBe(expected);
  });

  it('names a URL whose host is written as an address that is not public', () => {
    expect(notPublicLiteral(new URL('https://169.254.169.254/latest/meta-data'))).toBe('169.254.169.254 is not a public address');
    expect(notPublicLiteral(new URL('https://[::1]:8443/'))).toBe('::1 is not a public address');
    expect(notPublicLiteral(new URL('https://[::ffff:10.0.0.1]/'))).toMatch(/is not a public address$/);
    // A number the URL parser reads as an address is judged as that address; a trailing dot changes nothing.
    expect(notPublicLiteral(new URL('https://2130706433/'))).toBe('127.0.0.1 is not a public address');
    expect(notPublicLiteral(new URL('https://127.0.0.1./'))).toBe('127.0.0.1 is not a public address');
    expect(notPublicLiteral(new URL('https://8.8.8.8/'))).toBeUndefined();
    // A name is for the resolver to judge.
    expect(notPublicLiteral(new URL('https://localhost/'))).toBeUndefined();
  });

  it('judges a name by what the resolver answers now; one that does not resolve passes (each delivery judges it again)', async () => {
    expect(await notPublicTarget(new URL('https://localhost:7233/'))).toBe('localhost resolves to no public address');
    expect(await notPublicTarget(new URL('https://10.0.0.1/'))).toBe('10.0.0.1 is not a public address');
    expect(await notPublicTarget(new URL('https://8.8.8.8/'))).toBeUndefined();
    expect(await notPublicTarget(new URL('https://no-such-host.invalid/'))).toBeUndefined();
  });

  it("refuses a name the machine's resolver sends to this machine, naming what it resolved to", async () => {
    const got = await new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
      publicOnlyLookup('localhost', { family: 0 }, (err, address) => resolve({ err, address })),
    );
    expect(got.err).toBeInstanceOf(NotPublicAddressError);
    // It says so, not which private addresses (ops read it).
    expect(got.err!.message).toBe('localhost resolves to no public address');
  });

  it('passes a public address through, as the socket asked (one or all)', async () => {
    const one = await new Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family: unknown }>((resolve) =>
      publicOnlyLookup('8.8.4.4', { family: 0 }, (err, address, family) => resolve({ err, address, family })),
    );
    expect(one).toEqual({ err: null, address: '8.8.4.4', family: 4 });
    const all = await new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
      publicOnlyLookup('8.8.4.4', { family: 0, all: true }, (err, address) => resolve({ err, address })),
    );
    expect(all).toEqual({ err: null, address: [{ address: '8.8.4.4', family: 4 }] });
  });
});
