import type { Budget } from '../providers/types.ts';

/** A budget that ends at an absolute time (epoch ms). */
export function budgetUntil(deadlineMs: number, now: () => number = Date.now): Budget {
  return {
    deadline: deadlineMs,
    remainingMs: () => Math.max(0, deadlineMs - now()),
  };
}

/**
 * The Lambda's remaining time less a margin, kept back for what follows the work: writing the continuation
 * message, reporting batch failures, flushing metrics.
 */
export function lambdaBudget(
  context: { getRemainingTimeInMillis(): number },
  marginMs = 10_000,
  now: () => number = Date.now,
): Budget {
  return budgetUntil(now() + context.getRemainingTimeInMillis() - marginMs, now);
}
