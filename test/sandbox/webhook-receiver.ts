/**
 * A stand-in for the OMS's carrier webhook endpoint: authenticates each carrier its own way and
 * reads its native body with the OMS's own adapters, like the real route.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CARRIER_ADAPTERS, hasCarrierAdapter } from '../../activities/carriers/adapters';
import { DEV_CARRIER_SECRETS } from '../../lib/config';

export const GHN_SECRET = DEV_CARRIER_SECRETS.ghn!;

/** One event of an authenticated webhook, as the OMS's adapter reads it. */
export interface ReceivedEvent {
  carrier: string;
  eventId: string;
  /** The parcel's tracking code (GHN OrderCode, VTP ORDER_NUMBER). */
  trackingCode: string;
  /** Our shipment or return id as the carrier echoed it. */
  reference?: string | undefined;
  nativeStatus: string;
  /** The tracking status it maps to, or `none` when it moves nothing. */
  status: string;
  codAmount?: string | undefined;
  /** The native body as received. */
  body: unknown;
}

/** Parcel statuses in the order they happen; a webhook stream must never go back down this list. */
const RANK = ['booked', 'picked_up', 'in_transit', 'delivered', 'cod_remitted'];

export class WebhookReceiver {
  events: ReceivedEvent[] = [];
  badSignatures = 0;
  /** Authenticated bodies the adapter refused (must stay 0: the sandbox speaks the corpus). */
  unreadable: string[] = [];
  /** While true, authenticated webhooks are answered 503 (the OMS is down) and not counted. */
  down = false;
  refused = 0;
  /** Answer 500 to this many authenticated requests before accepting again. */
  failNext = 0;
  url = '';
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const url = new URL(req.url ?? '/', 'http://receiver');
        const carrier = /^\/v1\/carriers\/([^/]+)\/webhooks$/.exec(url.pathname)?.[1] ?? '';
        const header = (n: string) => {
          const v = req.headers[n.toLowerCase()];
          return Array.isArray(v) ? v[0] : v;
        };
        if (
          !hasCarrierAdapter(carrier) ||
          !CARRIER_ADAPTERS[carrier].authenticate(
            { rawBody: raw, header, query: (n) => url.searchParams.get(n) ?? undefined },
            DEV_CARRIER_SECRETS[carrier]!,
          )
        ) {
          this.badSignatures += 1;
          res.writeHead(401).end();
          return;
        }
        if (this.down) {
          this.refused += 1;
          res.writeHead(503).end();
          return;
        }
        if (this.failNext > 0) {
          this.failNext -= 1;
          res.writeHead(500).end();
          return;
        }
        let body: unknown;
        try {
          body = JSON.parse(raw);
        } catch {
          body = undefined;
        }
        const parsed = CARRIER_ADAPTERS[carrier].parseWebhook(body);
        if (!parsed.ok) {
          this.unreadable.push(`${carrier}: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
          res.writeHead(400).end();
          return;
        }
        const w = parsed.value;
        // A webhook whose only event moves nothing still shows (as `none`); otherwise its effective events.
        const effective = w.events.filter((e) => e.status !== null);
        for (const e of effective.length ? effective : w.events) {
          this.events.push({
            carrier,
            eventId: e.eventId,
            trackingCode: w.trackingCode,
            reference: w.reference,
            nativeStatus: e.nativeStatus,
            status: e.status ?? 'none',
            codAmount: e.codAmount,
            body,
          });
        }
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

  reset(): void {
    this.events = [];
    this.badSignatures = 0;
    this.unreadable = [];
    this.down = false;
    this.refused = 0;
    this.failNext = 0;
  }

  /** The statuses received for a parcel, by its tracking code, in arrival order. */
  statuses(trackingCode: string): string[] {
    return this.events.filter((e) => e.trackingCode === trackingCode).map((e) => e.status);
  }

  /** True when the statuses received for a parcel never step back (repeats are fine: at-least-once). */
  monotonic(trackingCode: string): boolean {
    const ranks = this.statuses(trackingCode).map((s) => RANK.indexOf(s));
    return ranks.every((r, i) => r >= 0 && (i === 0 || r >= ranks[i - 1]!));
  }
}
