/**
 * Deterministic data for the simulators: the same seed and size give the same profiles, invoices and
 * amounts on every run, so a failing local run can be replayed. sfc32 seeded through a string hash;
 * `fork(label)` derives an independent stream per entity, so adding one more invoice to a profile does
 * not shift the data of every entity generated after it.
 */

export type Seed = number | string;

/** 32-bit FNV-1a over the parts joined with a separator no part is expected to hold. */
export function hash32(...parts: ReadonlyArray<string | number>): number {
  const text = parts.join('\u241f');
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix32): FNV alone leaves neighbouring inputs close in the low bits.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A number in [0, 1) fixed by its parts: a stateless dice roll (fault injection uses it). */
export function hashUnit(...parts: ReadonlyArray<string | number>): number {
  return hash32(...parts) / 2 ** 32;
}

// biome-ignore format: a word list reads better in rows
const WORDS = [
  'amber', 'harbor', 'orbit', 'maple', 'cobalt', 'delta', 'ember', 'fjord', 'granite', 'helix',
  'indigo', 'juniper', 'kestrel', 'lumen', 'meadow', 'nimbus', 'onyx', 'prairie', 'quartz', 'ridge',
  'sierra', 'tundra', 'umber', 'vertex', 'willow', 'yarrow', 'zephyr', 'atlas', 'birch', 'cedar',
] as const;

const pad2 = (n: number) => String(n).padStart(2, '0');
const DAY_MS = 86_400_000;

function parseDay(date: string, field: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) throw new RangeError(`${field}: expected YYYY-MM-DD, got ${JSON.stringify(date)}`);
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
}

/** Integer minor units as an exact decimal string: (123456n, 2) -> "1234.56", (-5, 2) -> "-0.05". */
export function formatMinorUnits(units: number | bigint, scale = 2): string {
  if (typeof units === 'number' && !Number.isSafeInteger(units)) {
    throw new RangeError(`minor units must be a safe integer, got ${units}`);
  }
  const value = BigInt(units);
  const neg = value < 0n;
  const digits = (neg ? -value : value).toString().padStart(scale + 1, '0');
  const int = digits.slice(0, digits.length - scale);
  const frac = scale > 0 ? `.${digits.slice(digits.length - scale)}` : '';
  return `${neg ? '-' : ''}${int}${frac}`;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: Seed) {
    this.a = hash32('a', seed);
    this.b = hash32('b', seed);
    this.c = hash32('c', seed);
    this.d = hash32('d', seed) | 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** sfc32 step. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** [0, 1). */
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** An independent stream for one entity: `rng.fork(`invoice:${i}`)`. */
  fork(label: string | number): Rng {
    return new Rng(`${this.seed}/${label}`);
  }

  /** Integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max < min) {
      throw new RangeError(`int(min, max) needs integers with min <= max, got ${min}, ${max}`);
    }
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bool(probability = 0.5): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  /** Picks by weight: `weighted([['PAID', 8], ['ISSUED', 2]])`. */
  weighted<T>(entries: ReadonlyArray<readonly [T, number]>): T {
    const total = entries.reduce((s, [, w]) => s + w, 0);
    if (!(total > 0)) throw new RangeError('weighted needs a positive total weight');
    let roll = this.next() * total;
    for (const [value, weight] of entries) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return entries[entries.length - 1]![0];
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** A day in [from, to] as YYYY-MM-DD. */
  date(from: string, to: string): string {
    const start = parseDay(from, 'from');
    const end = parseDay(to, 'to');
    if (end < start) throw new RangeError(`date range ends before it starts: ${from}..${to}`);
    const d = new Date(start + this.int(0, (end - start) / DAY_MS) * DAY_MS);
    return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  }

  /** An instant in [from, to] (ISO strings or epoch ms), whole seconds, as an ISO string. */
  instant(from: string | number, to: string | number): string {
    const start = Math.ceil(new Date(from).getTime() / 1000);
    const end = Math.floor(new Date(to).getTime() / 1000);
    if (!(end >= start)) throw new RangeError(`instant range is empty: ${from}..${to}`);
    return new Date(this.int(start, end) * 1000).toISOString().replace('.000Z', 'Z');
  }

  /** Integer minor units (cents) in [min, max]: money without floats. */
  minorUnits(min: number, max: number): number {
    return this.int(min, max);
  }

  /** A money amount as an exact decimal string, drawn in minor units: amount(100, 99999) -> "512.07". */
  amount(minMinor: number, maxMinor: number, scale = 2): string {
    return formatMinorUnits(this.int(minMinor, maxMinor), scale);
  }

  /** `n` decimal digits, the first not zero (ids that look numeric, e.g. profile ids). */
  digits(n: number): string {
    let out = String(this.int(1, 9));
    for (let i = 1; i < n; i++) out += String(this.int(0, 9));
    return out;
  }

  hex(n: number): string {
    let out = '';
    while (out.length < n) out += this.nextUint32().toString(16).padStart(8, '0');
    return out.slice(0, n);
  }

  /** Upper-case letters and digits, e.g. id('INV-', 10) -> "INV-7K2Q9ZD04M". */
  id(prefix = '', n = 12): string {
    const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
    let out = prefix;
    for (let i = 0; i < n; i++) out += alphabet[this.int(0, alphabet.length - 1)];
    return out;
  }

  /** A version-4-shaped UUID (deterministic, so not for anything secret). */
  uuid(): string {
    const h = this.hex(32).split('');
    h[12] = '4';
    h[16] = '89ab'[this.int(0, 3)]!;
    const s = h.join('');
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  }

  word(): string {
    return this.pick(WORDS);
  }

  words(n: number, separator = ' '): string {
    return Array.from({ length: n }, () => this.word()).join(separator);
  }
}

export function createRng(seed: Seed): Rng {
  return new Rng(seed);
}
