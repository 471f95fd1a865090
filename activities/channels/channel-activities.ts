/**
 * Sales-channel activities: status pushes in each channel's own shape (ordered per order, so a
 * channel never sees an older status after a newer one), and the two halves of a thin channel's
 * intake: pull the order from the platform's order-detail API, then take it in exactly as
 * `POST /v1/orders` does.
 */
// zod schemas copy their methods when they are built, so zod's OpenAPI extension must be installed
// before any schema the API documents (these, and the canonical order they import) is created.
import '@hono/zod-openapi';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { intakeOrder } from '../../intake/order-intake';
import { WorkflowStartRelay } from '../../intake/workflow-starts';
import type { Sql } from '../../db/client';
import { orderIdFor, type CanonicalOrder } from '../../domain/order';
import type { OrderSettings } from '../../domain/settings';
import { DEV_CHANNEL_SECRETS } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import { systemFor, type OutsideSystem } from '../http';
import { adapterFor, channelCredentials, type ChannelCredentials, type Disposition, type StatusPushInput } from './adapters';
import { callChannel } from './channel-http';
import { ChannelStore } from './channel-store';

/** The channels' APIs (in dev and tests, the sandbox), and what the OMS assumes of the platforms behind them. */
export interface ChannelSystem extends OutsideSystem {
  /**
   * How long a platform may still apply a request after we gave up waiting for its answer: its
   * own request timeout. Default {@link DEFAULT_PLATFORM_REQUEST_TIMEOUT_MS}.
   */
  platformRequestTimeoutMs?: number;
}

/**
 * Not a figure the marketplaces document: a minute is assumed, twice what the sandbox's
 * platforms allow a request (sandbox/channels.ts). Longer only delays the pushes that follow an
 * unanswered one; shorter than the platform's real timeout would let a late request win.
 */
export const DEFAULT_PLATFORM_REQUEST_TIMEOUT_MS = 60_000;

export interface ChannelActivityDeps {
  sql: Sql;
  logger: Logger;
  systems: { channels: Record<string, ChannelSystem> };
  /** Per channel; development secrets when not given. */
  channelSecrets?: Record<string, string>;
}

export interface PulledChannelOrder {
  nativeStatus: string;
  disposition: Disposition;
  order?: CanonicalOrder;
  /** The native document, for the intake log. */
  native: unknown;
}

/** The lease a push holds on its order's channel conversation: every call at its timeout, and some. */
export const pushLeaseMs = (calls: number, timeoutMs: number) => Math.max(calls, 1) * timeoutMs + 30_000;

export interface StartChannelOrderInput {
  order: CanonicalOrder;
  native: unknown;
  settings: OrderSettings;
  returnWindows: Record<string, number>;
}

/** The current activity's context; undefined when called directly (tests, scripts). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

function channelParts(deps: ChannelActivityDeps) {
  const secrets = deps.channelSecrets ?? DEV_CHANNEL_SECRETS;
  return {
    store: new ChannelStore(deps.sql),
    system: (channel: string): ChannelSystem => systemFor(deps.systems.channels, 'channel', channel),
    credentials: (channel: string): ChannelCredentials => {
      const secret = secrets[channel];
      if (!secret) throw ApplicationFailure.nonRetryable(`no secret configured for channel ${channel}`, 'ChannelNotConfigured');
      return channelCredentials(channel, secret);
    },
  };
}

export type StatusPusher = (
  input: StatusPushInput,
  o?: { signal?: AbortSignal | undefined; onWait?: () => void },
) => Promise<'pushed' | 'stale'>;

export function createStatusPusher(deps: ChannelActivityDeps): StatusPusher {
  const { store, system, credentials } = channelParts(deps);

  /**
   * Tells the originating channel about a status change, in its own API's shape. Keyed by
   * (order, seq) for the channel's idempotency; a push older than what the channel was already
   * told is skipped, so a late retry never overwrites a newer status. On a last-write-wins
   * platform, a push whose request got no answer holds the order's later pushes back until
   * the platform can no longer apply it (they fail with `ChannelPushInDoubt` and are retried
   * when it has passed), so a late landing never overwrites a newer status either.
   */
  return async (input, o = {}) => {
    const adapter = adapterFor(input.channel);
    const creds = credentials(input.channel);
    const ctx = adapter.delivery === 'thin' || adapter.channel === 'shopify' ? await store.pushContext(input.orderId) : { shipments: [] };
    // Each request is aborted at its timeout, so the whole push stays inside the lease.
    const calls = adapter.statusPush(input, ctx, creds, Date.now()).length;
    const platform = system(input.channel);
    const timeoutMs = platform.timeoutMs ?? 10_000;
    const outcome = await store.pushInOrder(
      input.channel,
      input.orderId,
      input.seq,
      input.status,
      async () => {
        // Built (and signed) once the lease is ours: platforms check the signature's timestamp.
        const requests = adapter.statusPush(input, ctx, creds, Date.now());
        for (const [i, req] of requests.entries()) {
          await callChannel(platform, adapter, req, `${input.orderId}:status:${input.seq}${requests.length > 1 ? `:${i}` : ''}`);
        }
      },
      {
        leaseMs: pushLeaseMs(calls, timeoutMs),
        signal: o.signal,
        onWait: o.onWait,
        // A feed that keeps the highest seq does not care in which order requests land.
        inDoubt:
          adapter.keepsHighestSeq || calls === 0
            ? undefined
            : {
                sendMs: calls * timeoutMs,
                platformTimeoutMs: platform.platformRequestTimeoutMs ?? DEFAULT_PLATFORM_REQUEST_TIMEOUT_MS,
              },
      },
    );
    if (outcome === 'stale')
      deps.logger.info('older status push skipped', {
        channel: input.channel,
        orderId: input.orderId,
        seq: input.seq,
        status: input.status,
      });
    return outcome;
  };
}

