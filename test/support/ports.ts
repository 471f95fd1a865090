/** Starting a server of the test run on a free loopback port, without losing a race for it. */
import { freePort } from '../../lib/dev-services';

/** What PostgreSQL and the Temporal dev server say when their port was taken. */
const PORT_TAKEN = /address already in use|could not bind/i;

/**
 * Starts `start` on a free port, and on another one if the port was taken between the probe and
 * the server's own bind: a probed port is only free until someone else binds it, and on a busy
 * machine other processes (other test runs, outgoing connections) take ports all the time.
 */
export async function onFreePort<T>(
  what: string,
  start: (port: number) => Promise<T>,
  log: (line: string) => void,
  attempts = 3,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (err) {
      if (attempt >= attempts || !PORT_TAKEN.test(String(err))) throw err;
      log(`${what}: port ${port} was taken before it could bind it; trying another`);
    }
  }
}
