import { request } from 'undici';
import {
  DFATRAFFICKING_SCOPE,
  type GoogleRefreshSecret,
  type GoogleServiceAccountSecret,
  JWT_BEARER_GRANT,
  type LwaSecret,
  type Sandbox,
  signJwtRs256,
} from '../../infra/sandbox/index.ts';

async function postToken(url: string, form: Record<string, string>, server: string): Promise<string> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  if (res.statusCode !== 200)
    throw new Error(`sandbox ${server} answered ${res.statusCode}: ${await res.body.text()}`);
  return ((await res.body.json()) as { access_token: string }).access_token;
}

/** An access token from the sandbox LWA server for a connection, with the secret the sandbox minted for it. */
export async function lwaToken(sandbox: Sandbox, connection: string): Promise<string> {
  const secret = sandbox.credentials[connection] as LwaSecret;
  return postToken(
    sandbox.tokenUrls.lwa,
    {
      grant_type: 'refresh_token',
      refresh_token: secret.refreshToken,
      client_id: secret.clientId,
      client_secret: secret.clientSecret,
    },
    'LWA',
  );
}

/**
 * An access token from the sandbox Google server for a connection: a service-account JWT (RS256, one hour)
 * or a refresh grant, whichever secret the sandbox minted for it.
 */
export async function googleToken(
  sandbox: Sandbox,
  connection: string,
  scope = DFATRAFFICKING_SCOPE,
): Promise<string> {
  const secret = sandbox.credentials[connection] as GoogleRefreshSecret | GoogleServiceAccountSecret;
  if ('serviceAccount' in secret) {
    const sa = secret.serviceAccount;
    const iat = Math.floor(Date.now() / 1000);
    const assertion = signJwtRs256(
      { iss: sa.client_email, scope, aud: sa.token_uri, iat, exp: iat + 3600 },
      sa.private_key,
    );
    return postToken(sa.token_uri, { grant_type: JWT_BEARER_GRANT, assertion }, 'Google');
  }
  return postToken(
    sandbox.tokenUrls.google,
    {
      grant_type: 'refresh_token',
      refresh_token: secret.refreshToken,
      client_id: secret.clientId,
      client_secret: secret.clientSecret,
    },
    'Google',
  );
}
