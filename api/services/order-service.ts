/**
 * What the order routes do, apart from HTTP: start the order workflow idempotently, read the
 * projection (falling back to the live workflow when the projection lags), and send commands
 * as Updates whose validators answer "no" with a reason.
 */
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import type { Sql } from '../../db/client';
import { OrdersRepo, type OrderFilter, type OrderRow, type TimelineEntry } from '../../db/orders-repo';
import { fromMinor } from '../../domain/money';
import { orderIdFor, type CanonicalOrder } from '../../domain/order';
import type { OrderSettings } from '../../domain/settings';
import { computeTotalMinor } from '../../domain/validate';
import { PUSH_CARRIERS } from '../../activities/carriers/carrier-activities';
import {
  cancelLinesUpdate, cancelOrderUpdate, holdOrderUpdate, inspectReturnUpdate, orderStateQuery, releaseHoldUpdate, requestReturnUpdate, retryUpdate, rejectHoldUpdate,
  type Inspection, type LineCancelResult, type LineQuantity, type OrderState, type ReturnRequest,
} from '../../workflows/messages';
import type { orderWorkflow } from '../../workflows/order';
import { ChannelKey, CustomerIdKey, EscalationLevelKey, NeedsAttentionKey, OrderStatusKey, OrderTotalKey } from '../../workflows/search-attributes';
import { ProblemError, problems } from '../errors';

export interface OrderServiceDeps { client: Client; sql: Sql; taskQueue: string; settings: OrderSettings; returnWindows: Record<string, number> }

/**
 * Starts the order once; the same channel order again (even concurrently) answers with the same id.
 * Shared by `POST /v1/orders`, the channel webhooks and the channel-intake workflow's activity.
 */
