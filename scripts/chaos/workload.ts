/**
 * The chaos run's workload: orders from a seeded random stream — prepaid and COD, one to three
 * lines (some only stocked in different warehouses, so they split; some scarce, so they wait for
 * a restock), through the API and through the channels' own signed webhooks (web/POS canonical,
 * Shopify whole orders, Shopee thin notifications), sent twice and out of order — and what
 * customers and ops do to them: cancel at a random moment, cancel a line, return after delivery
 * and inspect the parcel. Every client call is retried through outages with the same
 * Idempotency-Key, as a real client would.
 */
import { orderIdFor } from '../../domain/order';
import { seededRandom } from '../../sandbox/faults';
import { CHAOS_KEYS } from './topology';

/** The same seed gives the same run plan (the sandbox's seeded faults use the same generator). */
export const rngFrom = seededRandom;
const pick = <T>(rng: () => number, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const between = (rng: () => number, lo: number, hi: number) => lo + rng() * (hi - lo);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the runner shapes the catalog's stock into before the run (see run.ts). */
export const STOCK_PLAN = {
  /** Only a few units, in Ha Noi only: orders wait for restocks (or their backorder deadline). */
  scarce: ['RICECOOKER-XL', 'SNEAKER-XL'],
  /** Each stocked in one warehouse only: an order to Da Nang with two of them splits. */
  split: { 'TSHIRT-RED': 'WH-HN', 'COFFEE-BLUE': 'WH-HCM', 'BACKPACK-S': 'WH-DN' } as Record<string, string>,
  scarceUnits: 3,
  plenty: 1_000_000,
};

export type IntakePath = 'web-api' | 'web-webhook' | 'pos-api' | 'shopify' | 'shopee';
export type Action = 'none' | 'cancel' | 'cancel-line' | 'return';

export interface PlannedOrder {
  n: number;
  path: IntakePath;
  channel: 'web' | 'pos' | 'shopify' | 'shopee';
  channelOrderId: string;
  orderId: string;
  payment: 'prepaid' | 'cod' | 'declined';
  city: string;
  lines: { sku: string; quantity: number; unitPrice: string }[];
  shippingFee: string;
  action: Action;
  /** Delay before a cancel / line cancel, from acceptance. */
  actionDelayMs: number;
  /** Return: accept the parcel at inspection (else reject). */
  acceptReturn: boolean;
}

export interface Product {
  sku: string;
  unitPrice: string;
}

const CITIES = [
  { city: 'Ha Noi', w: 35 },
  { city: 'Da Nang', w: 30 },
  { city: 'Ho Chi Minh', w: 35 },
] as const;

/** The plan of order `n`: everything random about it is drawn here, from its own stream. */
export function planOrder(seed: number, n: number, products: Product[]): PlannedOrder {
  const rng = rngFrom((seed * 1_000_003 + n * 7_919) >>> 0);
  const r = rng();
  const path: IntakePath = r < 0.4 ? 'web-api' : r < 0.55 ? 'web-webhook' : r < 0.65 ? 'pos-api' : r < 0.8 ? 'shopify' : 'shopee';
  const channel = path === 'web-api' || path === 'web-webhook' ? 'web' : path === 'pos-api' ? 'pos' : path;
  const channelOrderId =
    channel === 'shopify'
      ? String(5_800_000_000 + (seed % 100_000) * 10_000 + n)
      : channel === 'shopee'
        ? `CH${seed}X${n}`
        : `C${seed}-${n}`;
  const pr = rng();
  const payment = pr < 0.03 ? 'declined' : pr < 0.55 ? 'prepaid' : 'cod';
  let roll = rng() * 100;
  const city = CITIES.find((c) => (roll -= c.w) < 0)?.city ?? 'Ha Noi';
  const special = new Set([...STOCK_PLAN.scarce, ...Object.keys(STOCK_PLAN.split)]);
  const ordinary = products.filter((p) => !special.has(p.sku));
  const price = (sku: string) => products.find((p) => p.sku === sku)?.unitPrice ?? '100000.00';
  const skus = new Set<string>();
  if (city === 'Da Nang' && rng() < 0.4) {
    // Two SKUs stocked in different warehouses only: this order ships in two parcels.
    const [a, b] = [...Object.keys(STOCK_PLAN.split)].sort(() => rng() - 0.5);
    skus.add(a!).add(b!);
  }
  if (city !== 'Ho Chi Minh' && rng() < 0.08) skus.add(pick(rng, STOCK_PLAN.scarce));
  const want = 1 + Math.floor(rng() * 3);
  while (skus.size < want) skus.add(pick(rng, ordinary).sku);
  const lines = [...skus].map((sku) => ({
    sku,
    quantity: STOCK_PLAN.scarce.includes(sku) ? 1 : 1 + Math.floor(rng() * 3),
    unitPrice: price(sku),
  }));
  const ar = rng();
  const cancellableLines = lines.length > 1 || lines.some((l) => l.quantity > 1);
  const action: Action =
    payment === 'declined' ? 'none' : ar < 0.14 ? 'cancel' : ar < 0.22 && cancellableLines ? 'cancel-line' : ar < 0.4 ? 'return' : 'none';
  return {
    n,
    path,
    channel,
    channelOrderId,
    orderId: orderIdFor(channel, channelOrderId),
    payment,
    city,
    lines,
    shippingFee: pick(rng, ['0.00', '15000.00', '30000.00']),
    action,
    actionDelayMs: Math.round(action === 'cancel' ? between(rng, 0, 8000) : between(rng, 300, 6000)),
    acceptReturn: rng() < 0.75,
  };
}

// ------------------------------------------------------------------------------- native shapes

const PROVINCE_DETAIL: Record<string, { district: string; line1: string }> = {
  'Ha Noi': { district: 'Quan Hoan Kiem', line1: '12 Hang Bai' },
  'Da Nang': { district: 'Quan Hai Chau', line1: '45 Bach Dang' },
  'Ho Chi Minh': { district: 'Quan 1', line1: '12 Le Loi' },
};

/** The canonical order (web, POS, and what the API takes). */
export function canonicalOf(p: PlannedOrder) {
  const d = PROVINCE_DETAIL[p.city]!;
  return {
    channel: p.channel,
    channelOrderId: p.channelOrderId,
    currency: 'VND',
    customer: { id: `chaos-cust-${p.n}`, name: 'Khach Hang Chaos', phone: `09${String(10_000_000 + p.n).slice(-8)}` },
    shippingAddress: { name: 'Khach Hang Chaos', line1: d.line1, district: d.district, city: p.city, country: 'VN' },
    lines: p.lines,
    shippingFee: p.shippingFee,
    payment:
      p.payment === 'cod'
        ? { method: 'cod' }
        : { method: 'prepaid', token: p.payment === 'declined' ? 'tok_decline_insufficient_funds' : 'tok_visa' },
    placedAt: new Date().toISOString(),
  };
}

const whole = (decimal: string) => Number(decimal.split('.')[0]);

/** A Shopee order as its order-detail API returns it. */
export function shopeeOrderOf(p: PlannedOrder, status: string) {
  const d = PROVINCE_DETAIL[p.city]!;
  const now = Math.floor(Date.now() / 1000);
  const items = p.lines.reduce((a, l) => a + whole(l.unitPrice) * l.quantity, 0);
  return {
    order_sn: p.channelOrderId,
    order_status: status,
    region: 'VN',
    currency: 'VND',
    cod: p.payment === 'cod',
    create_time: now,
    update_time: now,
    pay_time: p.payment === 'cod' ? 0 : now,
    buyer_user_id: 400_000_000 + p.n,
    buyer_username: `chaos.buyer.${p.n}`,
    payment_method: p.payment === 'cod' ? 'Cash on Delivery' : 'Credit Card/Debit Card',
    total_amount: items + whole(p.shippingFee),
    estimated_shipping_fee: whole(p.shippingFee),
    recipient_address: {
      name: 'Khach Hang Chaos',
      phone: `849${String(10_000_000 + p.n).slice(-8)}`,
      district: 'Phuong 1',
      city: d.district,
      state: p.city,
      region: 'VN',
      zipcode: '100000',
      full_address: `${d.line1}, ${d.district}, ${p.city}`,
    },
    item_list: p.lines.map((l, i) => ({
      item_id: 23_900_000_000 + i,
      item_name: l.sku,
      item_sku: l.sku.split('-')[0]!,
      model_id: 187_000_000_000 + i,
      model_name: l.sku,
      model_sku: l.sku,
      model_quantity_purchased: l.quantity,
      model_original_price: whole(l.unitPrice),
      model_discounted_price: whole(l.unitPrice),
    })),
  };
}

/** A Shopify order resource as its `orders/*` webhooks carry it. */
export function shopifyOrderOf(p: PlannedOrder, financialStatus: string) {
  const d = PROVINCE_DETAIL[p.city]!;
  const now = new Date().toISOString();
  const subtotal = p.lines.reduce((a, l) => a + whole(l.unitPrice) * l.quantity, 0);
  const dec = (n: number) => `${n}.00`;
  return {
    id: Number(p.channelOrderId),
    name: `#${p.n}`,
    email: `chaos.${p.n}@example.vn`,
    phone: null,
    created_at: now,
    updated_at: now,
    currency: 'VND',
    financial_status: financialStatus,
    fulfillment_status: null,
    cancelled_at: null,
    payment_gateway_names: p.payment === 'cod' ? ['Cash on Delivery (COD)'] : ['shopify_payments'],
    taxes_included: true,
    total_price: dec(subtotal + whole(p.shippingFee)),
    subtotal_price: dec(subtotal),
    total_discounts: '0.00',
    total_tax: '0.00',
    line_items: p.lines.map((l, i) => ({
      id: 11_000_000 + i,
      sku: l.sku,
      name: l.sku,
      quantity: l.quantity,
      price: l.unitPrice,
      total_discount: '0.00',
    })),
    shipping_lines: [{ title: 'Standard', price: p.shippingFee }],
    shipping_address: {
      first_name: 'Khach',
      last_name: 'Hang',
      name: 'Khach Hang Chaos',
      address1: d.line1,
      city: d.district,
      province: p.city,
      zip: '700000',
      country_code: 'VN',
      phone: null,
    },
    customer: { id: 6_000_000 + p.n, first_name: 'Khach', last_name: 'Hang', email: `chaos.${p.n}@example.vn`, phone: null },
  };
}

// ------------------------------------------------------------------------------- HTTP

export interface HttpAnswer {
  status: number;
  body: unknown;
}

/** One HTTP call; status 0 when no answer came (refused, reset, timed out). */
export async function http(
  url: string,
  init: { method?: string; key?: string; json?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.key) headers.Authorization = `Bearer ${init.key}`;
  if (init.json !== undefined) headers['Content-Type'] = 'application/json';
  try {
    const res = await fetch(url, {
      method: init.method ?? (init.json !== undefined ? 'POST' : 'GET'),
      headers,
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
      signal: AbortSignal.timeout(init.timeoutMs ?? 30_000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      /* keep the text */
    }
    return { status: res.status, body };
  } catch (err) {
    return { status: 0, body: { error: err instanceof Error ? err.message : String(err) } };
  }
}

/** Retries while there is no answer or a 5xx/429 (an outage), up to `untilMs`; returns the last answer. */
export async function persist(call: () => Promise<HttpAnswer>, untilMs: number, onRetry?: () => void): Promise<HttpAnswer> {
  let delay = 250;
  for (;;) {
    const a = await call();
    if (a.status !== 0 && a.status < 500 && a.status !== 429) return a;
    if (Date.now() > untilMs) return a;
    onRetry?.();
    await sleep(delay);
    delay = Math.min(delay * 2, 3000);
  }
}

// ------------------------------------------------------------------------------- running an order

/** What the workload did, for the report. */
export class WorkloadStats {
  planned = 0;
  /** Intakes that ended, accepted or not. */
  intakesDone = 0;
  accepted = 0;
  notAccepted: { orderId: string; why: string }[] = [];
  byPath: Record<string, number> = {};
  clientRetries = 0;
  duplicateWebhooks = 0;
  reorderedWebhooks = 0;
  cancels = { sent: 0, answered: {} as Record<string, number> };
  lineCancels = { sent: 0, answered: {} as Record<string, number> };
  returns = { requested: 0, refused: 0, notDelivered: 0, inspected: { accept: 0, reject: 0 }, notReceived: 0 };
  count(bucket: Record<string, number>, key: string) {
    bucket[key] = (bucket[key] ?? 0) + 1;
  }
}

/** The order projection as the workload needs it: polled for the orders it waits on. */
export interface OrderWatch {
  /** Resolves with the row once `pred` holds, or undefined at `untilMs`. */
  waitFor(orderId: string, pred: (o: WatchedOrder) => boolean, untilMs: number): Promise<WatchedOrder | undefined>;
}
export interface WatchedOrder {
  status: string;
  needsAttention: boolean;
  returns: { returnId: string; status: string }[];
}

export interface WorkloadContext {
  apiUrl: string;
  sandboxUrl: string;
  stats: WorkloadStats;
  watch: OrderWatch;
  /** Orders the OMS said it accepted. */
  accepted: Set<string>;
  /** Client calls give up after this (the run's bound). */
  untilMs: () => number;
  log: (line: string) => void;
}

const channelKey = (channel: string) => CHAOS_KEYS[channel as 'web' | 'pos' | 'shopify' | 'shopee'];

/** Takes one order in through its path; true when the OMS accepted it. */
async function intake(p: PlannedOrder, ctx: WorkloadContext): Promise<boolean> {
  const { stats } = ctx;
  const retry = () => {
    stats.clientRetries++;
  };
  const sandbox = (path: string, json: unknown) => persist(() => http(`${ctx.sandboxUrl}${path}`, { json }), ctx.untilMs(), retry);
  /** A notify answered: did any delivery of an intake webhook get a 2xx from the OMS? */
  const delivered = (a: HttpAnswer) =>
    ((a.body as { deliveries?: { status: number }[] } | undefined)?.deliveries ?? []).some((d) => d.status >= 200 && d.status < 300);
  const notifyUntilDelivered = async (path: string, body: Record<string, unknown>) => {
    let delay = 500;
    for (;;) {
      const a = await sandbox(path, body);
      if (a.status === 200 && delivered(a)) return true;
      if (Date.now() > ctx.untilMs()) {
        stats.notAccepted.push({ orderId: p.orderId, why: `notify ${path}: ${JSON.stringify(a.body).slice(0, 200)}` });
        return false;
      }
      retry();
      await sleep(delay);
      delay = Math.min(delay * 2, 3000);
    }
  };

  if (p.path === 'web-api' || p.path === 'pos-api') {
    const body = canonicalOf(p);
    const a = await persist(() => http(`${ctx.apiUrl}/v1/orders`, { key: channelKey(p.channel), json: body }), ctx.untilMs(), retry);
    if (a.status === 201 || a.status === 200) return true;
    stats.notAccepted.push({ orderId: p.orderId, why: `POST /v1/orders → ${a.status} ${JSON.stringify(a.body).slice(0, 200)}` });
    return false;
  }
  if (p.path === 'web-webhook') {
    // The platform delivers the same bytes two or three times.
    const times = 2 + (p.n % 2);
    stats.duplicateWebhooks += times - 1;
    return notifyUntilDelivered('/sandbox/channels/web/notify', { order: canonicalOf(p), times });
  }
  if (p.path === 'shopify') {
    const prepaid = p.payment !== 'cod';
    const put = await sandbox('/sandbox/channels/shopify/orders', shopifyOrderOf(p, 'pending'));
    if (put.status !== 201) {
      stats.notAccepted.push({ orderId: p.orderId, why: `shopify put → ${put.status}` });
      return false;
    }
    let stale: string | undefined;
    if (prepaid) {
      // Created unpaid (a bank transfer on its way): acknowledged, nothing started.
      const first = await sandbox('/sandbox/channels/shopify/notify', {
        channelOrderId: p.channelOrderId,
        topic: 'orders/create',
        eventId: `create-${p.channelOrderId}`,
      });
      stale = (first.body as { sent?: { body?: string } } | undefined)?.sent?.body;
      await sandbox(`/sandbox/channels/shopify/orders/${p.channelOrderId}/status`, { status: 'paid' });
    }
    // The intake event, delivered twice with one webhook id (a platform retry).
    const topic = prepaid ? 'orders/paid' : 'orders/create';
    stats.duplicateWebhooks++;
    const ok = await notifyUntilDelivered('/sandbox/channels/shopify/notify', {
      channelOrderId: p.channelOrderId,
      topic,
      eventId: `${topic.replace('/', '-')}-${p.channelOrderId}`,
      times: 2,
    });
    if (ok && stale) {
      // The unpaid version arrives again, late and under a new id: it must change nothing.
      stats.reorderedWebhooks++;
      await sandbox('/sandbox/channels/shopify/notify', {
        channelOrderId: p.channelOrderId,
        rawBody: stale,
        topic: 'orders/updated',
        eventId: `late-${p.channelOrderId}`,
      });
    }
    return ok;
  }
  // Shopee: unpaid first, then ready to ship (notified twice), then the stale unpaid one again.
  const put = await sandbox('/sandbox/channels/shopee/orders', shopeeOrderOf(p, 'UNPAID'));
  if (put.status !== 201) {
    stats.notAccepted.push({ orderId: p.orderId, why: `shopee put → ${put.status}` });
    return false;
  }
  await sandbox('/sandbox/channels/shopee/notify', { channelOrderId: p.channelOrderId, status: 'UNPAID' });
  await sandbox(`/sandbox/channels/shopee/orders/${p.channelOrderId}/status`, { status: 'READY_TO_SHIP' });
  stats.duplicateWebhooks++;
  const ok = await notifyUntilDelivered('/sandbox/channels/shopee/notify', {
    channelOrderId: p.channelOrderId,
    status: 'READY_TO_SHIP',
    times: 2,
  });
  if (ok) {
    stats.reorderedWebhooks++;
    await sandbox('/sandbox/channels/shopee/notify', { channelOrderId: p.channelOrderId, status: 'UNPAID' });
  }
  return ok;
}

/** Takes the order in, then does to it what its plan says. */
export async function runOrder(p: PlannedOrder, ctx: WorkloadContext): Promise<void> {
  const { stats } = ctx;
  stats.planned++;
  stats.count(stats.byPath, p.path);
  let taken = false;
  try {
    taken = await intake(p, ctx);
  } finally {
    stats.intakesDone++;
  }
  if (!taken) return;
  stats.accepted++;
  ctx.accepted.add(p.orderId);
  const retry = () => {
    stats.clientRetries++;
  };
  const command = (path: string, key: string, json: unknown, idem: string) =>
    persist(
      () => http(`${ctx.apiUrl}/v1/orders/${p.orderId}${path}`, { key, json, headers: { 'Idempotency-Key': idem } }),
      ctx.untilMs(),
      retry,
    );

  // A customer acts on an order they can see: a marketplace order exists once its intake pulled it.
  if (p.action === 'cancel' || p.action === 'cancel-line') {
    const seen = await ctx.watch.waitFor(p.orderId, () => true, ctx.untilMs());
    if (!seen) return;
  }
  if (p.action === 'cancel') {
    await sleep(p.actionDelayMs);
    stats.cancels.sent++;
    const a = await command('/cancel', CHAOS_KEYS.cs, { reason: 'customer changed their mind (chaos)' }, `chaos-cancel-${p.orderId}`);
    const status = (a.body as { status?: string } | undefined)?.status;
    stats.count(stats.cancels.answered, a.status === 200 ? `200 ${status ?? '?'}` : String(a.status));
  } else if (p.action === 'cancel-line') {
    await sleep(p.actionDelayMs);
    const idx = p.lines.findIndex((l) => l.quantity > 1);
    const lineNo = idx >= 0 ? idx + 1 : p.lines.length;
    stats.lineCancels.sent++;
    const a = await command(
      '/cancel',
      CHAOS_KEYS.cs,
      { reason: 'one item no longer wanted (chaos)', lines: [{ lineNo, quantity: 1 }] },
      `chaos-cancel-line-${p.orderId}`,
    );
    const body = a.body as { cancelledLines?: unknown[]; refusedLines?: unknown[] } | undefined;
    stats.count(
      stats.lineCancels.answered,
      a.status === 200
        ? body?.cancelledLines?.length
          ? '200 cancelled'
          : body?.refusedLines?.length
            ? '200 refused'
            : '200 pending'
        : String(a.status),
    );
  } else if (p.action === 'return') {
    const delivered = await ctx.watch.waitFor(
      p.orderId,
      (o) => o.status === 'DELIVERED' || ['COMPLETED', 'CANCELLED', 'REJECTED'].includes(o.status),
      ctx.untilMs(),
    );
    if (delivered?.status !== 'DELIVERED') {
      stats.returns.notDelivered++;
      return;
    }
    const line = p.lines[p.n % p.lines.length]!;
    const lineNo = p.lines.indexOf(line) + 1;
    const a = await command(
      '/returns',
      CHAOS_KEYS.cs,
      { lines: [{ lineNo, quantity: line.quantity }], reason: 'does not fit (chaos)' },
      `chaos-return-${p.orderId}`,
    );
    if (a.status !== 201) {
      stats.returns.refused++;
      return;
    }
    stats.returns.requested++;
    const returnId = (a.body as { returnId: string }).returnId;
    const got = await ctx.watch.waitFor(
      p.orderId,
      (o) =>
        o.returns.some(
          (r) => r.returnId === returnId && r.status !== 'requested' && r.status !== 'label_sent' && r.status !== 'in_transit',
        ),
      ctx.untilMs(),
    );
    const ret = got?.returns.find((r) => r.returnId === returnId);
    if (ret?.status !== 'received') {
      stats.returns.notReceived++;
      return;
    }
    const verdict = p.acceptReturn
      ? { result: 'accept', reason: 'unworn, tags attached' }
      : { result: 'reject', reason: 'worn and washed' };
    const i = await command(`/returns/${encodeURIComponent(returnId)}/inspection`, CHAOS_KEYS.ops, verdict, `chaos-inspect-${returnId}`);
    if (i.status === 200) stats.returns.inspected[p.acceptReturn ? 'accept' : 'reject']++;
  }
}
