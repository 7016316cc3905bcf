import { describe, expect, it } from 'vitest';
import { monthsOf, sameAmount } from '../../../shared/engine/reconciliation.ts';

describe('control totals helpers', () => {
  it('gives every month a window spans, across a year end', () => {
    expect(monthsOf({ from: '2025-11-30', to: '2026-02-01' })).toEqual([
      '2025-11',
      '2025-12',
      '2026-01',
      '2026-02',
    ]);
    expect(monthsOf({ from: '2026-03-01', to: '2026-03-31' })).toEqual(['2026-03']);
  });

  it('compares amounts as exact decimals: trailing zeros agree, one micro does not', () => {
    expect(sameAmount('10.50', '10.5')).toBe(true);
    expect(sameAmount('-0.00', '0')).toBe(true);
    expect(sameAmount('12345678901234567.000001', '12345678901234567.000002')).toBe(false);
    expect(sameAmount(null, null)).toBe(true);
    expect(sameAmount(null, '0')).toBe(false);
  });
});
