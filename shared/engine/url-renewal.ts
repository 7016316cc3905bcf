import type { Log } from '../providers/types.ts';

export function isExpiredUrl(err: unknown): boolean {
  return (err as Error)?.name === 'ExpiredUrlError';
}

/**
 * Pre-signed links lapse between the ask and the GET (SP-API's live 30 s, Amazon Ads' government links):
 * `attempt(renewal)` is called again, asking the provider for a fresh link, each time the download
 * answered as expired, up to `renewals` times; the last expiry is thrown.
 */
export async function withUrlRenewal<T>(
  renewals: number,
  attempt: (renewal: number) => Promise<T>,
  log: Log,
  what: Record<string, unknown>,
): Promise<T> {
  for (let renewal = 0; ; renewal++) {
    try {
      return await attempt(renewal);
    } catch (err) {
      if (!isExpiredUrl(err) || renewal >= renewals) throw err;
      log.warn('download link expired, asking for a fresh one', { ...what, renewal: renewal + 1 });
    }
  }
}
