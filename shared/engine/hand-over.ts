import { DeferError } from '../http/errors.ts';
import type { JobMessageInput } from '../jobs/messages.ts';
import type { Log } from '../providers/types.ts';
import { isDefer } from '../runtime/errors.ts';
import { isBrokenTransfer } from './url-renewal.ts';

/** Continuations after transient failures (5xx, network) in a row before the message fails for real. */
export const MAX_TRANSIENT_DEFERS = 5;

export function isThrottled(err: unknown): boolean {
  const e = err as { name?: string; status?: number; throttled?: boolean };
  return e?.name === 'ProviderError' && (e.throttled === true || e.status === 429);
}

/** A 5xx, no answer, or a transfer that broke on the way (a reset, a body cut short). */
export function isTransient(err: unknown): boolean {
  return isBrokenTransfer(err);
}

export interface HandOver {
  /** The rest of the work as a message, given how many transient hand-overs led to it. */
  continuation(transient: number): JobMessageInput;
  /** Transient hand-overs in a row so far. */
  transient: number;
  /** How long to wait after a 429 that outlasted the client's retries (to earn back more of the burst). */
  throttledWaitMs?: number;
  log: Log;
}

/**
 * What happens when the HTTP client has given up, the same for every provider and step: a wait the
 * client would not sleep (DeferError) and a 429 that outlasted its retries go back to the queue with the
 * rest of the work; a 5xx or network failure does too, after a growing wait, a few times in a row, and
 * then the message fails (SQS redelivers it, and its redrive moves it to the DLQ). Anything else is thrown
 * as it is. Never returns.
 */
export function handOver(err: unknown, at: HandOver): never {
  // The client's own wait comes back when its token is due, no later: waiting for more of the burst would
  // save queue round trips but lose up to that many tokens at the listing's end, which nothing foretells.
  if (isDefer(err)) throw (err as DeferError).withContinuation(at.continuation(0));
  if (isThrottled(err)) {
    const op = (err as { operation?: string }).operation ?? 'request';
    const waitMs = Math.max(1_000, at.throttledWaitMs ?? 0);
    throw new DeferError(op, new Date(Date.now() + waitMs), 'throttled', at.continuation(0));
  }
  if (isTransient(err) && at.transient < MAX_TRANSIENT_DEFERS) {
    const op = (err as { operation?: string }).operation ?? 'request';
    const waitMs = Math.min(900, 15 * 2 ** at.transient) * 1000;
    at.log.warn('provider unavailable, continuing later', { error: (err as Error).message, waitMs });
    throw new DeferError(op, new Date(Date.now() + waitMs), 'unavailable', at.continuation(at.transient + 1));
  }
  throw err;
}
