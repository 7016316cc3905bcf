import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addDecimals,
  MoneyError,
  microsToDecimal,
  toDecimal,
  withMinorUnits,
} from '../../../shared/invoice/money.ts';

describe('money: exact decimal strings', () => {
  it('keeps what the provider wrote for JSON numbers, including values a float would mangle in arithmetic', () => {
    expect(toDecimal(0.1)).toBe('0.1');
    expect(toDecimal(1234.5)).toBe('1234.5');
    expect(toDecimal(-0.07)).toBe('-0.07');
    expect(toDecimal(1e-7)).toBe('0.0000001');
    expect(toDecimal(1.5e21)).toBe('1500000000000000000000');
    // A string keeps the digits it was sent with; exponents are expanded exactly, never through a float.
    expect(toDecimal('00012.3400')).toBe('12.3400');
    expect(toDecimal('-0.00')).toBe('0.00');
    expect(toDecimal('1.5e2')).toBe('150');
    expect(toDecimal('-12345678901234567.89E-3')).toBe('-12345678901234.56789');
  });

  it('converts micros exactly, beyond 2^53 when sent as strings', () => {
    expect(microsToDecimal('1234567')).toBe('1.234567');
    expect(microsToDecimal('-5')).toBe('-0.000005');
    expect(microsToDecimal('90071992547409930000000')).toBe('90071992547409930');
    expect(microsToDecimal(0)).toBe('0');
  });

  it("writes at least the currency's minor units, and every digit the provider sent", () => {
    expect(withMinorUnits('100.1', 'USD')).toBe('100.10');
    expect(withMinorUnits('20', 'BRL')).toBe('20.00');
    expect(withMinorUnits('5', 'JPY')).toBe('5');
    expect(withMinorUnits('1.2', 'KWD')).toBe('1.200');
    expect(withMinorUnits('12.3456', 'USD')).toBe('12.3456');
    expect(withMinorUnits('-0.5', 'EUR')).toBe('-0.50');
  });

  it('names the field of a bad amount', () => {
    expect(() => toDecimal('12,50', 'totalAmount')).toThrowError(/totalAmount/);
    expect(() => microsToDecimal('1.5', 'totalAmountMicros')).toThrowError(MoneyError);
    expect(() => toDecimal(Number.NaN)).toThrowError(MoneyError);
  });

  it('micros -> decimal equals integer division by 10^6 for any int64', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (micros) => {
        const decimal = microsToDecimal(micros.toString());
        const [int = '', frac = ''] = decimal.replace('-', '').split('.');
        const back =
          (BigInt(int) * 1_000_000n + BigInt(frac.padEnd(6, '0') || '0')) *
          (decimal.startsWith('-') ? -1n : 1n);
        expect(back).toBe(micros);
      }),
    );
  });

  it('a JSON number round-trips: the decimal string reads back to the same double', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        const d = toDecimal(n);
        expect(d).toMatch(/^-?\d+(\.\d+)?$/);
        expect(Number(d)).toBe(n === 0 ? 0 : n);
      }),
    );
  });

  it('cent amounts from numbers keep their two decimals exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e9, max: 1e9 }), (cents) => {
        const value = cents / 100;
        const expected =
          (cents < 0 ? '-' : '') +
          `${Math.floor(Math.abs(cents) / 100)}.${String(Math.abs(cents) % 100).padStart(2, '0')}`.replace(
            /\.?0+$/,
            '',
          );
        expect(toDecimal(value)).toBe(expected === '' || expected === '-' ? '0' : expected);
      }),
    );
  });

  it('adds exactly', () => {
    expect(addDecimals('0.1', '0.2')).toBe('0.3');
    expect(addDecimals('100', '-0.01')).toBe('99.99');
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), { maxLength: 8 }), (units) => {
        const sum = units.reduce((a, b) => a + b, 0n);
        const asMicros = units.map((u) => microsToDecimal(u.toString()));
        expect(addDecimals('0', ...asMicros)).toBe(microsToDecimal(sum.toString()));
      }),
    );
  });
});
