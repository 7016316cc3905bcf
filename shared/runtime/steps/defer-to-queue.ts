import { ExportBusyError } from '../../aws/state-store.ts';
import type { JobMessage } from '../../jobs/messages.ts';
import type { JobQueue } from '../../providers/types.ts';
import { describeError, isDefer } from '../errors.ts';
import type { FrameDeps } from './frame-deps.ts';

/** Whether an error means "not now" rather than failure. */
export function isDeferral(err: unknown): boolean {
  return isDefer(err) || err instanceof ExportBusyError;
}

/**
 * A "not now" from the work (a DeferError with its continuation, or an export another invocation is
 * creating) becomes a delayed message: the continuation when there is one, else the message itself.
 * Returns false for any other error, which the caller handles.
 */
export async function deferToQueue(
  deps: FrameDeps,
  err: unknown,
  message: JobMessage,
  queue: JobQueue,
  count: (c: 'defers') => void,
): Promise<boolean> {
  if (!isDeferral(err)) return false;
  const retryAt = isDefer(err) ? err.retryAt.getTime() : Date.now() + 30_000;
  // Every hand-back counts, so the loop guard sees a message that only ever waits.
  const next = (isDefer(err) && err.continuation) || { ...message, continuation: message.continuation + 1 };
  const delaySeconds = Math.max(1, (retryAt - Date.now()) / 1000);
  count('defers');
  deps.logger.info('deferred', {
    reason: isDefer(err) ? err.reason : 'export-busy',
    delaySeconds: Math.ceil(delaySeconds),
  });
  await queue.send(next, { delaySeconds }).catch((e: unknown) => {
    // A continuation that does not fit the message schema is the provider's bug: retrying repeats it.
    if ((e as Error)?.name === 'ZodError') {
      throw Object.assign(new Error(`invalid continuation: ${describeError(e)}`), { retryable: false });
    }
    throw e;
  });
  return true;
}
