/**
 * The accounting journal: each money fact of an order (told by its workflow, once) becomes one
 * entry of balanced double-entry lines. Amounts are integer minor units; a gross amount splits
 * into revenue and VAT in the proportion of the order's tax quote (domain/tax.ts), so an entry's
 * debits always equal its credits to the unit.
 *
 * Authorisations are not money moved: they are kept on memo accounts (9xxx) so the journal also
 * shows what is held at the gateway and what was released.
 */
import { fromMinor, mulDiv, toMinor } from './money';
import { quoteOfUnits, type OrderTaxQuote } from './tax';

export const ACCOUNTS = {
  bank: '1000 bank',
  gateway: '1100 payment gateway clearing',
  codReceivable: '1200 carrier COD receivable',
  vat: '2100 VAT payable',
  refundsPayable: '2200 refunds payable (bank transfer)',
  sales: '4000 sales',
  salesReturns: '4100 sales returns',
  authorisations: '9100 authorisations held (memo)',
  authorisationsContra: '9900 authorisations (memo contra)',
} as const;

export type Account = (typeof ACCOUNTS)[keyof typeof ACCOUNTS];

/** Units per line a fact is for (a type, not an interface, so a fact stays plain JSON). */
export type FactUnits = { lineNo: number; quantity: number }[];

/**
 * A money fact of one order, as its workflow learned it. `key` is unique within the order: an entry is written once.
 * A sale or a refund names the units it is for (`lines`: a shipment's, a return's), so its VAT is theirs; facts
 * told before they did carry the order's proportion.
 */
export type MoneyFact =
  | { kind: 'authorised'; key: string; amount: string; authorizationId: string }
  /** The part of an authorisation given back without a capture: a void, or the remainder released. */
  | { kind: 'released'; key: string; amount: string; authorizationId: string }
  | { kind: 'captured'; key: string; amount: string; captureId: string; shipmentId: string; lines?: FactUnits }
  | { kind: 'refunded'; key: string; amount: string; via: 'gateway' | 'bank_transfer'; ref: string; why: string; lines?: FactUnits }
  /** A COD parcel delivered: the carrier holds the buyer's cash for us. */
  | { kind: 'cod_collected'; key: string; amount: string; shipmentId: string; lines?: FactUnits }
  | { kind: 'cod_remitted'; key: string; amount: string; shipmentId: string };

/**
 * The quote a fact's VAT is in proportion to: the part its units carry (domain/tax.ts
 * `quoteOfUnits`), or the order's whole quote for a fact that names none.
 *
 * Only where a share of the total (domain/order-lines.ts) is its units' part of the quote's gross,
 * so the part's VAT is the share's: prices that include tax (shares by value), and prices before
 * tax whose shares weigh each unit with its tax (`sharesWeighTax`). Orders with tax on top taken
 * before that shared by net value — 10% goods and 5% goods of the same price got the same share —
 * and taking each part's own VAT would book less than the buyer was charged: they keep the whole
 * quote's proportion, whose VAT adds up to the tax on top.
 */
export function quoteOfFact(
  fact: MoneyFact,
  quote: OrderTaxQuote | null | undefined,
  ordered: readonly number[],
): OrderTaxQuote | null | undefined {
  return namedPart(fact, quote, ordered) ?? quote;
}

/**
 * The part of the quote a fact's named units carry, where its VAT is theirs (see `quoteOfFact`);
 * none when the fact names no units, its order's shares were by net value, or the part comes to nothing (a cent's
 * worth of goods and no shipping carries no proportion: the order's is used).
 */
export function namedPart(fact: MoneyFact, quote: OrderTaxQuote | null | undefined, ordered: readonly number[]): OrderTaxQuote | undefined {
  const lines = 'lines' in fact ? fact.lines : undefined;
  if (!(quote?.pricesIncludeTax || quote?.sharesWeighTax) || !lines?.length) return undefined;
  const part = quoteOfUnits(quote, ordered, lines);
  return toMinor(part.gross) > 0 ? part : undefined;
}

export interface JournalLine {
  account: Account;
  debit: number;
  credit: number;
}

/**
 * The VAT within a gross amount, in the proportion of the order's quote (none without a quote),
 * rounded down to `step` minor units (the currency's smallest amount, domain/tax.ts
 * `currencyStep`: 100 for VND) where the amount is a whole number of steps, so the VAT an
 * e-invoice prints (domain/invoices.ts, the same function) is one the currency can carry.
 */
export function vatWithin(quote: { tax: string; gross: string } | null | undefined, step = 1): (grossMinor: number) => number {
  return vatInProportion(quote ? toMinor(quote.tax) : 0, quote ? toMinor(quote.gross) : 0, step);
}

/** `vatWithin` for a proportion in minor units: the VAT within an amount of goods whose `gross` holds `tax`. */
export function vatInProportion(tax: number, gross: number, step = 1): (grossMinor: number) => number {
  return (amount) => {
    if (tax <= 0 || gross <= 0) return 0;
    const vat = Math.min(amount, mulDiv(amount, tax, gross));
    return amount % step === 0 ? vat - (vat % step) : vat;
  };
}

const dr = (account: Account, amount: number): JournalLine => ({ account, debit: amount, credit: 0 });
const cr = (account: Account, amount: number): JournalLine => ({ account, debit: 0, credit: amount });

/** A fact's lines; zero lines are left out. */
export function journalLines(fact: MoneyFact, vatOf: (grossMinor: number) => number): JournalLine[] {
  const amount = toMinor(fact.amount);
  const vat = vatOf(amount);
  const lines = (() => {
    switch (fact.kind) {
      case 'authorised':
        return [dr(ACCOUNTS.authorisations, amount), cr(ACCOUNTS.authorisationsContra, amount)];
      case 'released':
        return [dr(ACCOUNTS.authorisationsContra, amount), cr(ACCOUNTS.authorisations, amount)];
      case 'captured':
        // The money is at the gateway; the sale is earned; the hold it came from is used up.
        return [
          dr(ACCOUNTS.gateway, amount),
          cr(ACCOUNTS.sales, amount - vat),
          cr(ACCOUNTS.vat, vat),
          dr(ACCOUNTS.authorisationsContra, amount),
          cr(ACCOUNTS.authorisations, amount),
        ];
      case 'refunded':
        return [
          dr(ACCOUNTS.salesReturns, amount - vat),
          dr(ACCOUNTS.vat, vat),
          cr(fact.via === 'gateway' ? ACCOUNTS.gateway : ACCOUNTS.refundsPayable, amount),
        ];
      case 'cod_collected':
        return [dr(ACCOUNTS.codReceivable, amount), cr(ACCOUNTS.sales, amount - vat), cr(ACCOUNTS.vat, vat)];
      case 'cod_remitted':
        return [dr(ACCOUNTS.bank, amount), cr(ACCOUNTS.codReceivable, amount)];
    }
  })();
  return lines.filter((l) => l.debit !== 0 || l.credit !== 0);
}

/** Debits less credits of some lines (0 when balanced). */
export function imbalance(lines: readonly Pick<JournalLine, 'debit' | 'credit'>[]): number {
  return lines.reduce((a, l) => a + l.debit - l.credit, 0);
}

/** A minor-unit amount as the journal shows it. */
export const journalAmount = (minor: number): string => fromMinor(minor);
