import type { JobMessage } from '../../jobs/messages.ts';
import { numberEnv } from '../env.ts';

export interface LoopLimits {
  /** MAX_CONTINUATIONS: hand-backs to the queue one piece of work may take (default 500). */
  maxContinuations: number;
  /** MAX_MESSAGE_AGE_HOURS: how long one piece of work may go on from its start (default 72). */
  maxAgeHours: number;
}

export function loopLimits(env: NodeJS.ProcessEnv = process.env): LoopLimits {
  return {
    maxContinuations: numberEnv('MAX_CONTINUATIONS', 500, env),
    maxAgeHours: numberEnv('MAX_MESSAGE_AGE_HOURS', 72, env),
  };
}

/**
 * Why a message must stop going round (it was handed back too many times, or its work began too long
 * ago), or undefined. A provider that says "wait" forever (429s without end, a Retry-After that never
 * passes) then ends in the DLQ with this reason and its alarm, instead of cycling unseen.
 */
export function loopGuardReason(
  message: JobMessage,
  limits: LoopLimits,
  now = Date.now(),
): string | undefined {
  if (message.continuation > limits.maxContinuations) {
    return `LoopGuard: handed back to the queue ${message.continuation} times (MAX_CONTINUATIONS ${limits.maxContinuations})`;
  }
  const started = message.startedAt ? Date.parse(message.startedAt) : Number.NaN;
  if (Number.isFinite(started) && now - started > limits.maxAgeHours * 3_600_000) {
    const hours = Math.floor((now - started) / 3_600_000);
    return `LoopGuard: work started ${hours} h ago at ${message.startedAt} (MAX_MESSAGE_AGE_HOURS ${limits.maxAgeHours})`;
  }
  return undefined;
}
