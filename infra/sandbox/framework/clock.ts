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

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Epoch ms of a simulated start given as an ISO date-time with its offset (`2026-03-01T00:00:00Z`), a
 * bare date (midnight UTC), epoch ms or a Date. Strict: no day 30 of February, no hour 24, no time
 * without an offset (it would be read in the machine's zone, and two machines would disagree).
 */
export function parseSimTime(value: string | number | Date, field = 'clock'): number {
  const bad = (why: string) =>
    new RangeError(`${field}: ${why}, got ${JSON.stringify(value instanceof Date ? String(value) : value)}`);
  if (value instanceof Date || typeof value === 'number') {
    const ms = value instanceof Date ? value.getTime() : value;
    if (!Number.isFinite(ms)) throw bad('expected a valid time');
    return ms;
  }
  const m = ISO_TIME.exec(value);
  if (!m) throw bad('expected an ISO date-time with its offset, e.g. 2026-03-01T00:00:00Z');
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0', offset = 'Z'] = m;
  const local = Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +s, Number(frac.padEnd(3, '0')));
  const back = new Date(local);
  if (
    back.getUTCFullYear() !== +y! ||
    back.getUTCMonth() !== +mo! - 1 ||
    back.getUTCDate() !== +d! ||
    back.getUTCHours() !== +h ||
    back.getUTCMinutes() !== +mi ||
    back.getUTCSeconds() !== +s
  ) {
    throw bad('not a calendar date and time');
  }
  if (offset === 'Z') return local;
  const [oh, om] = offset.slice(1).split(':').map(Number) as [number, number];
  if (oh > 23 || om > 59) throw bad('not a valid UTC offset');
  return local - (offset[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
}
