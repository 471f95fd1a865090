/**
 * `GET /v1/accounting/journal`: the accounting journal for finance — every money fact of every
 * order as balanced double-entry lines, oldest first, paged by position; JSON or CSV
 * (docs/back-office.md).
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { JournalRepo, JournalRow } from '../../db/journal-repo';
import type { App } from '../app';
import { requireRoles } from '../auth';
import { problems } from '../errors';
import { pick } from '../schemas';

/** An instant with its offset, from 1970 on (PostgreSQL has no year 0, which ISO 8601 and JavaScript allow). */
const Instant = z.iso.datetime({ offset: true }).refine((v) => Date.parse(v) >= 0, 'must be an instant from 1970 on');

const Query = z.object({
  from: Instant.optional().openapi({ description: 'Lines at or after this instant.', example: '2026-12-01T00:00:00+07:00' }),
  to: Instant.optional().openapi({ description: 'Lines before this instant.', example: '2026-12-02T00:00:00+07:00' }),
  after: z
    .string()
    .regex(/^\d{1,18}$/, 'must be a position from this journal (digits)')
    .optional()
    .openapi({ description: "Lines after this position: the previous page's `next`." }),
  limit: z.coerce.number().int().min(1).max(1000).default(500),
  format: z.enum(['json', 'csv']).default('json').openapi({ description: '`csv` answers text/csv with a header row.' }),
});

const Line = z
  .object({
    position: z.string().openapi({ description: 'Where the line sits in the journal; strictly increasing.', example: '311' }),
    entry: z.string().openapi({
      description: "The entry the line belongs to: `<orderId>:<fact>`; an entry's debits equal its credits.",
      example: 'order-web-10001:capture:cap_81f2',
    }),
    lineNo: z.number().int(),
    orderId: z.string(),
    channel: z.string(),
    currency: z.string(),
    kind: z.enum(['authorised', 'released', 'captured', 'refunded', 'cod_collected', 'cod_remitted']),
    ref: z.string().nullable().openapi({ description: 'The capture, authorisation, return or shipment the fact is about.' }),
    account: z.string().openapi({ example: '1100 payment gateway clearing' }),
    debit: z.string().openapi({ example: '110000.00' }),
    credit: z.string().openapi({ example: '0.00' }),
    occurredAt: z.string(),
  })
  .openapi('JournalLine');

const JournalPage = z
  .object({
    items: z.array(Line),
    next: z.string().nullable().openapi({ description: 'Ask again with `after=next` for more; null when this page was the last.' }),
  })
  .openapi('JournalPage');

type LineView = z.infer<typeof Line>;

const view = (r: JournalRow): LineView => ({
  position: r.journalId,
  entry: r.entryKey,
  lineNo: r.lineNo,
  orderId: r.orderId,
  channel: r.channel,
  currency: r.currency,
  kind: r.kind as LineView['kind'],
  ref: r.ref,
  account: r.account,
  debit: r.debit,
  credit: r.credit,
  occurredAt: r.occurredAt.toISOString(),
});

const CSV_COLUMNS = [
  'position',
  'entry',
  'lineNo',
  'orderId',
  'channel',
  'currency',
  'kind',
  'ref',
  'account',
  'debit',
  'credit',
  'occurredAt',
] as const;

