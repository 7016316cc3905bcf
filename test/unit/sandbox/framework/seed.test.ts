import { describe, expect, it } from 'vitest';
import { createRng, formatMinorUnits, hashUnit } from '../../../../infra/sandbox/framework/seed.ts';

const draw = (seed: number | string) => {
  const rng = createRng(seed);
  return {
    ints: Array.from({ length: 20 }, () => rng.int(1, 1000)),
    id: rng.id('INV-', 10),
    date: rng.date('2024-01-01', '2025-12-31'),
    amount: rng.amount(100, 9_999_999),
    uuid: rng.uuid(),
    words: rng.words(3),
  };
};

describe('seeded data', () => {
  it('is the same for the same seed and differs for another', () => {
    expect(draw(7)).toEqual(draw(7));
    expect(draw('sp-api/7')).toEqual(draw('sp-api/7'));
    expect(draw(8)).not.toEqual(draw(7));
    expect(draw(7).uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('forks independent streams: one entity does not shift another', () => {
    const a = createRng(1);
    const fromFresh = a.fork('invoice:2').int(0, 1e9);
    const b = createRng(1);
    for (let i = 0; i < 50; i++) b.next();
    b.fork('invoice:1').int(0, 1e9);
    expect(b.fork('invoice:2').int(0, 1e9)).toBe(fromFresh);
  });

  it('keeps ints within their inclusive range and reaches both ends', () => {
    const rng = createRng('range');
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = rng.int(-3, 3);
      expect(v).toBeGreaterThanOrEqual(-3);
      expect(v).toBeLessThanOrEqual(3);
      seen.add(v);
    }
    expect([...seen].sort((x, y) => x - y)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    expect(() => rng.int(5, 1)).toThrow('int(min, max) needs integers with min <= max, got 5, 1');
    expect(() => rng.pick([])).toThrow('pick from an empty list');
  });

  it('draws dates inside the range as YYYY-MM-DD, and instants in whole seconds', () => {
    const rng = createRng(3);
    for (let i = 0; i < 200; i++) {
      const d = rng.date('2024-02-27', '2024-03-02');
      expect(['2024-02-27', '2024-02-28', '2024-02-29', '2024-03-01', '2024-03-02']).toContain(d);
    }
    expect(rng.instant('2025-01-01T00:00:00Z', '2025-01-01T00:00:10Z')).toMatch(
      /^2025-01-01T00:00:(0\d|10)Z$/,
    );
    expect(() => rng.date('2024-3-1', '2024-03-02')).toThrow('from: expected YYYY-MM-DD, got "2024-3-1"');
  });

  it('makes money as exact decimal strings from integer minor units', () => {
    const rng = createRng(11);
    for (let i = 0; i < 500; i++) {
      const a = rng.amount(1, 123_456);
      expect(a).toMatch(/^\d+\.\d{2}$/);
      const cents = Number(a.replace('.', ''));
      expect(cents).toBeGreaterThanOrEqual(1);
      expect(cents).toBeLessThanOrEqual(123_456);
    }
    expect(formatMinorUnits(123456)).toBe('1234.56');
    expect(formatMinorUnits(-5)).toBe('-0.05');
    expect(formatMinorUnits(0)).toBe('0.00');
    expect(formatMinorUnits(1_234_567n, 6)).toBe('1.234567');
    expect(formatMinorUnits(9_007_199_254_740_993n)).toBe('90071992547409.93');
    expect(formatMinorUnits(42, 0)).toBe('42');
    expect(() => formatMinorUnits(0.5)).toThrow('minor units must be a safe integer, got 0.5');
  });

  it('rolls stateless dice in [0, 1) fixed by their parts', () => {
    expect(hashUnit(1, 'x', 2)).toBe(hashUnit(1, 'x', 2));
    expect(hashUnit(1, 'x', 2)).not.toBe(hashUnit(1, 'x', 3));
    const rolls = Array.from({ length: 1000 }, (_, i) => hashUnit('s', i));
    expect(Math.min(...rolls)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...rolls)).toBeLessThan(1);
    const low = rolls.filter((r) => r < 0.5).length;
    expect(low).toBeGreaterThan(400);
    expect(low).toBeLessThan(600);
  });

  it('picks by weight', () => {
    const rng = createRng(5);
    const picks = Array.from({ length: 1000 }, () =>
      rng.weighted([
        ['PAID', 9],
        ['ISSUED', 1],
      ] as const),
    );
    const paid = picks.filter((p) => p === 'PAID').length;
    expect(paid).toBeGreaterThan(850);
    expect(paid).toBeLessThan(950);
    expect(rng.shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
  });
});
