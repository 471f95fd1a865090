/** The payment gateway: authorise at intake, capture per shipment at handover, void on cancel. */
import { ApplicationFailure } from '@temporalio/common';
import { callJson, type OutsideSystem } from '../http';

export interface Authorization {
  authorizationId: string;
  amount: string;
  currency: string;
  expiresAt?: string;
}

export function createPaymentActivities(gateway: OutsideSystem) {
  return {
    /** Authorises the order total; a decline is a non-retryable `PaymentDeclined` with the gateway's code. */
    async authorizePayment(input: {
      orderId: string;
      amount: string;
      currency: string;
      token: string;
      key?: string;
    }): Promise<Authorization> {
      try {
        return await callJson<Authorization>(gateway, '/v1/authorizations', {
          body: { orderId: input.orderId, amount: input.amount, currency: input.currency, paymentToken: input.token },
          // The order's authorisation; a re-authorisation after expiry passes a key of its own.
          idempotencyKey: input.key ?? `${input.orderId}:authorize`,
        });
      } catch (err) {
        if (err instanceof ApplicationFailure && err.type === 'card_declined') {
          const code = (err.details?.[0] as { declineCode?: string } | undefined)?.declineCode ?? 'declined';
          throw ApplicationFailure.nonRetryable(`card declined: ${code}`, 'PaymentDeclined', { declineCode: code });
        }
        throw err;
      }
    },
    /** Captures one shipment's share; keyed by the shipment so a retry never captures twice. */
    async capturePayment(input: { authorizationId: string; amount: string; key: string }): Promise<{ captureId: string; amount: string }> {
      return callJson(gateway, `/v1/authorizations/${encodeURIComponent(input.authorizationId)}/capture`, {
        body: { amount: input.amount },
        idempotencyKey: input.key,
      });
    },
    /** Refunds (part of) a capture; keyed so a retry never refunds twice. */
    async refundCapture(input: { captureId: string; amount: string; key: string }): Promise<{ refundId: string; amount: string }> {
      return callJson(gateway, `/v1/captures/${encodeURIComponent(input.captureId)}/refunds`, {
        body: { amount: input.amount },
        idempotencyKey: input.key,
      });
    },
    /**
     * Voids the authorisation; after partial captures the gateway releases only the uncaptured
     * remainder. An authorisation that already lapsed answers `expired`: nothing is held any more.
     * With `amount`, a partial reversal: only that much is released (never more than is still
     * held) and the rest stays capturable — for one shipment's share of an authorisation the
     * order's other shipments still capture from.
     */
    async voidAuthorization(input: {
      authorizationId: string;
      key: string;
      amount?: string | undefined;
    }): Promise<{ status: string; released?: string }> {
      return callJson(gateway, `/v1/authorizations/${encodeURIComponent(input.authorizationId)}/void`, {
        body: input.amount !== undefined ? { amount: input.amount } : {},
        idempotencyKey: input.key,
      });
    },
  };
}
