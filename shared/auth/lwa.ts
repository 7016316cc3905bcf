import type { LwaSecret } from './secret-schemas.ts';
import { cachedTokenSource, credentialsKey } from './token-cache.ts';
import { postTokenForm, type TokenEndpointOptions } from './token-endpoint.ts';
import type { IssuedToken, TokenSource } from './types.ts';

export type LwaRegion = 'NA' | 'EU' | 'FE';

const LWA_HOSTS: Record<LwaRegion, string> = {
  NA: 'https://api.amazon.com',
  EU: 'https://api.amazon.co.uk',
  FE: 'https://api.amazon.co.jp',
};

/** The Login with Amazon token URL for a region, or the connection's endpoints.token override. */
export function lwaTokenUrl(region: LwaRegion, override?: string): string {
  return override ?? `${LWA_HOSTS[region]}/auth/o2/token`;
}

export interface LwaOptions extends Omit<TokenEndpointOptions, 'url'> {
  /** Cache key part: the provider (two providers may share a connection id space). */
  provider: string;
  region: LwaRegion;
  secret: LwaSecret;
  /** endpoints.token from the connection. */
  tokenUrl?: string;
  now?: () => number;
}

/** One refresh_token grant. */
export function requestLwaToken(opts: Omit<LwaOptions, 'provider' | 'now'>): Promise<IssuedToken> {
  return postTokenForm(
    {
      grant_type: 'refresh_token',
      refresh_token: opts.secret.refreshToken,
      client_id: opts.secret.clientId,
      client_secret: opts.secret.clientSecret,
    },
    { ...opts, url: lwaTokenUrl(opts.region, opts.tokenUrl) },
  );
}

/** Cached, single-flight LWA tokens for one connection. */
export function lwaTokenSource(opts: LwaOptions): TokenSource {
  return cachedTokenSource(
    `lwa:${opts.provider}:${opts.connection}:${credentialsKey(opts.secret)}`,
    () => requestLwaToken(opts),
    opts.now,
  );
}
