/**
 * What the order routes do, apart from HTTP: take the order in (intake/order-intake.ts), read the
 * projection (waiting briefly for it to catch up with the live workflow), and send commands
 * as Updates whose validators answer "no" with a typed reason: `InvalidCommand` (→ 400, naming
 * the field) or `CommandRefused` (→ 409). A command with an Idempotency-Key acts once
 * (idempotent-commands.ts).
 */
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError, type UpdateDefinition } from '@temporalio/common';
import { CommandRequestsRepo } from '../../db/command-requests-repo';
import { OrdersRepo, type OrderFilter, type OrderRow, type TimelineEntry } from '../../db/orders-repo';
import type { CanonicalOrder } from '../../domain/order';
import { intakeOrder, type IntakeDeps, type IntakeResult } from '../../intake/order-intake';
import {
  cancelLinesUpdate,
  cancelOrderUpdate,
  holdOrderUpdate,
  inspectReturnUpdate,
  orderStateQuery,
  releaseHoldUpdate,
  requestReturnUpdate,
  retryUpdate,
  rejectHoldUpdate,
  type Inspection,
  type LineCancelResult,
  type LineQuantity,
  type OrderState,
  type ReturnRequest,
} from '../../workflows/messages';
import { problems } from '../errors';
import { findUpdate, requestHash, updateIdFor, type CommandName } from './idempotent-commands';

export interface OrderServiceDeps extends IntakeDeps {
  client: Client;
}

export class OrderService {
  private readonly orders: OrdersRepo;
  private readonly commands: CommandRequestsRepo;
  constructor(private readonly deps: OrderServiceDeps) {
    this.orders = new OrdersRepo(deps.sql);
    this.commands = new CommandRequestsRepo(deps.sql);
  }

  /** Starts the order once; the same channel order again (even concurrently) answers with the same id. */
  intake(order: CanonicalOrder, raw: unknown): Promise<IntakeResult> {
    return intakeOrder(this.deps, order, raw);
  }

  /**
   * The order as the projection has it: its row and the timeline up to the row's step, so the
   * status shown always comes with the step that set it. The workflow moves its state before it
   * writes the step, so when the row was just written (or never), the live workflow is asked how
   * far it is and the read waits, briefly, for the projection to catch up with it; if it does not,
   * the older, consistent picture is served. Live state is never mixed into the answer: it has no
   * timeline.
   */
  async get(orderId: string): Promise<{ row: OrderRow; timeline: TimelineEntry[] } | undefined> {
    let row = await this.orders.get(orderId);
    if (!row) return undefined;
    // An order whose workflow is not started yet (Temporal away) is what its row says: nothing to ask.
    const mayLag =
      (row.seq === 0 && !(await this.deps.starts.isPending(orderId))) ||
      (row.seq > 0 && Date.now() - row.updatedAt.getTime() < 2000 && !isFinal(row.status));
    if (mayLag) {
      const live = await this.deps.client.workflow
        .getHandle(orderId)
        .query(orderStateQuery)
        .catch(() => undefined);
      const deadline = Date.now() + CATCH_UP_MS;
      while (live && live.seq > row.seq && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        row = (await this.orders.get(orderId)) ?? row;
      }
    }
    const upTo = row.seq;
    // A step written after the row was read belongs to a newer picture than the one served.
    return { row, timeline: (await this.orders.timeline(orderId)).filter((t) => t.seq <= upTo) };
  }

  list(filter: OrderFilter): Promise<OrderRow[]> {
    return this.orders.list(filter);
  }

  async retry(orderId: string, actor: string, idempotencyKey?: string): Promise<{ retried: string[] }> {
    return this.command(orderId, 'retry', idempotencyKey, retryUpdate, { actor });
  }

  /** Ops hold: the order stops before its next step until released (or rejected, which cancels it). */
  async hold(orderId: string, actor: string, reason: string, idempotencyKey?: string): Promise<{ status: string }> {
    return this.command(orderId, 'hold', idempotencyKey, holdOrderUpdate, { actor, reason });
  }

  async releaseHold(orderId: string, actor: string, note?: string, idempotencyKey?: string): Promise<OrderState> {
    return this.command(orderId, 'release', idempotencyKey, releaseHoldUpdate, { actor, ...(note ? { note } : {}) });
  }

  async rejectHold(orderId: string, actor: string, reason: string, idempotencyKey?: string): Promise<OrderState> {
    return this.command(orderId, 'release', idempotencyKey, rejectHoldUpdate, { actor, reason });
  }

