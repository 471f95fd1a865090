/**
 * Personal data: what counts as it, who may see it, and how it is masked or scrubbed. One module
 * so the API's responses and the logger apply the same rules.
 *
 * Policy (see README "Personal data"):
 * - `cs` sees everything: customer service talks to the customer and ships replacements.
 * - `ops` sees a masked view: enough to recognise a customer on the phone with a carrier and to
 *   reason about routing (ward, district, city, region, country), never a street, a full phone
 *   number, an e-mail address or a label (a label prints the full address).
 * - every other role (`channel`, `admin`, `carrier`) sees none: a channel sent the data itself and
 *   has it in its own system; echoing it back only widens what a leaked channel key exposes.
 * Free text written by people (cancel reasons, notes) may carry personal data too: for every role
 * below `full` it is scrubbed of the order's own values and of anything shaped like an e-mail
 * address or a phone number.
 */
import type { Role } from './config';

export type PiiView = 'full' | 'masked' | 'none';

export function piiViewFor(role: Role): PiiView {
  if (role === 'cs') return 'full';
  if (role === 'ops') return 'masked';
  return 'none';
}

/** Roles that may look orders up by a customer's phone or e-mail. */
export const mayFindByContact = (role: Role) => piiViewFor(role) !== 'none';

/**
 * Field names that hold personal data or secrets. Substrings for the unambiguous ones (any
 * `…email…`, `…phone…`, `…address…`), whole names for the short ones (`name` but not `productName`).
 */
export const PII_KEY =
  /email|phone|mobile|address|secret|password|passwd|token|authorization|cookie|^(name|full_?name|first_?name|last_?name|customer|recipient|buyer|line1|line2|street|ward|postal_?code|zip|lat|lng|latitude|longitude|api_?key|key|label_?url)$/i;

export const REDACTED = '[redacted]';

// An e-mail address, also URL-encoded (`%40`) as it appears in a logged query string.
const EMAIL_TEXT = /[\w.+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+/gi;
// A phone number as people write one: `+<country> …` or a national `0…`, 9-15 digits with single
// spaces, dots or dashes between. Bare digit runs without `+`/`0` (order numbers, amounts, tracking
// numbers) are left alone, and so is anything glued to letters, dots or dashes (ids, timestamps).
const PHONE_TEXT = /(?<![\w.+-])(?:\+\d|0)(?:[ .-]?\d){8,14}(?![\w.-])/g;

/** Masks anything shaped like an e-mail address or a phone number in free text. */
export function scrubText(text: string): string {
  let out = text.replace(EMAIL_TEXT, REDACTED).replace(PHONE_TEXT, REDACTED);
  if (out.includes('%')) {
    // A URL-encoded phone (`%2B84%20901…`) only shows its shape once decoded.
    try {
      const decoded = decodeURIComponent(out);
      const scrubbed = decoded.replace(EMAIL_TEXT, REDACTED).replace(PHONE_TEXT, REDACTED);
      if (scrubbed !== decoded) out = scrubbed;
    } catch {
      // Not URL-encoded after all: the plain pass above stands.
    }
  }
  return out;
}

const maskWord = (w: string) => (w ? `${[...w][0]}***` : w);

export const maskName = (name: string) => name.trim().split(/\s+/).map(maskWord).join(' ');

export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  return at > 0 ? `${maskWord(email.slice(0, at))}@${email.slice(at + 1)}` : '***';
}

/** Only the last three digits: enough to confirm "the number ending in 567". */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  return `${'*'.repeat(Math.max(digits.length - 3, 0))}${digits.slice(-3)}`;
}

export interface CustomerPii {
  id: string;
  name: string;
  email?: string | undefined;
  phone?: string | undefined;
}
export interface AddressPii {
  name: string;
  line1: string;
  line2?: string | undefined;
  ward?: string | undefined;
  district?: string | undefined;
  city: string;
  region?: string | undefined;
  postalCode?: string | undefined;
  country: string;
  lat?: number | undefined;
  lng?: number | undefined;
}

/** The customer as `view` may see them; undefined when they may see nothing. */
export function customerFor(view: PiiView, c: CustomerPii): Record<string, string> | undefined {
  if (view === 'none') return undefined;
  if (view === 'full') return { id: c.id, name: c.name, ...(c.email ? { email: c.email } : {}), ...(c.phone ? { phone: c.phone } : {}) };
  return {
    id: c.id,
    name: maskName(c.name),
    ...(c.email ? { email: maskEmail(c.email) } : {}),
    ...(c.phone ? { phone: maskPhone(c.phone) } : {}),
  };
}

/** The shipping address as `view` may see it: the masked view keeps the delivery area only. */
export function addressFor(view: PiiView, a: AddressPii): Record<string, unknown> | undefined {
  if (view === 'none') return undefined;
  if (view === 'full') return { ...a };
  const { ward, district, city, region, postalCode, country } = a;
  return Object.fromEntries(Object.entries({ ward, district, city, region, postalCode, country }).filter(([, v]) => v !== undefined));
}

// Identifier and time fields are never free text: a numeric channel order number must survive.
const ID_KEY = /(^id$|Id$|Ids$|At$|^until$|Number$|^seq$|^status$|^sku$)/;

/**
 * Removes personal data from free text and detail objects for roles below `full`: the order's own
 * values wherever they appear, keys that name personal data, and e-mail/phone shapes.
 */
export function scrubberFor(view: PiiView, known: { customer: CustomerPii; address: AddressPii }): <T>(value: T) => T {
  if (view === 'full') return (v) => v;
  const values = [
    known.customer.name,
    known.customer.email,
    known.customer.phone,
    known.address.name,
    known.address.line1,
    known.address.line2,
  ]
    .filter((v): v is string => typeof v === 'string' && v.trim().length >= 3)
    .sort((a, b) => b.length - a.length);
  const text = (s: string) => {
    let out = s;
    for (const v of values) out = out.split(v).join(REDACTED);
    return scrubText(out);
  };
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return text(v);
    if (v === null || typeof v !== 'object') return v;
    if (depth > 8) return REDACTED;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (PII_KEY.test(k)) continue;
      out[k] = ID_KEY.test(k) ? x : walk(x, depth + 1);
    }
    return out;
  };
  return <T>(value: T) => walk(value, 0) as T;
}