/** A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180). */
const csvField = (v: string | number | null): string => {
  const s = v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

const Money = z.string().openapi({ example: '1250000.00' });

const Reconciliation = z
  .object({
    from: z.string(),
    to: z.string(),
    days: z.array(
      z.object({
        day: z.string().openapi({ description: 'The UTC day the money moved.', example: '2026-12-02' }),
        channel: z.string(),
        currency: z.string(),
        captured: Money.openapi({ description: 'Captured at the payment gateway.' }),
        refundedGateway: Money.openapi({ description: 'Refunded through the gateway.' }),
        refundedBankTransfer: Money.openapi({ description: 'Refunds of COD orders, owed by bank transfer.' }),
        codCollected: Money.openapi({ description: 'Cash carriers collected at the door (COD delivered).' }),
        codRemitted: Money.openapi({ description: 'Cash carriers paid over.' }),
        invoiced: Money.openapi({ description: "Issued sale invoices less issued adjustments, of that day's sales and refunds." }),
      }),
    ),
    differences: z.array(
      z.object({
        orderId: z.string(),
        channel: z.string(),
        currency: z.string(),
        kind: z.enum([
          'cod_not_remitted',
          'cod_overpaid',
          'authorisation_still_held',
          'not_invoiced',
          'over_invoiced',
          'tax_not_committed',
          'tax_over_committed',
        ]),
        amount: Money,
        status: z.string().openapi({ description: "The order's status now." }),
      }),
    ),
  })
  .openapi('Reconciliation');

const ReconciliationQuery = z.object({
  from: Instant.openapi({ description: 'From this instant (inclusive).', example: '2026-12-01T00:00:00Z' }),
  to: Instant.openapi({ description: 'To this instant (exclusive); at most 93 days after `from`.', example: '2026-12-08T00:00:00Z' }),
});

const MAX_RECONCILIATION_MS = 93 * 86_400_000;

/** A window of at most 93 days (a quarter), or a 400 naming `to`. */
function windowOf(q: { from: string; to: string }): { from: string; to: string } {
  const from = Date.parse(q.from);
  const to = Date.parse(q.to);
  if (!(to > from) || to - from > MAX_RECONCILIATION_MS)
    throw problems.validation([{ path: 'to', message: 'must be after from, by at most 93 days' }], 'The window is not one to report on.');
  return { from: q.from, to: q.to };
}

const VatAmounts = z.object({ net: Money, vat: Money, gross: Money });
const VatSummary = z
  .object({
    from: z.string(),
    to: z.string(),
    currencies: z.array(
      z.object({
        currency: z.string(),
        rates: z.array(
          VatAmounts.extend({
            rate: z.union([z.number(), z.literal('exempt')]).openapi({ description: 'VAT percent, or `exempt` (outside VAT, "KCT").' }),
          }),
        ),
        total: VatAmounts,
        journalVat: Money.openapi({ description: "The journal's VAT payable (2100) of the same window, to hold the invoices' against." }),
      }),
    ),
  })
  .openapi('VatSummary');

export function registerAccountingRoutes(app: App, journal: JournalRepo): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/accounting/vat-summary',
      tags: ['back office'],
      summary: 'VAT by rate for a period, as the issued e-invoices state it (what a VAT return declares), beside the journal’s VAT',
      description:
        "Per currency and VAT rate: the net, VAT and gross of the e-invoices issued in [from, to) — sales and replacements that stand, less adjustments (a replaced invoice no longer counts; its replacement stays in the period its sale was first issued in). `journalVat` is the journal's VAT of the same window: they agree once every sale and refund of the window is invoiced; an invoice still with the provider, or issued after the window, shows as a difference.",
      security: [{ apiKey: [] }],
      middleware: [requireRoles('finance', 'admin')] as const,
      request: { query: ReconciliationQuery },
      responses: {
        200: { description: 'The VAT of the window', content: { 'application/json': { schema: VatSummary } } },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const q = windowOf(c.req.valid('query'));
      return c.json({ ...q, currencies: await journal.vatSummary(q) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/accounting/reconciliation',
      tags: ['back office'],
      summary:
        'Reconciliation: per day and channel, captured vs refunded vs collected vs remitted vs invoiced, and every order that does not add up',
      description:
        'From the journal. `differences` lists, for the orders whose money moved in the window, what does not add up as of now: cash a carrier still owes after delivery (`cod_not_remitted`) or paid over too much (`cod_overpaid`), an authorisation still held for an order that has ended (`authorisation_still_held`), and what the buyer paid (captured and COD collected, less refunds) that issued e-invoices do not cover yet — an invoice still with the provider or rejected (`not_invoiced`) — or cover twice (`over_invoiced`), and VAT in the journal that the tax service does not hold committed yet — a tax document pending or refused (`tax_not_committed`) — or holds beyond it (`tax_over_committed`).',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('finance', 'admin')] as const,
      request: { query: ReconciliationQuery },
      responses: {
        200: { description: 'The reconciliation of the window', content: { 'application/json': { schema: Reconciliation } } },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const q = windowOf(c.req.valid('query'));
      return c.json({ ...q, ...(await journal.reconciliation(q)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/accounting/journal',
      tags: ['back office'],
      summary: 'The accounting journal: balanced double-entry lines of every money fact, oldest first',
      description:
        'One entry per money fact an order workflow learned (authorised, captured per shipment, released, refunded, COD collected by the carrier, COD remitted), written once with the step that learned it. Gross amounts are split into revenue and VAT in the proportion of the order’s tax quote. Paged by position; `format=csv` for a spreadsheet.',
      security: [{ apiKey: [] }],
      middleware: [requireRoles('finance', 'admin')] as const,
      request: { query: Query },
      responses: {
        200: {
          description: 'A page of journal lines',
          content: { 'application/json': { schema: JournalPage }, 'text/csv': { schema: z.string() } },
        },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await journal.lines({ from: q.from, to: q.to, after: q.after, limit: q.limit + 1 });
      const items = rows.slice(0, q.limit).map(view);
      const next = rows.length > q.limit ? (items.at(-1)?.position ?? null) : null;
      if (q.format === 'csv') {
        const body = [CSV_COLUMNS.join(','), ...items.map((i) => CSV_COLUMNS.map((k) => csvField(i[k])).join(','))].join('\r\n');
        return c.body(`${body}\r\n`, 200, {
          'Content-Type': 'text/csv; charset=utf-8',
          ...(next ? { Link: `</v1/accounting/journal?after=${next}&format=csv>; rel="next"` } : {}),
        });
      }
      return c.json({ items, next }, 200);
    },
  );
}
