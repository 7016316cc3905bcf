/**
 * Token bucket pacing one provider operation. Tokens may go negative: each take() reserves the next free
 * slot, so concurrent callers in one container queue up instead of all waking at once.
 */
export interface BucketSpec {
  /** Tokens (requests) per second. */
  rate: number;
  /** Bucket size: requests allowed back to back after a quiet spell. */
  burst: number;
}

export class TokenBucket {
  #rate: number;
  #told = false;
  readonly burst: number;
  #tokens: number;
  #last: number;
  readonly #now: () => number;

  constructor(spec: BucketSpec, now: () => number = Date.now) {
    if (!(spec.rate > 0) || !Number.isFinite(spec.rate))
      throw new RangeError(`bucket rate must be > 0, got ${spec.rate}`);
    if (!(spec.burst >= 1)) throw new RangeError(`bucket burst must be >= 1, got ${spec.burst}`);
    this.#rate = spec.rate;
    this.burst = spec.burst;
    this.#tokens = spec.burst;
    this.#now = now;
    this.#last = now();
  }

  get rate(): number {
    return this.#rate;
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = now - this.#last;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.#rate) / 1000);
      this.#last = now;
    }
  }

  #waitFor(tokens: number): number {
    return tokens >= 0 ? 0 : Math.ceil((-tokens / this.#rate) * 1000);
  }

  /** Wait in ms before a token would be available, without reserving it. */
  peek(): number {
    this.#refill();
    return this.#waitFor(this.#tokens - 1);
  }

  /** Reserves a token; returns the wait in ms before using it (0: go now). */
  take(): number {
    this.#refill();
    this.#tokens -= 1;
    return this.#waitFor(this.#tokens);
  }

  /** True once the provider said the rate (setRate): the seeded one is only the documented default. */
  get told(): boolean {
    return this.#told;
  }

  /**
   * The rate the provider says (x-amzn-RateLimit-Limit, itself or through the shared plan); tokens earned
   * so far are kept at the old rate.
   */
  setRate(rate: number): void {
    if (!(rate > 0) || !Number.isFinite(rate)) return;
    this.#refill();
    this.#rate = rate;
    this.#told = true;
  }
}

/** One container's buckets, by `provider:connection:operation`. */
export type BucketRegistry = Map<string, TokenBucket>;

/** Buckets live for the container: a warm Lambda keeps pacing where the last invocation stopped. */
const containerBuckets: BucketRegistry = new Map();

/** The bucket for `provider:connection:operation`, created from spec on first use. */
export function bucketFor(
  key: string,
  spec: BucketSpec,
  now?: () => number,
  registry: BucketRegistry = containerBuckets,
): TokenBucket {
  let bucket = registry.get(key);
  if (!bucket) {
    bucket = new TokenBucket(spec, now);
    registry.set(key, bucket);
  }
  return bucket;
}

export function resetBuckets(): void {
  containerBuckets.clear();
}
