/**
 * What the Temporal Web UI shows as a workflow's "current details": where the order stands, what
 * it waits for and until when, and its shipments. Markdown, rebuilt at every step; pure.
 */
import type { OrderState, ShipmentView } from './messages';

export function orderDetails(state: OrderState): string {
  const lines = [`**${state.status}**${state.total ? ` · ${state.total}` : ''}${state.needsAttention ? ' · ⚠ needs attention' : ''}`];
  if (state.attentionReason) lines.push(`Attention: ${state.attentionReason}`);
  if (state.waitingFor) lines.push(`Waiting for ${state.waitingFor}${state.waitingUntil ? ` until ${state.waitingUntil}` : ''}`);
  for (const s of state.shipments) lines.push(`- ${shipmentLine(s)}`);
  if (state.cancelledLines?.length)
    lines.push(`Cancelled: ${state.cancelledLines.map((l) => `${l.quantity}× line ${l.lineNo}`).join(', ')}`);
  for (const r of state.returns) lines.push(`- return ${r.returnId}: ${r.status}${r.refunded ? `, refunded ${r.refunded}` : ''}`);
  return lines.join('\n');
}

export function shipmentDetails(view: ShipmentView, waitingFor: string): string {
  return [`**${view.status}**${view.needsAttention ? ' · ⚠ needs attention' : ''}`, shipmentLine(view), `Waiting for ${waitingFor}`].join(
    '\n',
  );
}

function shipmentLine(s: ShipmentView): string {
  const carrier = s.carrier ? ` · ${s.carrier} ${s.trackingNumber ?? ''}`.trimEnd() : '';
  const units = s.lines.map((l) => `${l.quantity}× ${l.sku}`).join(', ');
  return `${s.shipmentId} from ${s.warehouseId}: ${s.status}${carrier} (${units})${s.needsAttention && s.attentionReason ? ` — ${s.attentionReason}` : ''}`;
}
