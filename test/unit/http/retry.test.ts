import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffMs, parseRetryAfter } from '../../../shared/http/retry.ts';

const policy = { baseMs: 100, capMs: 5_000 };

describe('backoffMs', () => {
  it('is full jitter over base * 2^attempt', () => {
    expect(backoffMs(0, policy, () => 0)).toBe(0);
    expect(backoffMs(0, policy, () => 0.5)).toBe(50);
    expect(backoffMs(3, policy, () => 0.5)).toBe(400);
    expect(backoffMs(3, policy, () => 0.999)).toBe(800);
  });

  it('stays within [0, min(cap, base * 2^attempt)] for any random draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, r) => {
          const wait = backoffMs(attempt, policy, () => r);
          return wait >= 0 && wait <= Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
        },
      ),
    );
  });

  it('applies the cap after jitter: a late attempt with a middling draw waits the cap, not half of it', () => {
    // 0.5 * 100 * 2^10 = 51200, capped to 5000; capping before jitter would give 2500.
    expect(backoffMs(10, policy, () => 0.5)).toBe(5_000);
  });

  it('uses Retry-After as a floor, even above the cap', () => {
    expect(backoffMs(0, policy, () => 0.5, 2_000)).toBe(2_000);
    expect(backoffMs(0, policy, () => 0.5, 30_000)).toBe(30_000);
    expect(backoffMs(5, policy, () => 0.9, 10)).toBe(2_880);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-03-01T12:00:00Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBe(1_500);
  });

  it('reads an HTTP-date as the time left until it', () => {
    expect(parseRetryAfter('Sat, 01 Mar 2025 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sat, 01 Mar 2025 11:00:00 GMT', now)).toBe(0);
  });

  it('ignores what it cannot read', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});
