import { describe, expect, it } from 'vitest';
import { call, useQuietSandbox } from './helpers';

const sandbox = useQuietSandbox();

const authBody = (orderId: string, amount = '100.00', paymentToken = 'tok_visa') => ({ orderId, amount, currency: 'USD', paymentToken });
const ledger = async (orderId: string) =>
  (await call(sandbox(), 'GET', `/sandbox/ledger/payments?orderId=${orderId}`)).body.entries as { type: string; amount: string }[];

describe('sandbox payments', () => {
  it('rejects calls without the merchant key', async () => {
    expect((await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o1'), { key: null })).status).toBe(401);
    const wrong = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o1'), { key: 'nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ error: 'unauthorized' });
  });

  it('requires an Idempotency-Key and a valid body', async () => {
    const noKey = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o1'), { idem: null });
    expect(noKey).toMatchObject({ status: 400, body: { error: 'idempotency_key_required' } });
    for (const bad of [
      authBody('o1', '0'),
      authBody('o1', '1.234'),
      authBody('o1', '10', 'card_123'),
      { ...authBody('o1'), currency: 'VNDX' },
    ]) {
      const r = await call(sandbox(), 'POST', '/payments/v1/authorizations', bad);
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_request');
    }
  });

  it('authorizes and replays the same key without a second effect', async () => {
    const first = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-rep', '12.5'), { idem: 'k-rep' });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ status: 'authorized', amount: '12.50', currency: 'USD' });
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-rep', '12.5'), { idem: 'k-rep' });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await ledger('o-rep')).toHaveLength(1);
  });

  it('refuses a key reused with a different body', async () => {
    await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-reuse', '10'), { idem: 'k-reuse' });
    const r = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-reuse', '11'), { idem: 'k-reuse' });
    expect(r).toMatchObject({ status: 422, body: { error: 'idempotency_key_reused' } });
    expect(await ledger('o-reuse')).toHaveLength(1);
  });

  it('performs five concurrent same-key requests once', async () => {
    // A slow first request keeps the key in flight while the others arrive.
    await call(sandbox(), 'POST', '/sandbox/faults', {
      service: 'payments',
      op: 'authorize',
      match: { orderId: 'o-conc' },
      action: 'timeout',
      delayMs: 100,
    });
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-conc'), { idem: 'k-conc' })),
    );
    expect(replies.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(replies.map((r) => r.body.authorizationId)).size).toBe(1);
    expect(replies.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(4);
    expect(await ledger('o-conc')).toHaveLength(1);
  });

  it('declines tok_decline_* tokens and decline faults with 402 and a ledger entry', async () => {
    const r = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-dec', '5', 'tok_decline_insufficient_funds'));
    expect(r).toMatchObject({ status: 402, body: { error: 'card_declined', declineCode: 'insufficient_funds' } });
    await call(sandbox(), 'POST', '/sandbox/faults', {
      service: 'payments',
      op: 'authorize',
      match: { orderId: 'o-dec' },
      action: 'decline',
    });
    const f = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-dec', '5'));
    expect(f).toMatchObject({ status: 402, body: { declineCode: 'do_not_honor' } });
    expect((await ledger('o-dec')).map((e) => e.type)).toEqual(['decline', 'decline']);
    expect((await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-dec', '5'))).status).toBe(201);
  });

  it('charges only what the currency carries: a fraction of a đồng is refused at every step, nothing done', async () => {
    const vnd = (orderId: string, amount: string) => ({ ...authBody(orderId, amount), currency: 'VND' });
    const half = await call(sandbox(), 'POST', '/payments/v1/authorizations', vnd('o-vnd', '250000.50'));
    expect(half).toMatchObject({ status: 400, body: { error: 'invalid_amount' } });
    expect(half.body.message).toMatch(/VND has no minor unit/);
    expect(await ledger('o-vnd')).toEqual([]);
    const a = await call(sandbox(), 'POST', '/payments/v1/authorizations', vnd('o-vnd', '250000'));
    expect(a.status).toBe(201);
    const id = a.body.authorizationId as string;
    for (const [path, amount] of [
      [`/payments/v1/authorizations/${id}/capture`, '100000.50'],
      [`/payments/v1/authorizations/${id}/void`, '0.50'],
    ] as const)
      expect(await call(sandbox(), 'POST', path, { amount })).toMatchObject({ status: 400, body: { error: 'invalid_amount' } });
    const cap = await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/capture`, { amount: '100000' });
    expect(cap.status).toBe(201);
    const refund = await call(sandbox(), 'POST', `/payments/v1/captures/${cap.body.captureId as string}/refunds`, { amount: '33333.33' });
    expect(refund).toMatchObject({ status: 400, body: { error: 'invalid_amount' } });
    expect((await ledger('o-vnd')).map((e) => [e.type, e.amount])).toEqual([
      ['authorize', '250000.00'],
      ['capture', '100000.00'],
    ]);
  });

  it('captures within the authorization only, and void after capture is refused', async () => {
    const a = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-cap', '100'));
    const id = a.body.authorizationId as string;
    const over = await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/capture`, { amount: '100.01' });
    expect(over).toMatchObject({ status: 409, body: { error: 'amount_exceeds_authorization' } });
    const part = await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/capture`, { amount: '40' });
    expect(part).toMatchObject({ status: 201, body: { authorizationId: id, amount: '40.00' } });
    const rest = await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/capture`, {});
    expect(rest.body.amount).toBe('60.00');
    expect((await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/capture`, { amount: '0.01' })).status).toBe(409);
    expect(await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/void`, {})).toMatchObject({
      status: 409,
      body: { error: 'already_captured' },
    });
    expect((await call(sandbox(), 'POST', '/payments/v1/authorizations/auth_nope/capture', {})).status).toBe(404);
  });

  it('a void after a partial capture releases only the uncaptured remainder, once', async () => {
    const a = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-rem', '100'));
    const id = a.body.authorizationId as string;
    expect((await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/capture`, { amount: '30' })).status).toBe(201);
    expect(await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/void`, {})).toMatchObject({
      status: 200,
      body: { status: 'voided', released: '70.00' },
    });
    expect((await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/void`, {})).status).toBe(200);
    expect(await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/capture`, { amount: '1' })).toMatchObject({
      status: 409,
      body: { error: 'authorization_voided' },
    });
    expect((await ledger('o-rem')).map((e) => [e.type, e.amount])).toEqual([
      ['authorize', '100.00'],
      ['capture', '30.00'],
      ['void', '70.00'],
    ]);
  });

  it('voids once (a second void answers the same, no new entry) and refuses capture after void', async () => {
    const a = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-void', '20'));
    const id = a.body.authorizationId as string;
    expect(await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/void`, {})).toMatchObject({
      status: 200,
      body: { authorizationId: id, status: 'voided' },
    });
    expect((await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/void`, {})).status).toBe(200);
    expect(await call(sandbox(), 'POST', `/payments/v1/authorizations/${id}/capture`, {})).toMatchObject({
      status: 409,
      body: { error: 'authorization_voided' },
    });
    expect((await ledger('o-void')).map((e) => e.type)).toEqual(['authorize', 'void']);
  });

  it('caps refunds at the captured amount', async () => {
    const a = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-ref', '50'));
    const cap = await call(sandbox(), 'POST', `/payments/v1/authorizations/${a.body.authorizationId as string}/capture`, {});
    const capId = cap.body.captureId as string;
    expect(await call(sandbox(), 'POST', `/payments/v1/captures/${capId}/refunds`, { amount: '30' })).toMatchObject({
      status: 201,
      body: { captureId: capId, amount: '30.00' },
    });
    expect(await call(sandbox(), 'POST', `/payments/v1/captures/${capId}/refunds`, { amount: '20.01' })).toMatchObject({
      status: 409,
      body: { error: 'refund_exceeds_capture' },
    });
    expect((await call(sandbox(), 'POST', `/payments/v1/captures/${capId}/refunds`, { amount: '20' })).status).toBe(201);
    expect((await ledger('o-ref')).map((e) => `${e.type}:${e.amount}`)).toEqual([
      'authorize:50.00',
      'capture:50.00',
      'refund:30.00',
      'refund:20.00',
    ]);
  });

  it('lose_response performs the effect; the retry gets the stored success', async () => {
    await call(sandbox(), 'POST', '/sandbox/faults', {
      service: 'payments',
      op: 'authorize',
      match: { orderId: 'o-lost' },
      action: 'lose_response',
    });
    const lost = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-lost'), { idem: 'k-lost' });
    expect(lost).toMatchObject({ status: 500, body: { error: 'internal' } });
    const retry = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-lost'), { idem: 'k-lost' });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    const entries = await ledger('o-lost');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ type: 'authorize', id: retry.body.authorizationId });
  });

  it('error500 times:2 fails twice before any effect, then succeeds; error429 sets Retry-After', async () => {
    await call(sandbox(), 'POST', '/sandbox/faults', {
      service: 'payments',
      op: 'authorize',
      match: { orderId: 'o-500' },
      action: 'error500',
      times: 2,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-500'), { idem: 'k-500' })).status);
    expect(statuses).toEqual([500, 500, 201]);
    expect(await ledger('o-500')).toHaveLength(1);
    // A fault for another order does not fire.
    await call(sandbox(), 'POST', '/sandbox/faults', {
      service: 'payments',
      op: 'authorize',
      match: { orderId: 'o-429' },
      action: 'error429',
    });
    expect((await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-other'))).status).toBe(201);
    const limited = await call(sandbox(), 'POST', '/payments/v1/authorizations', authBody('o-429'));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((await call(sandbox(), 'GET', '/sandbox/faults')).body.faults).toEqual([]);
  });

  it('validates fault definitions', async () => {
    expect((await call(sandbox(), 'POST', '/sandbox/faults', { service: 'payments', op: 'fly', action: 'error500' })).status).toBe(400);
    expect((await call(sandbox(), 'POST', '/sandbox/faults', { service: 'wms', op: 'pick', action: 'decline' })).status).toBe(400);
    const ok = await call(sandbox(), 'POST', '/sandbox/faults', { service: 'wms', op: 'pick', action: 'error500', times: -1 });
    expect(ok.status).toBe(201);
    expect(ok.body.faultId).toEqual(expect.any(String));
    await call(sandbox(), 'DELETE', '/sandbox/faults');
    expect((await call(sandbox(), 'GET', '/sandbox/faults')).body.faults).toEqual([]);
  });
});
