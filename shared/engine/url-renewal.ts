import { setTimeout as sleepMs } from 'node:timers/promises';
import { isRetryableNetworkError } from '../http/errors.ts';
import type { Log } from '../providers/types.ts';

export function isExpiredUrl(err: unknown): boolean {
  return (err as Error)?.name === 'ExpiredUrlError';
}

/**
 * A transfer that broke on the way and may well pass when tried again: a reset, a body cut short (fewer
 * bytes than announced), a 5xx or no answer from the storage host.
 */
export function isBrokenTransfer(err: unknown): boolean {
  const e = err as { name?: string; status?: number };
  if (e?.name === 'ByteCountError') return true;
  if (e?.name === 'ProviderError') return e.status === 0 || (e.status ?? 0) >= 500;
  return isRetryableNetworkError(err);
}

/** Tries of a broken transfer in the function before the error goes up (the item's page is then continued later). */
export const TRANSFER_RETRIES = 2;

/**
 * One download, tried until it lands. `attempt(renewal)` is called again asking the provider for a fresh
 * link (renewal + 1) each time the link answered as expired, up to `renewals` times (pre-signed links
 * lapse between the ask and the GET: SP-API's live 30 s, Amazon Ads' government links); and with the same
 * link after a broken transfer, up to TRANSFER_RETRIES times with a short backoff, so a cut-short body
 * does not repeat the rest of its page's work. The last error is thrown.
 */
export async function withUrlRenewal<T>(
  renewals: number,
  attempt: (renewal: number) => Promise<T>,
  log: Log,
  what: Record<string, unknown>,
  sleep: (ms: number) => Promise<unknown> = sleepMs,
): Promise<T> {
  let renewal = 0;
  let retries = 0;
  for (;;) {
    try {
      return await attempt(renewal);
    } catch (err) {
      if (isExpiredUrl(err) && renewal < renewals) {
        renewal += 1;
        log.warn('download link expired, asking for a fresh one', { ...what, renewal });
        continue;
      }
      if (isBrokenTransfer(err) && retries < TRANSFER_RETRIES) {
        retries += 1;
        log.warn('download broke on the way, trying again', {
          ...what,
          retry: retries,
          error: (err as Error).message,
        });
        await sleep(500 * 2 ** retries);
        continue;
      }
      throw err;
    }
  }
}