export async function intakeOrder(deps: OrderServiceDeps, order: CanonicalOrder, raw: unknown): Promise<{ orderId: string; status: string; created: boolean }> {
  const orderId = orderIdFor(order.channel, order.channelOrderId);
  const total = fromMinor(Math.max(computeTotalMinor(order), 0));
  const orders = new OrdersRepo(deps.sql);
  const { created } = await orders.recordIntake(orderId, order, total, raw);
  // Always (re)start: a first request that recorded the intake but died before starting
  // the workflow is completed by its retry. The workflow id makes this idempotent.
  try {
    await deps.client.workflow.start<typeof orderWorkflow>('orderWorkflow', {
      taskQueue: deps.taskQueue,
      workflowId: orderId,
      args: [{
        orderId, order, pushCarriers: [...PUSH_CARRIERS],
        settings: { ...deps.settings, returnWindowMs: deps.returnWindows[order.channel] ?? deps.returnWindows.default ?? 0 },
      }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      staticSummary: summaryOf(order, total),
      typedSearchAttributes: [
        { key: OrderStatusKey, value: 'RECEIVED' }, { key: ChannelKey, value: order.channel },
        { key: CustomerIdKey, value: order.customer.id }, { key: NeedsAttentionKey, value: false },
        { key: EscalationLevelKey, value: 0 }, { key: OrderTotalKey, value: Number(total) },
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  const row = await orders.get(orderId);
  return { orderId, status: row?.status ?? 'RECEIVED', created };
}

export class OrderService {
  private readonly orders: OrdersRepo;
  constructor(private readonly deps: OrderServiceDeps) {
    this.orders = new OrdersRepo(deps.sql);
  }

  /** Starts the order once; the same channel order again (even concurrently) answers with the same id. */
  intake(order: CanonicalOrder, raw: unknown): Promise<{ orderId: string; status: string; created: boolean }> {
    return intakeOrder(this.deps, order, raw);
  }

  /** The order as the projection has it, or the live workflow's state if the projection lags behind. */
  async get(orderId: string): Promise<{ row: OrderRow; timeline: TimelineEntry[]; live: OrderState | undefined } | undefined> {
    const row = await this.orders.get(orderId);
    if (!row) return undefined;
    let live: OrderState | undefined;
    const stale = row.seq === 0 || (Date.now() - row.updatedAt.getTime() < 2000 && !isFinal(row.status));
    if (stale) {
      live = await this.deps.client.workflow.getHandle(orderId).query(orderStateQuery).catch(() => undefined);
      if (live && live.seq <= row.seq) live = undefined;
    }
    return { row, timeline: await this.orders.timeline(orderId), live };
  }

  list(filter: OrderFilter): Promise<OrderRow[]> {
    return this.orders.list(filter);
  }

  async retry(orderId: string, actor: string): Promise<{ retried: string[] }> {
    return this.update(orderId, () => this.deps.client.workflow.getHandle(orderId).executeUpdate(retryUpdate, { args: [{ actor }] }));
  }

  /** Ops hold: the order stops before its next step until released (or rejected, which cancels it). */
  async hold(orderId: string, actor: string, reason: string): Promise<{ status: string }> {
    return this.update(orderId, () => this.deps.client.workflow.getHandle(orderId).executeUpdate(holdOrderUpdate, { args: [{ actor, reason }] }));
  }

  async releaseHold(orderId: string, actor: string, note?: string): Promise<OrderState> {
    return this.update(orderId, () => this.deps.client.workflow.getHandle(orderId).executeUpdate(releaseHoldUpdate, { args: [{ actor, ...(note ? { note } : {}) }] }));
  }

  async rejectHold(orderId: string, actor: string, reason: string): Promise<OrderState> {
    return this.update(orderId, () => this.deps.client.workflow.getHandle(orderId).executeUpdate(rejectHoldUpdate, { args: [{ actor, reason }] }));
  }

  /**
   * Cancels the order; the answer is CANCELLED, or CANCELLING while compensation runs. A shipment
   * that reached the carrier first (a race the carrier decides) makes it a 409: a return is the way.
   */
  async cancel(orderId: string, actor: string, reason: string, channel?: string): Promise<{ status: string; cancelledShipments?: string[] }> {
    const row = await this.orders.get(orderId);
    if (!row || (channel && row.channel !== channel)) throw problems.notFound(`No order ${orderId}.`);
    // A repeated cancellation gets the same answer, even after the workflow has closed.
    if (row.status === 'CANCELLED') return { status: 'CANCELLED' };
    const result = await this.update(orderId, () => this.deps.client.workflow.getHandle(orderId).executeUpdate(cancelOrderUpdate, { args: [{ actor, reason }] }));
    // Part of the order was already with the carrier: the rest was cancelled, and that is the answer.
    if (result.cancelledShipments?.length) return result;
    if (result.status !== 'CANCELLED' && result.status !== 'CANCELLING') {
      throw problems.conflict('the order was handed to the carrier before the cancellation took effect: open a return instead', { orderStatus: result.status });
    }
    return result;
  }

  /**
   * Cancels some units of some lines; the rest of the order carries on. Lines are checked
   * against the order first (→ 400 naming the line); the workflow decides what can still be
   * undone. Units whose shipment reached the carrier first come back as `refused`; if nothing
   * could be cancelled it is a 409 (a return is the way).
   */
  async cancelLines(orderId: string, actor: string, reason: string, lines: LineQuantity[], channel?: string): Promise<LineCancelResult> {
    const row = await this.orders.get(orderId);
    if (!row || (channel && row.channel !== channel)) throw problems.notFound(`No order ${orderId}.`);
    const errors = lines.flatMap((l, i) => {
      const line = row.canonical.lines[l.lineNo - 1];
      if (!line) return [{ path: `lines.${i}.lineNo`, message: `line ${l.lineNo} is not in the order` }];
      if (l.quantity > line.quantity) return [{ path: `lines.${i}.quantity`, message: `line ${l.lineNo} has only ${line.quantity} unit(s)` }];
      return [];
    });
    if (errors.length) throw problems.validation(errors, 'These lines cannot be cancelled.');
    let result: LineCancelResult;
    try {
      result = await this.update(orderId, () => this.deps.client.workflow.getHandle(orderId).executeUpdate(cancelLinesUpdate, { args: [{ actor, reason, lines }] }));
    } catch (err) {
      // Units already cancelled are the same kind of mistake as units never bought.
      if (err instanceof ProblemError && err.status === 409 && /^lines: /.test(err.message)) throw problems.validation([{ path: 'lines', message: err.message.slice(7) }], err.message.slice(7));
      throw err;
    }
    if (!result.pending && result.cancelled.length === 0) {
      throw problems.conflict('the units were handed to the carrier before the cancellation took effect: open a return instead', { orderStatus: result.status, refused: result.refused });
    }
    return result;
  }

  /**
   * Opens a return. Lines are checked against the order first, so a bad request is a 400 that
   * names the line; the workflow's validator decides the rest (window, units left) → 409.
   */
  async requestReturn(orderId: string, actor: string, req: ReturnRequest): Promise<{ returnId: string }> {
    const row = await this.orders.get(orderId);
    if (!row) throw problems.notFound(`No order ${orderId}.`);
    const errors = req.lines.flatMap((l, i) => {
      const line = row.canonical.lines[l.lineNo - 1];
      if (!line) return [{ path: `lines.${i}.lineNo`, message: `line ${l.lineNo} is not in the order` }];
      if (l.quantity > line.quantity) return [{ path: `lines.${i}.quantity`, message: `line ${l.lineNo} has only ${line.quantity} unit(s)` }];
      return [];
    });
    if (errors.length) throw problems.validation(errors, 'These lines cannot be returned.');
    try {
      return await this.update(orderId, () => this.deps.client.workflow.getHandle(orderId).executeUpdate(requestReturnUpdate, { args: [{ actor, ...req }] }));
    } catch (err) {
      // Units already returned are the same kind of mistake as units never bought.
      if (err instanceof ProblemError && err.status === 409 && /unit\(s\) left to return/.test(err.message)) throw problems.validation([{ path: 'lines', message: err.message }], err.message);
      throw err;
    }
  }

  async inspectReturn(orderId: string, actor: string, inspection: Inspection): Promise<{ returnId: string }> {
    return this.update(orderId, () => this.deps.client.workflow.getHandle(orderId).executeUpdate(inspectReturnUpdate, { args: [{ actor, ...inspection }] }));
  }

  /** Maps a refused Update to 409 with the workflow's reason, an unknown or finished order to 404/409. */
  private async update<T>(orderId: string, send: () => Promise<T>): Promise<T> {
    if (!(await this.orders.get(orderId))) throw problems.notFound(`No order ${orderId}.`);
    try {
      return await send();
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw problems.conflict(err.cause?.message ?? err.message);
      if (err instanceof WorkflowNotFoundError) throw problems.conflict(`order ${orderId} is closed and accepts no commands`);
      throw err;
    }
  }
}

const FINAL = new Set(['REJECTED', 'CANCELLED', 'DELIVERED', 'COMPLETED', 'REFUNDED']);
const isFinal = (s: string) => FINAL.has(s);

/** The one-line summary shown in the Temporal Web UI's workflow list. */
export function summaryOf(order: CanonicalOrder, total: string): string {
  const lines = order.lines.map((l) => `${l.quantity}× ${l.sku}`).join(', ');
  return `${order.channel} #${order.channelOrderId} · customer ${order.customer.id} · ${lines} · ${total} ${order.currency} · ${order.payment.method === 'cod' ? 'COD' : 'prepaid'}`.slice(0, 400);
}
