import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDecimals, MoneyError } from '../../../../shared/invoice/money.ts';
import { invoiceSummarySchema } from '../../../../shared/providers/amazon-ads/api.ts';
import { parseExactJson } from '../../../../shared/providers/amazon-ads/exact-json.ts';
import { adsAmount, adsMoney, normalizeInvoice } from '../../../../shared/providers/amazon-ads/normalize.ts';

/** The exact value of a decimal string as (units, scale), for comparing two spellings of one number. */
function units(decimal: string, scale: number): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(decimal);
  if (!m) throw new Error(`not a plain decimal: ${decimal}`);
  const frac = (m[3] ?? '').padEnd(scale, '0');
  if (frac.length > scale) throw new Error(`${decimal} has more than ${scale} decimals`);
  const v = BigInt(m[2]! + frac);
  return m[1] === '-' ? -v : v;
}

function plain(u: bigint, scale: number): string {
  const neg = u < 0n;
  const digits = (neg ? -u : u).toString().padStart(scale + 1, '0');
  const text = scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return neg ? `-${text}` : text;
}

/** A plain decimal: no exponent, no leading zeros; trailing fraction digits are the provider's own. */
const CANONICAL = /^-?(0|[1-9]\d*)(\.\d+)?$/;
const amountText = fc
  .record({ u: fc.bigInt({ min: -(10n ** 24n), max: 10n ** 24n }), scale: fc.integer({ min: 0, max: 8 }) })
  .map(({ u, scale }) => ({ u, scale, text: plain(u, scale) }));

describe('amazon-ads money: {amount, currencyCode} to exact decimal strings', () => {
  it('any amount the API writes, however many digits, comes out as written: same value, same digits', () => {
    fc.assert(
      fc.property(amountText, ({ u, scale, text }) => {
        const body = `{"amountDue":{"amount":${text},"currencyCode":"USD"},"note":"x"}`;
        const parsed = parseExactJson(body) as { amountDue: { amount: string } };
        const out = adsAmount(parsed.amountDue.amount);
        expect(out).toBe(text === '-0' || /^-0\.0*$/.test(text) ? text.slice(1) : text);
        expect(units(out, scale)).toBe(u);
      }),
      { numRuns: 500 },
    );
  });

  it('a JSON number already parsed by someone else is taken as the shortest decimal that reads back to it', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const out = adsAmount(x);
        expect(out).toMatch(CANONICAL);
        expect(Number(out)).toBe(x === 0 ? 0 : x);
      }),
      { numRuns: 500 },
    );
  });

  it('scientific notation is expanded digit by digit, never through a float', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }),
        fc.integer({ min: -30, max: 30 }),
        (mantissa, exp) => {
          const out = adsAmount(`${mantissa}e${exp}`);
          expect(out).toMatch(CANONICAL);
          const scale = Math.max(0, -exp);
          const expected = exp >= 0 ? mantissa * 10n ** BigInt(exp) : mantissa;
          expect(units(out, scale)).toBe(expected);
        },
      ),
    );
  });

  it('subtotal + tax is exactly the total, for any amounts', () => {
    fc.assert(
      fc.property(amountText, amountText, (total, tax) => {
        const summary = invoiceSummarySchema.parse({
          id: 'INV1',
          invoiceDate: '20250131',
          status: 'ISSUED',
          fromDate: '20250101',
          toDate: '20250130',
          amountDue: { amount: total.text, currencyCode: 'EUR' },
          taxAmountDue: { amount: tax.text, currencyCode: 'EUR' },
          remainingAmountDue: { amount: total.text, currencyCode: 'EUR' },
        });
        const n = normalizeInvoice({
          connection: 'c',
          profileId: '1',
          summary,
          documents: [],
          rawKey: 'raw/x.json',
          fetchedAt: '2025-02-01T00:00:00.000Z',
        });
        expect(units(addDecimals(n.subtotal!, n.tax!), 8)).toBe(units(n.total!, 8));
        expect(n.amountDue).toBe(n.total);
        expect(n.currency).toBe('EUR');
      }),
      { numRuns: 300 },
    );
  });

  it('only the digits after `"amount":` are kept as text; the same text inside a string is left alone', () => {
    const body =
      '{"comments":"note \\"amount\\": 1.10 here","amount": 0.30,"profileId":12345678901234567890,"taxRate":0.075}';
    expect(parseExactJson(body)).toEqual({
      comments: 'note "amount": 1.10 here',
      amount: '0.30',
      profileId: '12345678901234567890',
      taxRate: 0.075,
    });
  });

  it('names the field of an amount it cannot read, and refuses mixed currencies', () => {
    expect(() => adsAmount('12,50', 'taxAmountDue')).toThrowError(/taxAmountDue/);
    expect(() => adsAmount('1e99999', 'amountDue')).toThrowError(MoneyError);
    expect(adsMoney(undefined, 'fees')).toBeUndefined();
    expect(adsMoney({ currencyCode: 'USD' }, 'fees')).toBeUndefined();
    const summary = invoiceSummarySchema.parse({
      id: 'INV2',
      invoiceDate: '20250131',
      status: 'ISSUED',
      fromDate: '20250101',
      toDate: '20250130',
      amountDue: { amount: 10, currencyCode: 'USD' },
      taxAmountDue: { amount: 1, currencyCode: 'EUR' },
      remainingAmountDue: { amount: 10, currencyCode: 'USD' },
    });
    expect(() =>
      normalizeInvoice({
        connection: 'c',
        profileId: '1',
        summary,
        documents: [],
        rawKey: 'k',
        fetchedAt: 'x',
      }),
    ).toThrowError(/INV2: amounts in more than one currency \(USD, EUR\)/);
  });
});
