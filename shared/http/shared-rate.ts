import type { BucketSpec } from './token-bucket.ts';

/** Which rate plan: one operation of one connection, whichever container calls it. */
export interface RateKey {
  provider: string;
  connection: string;
  operation: string;
}

/** A send slot, or how far off the next one is. */
export interface Reservation {
  /** True: the slot is taken, send after `waitMs`. False: nothing was taken, none comes within the wait asked. */
  reserved: boolean;
  waitMs: number;
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
  reserve(key: RateKey, plan: BucketSpec, maxWaitMs: number): Promise<Reservation>;
}
