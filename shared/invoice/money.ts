/**
 * Exact decimal strings for money. Providers send amounts as JSON numbers, numeric strings or
 * int64 micros; none of them may pass through a float, so every conversion works on digits.
 */

export class MoneyError extends Error {
  override name = 'MoneyError';
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;

function normalize(sign: string, int: string, frac: string): string {
  const i = int.replace(/^0+(?=\d)/, '');
  const f = frac.replace(/0+$/, '');
  const zero = /^0*$/.test(i) && f === '';
  const s = sign === '-' && !zero ? '-' : '';
  return f ? `${s}${i}.${f}` : `${s}${i}`;
}

/** Expands a JS number's shortest round-trip text (which may be exponential) into plain decimal digits. */
function numberToPlain(value: number): string {
  if (!Number.isFinite(value)) throw new MoneyError(`amount is not finite: ${value}`);
  const text = String(value);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!m) return text;
  const [, sign, int, frac = '', expText] = m;
  const exp = Number(expText);
  const digits = int! + frac;
  const point = int!.length + exp;
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/**
 * A JSON number or numeric string as an exact decimal string. A JSON number is taken as the
 * shortest decimal that reads back to the same double, which is what the provider wrote.
 */
export function toDecimal(value: number | string, field = 'amount'): string {
  const text = typeof value === 'number' ? numberToPlain(value) : value.trim();
  const m = DECIMAL.exec(text);
  if (!m) throw new MoneyError(`${field}: not a decimal amount: ${JSON.stringify(value)}`);
  return normalize(m[1]!, m[2]!, m[3] ?? '');
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
