import { z } from 'zod';
import { hashUnit, type Seed } from './seed.ts';

/**
 * Fault injection, seeded and deterministic. Each decision is a hash of (seed, fault kind, operation,
 * request identity, how many times that same request was seen), not a draw from one shared stream, so
 * the same requests get the same faults even when unrelated requests interleave differently, and a
 * retry of a failed request rolls again (a 5xx is not permanent). The identity is the stable one of
 * request-identity.ts (no signatures, signing times or expiries), so two runs with one seed that send
 * the same requests get the same faults. A request the rate limiter turns away is taken back
 * (`retract`): how often a client meets the limiter depends on real timing, and must not move the
 * faults. 429 bursts count requests per operation, "every Nth request of an operation, for M
 * requests": the one fault that follows arrival order, so it repeats when a client sends an
 * operation's requests one at a time.
 */

const share = z.number().min(0).max(1);

export const faultConfigSchema = z
  .object({
    /** Defaults to the sandbox seed. */
    seed: z.union([z.number().int(), z.string().min(1)]).optional(),
    /** Share of requests answered 500 or 503 in the provider's error shape. */
    serverErrorRate: share.default(0),
    /** Request N, N+1 .. N+M-1 of each operation answer 429, then 2N .. 2N+M-1, and so on. */
    throttleBurst: z
      .object({
        every: z.number().int().min(2),
        length: z.number().int().min(1),
        /** Real seconds sent in Retry-After (when the provider sends it). */
        retryAfterSeconds: z.number().int().min(0).default(1),
      })
      .strict()
      .refine((b) => b.length < b.every, { message: 'length must be smaller than every', path: ['length'] })
      .optional(),
    /** Real milliseconds added before each answer: a fixed value or a range drawn per request. */
    latencyMs: z
      .union([
        z.number().min(0),
        z
          .object({ min: z.number().min(0), max: z.number().min(0) })
          .strict()
          .refine((r) => r.min <= r.max, { message: 'min is above max', path: ['min'] }),
      ])
      .optional(),
    /** Share of requests whose connection is reset before any answer. */
    resetRate: share.default(0),
    /** Share of successful answers cut short: the full Content-Length is sent, then part of the body, then the socket ends. */
    truncateRate: share.default(0),
    /** Share of pre-signed download URLs that answer as expired (and stay expired) from their first use. */
    expiredUrlRate: share.default(0),
    /** Share of exports that end in the provider's error state (the simulator asks shouldFailExport). */
    exportFailureRate: share.default(0),
    /** Restrict request faults to these operations (default: every operation). */
    operations: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

export type FaultConfigInput = z.input<typeof faultConfigSchema>;
export type FaultConfig = z.output<typeof faultConfigSchema>;

export class FaultConfigError extends Error {
  override name = 'FaultConfigError';
}

/** Validates a fault config; the error names each bad field. */
export function parseFaultConfig(raw: unknown, where = 'faults'): FaultConfig {
  const result = faultConfigSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  - ${[where, ...i.path].join('.')}: ${i.message}`);
  throw new FaultConfigError(`invalid fault config:\n${lines.join('\n')}`);
}

export type FaultKind =
  | 'serverError'
  | 'throttleBurst'
  | 'latency'
  | 'reset'
  | 'truncate'
  | 'expiredUrl'
  | 'exportFailure';

export interface RequestFaults {
  reset: boolean;
  latencyMs: number;
  /** Injected 429, with the Retry-After to send. */
  throttle?: { retryAfterSeconds: number };
  serverError?: 500 | 503;
  truncate: boolean;
}

const NO_FAULTS: RequestFaults = { reset: false, latencyMs: 0, truncate: false };

export interface FaultCounts {
  total: Record<FaultKind, number>;
  byOperation: Record<string, Partial<Record<FaultKind, number>>>;
}

/** A count of 0 for every kind of fault. */
export const zeroCounts = (): Record<FaultKind, number> => ({
  serverError: 0,
  throttleBurst: 0,
  latency: 0,
  reset: 0,
  truncate: 0,
  expiredUrl: 0,
  exportFailure: 0,
});

export class FaultInjector {
  private current: FaultConfig;
  private seen = new Map<string, number>();
  private perOperation = new Map<string, number>();
  private readonly exportFates = new Map<string, boolean>();
  private readonly counts: FaultCounts = { total: zeroCounts(), byOperation: {} };

  constructor(
    config: FaultConfigInput | undefined,
    private readonly defaultSeed: Seed,
  ) {
    this.current = parseFaultConfig(config);
  }

  get config(): FaultConfig {
    return this.current;
  }

  private get seed(): Seed {
    return this.current.seed ?? this.defaultSeed;
  }

  /**
   * Replaces the fault set (validated; the error names the bad field) and restarts the request
   * counters, so a run that sets faults then sends the same requests gets the same faults.
   */
  set(config: unknown): FaultConfig {
    this.current = parseFaultConfig(config);
    this.seen = new Map();
    this.perOperation = new Map();
    return this.current;
  }

  private inScope(operation: string): boolean {
    const ops = this.current.operations;
    return !ops || ops.includes(operation);
  }

  /**
   * The faults for one request. `requestKey` identifies the request: method, path, query and body
   * digest, stable across runs (`requestIdentity`), so a seed gives the same faults on every run.
   */
  decide(operation: string, requestKey: string): RequestFaults {
    if (!this.inScope(operation)) return NO_FAULTS;
    const c = this.current;
    const occurrence = (this.seen.get(requestKey) ?? 0) + 1;
    this.seen.set(requestKey, occurrence);
    const nth = (this.perOperation.get(operation) ?? 0) + 1;
    this.perOperation.set(operation, nth);
    const roll = (kind: string) => hashUnit(this.seed, kind, operation, requestKey, occurrence);

    let latencyMs = 0;
    if (typeof c.latencyMs === 'number') latencyMs = c.latencyMs;
    else if (c.latencyMs) latencyMs = c.latencyMs.min + roll('latency') * (c.latencyMs.max - c.latencyMs.min);

    const burst = c.throttleBurst;
    const throttled = burst !== undefined && nth >= burst.every && nth % burst.every < burst.length;
    const errorRoll = roll('serverError');
    return {
      reset: roll('reset') < c.resetRate,
      latencyMs: Math.round(latencyMs),
      throttle: throttled ? { retryAfterSeconds: burst.retryAfterSeconds } : undefined,
      serverError:
        errorRoll < c.serverErrorRate ? (errorRoll < c.serverErrorRate / 2 ? 500 : 503) : undefined,
      truncate: roll('truncate') < c.truncateRate,
    };
  }

  /**
   * Takes back the last `decide` of this request: the rate limiter answered it before any fault of
   * the decision applied, so its retry rolls the same dice instead of the next ones.
   */
  retract(operation: string, requestKey: string): void {
    if (!this.inScope(operation)) return;
    const take = (map: Map<string, number>, key: string) => {
      const n = (map.get(key) ?? 0) - 1;
      if (n > 0) map.set(key, n);
      else map.delete(key);
    };
    take(this.seen, requestKey);
    take(this.perOperation, operation);
  }

  /** Whether the export `exportId` ends in the provider's error state. Fixed per id once asked. */
  shouldFailExport(exportId: string): boolean {
    let fate = this.exportFates.get(exportId);
    if (fate === undefined) {
      fate = hashUnit(this.seed, 'exportFailure', exportId) < this.current.exportFailureRate;
      this.exportFates.set(exportId, fate);
      if (fate) this.record('exportFailure', 'export');
    }
    return fate;
  }

  /** Whether the `ordinal`-th URL issued for download `key` answers as expired from its first use. */
  shouldExpireUrl(key: string, ordinal: number): boolean {
    return hashUnit(this.seed, 'expiredUrl', key, ordinal) < this.current.expiredUrlRate;
  }

  /** Counts a fault that was actually applied. */
  record(kind: FaultKind, operation: string): void {
    this.counts.total[kind] += 1;
    this.counts.byOperation[operation] ??= {};
    const op = this.counts.byOperation[operation];
    op[kind] = (op[kind] ?? 0) + 1;
  }

  snapshot(): FaultCounts {
    return structuredClone(this.counts);
  }
}
