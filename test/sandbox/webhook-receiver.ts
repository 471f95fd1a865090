/** A stand-in for the OMS's carrier webhook endpoint: checks the HMAC like the real one must. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const GHN_SECRET = 'dev-ghn-secret';

/** One validly signed webhook as received. */
export interface ReceivedEvent {
  eventId: string;
  bookingId: string;
  orderId: string;
  status: string;
}

/** Parcel statuses in the order they happen; a webhook stream must never go back down this list. */
const RANK = ['booked', 'picked_up', 'in_transit', 'delivered', 'cod_remitted'];

export class WebhookReceiver {
  events: ReceivedEvent[] = [];
  badSignatures = 0;
  /** While true, validly signed webhooks are answered 503 (the OMS is down) and not counted. */
  down = false;
  refused = 0;
  url = '';
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const expected = createHmac('sha256', GHN_SECRET).update(raw).digest();
        const given = Buffer.from(String(req.headers['x-carrier-signature'] ?? ''), 'hex');
        if (req.url !== '/v1/carriers/ghn/webhooks' || given.length !== expected.length || !timingSafeEqual(given, expected)) {
          this.badSignatures += 1;
          res.writeHead(401).end();
          return;
        }
        if (this.down) {
          this.refused += 1;
          res.writeHead(503).end();
          return;
        }
        this.events.push(JSON.parse(raw.toString('utf8')) as ReceivedEvent);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  statuses(bookingId: string): string[] {
    return this.events.filter((e) => e.bookingId === bookingId).map((e) => e.status);
  }

  /** True when the statuses received for a booking never step back (repeats are fine: at-least-once). */
  monotonic(bookingId: string): boolean {
    const ranks = this.statuses(bookingId).map((s) => RANK.indexOf(s));
    return ranks.every((r, i) => r >= 0 && (i === 0 || r >= ranks[i - 1]!));
  }
}
