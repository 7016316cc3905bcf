import { describe, expect, it } from 'vitest';
import { monthsOf, windowFor } from '../../../shared/engine/window.ts';

const now = new Date('2026-03-15T10:00:00Z');

describe('windowFor: the one window rule', () => {
  it('starts the first run at backfillFrom, not lookbackDays before it', () => {
    expect(windowFor({ lookbackDays: 30, backfillFrom: '2026-01-01' }, undefined, now)).toEqual({
      from: '2026-01-01',
      to: '2026-03-15',
    });
  });
  it('without backfillFrom the first run reads lookbackDays back', () => {
    expect(windowFor({ lookbackDays: 10 }, undefined, now)).toEqual({ from: '2026-03-05', to: '2026-03-15' });
  });
  it('a later run re-reads lookbackDays before the watermark', () => {
    expect(windowFor({ lookbackDays: 7, backfillFrom: '2025-01-01' }, '2026-03-14', now)).toEqual({
      from: '2026-03-07',
      to: '2026-03-15',
    });
  });
  it('a start in the future gives today', () => {
    expect(windowFor({ lookbackDays: 1, backfillFrom: '2026-04-01' }, undefined, now)).toEqual({
      from: '2026-03-15',
      to: '2026-03-15',
    });
  });
});

describe('monthsOf', () => {
  it('gives every month a window spans, across a year end', () => {
    expect(monthsOf({ from: '2025-11-30', to: '2026-02-01' })).toEqual([
      '2025-11',
      '2025-12',
      '2026-01',
      '2026-02',
    ]);
    expect(monthsOf({ from: '2026-03-01', to: '2026-03-31' })).toEqual(['2026-03']);
  });
});
