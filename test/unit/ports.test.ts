/**
 * The test run's servers start on a free port even when someone else binds the probed port first:
 * the race is played for real, with a second server taking the port between probe and bind.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { onFreePort } from '../support/ports';

const servers: Server[] = [];
const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      servers.push(s);
      resolve(s);
    });
  });
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('onFreePort', () => {
  it('tries another port when the probed one was taken before the server bound it', async () => {
    const tried: number[] = [];
    const lines: string[] = [];
    const server = await onFreePort(
      'probe',
      async (port) => {
        tried.push(port);
        if (tried.length === 1) await listen(port); // someone else wins the race for the first port
        return listen(port);
      },
      (l) => lines.push(l),
    );
    expect(tried).toHaveLength(2);
    expect(tried[1]).not.toBe(tried[0]);
    expect(server.address()).toMatchObject({ port: tried[1] });
    expect(lines).toEqual([`probe: port ${tried[0]} was taken before it could bind it; trying another`]);
  });

  it('gives up after the attempts, and at once on any other failure', async () => {
    let calls = 0;
    await expect(
      onFreePort(
        'probe',
        async (port) => {
          calls++;
          await listen(port);
          return listen(port);
        },
        () => undefined,
        2,
      ),
    ).rejects.toThrow(/EADDRINUSE/);
    expect(calls).toBe(2);
    calls = 0;
    await expect(
      onFreePort(
        'probe',
        () => {
          calls++;
          return Promise.reject(new Error('initdb failed'));
        },
        () => undefined,
      ),
    ).rejects.toThrow('initdb failed');
    expect(calls).toBe(1);
  });
});
