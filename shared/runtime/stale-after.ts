import { MAX_DELAY_SECONDS } from '../jobs/queue.ts';
import { numberEnv } from './env.ts';

/** What the reconciler knows of a queue-fed function's queue: its DLQ and how long a message may take. */
export interface ReconciledQueue {
  /** Logical queue id (shared/aws/resources.ts). */
  queue: string;
  dlqUrl: string;
  maxReceiveCount: number;
  visibilityTimeoutSeconds: number;
}

/**
 * Beyond the longest a live message can go unseen: a queue backed up behind other runs' messages (each
 * function's concurrency is bounded) holds a message longer than its own settings say.
 */
export const STALE_MARGIN_MINUTES = 60;

/**
 * How long a RUNNING run may go without its record being updated before the reconciler takes it as stopped
 * (RUN_STALE_AFTER_MINUTES, else derived from the queues). Every message sent or done updates the record, and
 * so does every hand-back to the queue (a continuation, a wait chained past SQS's 900 s cap, a poll), so the
 * loop guard's 72 h is the life of a chain, not a quiet spell. The longest quiet spell of a live run is one
 * message's: delayed up to 900 s, then received up to maxReceiveCount times, each receive hiding it for up to
 * the visibility timeout, the last ending in the DLQ (which the reconciler reads) or in the frame settling it.
 * With the default settings the export poller's queue sets it: 15 + 5 x 60 + 60 = 375 minutes.
 */
export function staleAfterMinutes(
  queues: readonly Pick<ReconciledQueue, 'maxReceiveCount' | 'visibilityTimeoutSeconds'>[],
  env: NodeJS.ProcessEnv = process.env,
): number {
  const longest = Math.max(0, ...queues.map((q) => q.maxReceiveCount * q.visibilityTimeoutSeconds));
  const derived = Math.ceil((MAX_DELAY_SECONDS + longest) / 60) + STALE_MARGIN_MINUTES;
  return numberEnv('RUN_STALE_AFTER_MINUTES', derived, env);
}
