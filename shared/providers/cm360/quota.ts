import { setTimeout as sleepMs } from 'node:timers/promises';
import { DeferError } from '../../http/errors.ts';
import { backoffMs, DEFAULT_RETRY } from '../../http/retry.ts';
import type { ProviderContext } from '../types.ts';

/**
 * Google answers a spent quota with 403 (reason rateLimitExceeded, userRateLimitExceeded or quotaExceeded)
 * as often as with 429. The HTTP client backs off on 429 only and has no hook for a 403 that means
 * "slow down", so this does for those 403s what the client does for 429: full-jitter retries inside the
 * invocation, and a wait too long to sleep handed back to the queue as a throttled DeferError.
 *
 * The client's ProviderError keeps Google's `error.status` (PERMISSION_DENIED) and `error.message`, not
 * `errors[].reason`, so the reason is read from the message Google pairs with it ("Rate Limit Exceeded",
 * "User Rate Limit Exceeded", "Quota exceeded for quota metric ...").
 */

const QUOTA_TEXT = /rate ?limit ?exceeded|quota ?exceeded/i;

/** Waits longer than this are not slept: the rest of the work goes back to the queue (HTTP_DEFER_THRESHOLD_MS's default). */
export const MAX_SLEEP_MS = 5_000;

export function isQuotaError(err: unknown): boolean {
  const e = err as { name?: string; status?: number; code?: string; providerMessage?: string };
  return (
    e?.name === 'ProviderError' &&
    e.status === 403 &&
    QUOTA_TEXT.test(`${e.code ?? ''} ${e.providerMessage ?? ''}`)
  );
}

export interface QuotaOptions {
  sleep?: (ms: number) => Promise<unknown>;
  random?: () => number;
  now?: () => number;
}

/** Calls `call`, backing off on quota 403s as the client does on 429 (retries, then a throttled defer). */
export async function withQuotaBackoff<T>(
  ctx: Pick<ProviderContext, 'budget' | 'count' | 'log'>,
  operation: string,
  call: () => Promise<T>,
  opts: QuotaOptions = {},
): Promise<T> {
  const sleep = opts.sleep ?? sleepMs;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!isQuotaError(err)) throw err;
      ctx.count('throttles');
      const wait = backoffMs(attempt, DEFAULT_RETRY, random);
      if (
        attempt + 1 >= DEFAULT_RETRY.maxAttempts ||
        wait > MAX_SLEEP_MS ||
        wait >= ctx.budget.remainingMs()
      ) {
        ctx.log.warn('quota exceeded, continuing later', { operation, waitMs: wait, attempts: attempt + 1 });
        // As the engine does with a 429 that outlasted the client's retries: at least a second away.
        throw new DeferError(operation, new Date(now() + Math.max(1_000, wait)), 'throttled');
      }
      ctx.count('retries');
      ctx.log.warn('quota exceeded, retrying', { operation, waitMs: wait, attempt: attempt + 2 });
      await sleep(wait);
    }
  }
}
