import { createSign } from 'node:crypto';
import { type GoogleSecret, type GoogleServiceAccountSecret, isServiceAccount } from './secret-schemas.ts';
import { cachedTokenSource, credentialsKey } from './token-cache.ts';
import { postTokenForm, type TokenEndpointOptions } from './token-endpoint.ts';
import type { IssuedToken, TokenSource } from './types.ts';

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** CM360 invoices need the trafficking scope. */
export const CM360_SCOPE = 'https://www.googleapis.com/auth/dfatrafficking';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** The RS256 assertion a service account trades for an access token (valid one hour from iat). */
export function signServiceAccountJwt(opts: {
  clientEmail: string;
  privateKey: string;
  scope: string;
  audience: string;
  nowMs?: number;
}): string {
  const iat = Math.floor((opts.nowMs ?? Date.now()) / 1000);
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = base64url(
    JSON.stringify({ iss: opts.clientEmail, scope: opts.scope, aud: opts.audience, iat, exp: iat + 3600 }),
  );
  const signingInput = `${header}.${claims}`;
  const signature = createSign('RSA-SHA256').update(signingInput).sign(opts.privateKey);
  return `${signingInput}.${base64url(signature)}`;
}

export interface GoogleOptions extends Omit<TokenEndpointOptions, 'url'> {
  secret: GoogleSecret;
  scope?: string;
  /** endpoints.token from the connection; wins over the key file's token_uri. */
  tokenUrl?: string;
  now?: () => number;
}

function serviceAccountTokenUrl(secret: GoogleServiceAccountSecret, override?: string): string {
  return override ?? secret.tokenUri ?? GOOGLE_TOKEN_URL;
}

/** One token request: refresh grant, or a signed JWT for a service account. */
export function requestGoogleToken(opts: GoogleOptions): Promise<IssuedToken> {
  const { secret } = opts;
  if (isServiceAccount(secret)) {
    const url = serviceAccountTokenUrl(secret, opts.tokenUrl);
    const assertion = signServiceAccountJwt({
      clientEmail: secret.clientEmail,
      privateKey: secret.privateKey,
      scope: opts.scope ?? CM360_SCOPE,
      audience: url,
      nowMs: (opts.now ?? Date.now)(),
    });
    return postTokenForm({ grant_type: JWT_BEARER_GRANT, assertion }, { ...opts, url });
  }
  return postTokenForm(
    {
      grant_type: 'refresh_token',
      client_id: secret.clientId,
      client_secret: secret.clientSecret,
      refresh_token: secret.refreshToken,
    },
    { ...opts, url: opts.tokenUrl ?? GOOGLE_TOKEN_URL },
  );
}

/** Cached, single-flight Google tokens for one connection. */
export function googleTokenSource(opts: GoogleOptions): TokenSource {
  return cachedTokenSource(
    `google:${opts.connection}:${credentialsKey(opts.secret)}`,
    () => requestGoogleToken(opts),
    opts.now,
  );
}
