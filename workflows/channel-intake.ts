/**
 * Intake of one order from a marketplace that only notifies (Shopee, Lazada, TikTok Shop): pull
 * the order from the platform's order-detail API — an activity, retried through the platform's
 * outages — map it, and take it in exactly like `POST /v1/orders` (an activity sharing that code).
 * The workflow id `intake-<channel>-<channel order id>` makes concurrent notifications of one
 * order join one intake. A pull that fails for good (the platform refuses it, an order detail that
 * cannot be mapped — named by its field —, a day of outage) does not fail the workflow: the intake
 * is flagged (`NeedsAttention`, its current details say why) and waits for an ops `retry`.
 */
import { proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { createStepRunner, refuse } from './attention';
import { retryUpdate } from './messages';
import { routed } from './profiles';
import { NeedsAttentionKey } from './search-attributes';
import type { Disposition } from '../activities/channels/adapters/types';
import type { Activities } from '../activities';
import type { OrderSettings } from '../domain/settings';

export interface ChannelIntakeInput {
  channel: 'shopee' | 'lazada' | 'tiktok';
  channelOrderId: string;
  /** The status the notification carried; the pulled order's own status decides. */
  notifiedStatus: string;
  /** The API's order settings at the time of the notification, as `POST /v1/orders` would use. */
  settings: OrderSettings;
  returnWindows: Record<string, number>;
}

export interface ChannelIntakeResult {
  /** `intake`: the order was taken in; otherwise what the pulled status meant (nothing started). */
  outcome: Disposition;
  nativeStatus: string;
  orderId?: string;
  /** False when the order had been taken in before (another notification, or the API). */
  created?: boolean;
}

/** The platform's API may be down or rate-limiting for a while; keep trying for a day. */
const pull = routed<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

/** Our own database and Temporal: short, idempotent, retried until they succeed. */
const intake = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function channelIntakeWorkflow(input: ChannelIntakeInput): Promise<ChannelIntakeResult> {
  const what = `${input.channel} order ${input.channelOrderId}`;
  const steps = createStepRunner({
    raise: (_step, reason) => {
      upsertSearchAttributes([{ key: NeedsAttentionKey, value: true }]);
      setCurrentDetails(`**Needs attention**: ${reason}\n\nWaiting for an ops retry (Update \`retry\`).`);
      return Promise.resolve();
    },
    cleared: () => {
      upsertSearchAttributes([{ key: NeedsAttentionKey, value: false }]);
      setCurrentDetails(`Pulling ${what} again`);
      return Promise.resolve();
    },
  });
  setHandler(
    retryUpdate,
    ({ actor }: { actor: string }) => {
      const step = steps.parkedStep!;
      steps.requestRetry(actor);
      return { retried: [step] };
    },
    {
      validator: (_: unknown) => {
        if (!steps.parkedStep) throw refuse(`nothing to retry: the intake of ${what} does not need attention`);
      },
    },
  );

  const pulled = await steps.run('pull the order from the channel', () =>
    pull.fetchChannelOrder({ channel: input.channel, channelOrderId: input.channelOrderId }),
  );
  // The status may have moved since the notification (paid, cancelled): the pulled one decides.
  if (pulled.disposition !== 'intake' || !pulled.order) return { outcome: pulled.disposition, nativeStatus: pulled.nativeStatus };
  const order = pulled.order;
  const r = await steps.run('take the order in', () =>
    intake.startChannelOrder({ order, native: pulled.native, settings: input.settings, returnWindows: input.returnWindows }),
  );
  return { outcome: 'intake', nativeStatus: pulled.nativeStatus, orderId: r.orderId, created: r.created };
}
