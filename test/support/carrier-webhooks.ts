/**
 * Carrier webhooks for tests, in each carrier's own format: built from the published samples in
 * test/fixtures/carriers with the parcel's values, and posted the way the carrier authenticates
 * (GHN: the secret in the callback URL's `token`; Viettel Post: the secret in `Authorization`).
 */
import { readFileSync } from 'node:fs';
import { isoToVtpTime } from '../../activities/carriers/adapters/vtp';
import { DEV_CARRIER_SECRETS } from '../../lib/config';

type Json = Record<string, unknown>;

export const carrierFixture = (carrier: string, file: string): Json =>
  JSON.parse(readFileSync(new URL(`../fixtures/carriers/${carrier}/${file}`, import.meta.url), 'utf8')) as Json;

/** A GHN webhook: the published delivered sample with this parcel's code, status and time (ISO). */
export function ghnWebhook(o: {
  orderCode: string;
  status: string;
  type?: string;
  time?: string;
  reference?: string;
  codAmount?: number;
  codTransferDate?: string | null;
}): Json {
  return {
    ...carrierFixture('ghn', 'webhook-switch-status-delivered.json'),
    OrderCode: o.orderCode,
    Status: o.status,
    Type: o.type ?? 'switch_status',
    Time: o.time ?? new Date().toISOString(),
    ClientOrderCode: o.reference ?? '',
    CODAmount: o.codAmount ?? 0,
    CODTransferDate: o.codTransferDate ?? null,
  };
}

/** A Viettel Post webhook: the published 501 sample with this parcel's number, status code and time. */
export function vtpWebhook(o: { orderNumber: string; status: number; time?: string; reference?: string | null; codAmount?: number }): Json {
  const sample = carrierFixture('vtp', 'webhook-status-501-delivered.json');
  return {
    ...sample,
    DATA: {
      ...(sample.DATA as Json),
      ORDER_NUMBER: o.orderNumber,
      ORDER_STATUS: o.status,
      ORDER_STATUSDATE: isoToVtpTime(o.time ?? new Date().toISOString()),
      ORDER_REFERENCE: o.reference ?? null,
      MONEY_COLLECTION: o.codAmount ?? 0,
    },
  };
}

/** POSTs a webhook body (an object, or raw text) to the OMS, authenticated the carrier's way with `secret` (its dev secret by default). */
export function postCarrierWebhook(
  apiUrl: string,
  carrier: string,
  body: Json | string,
  opts: { secret?: string } = {},
): Promise<Response> {
  const secret = opts.secret ?? DEV_CARRIER_SECRETS[carrier] ?? '';
  const url = `${apiUrl}/v1/carriers/${carrier}/webhooks${carrier === 'vtp' ? '' : `?token=${encodeURIComponent(secret)}`}`;
  return fetch(url, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...(carrier === 'vtp' ? { Authorization: secret } : {}) },
  });
}
