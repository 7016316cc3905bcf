/**
 * Exact decimal strings for money. Providers send amounts as JSON numbers, numeric strings or
 * int64 micros; none of them may pass through a float, so every conversion works on digits.
 */

export class MoneyError extends Error {
  override name = 'MoneyError';
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;

function normalize(sign: string, int: string, frac: string, keepFraction = false): string {
  const i = int.replace(/^0+(?=\d)/, '');
  const f = keepFraction ? frac : frac.replace(/0+$/, '');
  const zero = /^0*$/.test(i) && /^0*$/.test(f);
  const s = sign === '-' && !zero ? '-' : '';
  return f ? `${s}${i}.${f}` : `${s}${i}`;
}

/** Scientific notation as plain digits, exactly, on the text: "1.5e-7" -> "0.00000015". */
function expandExponent(text: string, field: string): string {
  const m = /^([+-]?)(\d+)(?:\.(\d+))?[eE]([+-]?\d+)$/.exec(text);
  if (!m) return text;
  const [, sign, int, frac = '', expText] = m;
  const exp = Number(expText);
  if (!Number.isSafeInteger(exp) || Math.abs(exp) > 1000) {
    throw new MoneyError(`${field}: exponent out of range: ${JSON.stringify(text)}`);
  }
  const digits = int! + frac;
  const point = int!.length + exp;
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/**
 * A JSON number or numeric string (exponents included: "1.5e2") as an exact decimal string, the one money
 * parser. A string keeps the fraction digits it was sent with ("100.10" stays "100.10"); a JSON number is
 * taken as the shortest decimal that reads back to the same double, which is what the provider wrote.
 */
export function toDecimal(value: number | string, field = 'amount'): string {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new MoneyError(`${field}: amount is not finite: ${value}`);
  }
  const text = expandExponent(typeof value === 'number' ? String(value) : value.trim(), field);
  const m = DECIMAL.exec(text);
  if (!m) throw new MoneyError(`${field}: not a decimal amount: ${JSON.stringify(value)}`);
  return normalize(m[1]!, m[2]!, m[3] ?? '', typeof value === 'string');
}

/** ISO 4217 minor units where they are not 2. */
const MINOR_UNITS: Record<string, number> = {
  ...Object.fromEntries(
    [
      'BIF',
      'CLP',
      'DJF',
      'GNF',
      'ISK',
      'JPY',
      'KMF',
      'KRW',
      'PYG',
      'RWF',
      'UGX',
      'UYI',
      'VND',
      'VUV',
      'XAF',
      'XOF',
      'XPF',
    ].map((c) => [c, 0]),
  ),
  ...Object.fromEntries(['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND'].map((c) => [c, 3])),
  ...Object.fromEntries(['CLF', 'UYW'].map((c) => [c, 4])),
};

export function minorUnits(currency: string | null | undefined): number {
  return currency ? (MINOR_UNITS[currency] ?? 2) : 0;
}

/**
 * An amount with at least its currency's minor-unit digits ("20" BRL -> "20.00", "5" JPY -> "5"), and more
 * when it has more: a finance reader sees amounts the way the currency writes them, nothing is rounded.
 */
export function withMinorUnits(amount: string, currency: string | null | undefined): string {
  const digits = minorUnits(currency);
  const [int, frac = ''] = amount.split('.');
  if (frac.length >= digits) return amount;
  return `${int}.${frac.padEnd(digits, '0')}`;
}

/** int64 micros (a string or a safe integer) as a decimal string: "1234567" -> "1.234567". */
export function microsToDecimal(value: string | number, field = 'micros'): string {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new MoneyError(`${field}: micros beyond 2^53 must come as a string: ${value}`);
  }
  const text = String(value).trim();
  const m = /^([+-]?)(\d+)$/.exec(text);
  if (!m) throw new MoneyError(`${field}: not an integer micros amount: ${JSON.stringify(value)}`);
  const digits = m[2]!.padStart(7, '0');
  return normalize(m[1]!, digits.slice(0, -6), digits.slice(-6));
}

function split(d: string): { neg: boolean; int: bigint; frac: string } {
  const m = DECIMAL.exec(d);
  if (!m) throw new MoneyError(`not a decimal: ${d}`);
  return { neg: m[1] === '-', int: BigInt(m[2]!), frac: m[3] ?? '' };
}

/** A decimal string with its sign turned (`-0` stays a valid decimal: addDecimals takes it as zero). */
export function negateDecimal(d: string): string {
  return d.startsWith('-') ? d.slice(1) : `-${d}`;
}

/** Sum of decimal strings, exact. */
export function addDecimals(...values: string[]): string {
  const scale = Math.max(0, ...values.map((v) => split(v).frac.length));
  let total = 0n;
  for (const v of values) {
    const { neg, int, frac } = split(v);
    const units = int * 10n ** BigInt(scale) + BigInt(frac.padEnd(scale, '0') || '0');
    total += neg ? -units : units;
  }
  const neg = total < 0n;
  const abs = (neg ? -total : total).toString().padStart(scale + 1, '0');
  return normalize(neg ? '-' : '', abs.slice(0, abs.length - scale), abs.slice(abs.length - scale));
}
