/**
 * The worker's tax relay: commits the tax of each sale and refunds the tax of each return
 * (db/tax-documents-repo.ts) through the tax-service adapter (activities/tax/service.ts). Every
 * worker process runs one; leases share the backlog. A return waits until its sale is committed.
 * The provider's own calculation is kept beside the tax charged; a document whose lines part
 * from it by more than rounding, or whose tax the provider kept otherwise than charged, is
 * committed as `variance`, listed for finance. A document the
 * provider refuses waits with the reason for an ops retry; failures, timeouts and a refused
 * credential are retried with backoff (committing again is safe: the provider deduplicates on
 * the document's code).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Sql } from '../db/client';
import { TaxOutbox, type PendingTaxDocument, type StoredTaxLine } from '../db/tax-documents-repo';
import { linesAtVariance } from '../domain/tax';
import type { TaxService } from '../activities/tax/service';
import type { Logger } from '../lib/logger';
import { DEFAULT_SERVICE_RELAY, OutboxRelay, type RelayOptions } from '../lib/outbox-relay';

export const DEFAULT_TAX_RELAY: RelayOptions = DEFAULT_SERVICE_RELAY;

/** Refusals that are the OMS's configuration, not the document's: retried until someone mends the setting. */
const CONFIGURATION = new Set(['unauthorized', 'company_not_found']);

export class TaxRelay extends OutboxRelay<PendingTaxDocument> {
  private readonly outbox: TaxOutbox;

  constructor(
    private readonly deps: { sql: Sql; logger: Logger; service: TaxService },
    options: Partial<RelayOptions> = {},
  ) {
    const outbox = new TaxOutbox(deps.sql);
    super(outbox, { ...DEFAULT_TAX_RELAY, ...options }, deps.logger, 'tax commit');
    this.outbox = outbox;
  }

  protected async handle(row: PendingTaxDocument): Promise<void> {
    const d = await this.outbox.request(row.key);
    if (d?.status !== 'pending') return;
    let committed;
    try {
      committed = await this.deps.service.commit({
        code: d.code,
        orderId: d.orderId,
        kind: d.kind,
        ...(d.originalCode ? { originalCode: d.originalCode } : {}),
        currency: d.currency,
        date: d.createdAt.toISOString().slice(0, 10),
        customerCode: d.customerCode,
        lines: d.lines.map(({ no, sku, rate, gross, tax }) => ({ no, sku, rate, gross, tax })),
      });
    } catch (err) {
      const refusal = err instanceof ApplicationFailure && err.nonRetryable ? (err.type ?? 'refused') : undefined;
      if (!refusal || CONFIGURATION.has(refusal)) throw err;
      await this.outbox.refused(row, { code: refusal, message: (err as Error).message });
      this.deps.logger.warn('tax document refused; it waits for an ops retry', { orderId: d.orderId, code: d.code, reason: refusal });
      return;
    }
    const calculated = new Map(committed.lines.map((l) => [l.no, l.taxCalculated]));
    const lines: StoredTaxLine[] = d.lines.map((l) => ({ ...l, taxCalculated: calculated.get(l.no) ?? l.tax }));
    const apart = linesAtVariance(
      lines.map((l) => ({ no: l.no, tax: l.tax, taxCalculated: l.taxCalculated! })),
      d.currency,
    );
    await this.outbox.committed(row, {
      provider: committed.provider,
      ref: committed.ref,
      taxCalculated: committed.taxCalculated,
      lines,
      variance: apart.length > 0 || committed.tax !== d.tax,
    });
    if (apart.length || committed.tax !== d.tax)
      this.deps.logger.warn('tax document committed at a variance with the provider', { orderId: d.orderId, code: d.code });
  }

  protected describe(row: PendingTaxDocument): Record<string, unknown> {
    return { orderId: row.orderId, code: row.key };
  }
}
