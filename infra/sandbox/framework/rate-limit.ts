import type { SimClock } from './clock.ts';

/**
 * Per-operation token buckets in SIMULATED time, as the providers publish them (SP-API getInvoices:
 * 0.1 requests/s, burst 20). What a client sees is converted to real time: `x-amzn-RateLimit-Limit`
 * carries rate * timeScale and `Retry-After` real seconds, so a client that honours the headers paces
 * itself right whatever the time scale.
 */

export interface RateLimit {
  /** Requests per simulated second. */
  rate: number;
  /** Bucket size: requests allowed at once after a quiet spell. */
  burst: number;
}

/** Which throttling headers a provider sends. */
export interface RateLimitHeaderPolicy {
  /** `x-amzn-RateLimit-Limit` on every answer of a rate-limited operation (SP-API, Amazon Business). */
  limit: boolean;
  /** `Retry-After` (real seconds, rounded up) on 429s (Amazon Ads' dynamic throttling). */
  retryAfter: boolean;
}

export interface TakeResult {
  allowed: boolean;
  /** Real seconds until a request would be let through, rounded up; set when not allowed. */
  retryAfterSeconds?: number;
}

interface Bucket {
  tokens: number;
  /** Simulated ms of the last refill. */
  at: number;
}

export function validateRateLimit(limit: RateLimit, where: string): void {
  if (!(Number.isFinite(limit.rate) && limit.rate > 0)) {
    throw new RangeError(`${where}: rateLimit.rate must be a positive number, got ${limit.rate}`);
  }
  if (!(Number.isFinite(limit.burst) && limit.burst >= 1)) {
    throw new RangeError(`${where}: rateLimit.burst must be at least 1, got ${limit.burst}`);
  }
}

/** The `x-amzn-RateLimit-Limit` value: real requests per second, without float noise (0.1 * 60 -> "6"). */
export function rateLimitHeaderValue(limit: RateLimit, timeScale: number): string {
  return String(Number((limit.rate * timeScale).toPrecision(6)));
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly clock: SimClock) {}

  /** Takes one token from the bucket of `operation` (and `key`, e.g. one bucket per seller). */
  take(operation: string, limit: RateLimit, key = ''): TakeResult {
    const id = `${operation}\u0000${key}`;
    const now = this.clock.simNow();
    let bucket = this.buckets.get(id);
    if (!bucket) {
      bucket = { tokens: limit.burst, at: now };
      this.buckets.set(id, bucket);
    } else {
      const elapsedSec = Math.max(0, now - bucket.at) / 1000;
      bucket.tokens = Math.min(limit.burst, bucket.tokens + elapsedSec * limit.rate);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    const simWaitMs = ((1 - bucket.tokens) / limit.rate) * 1000;
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil(this.clock.toRealMs(simWaitMs) / 1000)),
    };
  }

  /** Fills every bucket again (a new test phase). */
  reset(): void {
    this.buckets.clear();
  }
}
