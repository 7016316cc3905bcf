import { generateKeyPairSync } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createGoogleOAuthServer,
  DFATRAFFICKING_SCOPE,
  type GoogleOAuthServer,
  JWT_BEARER_GRANT,
  newServiceAccount,
  type ServiceAccountKey,
  signJwtRs256,
} from '../../infra/sandbox/google-oauth.ts';
import { createLwaServer, type LwaServer } from '../../infra/sandbox/lwa.ts';

type TokenAnswer = Record<string, unknown>;

async function postForm(url: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(text) as TokenAnswer, text };
}

const APP = { clientId: 'amzn1.application-oa2-client.app1', clientSecret: 'amzn1.oa2-cs.v1.secret-one' };
const OTHER = { clientId: 'amzn1.application-oa2-client.app2', clientSecret: 'amzn1.oa2-cs.v1.secret-two' };
const REFRESH = 'Atzr|refresh-for-conn-a';

describe('LWA token server', () => {
  let lwa: LwaServer;
  let realNow = Date.now();
  beforeAll(async () => {
    lwa = await createLwaServer({
      now: () => realNow,
      clients: [
        { ...APP, refreshTokens: [{ refreshToken: REFRESH, subject: 'conn-a' }] },
        { ...OTHER, refreshTokens: ['Atzr|other'] },
      ],
    });
  });
  afterAll(() => lwa.close());

  const grant = (over: Record<string, string> = {}) =>
    postForm(lwa.tokenUrl, {
      grant_type: 'refresh_token',
      refresh_token: REFRESH,
      client_id: APP.clientId,
      client_secret: APP.clientSecret,
      ...over,
    });

  it('issues an Atza| bearer token for a good refresh grant, expiring in 3600 real seconds', async () => {
    const res = await grant();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'bearer', expires_in: 3600, refresh_token: REFRESH });
    expect(res.body.access_token).toMatch(/^Atza\|[A-Za-z0-9_-]{40,}$/);
    expect(res.headers['cache-control']).toBe('no-store');
    const info = lwa.verify(res.body.access_token as string);
    expect(info).toEqual({ clientId: APP.clientId, subject: 'conn-a', expiresAt: realNow + 3_600_000 });
  });

  it('answers 401 invalid_client for a bad secret or an unknown client, without echoing the secret', async () => {
    const bad = await grant({ client_secret: 'wrong-secret-value' });
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed' });
    expect(bad.text).not.toContain('wrong-secret-value');
    const unknown = await grant({ client_id: 'amzn1.application-oa2-client.nobody' });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toBe('invalid_client');
  });

  it('answers 400 invalid_grant for an unknown refresh token or one of another client', async () => {
    const bad = await grant({ refresh_token: 'Atzr|not-issued' });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      error: 'invalid_grant',
      error_description: 'The request has an invalid grant parameter : refresh_token',
    });
    expect(bad.text).not.toContain('not-issued');
    expect((await grant({ refresh_token: 'Atzr|other' })).body.error).toBe('invalid_grant');
  });

  it('answers 400 for a wrong or missing grant type and for a body that is not a form', async () => {
    const wrong = await grant({ grant_type: 'authorization_code' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toBe('unsupported_grant_type');
    const missing = await postForm(lwa.tokenUrl, { refresh_token: REFRESH, ...{ client_id: APP.clientId } });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({
      error: 'invalid_request',
      error_description: 'The request is missing a required parameter : grant_type',
    });
    const noRefresh = await grant({ refresh_token: '' });
    expect(noRefresh.body).toEqual({
      error: 'invalid_request',
      error_description: 'The request is missing a required parameter : refresh_token',
    });
    const asJson = await request(lwa.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: REFRESH, ...APP }),
    });
    expect(asJson.statusCode).toBe(400);
    expect(((await asJson.body.json()) as TokenAnswer).error).toBe('invalid_request');
  });

  it('accepts client credentials in HTTP Basic auth', async () => {
    const basic = Buffer.from(`${APP.clientId}:${APP.clientSecret}`).toString('base64');
    const res = await postForm(
      lwa.tokenUrl,
      { grant_type: 'refresh_token', refresh_token: REFRESH },
      { authorization: `Basic ${basic}` },
    );
    expect(res.status).toBe(200);
  });

  it('expires tokens in real time, and all at once on demand (admin endpoint too)', async () => {
    const token = (await grant()).body.access_token as string;
    expect(lwa.check(token)).toMatchObject({ ok: true });
    realNow += 3_600_000;
    expect(lwa.check(token)).toEqual({ ok: false, reason: 'expired' });
    expect(lwa.verify(token)).toBeUndefined();
    realNow -= 3_600_000;

    const fresh = (await grant()).body.access_token as string;
    expect(lwa.expireAll()).toBeGreaterThan(0);
    expect(lwa.verify(fresh)).toBeUndefined();
    const again = (await grant()).body.access_token as string;
    const admin = await request(`${lwa.url}/__sandbox/expire-tokens`, { method: 'POST' });
    expect(await admin.body.json()).toEqual({ expired: 1 });
    expect(lwa.verify(again)).toBeUndefined();
    expect(lwa.check(undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(lwa.check('Atza|forged')).toEqual({ ok: false, reason: 'unknown' });
  });

  it('sends the configured expires_in', async () => {
    const short = await createLwaServer({ expiresIn: 120, clients: [{ ...APP, refreshTokens: [REFRESH] }] });
    try {
      const res = await postForm(short.tokenUrl, {
        grant_type: 'refresh_token',
        refresh_token: REFRESH,
        client_id: APP.clientId,
        client_secret: APP.clientSecret,
      });
      expect(res.body.expires_in).toBe(120);
    } finally {
      await short.close();
    }
  });
});

