import type { BucketSpec } from './token-bucket.ts';

/** Which rate plan: one operation of one connection, whichever container calls it. */
export interface RateKey {
  provider: string;
  connection: string;
  operation: string;
}

/** A container's plan for the operation: the documented default, or the rate the provider said. */
export interface SharedPlan extends BucketSpec {
  /** The rate came from the provider (x-amzn-RateLimit-Limit), not from the spec's documented default. */
  told?: boolean;
}

/** A send slot, or how far off the next one is. */
export interface Reservation {
  /** True: the slot is taken, send after `waitMs`. False: nothing was taken, none comes within the wait asked. */
  reserved: boolean;
  waitMs: number;
  /**
   * The rate another container was told by the provider, when this one came with only the default: the
   * slot was reckoned at it, and the caller paces at it from now on.
   */
  toldRate?: number;
}

/**
 * A rate plan shared by every container that calls the same operation of the same connection: together they
 * get one burst and one rate, however many run at once, and a container started later finds the burst
 * already spent instead of a full one of its own.
 */
export interface SharedRate {
  /**
   * Takes the next send slot if it comes within `maxWaitMs`; otherwise takes nothing and says how long until
   * one would. Throws when the shared state cannot be reached: the caller then paces on its own bucket.
   */
  reserve(key: RateKey, plan: SharedPlan, maxWaitMs: number): Promise<Reservation>;
  /**
   * Sets the plan to a rate the provider has just told (what is booked converted to it), so the other
   * containers pace at it from their next slot, not from this container's. Throws like `reserve`.
   */
  tell?(key: RateKey, plan: SharedPlan): Promise<void>;
}