export function createChannelActivities(deps: ChannelActivityDeps) {
  const { store, system, credentials } = channelParts(deps);
  const pushStatus = createStatusPusher(deps);
  return {
    /** The push as an activity: how orders recorded before the status-push outbox still send theirs. */
    async pushOrderStatus(input: StatusPushInput): Promise<void> {
      const activity = activityContext();
      await pushStatus(input, { signal: activity?.cancellationSignal, onWait: () => activity?.heartbeat() });
    },

    /**
     * Pulls one order from a thin channel's order-detail API (signed) and maps it. A payload that
     * cannot be mapped fails for good, naming the field: retrying would not change it.
     */
    async fetchChannelOrder(input: { channel: string; channelOrderId: string }): Promise<PulledChannelOrder> {
      const adapter = adapterFor(input.channel);
      if (!adapter.orderDetailRequests || !adapter.parseOrderDetail) {
        throw ApplicationFailure.nonRetryable(`${input.channel} sends whole orders; there is nothing to pull`, 'ChannelNotPulled');
      }
      const creds = credentials(input.channel);
      const answers: unknown[] = [];
      for (const req of adapter.orderDetailRequests(input.channelOrderId, creds, Date.now()))
        answers.push(await callChannel(system(input.channel), adapter, req));
      const parsed = adapter.parseOrderDetail(answers, input.channelOrderId);
      if (!parsed.ok) {
        throw ApplicationFailure.nonRetryable(
          `${input.channel} order ${input.channelOrderId} cannot be taken in: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
          'ChannelOrderMappingError',
          { issues: parsed.issues },
        );
      }
      const { nativeStatus, disposition, order, native, notes } = parsed.value;
      // What the platform's order document carried unexpectedly is listed for ops, like a webhook's.
      if (notes?.length)
        await store.recordNotes(input.channel, notes, `pull:${input.channelOrderId}`, orderIdFor(input.channel, input.channelOrderId));
      return { nativeStatus, disposition, native, ...(order ? { order: { ...order, channelOrderId: input.channelOrderId } } : {}) };
    },

    /** Records the intake and starts the order workflow: the same code `POST /v1/orders` runs. */
    async startChannelOrder(input: StartChannelOrderInput): Promise<{ orderId: string; created: boolean }> {
      const ctx = Context.current();
      // Already inside Temporal: the order's workflow is started before this activity completes.
      const starts = new WorkflowStartRelay({ sql: deps.sql, client: ctx.client, logger: deps.logger });
      const r = await intakeOrder(
        { sql: deps.sql, taskQueue: ctx.info.taskQueue, settings: input.settings, returnWindows: input.returnWindows, starts },
        input.order,
        input.native,
        { startNow: true },
      );
      return { orderId: r.orderId, created: r.created };
    },
  };
}
