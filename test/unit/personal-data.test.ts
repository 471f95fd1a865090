/** Personal data rules: who sees what, masking, and scrubbing free text without eating ids. */
import { describe, expect, it } from 'vitest';
import { ROLES } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import {
  addressFor,
  customerFor,
  maskEmail,
  maskName,
  maskPhone,
  mayFindByContact,
  piiViewFor,
  scrubberFor,
  scrubText,
} from '../../lib/personal-data';

const customer = { id: 'cust-1', name: 'Nguyễn Văn An', email: 'an.nguyen@example.vn', phone: '+84 901 234 567' };
const address = {
  name: 'Nguyễn Văn An',
  line1: '12 Lê Lợi',
  line2: 'Tầng 3',
  ward: 'Bến Nghé',
  district: 'Quận 1',
  city: 'Hồ Chí Minh',
  country: 'VN',
  lat: 10.77,
  lng: 106.7,
};

describe('who sees what', () => {
  it('cs full, ops masked, every other role nothing; only cs and ops search by contact', () => {
    expect(Object.fromEntries(ROLES.map((r) => [r, piiViewFor(r)]))).toEqual({
      channel: 'none',
      cs: 'full',
      ops: 'masked',
      admin: 'none',
      carrier: 'none',
      finance: 'none',
    });
    expect(ROLES.filter(mayFindByContact)).toEqual(['cs', 'ops']);
  });

  it('masks contact details and keeps the delivery area of the address', () => {
    expect(customerFor('full', customer)).toEqual(customer);
    expect(customerFor('masked', customer)).toEqual({
      id: 'cust-1',
      name: 'N*** V*** A***',
      email: 'a***@example.vn',
      phone: '********567',
    });
    expect(customerFor('none', customer)).toBeUndefined();
    expect(customerFor('masked', { id: 'c', name: 'An' })).toEqual({ id: 'c', name: 'A***' });
    expect(addressFor('full', address)).toEqual(address);
    expect(addressFor('masked', address)).toEqual({ ward: 'Bến Nghé', district: 'Quận 1', city: 'Hồ Chí Minh', country: 'VN' });
    expect(addressFor('none', address)).toBeUndefined();
    expect([maskName('  Bình  '), maskEmail('x@y.vn'), maskEmail('broken'), maskPhone('0901 234 567')]).toEqual([
      'B***',
      'x***@y.vn',
      '***',
      '*******567',
    ]);
  });
});

describe('scrubbing free text', () => {
  it('removes e-mail addresses and phone numbers as people write them, also URL-encoded', () => {
    for (const pii of [
      '0901234567',
      '0901 234 567',
      '090-123-4567',
      '+84 901 234 567',
      '+84901234567',
      '+1 415 555 0100',
      'an.nguyen@example.vn',
      'A+tag@Sub.Example.COM',
    ]) {
      expect(scrubText(`call ${pii}, thanks`), pii).toBe('call [redacted], thanks');
    }
    expect(scrubText('/v1/orders?phone=%2B84%20901%20234%20567&limit=5')).toBe('/v1/orders?phone=[redacted]&limit=5');
    expect(scrubText('/v1/orders?email=an%40example.vn')).toBe('/v1/orders?email=[redacted]');
  });

  it('leaves ids, amounts, times and tracking numbers alone', () => {
    for (const text of [
      'order-web-0901234567',
      'lazada order 402346545712345',
      'total 125000000.00 VND',
      '2026-01-15T10:00:00.000Z',
      'tracking VN123456789012',
      'shipment order-web-T1-shipment-1: booked with ghn, tracking GHN0901234567',
      'authorising 1250000.00 VND',
      'seq 123456789',
    ])
      expect(scrubText(text), text).toBe(text);
  });

  it("scrubs the order's own values, personal keys and labels below full, and keeps identifiers", () => {
    const scrub = scrubberFor('masked', { customer, address });
    expect(
      scrub({
        event: 'note: Nguyễn Văn An moved to 12 Lê Lợi, call 0912 345 678',
        detail: {
          channelOrderId: '0901234567',
          shipmentId: 'order-web-1-shipment-1',
          reason: 'wrong address',
          phone: 'x',
          labelUrl: 'https://carrier/label/1',
          lines: 2,
        },
        shipments: [
          {
            trackingNumber: '0901234567',
            status: 'booked',
            labelUrl: 'https://carrier/label/2',
            attentionReason: 'carrier says an.nguyen@example.vn refused',
          },
        ],
      }),
    ).toEqual({
      event: 'note: [redacted] moved to [redacted], call [redacted]',
      detail: { channelOrderId: '0901234567', shipmentId: 'order-web-1-shipment-1', reason: 'wrong address', lines: 2 },
      shipments: [{ trackingNumber: '0901234567', status: 'booked', attentionReason: 'carrier says [redacted] refused' }],
    });
    const same = { event: 'call 0912 345 678', labelUrl: 'u' };
    expect(scrubberFor('full', { customer, address })(same)).toBe(same);
    // Names shorter than three characters would match inside ordinary words.
    expect(scrubberFor('none', { customer: { id: 'c', name: 'An' }, address: { ...address, name: 'An' } })('Cancelled: And so on')).toBe(
      'Cancelled: And so on',
    );
  });
});

describe('logger redaction', () => {
  it('redacts personal keys at any spelling, scrubs strings and messages, truncates deep objects', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    log.warn('customer 0901 234 567 wrote', {
      customerEmail: 'a@b.vn',
      buyer_phone: '0901234567',
      shippingAddress: address,
      recipient: 'X',
      customerId: 'cust-1',
      total: '10.00',
      when: new Date('2026-01-01T00:00:00Z'),
      deep: { a: { b: { c: { d: { e: 'an.nguyen@example.vn' } } } } },
      note: 'reach me at an.nguyen@example.vn',
    });
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      msg: 'customer [redacted] wrote',
      customerEmail: '[redacted]',
      buyer_phone: '[redacted]',
      shippingAddress: '[redacted]',
      recipient: '[redacted]',
      customerId: 'cust-1',
      total: '10.00',
      when: '2026-01-01T00:00:00.000Z',
      deep: { a: { b: { c: { d: '[truncated]' } } } },
      note: 'reach me at [redacted]',
    });
    expect(lines[0]).not.toMatch(/example\.vn|0901|Lê Lợi/);
  });
});
