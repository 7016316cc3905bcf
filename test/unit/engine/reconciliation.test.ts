import { describe, expect, it } from 'vitest';
import { sameAmount } from '../../../shared/engine/reconciliation.ts';

describe('control totals helpers', () => {
  it('compares amounts as exact decimals: trailing zeros agree, one micro does not', () => {
    expect(sameAmount('10.50', '10.5')).toBe(true);
    expect(sameAmount('-0.00', '0')).toBe(true);
    expect(sameAmount('12345678901234567.000001', '12345678901234567.000002')).toBe(false);
    expect(sameAmount(null, null)).toBe(true);
    expect(sameAmount(null, '0')).toBe(false);
  });
});