  /**
   * Cancels the order; the answer is CANCELLED, or CANCELLING while compensation runs. A shipment
   * that reached the carrier first (a race the carrier decides) makes it a 409: a return is the way.
   */
  async cancel(
    orderId: string,
    actor: string,
    reason: string,
    channel?: string,
    idempotencyKey?: string,
  ): Promise<{ status: string; cancelledShipments?: string[] }> {
    const row = await this.orders.get(orderId);
    if (!row || (channel && row.channel !== channel)) throw problems.notFound(`No order ${orderId}.`);
    // A repeated cancellation gets the same answer, even after the workflow has closed.
    if (row.status === 'CANCELLED' && !idempotencyKey) return { status: 'CANCELLED' };
    const result = await this.command(
      orderId,
      'cancel',
      idempotencyKey,
      cancelOrderUpdate,
      { actor, reason },
      row.status === 'CANCELLED' ? { status: 'CANCELLED' } : undefined,
    );
    // Part of the order was already with the carrier: the rest was cancelled, and that is the answer.
    if (result.cancelledShipments?.length) return result;
    if (result.status !== 'CANCELLED' && result.status !== 'CANCELLING') {
      throw problems.conflict('the order was handed to the carrier before the cancellation took effect: open a return instead', {
        orderStatus: result.status,
      });
    }
    return result;
  }

  /**
   * Cancels some units of some lines; the rest of the order carries on. Lines are checked
   * against the order first (→ 400 naming the line); the workflow decides what can still be
   * undone. Units whose shipment reached the carrier first come back as `refused`; if nothing
   * could be cancelled it is a 409 (a return is the way).
   */
  async cancelLines(
    orderId: string,
    actor: string,
    reason: string,
    lines: LineQuantity[],
    channel?: string,
    idempotencyKey?: string,
  ): Promise<LineCancelResult> {
    const row = await this.orders.get(orderId);
    if (!row || (channel && row.channel !== channel)) throw problems.notFound(`No order ${orderId}.`);
    const errors = lines.flatMap((l, i) => {
      const line = row.canonical.lines[l.lineNo - 1];
      if (!line) return [{ path: `lines.${i}.lineNo`, message: `line ${l.lineNo} is not in the order` }];
      if (l.quantity > line.quantity)
        return [{ path: `lines.${i}.quantity`, message: `line ${l.lineNo} has only ${line.quantity} unit(s)` }];
      return [];
    });
    if (errors.length) throw problems.validation(errors, 'These lines cannot be cancelled.');
    const result = await this.command(orderId, 'cancel', idempotencyKey, cancelLinesUpdate, { actor, reason, lines });
    if (!result.pending && result.cancelled.length === 0) {
      throw problems.conflict('the units were handed to the carrier before the cancellation took effect: open a return instead', {
        orderStatus: result.status,
        refused: result.refused,
      });
    }
    return result;
  }

  /**
   * Opens a return. Lines are checked against the order first, so a bad request is a 400 that
   * names the line; the workflow's validator decides the rest: units already returned → 400,
   * outside the window → 409.
   */
  async requestReturn(orderId: string, actor: string, req: ReturnRequest, idempotencyKey?: string): Promise<{ returnId: string }> {
    const row = await this.orders.get(orderId);
    if (!row) throw problems.notFound(`No order ${orderId}.`);
    const errors = req.lines.flatMap((l, i) => {
      const line = row.canonical.lines[l.lineNo - 1];
      if (!line) return [{ path: `lines.${i}.lineNo`, message: `line ${l.lineNo} is not in the order` }];
      if (l.quantity > line.quantity)
        return [{ path: `lines.${i}.quantity`, message: `line ${l.lineNo} has only ${line.quantity} unit(s)` }];
      return [];
    });
    if (errors.length) throw problems.validation(errors, 'These lines cannot be returned.');
    return this.command(orderId, 'returns', idempotencyKey, requestReturnUpdate, { actor, ...req });
  }

  async inspectReturn(orderId: string, actor: string, inspection: Inspection, idempotencyKey?: string): Promise<{ returnId: string }> {
    return this.command(orderId, 'inspection', idempotencyKey, inspectReturnUpdate, { actor, ...inspection });
  }

