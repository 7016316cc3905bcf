import { describe, expect, it } from 'vitest';
import { DeferError, ProviderError } from '../../../../shared/http/errors.ts';
import { throttleAsDeferral } from '../../../../shared/runtime/steps/throttle-as-deferral.ts';

const throttled = (operation: string) =>
  new ProviderError({
    provider: 'sp-api',
    connection: 'c',
    operation,
    status: 429,
    code: 'QuotaExceeded',
    message: 'You exceeded your quota',
    attempts: 5,
  });

describe('throttleAsDeferral', () => {
  it("hands a throttle that outlasted the client back to the queue at the operation's pace, at least a second", () => {
    const http = { rate: (op: string) => ({ getInvoicesDocument: 1 / 60, getInvoicesExport: 2 })[op] };
    const start = Date.now();
    const slow = throttleAsDeferral(throttled('getInvoicesDocument'), http) as DeferError;
    expect(slow).toBeInstanceOf(DeferError);
    expect(slow).toMatchObject({ operation: 'getInvoicesDocument', reason: 'throttled' });
    expect(slow.continuation).toBeUndefined();
    expect(slow.retryAt.getTime() - start).toBeGreaterThanOrEqual(60_000);
    expect(slow.retryAt.getTime() - start).toBeLessThan(61_000);
    const fast = throttleAsDeferral(throttled('getInvoicesExport'), http) as DeferError;
    expect(fast.retryAt.getTime() - start).toBeGreaterThanOrEqual(1_000);
    expect(fast.retryAt.getTime() - start).toBeLessThan(2_000);
    const unpaced = throttleAsDeferral(throttled('unknown'), {}) as DeferError;
    expect(unpaced.retryAt.getTime() - start).toBeGreaterThanOrEqual(1_000);
  });

  it('leaves every other error as it is: 5xx, other 4xx, network errors', () => {
    for (const status of [500, 503, 403, 0]) {
      const err = new ProviderError({
        provider: 'sp-api',
        connection: 'c',
        operation: 'getInvoicesDocument',
        status,
        code: 'X',
        message: 'x',
      });
      expect(throttleAsDeferral(err, {})).toBe(err);
    }
    const plain = new Error('boom');
    expect(throttleAsDeferral(plain, {})).toBe(plain);
  });
});
