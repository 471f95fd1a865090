import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ACCOUNTS, imbalance, journalLines, vatWithin, type MoneyFact } from '../../domain/journal';
import { fromMinor } from '../../domain/money';

const amount = fc.integer({ min: 0, max: 1_000_000_000_000 }).map(fromMinor);
const fact: fc.Arbitrary<MoneyFact> = fc.oneof(
  amount.map((a) => ({ kind: 'authorised', key: 'a', amount: a, authorizationId: 'auth' }) as const),
  amount.map((a) => ({ kind: 'released', key: 'r', amount: a, authorizationId: 'auth' }) as const),
  amount.map((a) => ({ kind: 'captured', key: 'c', amount: a, captureId: 'cap', shipmentId: 's' }) as const),
  fc
    .tuple(amount, fc.constantFrom('gateway' as const, 'bank_transfer' as const))
    .map(([a, via]) => ({ kind: 'refunded', key: 'f', amount: a, via, ref: 'ret', why: 'return' }) as const),
  amount.map((a) => ({ kind: 'cod_collected', key: 'd', amount: a, shipmentId: 's' }) as const),
  amount.map((a) => ({ kind: 'cod_remitted', key: 'm', amount: a, shipmentId: 's' }) as const),
);
// A quote: VAT between none and 10% of a gross.
const quote = fc
  .integer({ min: 1, max: 1_000_000_000_000 })
  .chain((gross) => fc.integer({ min: 0, max: Math.floor(gross / 11) }).map((tax) => ({ gross: fromMinor(gross), tax: fromMinor(tax) })));

describe('the accounting journal', () => {
  it('a capture of 110,000 VND with 10% VAT: gateway debited, sales and VAT credited, the hold used up', () => {
    const lines = journalLines(
      { kind: 'captured', key: 'c', amount: '110000.00', captureId: 'cap', shipmentId: 's' },
      vatWithin({ gross: '330000.00', tax: '30000.00' }),
    );
    expect(lines).toEqual([
      { account: ACCOUNTS.gateway, debit: 11_000_000, credit: 0 },
      { account: ACCOUNTS.sales, debit: 0, credit: 10_000_000 },
      { account: ACCOUNTS.vat, debit: 0, credit: 1_000_000 },
      { account: ACCOUNTS.authorisationsContra, debit: 11_000_000, credit: 0 },
      { account: ACCOUNTS.authorisations, debit: 0, credit: 11_000_000 },
    ]);
  });

  it('every entry balances to the unit, whatever the amount and the quote (property)', () => {
    fc.assert(
      fc.property(fact, fc.option(quote, { nil: undefined }), (f, q) => {
        const lines = journalLines(f, vatWithin(q));
        expect(imbalance(lines)).toBe(0);
        for (const l of lines) {
          expect(l.debit >= 0 && l.credit >= 0).toBe(true);
          expect(Number.isInteger(l.debit) && Number.isInteger(l.credit)).toBe(true);
        }
      }),
    );
  });

  it('the gateway account moves by captures less refunds through the gateway, and nothing else (property)', () => {
    fc.assert(
      fc.property(fc.array(fact, { maxLength: 20 }), quote, (facts, q) => {
        const gateway = facts
          .flatMap((f) => journalLines(f, vatWithin(q)))
          .filter((l) => l.account === ACCOUNTS.gateway)
          .reduce((a, l) => a + l.debit - l.credit, 0);
        const minor = (f: MoneyFact) => Math.round(Number(f.amount) * 100);
        const expected =
          facts.filter((f) => f.kind === 'captured').reduce((a, f) => a + minor(f), 0) -
          facts.filter((f) => f.kind === 'refunded' && f.via === 'gateway').reduce((a, f) => a + minor(f), 0);
        expect(gateway).toBe(expected);
      }),
    );
  });

  it('a refund takes back VAT in the same proportion as the sale; no quote, no VAT', () => {
    const q = vatWithin({ gross: '108000.00', tax: '8000.00' });
    const sale = journalLines({ kind: 'cod_collected', key: 'd', amount: '108000.00', shipmentId: 's' }, q);
    const back = journalLines({ kind: 'refunded', key: 'f', amount: '108000.00', via: 'bank_transfer', ref: 'r', why: 'return' }, q);
    const vat = (ls: typeof sale) => ls.filter((l) => l.account === ACCOUNTS.vat).reduce((a, l) => a + l.credit - l.debit, 0);
    expect(vat(sale)).toBe(800_000);
    expect(vat(sale) + vat(back)).toBe(0);
    expect(back.at(-1)).toEqual({ account: ACCOUNTS.refundsPayable, debit: 0, credit: 10_800_000 });
    expect(vat(journalLines({ kind: 'cod_collected', key: 'd', amount: '108000.00', shipmentId: 's' }, vatWithin(null)))).toBe(0);
  });
});
