import { afterEach, describe, expect, it } from 'vitest';
import { lwaTokenSource, lwaTokenUrl, requestLwaToken } from '../../../shared/auth/lwa.ts';
import { lwaSecretSchema } from '../../../shared/auth/secret-schemas.ts';
import { clearTokenCache } from '../../../shared/auth/token-cache.ts';
import { AuthError } from '../../../shared/http/errors.ts';
import {
  type Handler,
  resetConnection,
  sendJson,
  sendText,
  sequence,
  startServer,
  type TestServer,
} from '../../helpers/http-server.ts';

const secret = {
  clientId: 'amzn1.application-oa2-client.abc',
  clientSecret: 'CLIENT-SECRET-xyz',
  refreshToken: 'Atzr|REFRESH-123',
};

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  clearTokenCache();
});

async function endpoint(handler: Handler) {
  server = await startServer(handler);
  return `${server.url}/auth/o2/token`;
}

const noSleep = async () => undefined;

describe('lwaTokenUrl', () => {
  it('maps regions to the LWA hosts, and honours the connection override', () => {
    expect(lwaTokenUrl('NA')).toBe('https://api.amazon.com/auth/o2/token');
    expect(lwaTokenUrl('EU')).toBe('https://api.amazon.co.uk/auth/o2/token');
    expect(lwaTokenUrl('FE')).toBe('https://api.amazon.co.jp/auth/o2/token');
    expect(lwaTokenUrl('EU', 'http://127.0.0.1:1/auth/o2/token')).toBe('http://127.0.0.1:1/auth/o2/token');
  });
});

describe('LWA refresh grant', () => {
  it('posts the form and reads access_token and expires_in', async () => {
    const url = await endpoint((_req, res) =>
      sendJson(res, 200, { access_token: 'Atza|ACCESS', token_type: 'bearer', expires_in: 3600 }),
    );
    const token = await requestLwaToken({ connection: 'ads-eu', region: 'EU', secret, tokenUrl: url });
    expect(token).toEqual({ accessToken: 'Atza|ACCESS', expiresIn: 3600 });
    const seen = server!.requests[0]!;
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/auth/o2/token');
    expect(seen.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(Object.fromEntries(new URLSearchParams(seen.body))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: secret.refreshToken,
      client_id: secret.clientId,
      client_secret: secret.clientSecret,
    });
  });

  it('invalid_grant becomes an AuthError naming the connection and the code, never the secret', async () => {
    const url = await endpoint((_req, res) =>
      sendJson(res, 400, {
        error: 'invalid_grant',
        error_description: 'The request has an invalid grant parameter : refresh_token',
      }),
    );
    const err = (await requestLwaToken({ connection: 'ads-eu', region: 'EU', secret, tokenUrl: url }).catch(
      (e: unknown) => e,
    )) as AuthError;
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ connection: 'ads-eu', oauthError: 'invalid_grant', transient: false });
    expect(err.message).toContain('ads-eu');
    expect(err.message).toContain('invalid_grant');
    for (const value of Object.values(secret))
      expect(JSON.stringify({ m: err.message, ...err })).not.toContain(value);
    expect(server!.requests).toHaveLength(1);
  });

  it('retries 5xx and resets a couple of times, then succeeds', async () => {
    const url = await endpoint(
      sequence(
        (_req, res) => sendJson(res, 500, { error: 'server_error' }),
        resetConnection,
        (_req, res) => sendJson(res, 200, { access_token: 'Atza|OK', expires_in: 3600 }),
      ),
    );
    const slept: number[] = [];
    const token = await requestLwaToken({
      connection: 'c',
      region: 'NA',
      secret,
      tokenUrl: url,
      sleep: async (ms) => slept.push(ms),
      random: () => 0.5,
    });
    expect(token.accessToken).toBe('Atza|OK');
    expect(slept).toEqual([100, 200]);
  });

  it('an endpoint that stays down is a transient AuthError', async () => {
    const url = await endpoint((_req, res) => sendJson(res, 503, { error: 'temporarily_unavailable' }));
    const err = (await requestLwaToken({
      connection: 'c',
      region: 'NA',
      secret,
      tokenUrl: url,
      sleep: noSleep,
    }).catch((e: unknown) => e)) as AuthError;
    expect(err).toMatchObject({ oauthError: 'temporarily_unavailable', transient: true });
    expect(server!.requests).toHaveLength(3);
  });

  it('an answer without a token is an AuthError, not a silent undefined', async () => {
    const url = await endpoint((_req, res) => sendText(res, 200, '{"token_type":"bearer"}'));
    await expect(
      requestLwaToken({ connection: 'c', region: 'NA', secret, tokenUrl: url }),
    ).rejects.toMatchObject({
      oauthError: 'invalid_response',
    });
  });

  it('the token source caches per connection', async () => {
    const url = await endpoint((_req, res) =>
      sendJson(res, 200, { access_token: 'Atza|C', expires_in: 3600 }),
    );
    const a = lwaTokenSource({ provider: 'sp-api', connection: 'br', region: 'NA', secret, tokenUrl: url });
    const b = lwaTokenSource({ provider: 'sp-api', connection: 'br', region: 'NA', secret, tokenUrl: url });
    expect(await a.get()).toBe('Atza|C');
    expect(await b.get()).toBe('Atza|C');
    expect(server!.requests).toHaveLength(1);
  });
});

describe('lwaSecretSchema', () => {
  it('needs all three fields', () => {
    expect(lwaSecretSchema.safeParse(secret).success).toBe(true);
    const r = lwaSecretSchema.safeParse({ clientId: 'x', clientSecret: 'y' });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toEqual(['refreshToken']);
  });
});
