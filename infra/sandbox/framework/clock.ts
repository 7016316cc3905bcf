/**
 * Simulated time for the provider simulators. Exports that "take 2 minutes", buckets that refill at
 * "0.0167 requests a second" and download links that "expire after 30 seconds" all run on this clock,
 * `timeScale` times faster than real time, so a local run of a slow provider stays short while every
 * ratio between the provider's durations is kept.
 *
 * Tokens issued by the token servers do NOT use it: a client caches a token by its own (real) clock,
 * so an `expires_in` counted in simulated seconds would make the two disagree.
 */

export interface SimClock {
  /** Simulated seconds per real second (60: one real second is one simulated minute). */
  readonly timeScale: number;
  /** Simulated epoch milliseconds. */
  simNow(): number;
  simDate(): Date;
  /** Real milliseconds a simulated duration takes. */
  toRealMs(simMs: number): number;
  /** Simulated milliseconds that pass in a real duration. */
  toSimMs(realMs: number): number;
  /** Jumps simulated time forward (tests, the `POST /__sandbox/clock` admin call). */
  advance(simMs: number): void;
}

export interface SimClockOptions {
  timeScale?: number;
  /** Simulated epoch ms at creation (default: the real time at creation). */
  start?: number;
  /** Real epoch ms source; inject one to step time by hand in tests. */
  realNow?: () => number;
}

export function createSimClock(options: SimClockOptions = {}): SimClock {
  const timeScale = options.timeScale ?? 1;
  if (!Number.isFinite(timeScale) || timeScale <= 0) {
    throw new RangeError(`timeScale must be a positive number, got ${timeScale}`);
  }
  const realNow = options.realNow ?? Date.now;
  const realStart = realNow();
  const simStart = options.start ?? realStart;
  let skipped = 0;

  const simNow = () => simStart + (realNow() - realStart) * timeScale + skipped;
  return {
    timeScale,
    simNow,
    simDate: () => new Date(simNow()),
    toRealMs: (simMs) => simMs / timeScale,
    toSimMs: (realMs) => realMs * timeScale,
    advance(simMs) {
      if (!Number.isFinite(simMs) || simMs < 0) {
        throw new RangeError(`advance takes a non-negative number of ms, got ${simMs}`);
      }
      skipped += simMs;
    },
  };
}
