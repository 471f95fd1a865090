/**
 * The side-by-side bench reads figures out of printed bench output (its own and an older
 * commit's): the lines below are as `npm run bench` prints them.
 */
import { describe, expect, it } from 'vitest';
import { compareFigures, figuresFrom } from '../../scripts/bench-baseline';

const printed = `
2) intake latency: POST /v1/orders at 10/s for 10s (open loop; the worker processes them meanwhile)
   p50 4.1 ms  p99 12.9 ms  max 15.0 ms  → p50 is 3.1× the /healthz p50
   those 100 orders were all DELIVERED 21.3s after the first was sent → 4.7 orders/s sustained

3) burst: 200 orders at once, intake → DELIVERED (carrier steps every 20 ms)
   accepted in 1.2s; all DELIVERED after 41.0s → 4.9 orders/s end to end
   channel webhooks ... answered p50 3.0 ms  p99 9.0 ms  max 10.0 ms
   shape                                                  workflows  history events  workflow tasks  (order workflow alone)
   1 line, 1 shipment, prepaid → DELIVERED                        2             212              26  (141 events)
   2 lines split over 2 warehouses, prepaid → DELIVERED           3             349              44  (197 events)
      order: marker_recorded 19, upsert_workflow_search_attributes 18
`.split('\n');

describe('bench figures', () => {
  it('reads orders/s, intake latency and events per shape; the webhook percentiles are not intake', () => {
    expect(figuresFrom(printed)).toEqual({
      sustained: 4.7,
      burst: 4.9,
      intakeP50: 4.1,
      intakeP99: 12.9,
      events: { '1 line, 1 shipment, prepaid → DELIVERED': 212, '2 lines split over 2 warehouses, prepaid → DELIVERED': 349 },
    });
  });

  it('puts them side by side with now ÷ baseline, and a dash where one side has no figure', () => {
    const rows = compareFigures('46c07b4', figuresFrom(printed), {
      sustained: 9.4,
      events: { '1 line, 1 shipment, prepaid → DELIVERED': 133 },
    });
    expect(rows.find((r) => r.includes('orders/s sustained'))).toMatch(/4\.7 \/s\s+9\.4 \/s\s+2\.00×$/);
    expect(rows.find((r) => r.includes('1 line, 1 shipment'))).toMatch(/212 ev\s+133 ev\s+0\.63×$/);
    expect(rows.find((r) => r.includes('in the burst'))).toMatch(/4\.9 \/s\s+—\s+—$/);
  });
});