  /**
   * Sends a command as an Update. With an Idempotency-Key the Update id is `<command>:<key>`:
   * Temporal runs it once and answers a repeat (or a concurrent twin) with the first outcome.
   * That outcome, and a hash of the request Temporal accepted under the key (read back from the
   * history), are then kept in `command_requests`, which answers a repeat after the workflow has
   * closed. A key already used for a different request of this order and command is a 422.
   * `closedAnswer`: what a repeat gets when the workflow has closed and never saw the key.
   */
  private async command<T, A>(
    orderId: string,
    command: CommandName,
    key: string | undefined,
    def: UpdateDefinition<T, [A]>,
    arg: A,
    closedAnswer?: T,
  ): Promise<T> {
    const row = await this.orders.get(orderId);
    if (!row) throw problems.notFound(`No order ${orderId}.`);
    // An order accepted while Temporal was away may not run yet: it is started first (or the caller tries again).
    if (row.seq === 0 && !(await this.deps.starts.ensureStarted(orderId))) {
      throw problems.unavailable(`Order ${orderId} is recorded and waiting for its workflow to start; send the command again shortly.`);
    }
    const handle = this.deps.client.workflow.getHandle(orderId);
    if (!key) {
      try {
        return await handle.executeUpdate(def, { args: [arg] });
      } catch (err) {
        if (err instanceof WorkflowNotFoundError && closedAnswer) return closedAnswer;
        throw commandProblem(orderId, err);
      }
    }
    const hash = requestHash(def.name, arg);
    const known = await this.commands.find(orderId, command, key);
    if (known) {
      if (known.requestHash !== hash) throw keyReused(command, key);
      return known.outcome as T;
    }
    const updateId = updateIdFor(command, key);
    let outcome: T;
    try {
      outcome = await handle.executeUpdate(def, { args: [arg], updateId });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw commandProblem(orderId, err);
      // Closed: the command may have completed before, its answer lost. The history still says.
      const earlier = await findUpdate(this.deps.client, handle, updateId).catch(() => undefined);
      if (!earlier?.outcome) {
        if (closedAnswer) return closedAnswer;
        throw commandProblem(orderId, err);
      }
      const earlierHash = requestHash(earlier.name, earlier.arg);
      if (!earlier.outcome.ok)
        throw earlierHash === hash
          ? commandProblem(orderId, new WorkflowUpdateFailedError('Workflow Update failed', earlier.outcome.error))
          : keyReused(command, key);
      await this.commands.record(orderId, command, key, earlierHash, earlier.outcome.value);
      if (earlierHash !== hash) throw keyReused(command, key);
      return earlier.outcome.value as T;
    }
    // Which request did Temporal accept under this key: ours, or a different one sent with the
    // same key (at the same time, or before a crash lost its row)? The history is the record.
    const accepted = await findUpdate(this.deps.client, handle, updateId).catch(() => undefined);
    // Without the history (a transient error) nothing is recorded: the next repeat asks Temporal again.
    if (!accepted) return outcome;
    const acceptedHash = requestHash(accepted.name, accepted.arg);
    await this.commands.record(orderId, command, key, acceptedHash, outcome);
    if (acceptedHash !== hash) throw keyReused(command, key);
    return outcome;
  }
}

/**
 * A command the workflow would not take → a problem: by the validator's failure type, never its
 * wording. `InvalidCommand` → 400 naming the field, `CommandRefused` → 409; a closed workflow → 409.
 * Anything else is not a refusal but a fault, and goes on as a 500.
 */
function commandProblem(orderId: string, err: unknown): unknown {
  if (err instanceof WorkflowNotFoundError) return problems.conflict(`order ${orderId} is closed and accepts no commands`);
  if (!(err instanceof WorkflowUpdateFailedError) || !(err.cause instanceof ApplicationFailure)) return err;
  const failure = err.cause;
  if (failure.type === 'InvalidCommand') {
    const d = failure.details?.[0] as { path?: unknown; message?: unknown } | undefined;
    const path = typeof d?.path === 'string' ? d.path : '(root)';
    return problems.validation([{ path, message: typeof d?.message === 'string' ? d.message : failure.message }], failure.message);
  }
  if (failure.type === 'CommandRefused') return problems.conflict(failure.message);
  return err;
}

const keyReused = (command: CommandName, key: string) =>
  problems.idempotencyKeyReused(
    `Idempotency-Key "${key}" was already used for a different ${command} request on this order; use a new key for a new request.`,
  );

const FINAL = new Set(['REJECTED', 'CANCELLED', 'DELIVERED', 'COMPLETED', 'REFUNDED']);
/** How long an order read waits for the projection to catch up with the workflow's last step. */
const CATCH_UP_MS = 2000;
const isFinal = (s: string) => FINAL.has(s);
