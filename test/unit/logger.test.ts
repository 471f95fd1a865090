import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger';

describe('logger', () => {
  it('writes one JSON object per line and redacts personal data and secrets', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) }).child({ orderId: 'order-web-1' });
    log.info('order received', { customer: { id: 'c1', email: 'a@b.vn', phone: '0901234567' }, authorization: 'Bearer k', total: '10.00' });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      level: 'info',
      msg: 'order received',
      orderId: 'order-web-1',
      customer: '[redacted]',
      authorization: '[redacted]',
      total: '10.00',
    });
    expect(lines[0]).not.toContain('a@b.vn');
    expect(lines[0]).not.toContain('0901234567');
  });

  it('drops entries below its level', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', write: (l) => lines.push(l) });
    log.info('quiet');
    log.error('loud');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['loud']);
  });
});
