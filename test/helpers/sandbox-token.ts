import { request } from 'undici';
import type { LwaSecret, Sandbox } from '../../infra/sandbox/index.ts';

/** An access token from the sandbox LWA server for a connection, with the secret the sandbox minted for it. */
export async function lwaToken(sandbox: Sandbox, connection: string): Promise<string> {
  const secret = sandbox.credentials[connection] as LwaSecret;
  const res = await request(sandbox.tokenUrls.lwa, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: secret.refreshToken,
      client_id: secret.clientId,
      client_secret: secret.clientSecret,
    }).toString(),
  });
  if (res.statusCode !== 200)
    throw new Error(`sandbox LWA answered ${res.statusCode}: ${await res.body.text()}`);
  return ((await res.body.json()) as { access_token: string }).access_token;
}
