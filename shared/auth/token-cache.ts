import { createHash } from 'node:crypto';
import type { IssuedToken, TokenSource } from './types.ts';

interface Entry {
  token?: string;
  expiresAt: number;
  inflight?: Promise<string>;
}

/** Tokens live for the container: a warm Lambda reuses the one the last invocation fetched. */
const cache = new Map<string, Entry>();

/** Refresh this long before expiry, so a token never expires between get() and the provider's check. */
export const REFRESH_EARLY_MS = 60_000;

/**
 * A TokenSource cached under `key` (one per connection) until a minute before expiry. Concurrent callers
 * that find no valid token share one request to the token endpoint.
 */
export function cachedTokenSource(
  key: string,
  fetchToken: () => Promise<IssuedToken>,
  now: () => number = Date.now,
): TokenSource {
  const entry = (): Entry => {
    let e = cache.get(key);
    if (!e) {
      e = { expiresAt: 0 };
      cache.set(key, e);
    }
    return e;
  };
  return {
    get(): Promise<string> {
      const e = entry();
      if (e.token && now() < e.expiresAt) return Promise.resolve(e.token);
      if (e.inflight) return e.inflight;
      const inflight = fetchToken().then(
        (issued) => {
          const lifeMs = issued.expiresIn * 1000;
          // A short-lived token is still used for half its life rather than refetched on every call.
          e.token = issued.accessToken;
          e.expiresAt = now() + lifeMs - Math.min(REFRESH_EARLY_MS, lifeMs / 2);
          e.inflight = undefined;
          return issued.accessToken;
        },
        (err: unknown) => {
          e.inflight = undefined;
          throw err;
        },
      );
      e.inflight = inflight;
      return inflight;
    },
    invalidate(token: string): void {
      const e = cache.get(key);
      if (e && e.token === token) {
        e.token = undefined;
        e.expiresAt = 0;
      }
    },
  };
}

/**
 * A cache key part that changes when the credentials do: a rotated secret gets a token of its own at
 * once instead of the old credentials' token until it expires. A digest, so no secret sits in the key.
 */
export function credentialsKey(credentials: unknown): string {
  return createHash('sha256').update(JSON.stringify(credentials)).digest('hex').slice(0, 16);
}

export function clearTokenCache(key?: string): void {
  if (key === undefined) cache.clear();
  else cache.delete(key);
}