const G_CLIENT = { clientId: '1234-abc.apps.googleusercontent.com', clientSecret: 'GOCSPX-secret' };
const G_REFRESH = '1//0refresh-token';

describe('Google OAuth token server', () => {
  let google: GoogleOAuthServer;
  let account: ServiceAccountKey;
  let realNow = Date.now();
  const nowSec = () => Math.floor(realNow / 1000);
  beforeAll(async () => {
    google = await createGoogleOAuthServer({
      now: () => realNow,
      expiresInStyle: 'alternate',
      clients: [{ ...G_CLIENT, refreshTokens: [{ refreshToken: G_REFRESH, subject: 'cm-1' }] }],
    });
    const sa = await newServiceAccount('robot@sandbox.iam.gserviceaccount.com', google.tokenUrl);
    account = sa.key;
    google.registerServiceAccount({
      clientEmail: account.client_email,
      publicKey: sa.publicKey,
      subject: 'cm-2',
    });
  });
  afterAll(() => google.close());

  const claims = (over: Record<string, unknown> = {}) => ({
    iss: account.client_email,
    scope: DFATRAFFICKING_SCOPE,
    aud: account.token_uri,
    iat: nowSec(),
    exp: nowSec() + 3600,
    ...over,
  });
  const jwtGrant = (assertion: string) =>
    postForm(google.tokenUrl, { grant_type: JWT_BEARER_GRANT, assertion });
  const refreshGrant = (over: Record<string, string> = {}) =>
    postForm(google.tokenUrl, {
      grant_type: 'refresh_token',
      refresh_token: G_REFRESH,
      client_id: G_CLIENT.clientId,
      client_secret: G_CLIENT.clientSecret,
      ...over,
    });

  it('answers a good refresh grant with a ya29. Bearer token and its scope', async () => {
    const res = await refreshGrant();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', scope: DFATRAFFICKING_SCOPE });
    expect(res.body.access_token).toMatch(/^ya29\.[A-Za-z0-9_-]{40,}$/);
    expect(google.verify(res.body.access_token as string)).toMatchObject({
      principal: G_CLIENT.clientId,
      grant: 'refresh_token',
      scopes: [DFATRAFFICKING_SCOPE],
      subject: 'cm-1',
    });
  });

  it('refuses a bad refresh grant: invalid_grant for the token, invalid_client for the client', async () => {
    const badToken = await refreshGrant({ refresh_token: '1//0revoked' });
    expect(badToken.status).toBe(400);
    expect(badToken.body).toEqual({
      error: 'invalid_grant',
      error_description: 'Token has been expired or revoked.',
    });
    const badSecret = await refreshGrant({ client_secret: 'GOCSPX-wrong' });
    expect(badSecret.status).toBe(401);
    expect(badSecret.body.error).toBe('invalid_client');
    expect(badSecret.text).not.toContain('GOCSPX-wrong');
    expect((await refreshGrant({ client_id: 'nobody.apps.googleusercontent.com' })).body).toEqual({
      error: 'invalid_client',
      error_description: 'The OAuth client was not found.',
    });
  });

  it('answers a good service-account JWT with a token for the account and scope', async () => {
    const res = await jwtGrant(signJwtRs256(claims(), account.private_key, account.private_key_id));
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('Bearer');
    expect(google.verify(res.body.access_token as string)).toMatchObject({
      principal: account.client_email,
      grant: 'service_account',
      scopes: [DFATRAFFICKING_SCOPE],
      subject: 'cm-2',
    });
  });

  it('refuses a JWT signed with another key, for another audience, expired, too long or from an unknown account', async () => {
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const cases: Array<[string, string]> = [
      [signJwtRs256(claims(), otherKey), 'Invalid JWT Signature.'],
      [signJwtRs256(claims({ aud: 'https://oauth2.googleapis.com/token' }), account.private_key), 'audience'],
      [
        signJwtRs256(claims({ iat: nowSec() - 7200, exp: nowSec() - 3600 }), account.private_key),
        'short-lived',
      ],
      [signJwtRs256(claims({ exp: nowSec() + 7200 }), account.private_key), 'short-lived'],
      [
        signJwtRs256(claims({ iss: 'stranger@x.iam.gserviceaccount.com' }), account.private_key),
        'account not found',
      ],
      ['not-a-jwt', 'three parts'],
    ];
    for (const [assertion, message] of cases) {
      const res = await jwtGrant(assertion);
      expect(res.status, message).toBe(400);
      expect(res.body.error, message).toBe('invalid_grant');
      expect(res.body.error_description, message).toContain(message);
    }
  });

  it('refuses a JWT without a scope with invalid_scope, and a missing assertion with invalid_request', async () => {
    const noScope = await jwtGrant(signJwtRs256(claims({ scope: undefined }), account.private_key));
    expect(noScope.status).toBe(400);
    expect(noScope.body.error).toBe('invalid_scope');
    const missing = await postForm(google.tokenUrl, { grant_type: JWT_BEARER_GRANT });
    expect(missing.body).toEqual({
      error: 'invalid_request',
      error_description: 'Missing required parameter: assertion',
    });
    const wrongGrant = await postForm(google.tokenUrl, { grant_type: 'password' });
    expect(wrongGrant.body.error).toBe('unsupported_grant_type');
  });

  it('sends expires_in as a number and as a string on alternate answers', async () => {
    const values = [];
    for (let i = 0; i < 4; i++) values.push((await refreshGrant()).body.expires_in);
    expect(values.filter((v) => v === 3599)).toHaveLength(2);
    expect(values.filter((v) => v === '3599')).toHaveLength(2);
  });

  it('expires tokens in real time and on demand', async () => {
    const token = (await refreshGrant()).body.access_token as string;
    realNow += 3_599_000;
    expect(google.check(token)).toEqual({ ok: false, reason: 'expired' });
    realNow -= 3_599_000;
    const fresh = (await refreshGrant()).body.access_token as string;
    expect(google.verify(fresh)).toBeDefined();
    google.expireAll();
    expect(google.verify(fresh)).toBeUndefined();
  });

  it('can always send expires_in as a string, with the configured lifetime', async () => {
    const g = await createGoogleOAuthServer({
      expiresIn: 90,
      expiresInStyle: 'string',
      clients: [{ ...G_CLIENT, refreshTokens: [G_REFRESH] }],
    });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await postForm(g.tokenUrl, {
          grant_type: 'refresh_token',
          refresh_token: G_REFRESH,
          client_id: G_CLIENT.clientId,
          client_secret: G_CLIENT.clientSecret,
        });
        expect(res.body.expires_in).toBe('90');
      }
    } finally {
      await g.close();
    }
  });
});
