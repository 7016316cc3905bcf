/** Backoff policy for retried requests: pure functions, randomness injected. */

export interface RetryPolicy {
  /** First retry's upper bound before jitter. */
  baseMs: number;
  /** No computed wait exceeds this (a provider's Retry-After may). */
  capMs: number;
  /** Attempts in all, the first one included. */
  maxAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 500, capMs: 20_000, maxAttempts: 5 };

/**
 * Wait before retry number `attempt` (0 for the first retry): full jitter over the exponential step,
 * then the cap, then the provider's Retry-After as a floor:
 * `max(retryAfterMs, min(cap, random() * base * 2^attempt))`.
 */
export function backoffMs(
  attempt: number,
  policy: Pick<RetryPolicy, 'baseMs' | 'capMs'>,
  random: () => number = Math.random,
  retryAfterMs?: number,
): number {
  const jittered = random() * policy.baseMs * 2 ** Math.max(0, attempt);
  const capped = Math.min(policy.capMs, jittered);
  return Math.ceil(Math.max(retryAfterMs ?? 0, capped));
}

/** Retry-After as delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  // An HTTP-date starts with the day name; Date.parse would otherwise read "-5" as a year.
  if (!/^[A-Za-z]{3},/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
