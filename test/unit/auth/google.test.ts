import { createVerify, generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CM360_SCOPE,
  GOOGLE_TOKEN_URL,
  googleTokenSource,
  JWT_BEARER_GRANT,
  requestGoogleToken,
  signServiceAccountJwt,
} from '../../../shared/auth/google.ts';
import { googleSecretSchema } from '../../../shared/auth/secret-schemas.ts';
import { clearTokenCache } from '../../../shared/auth/token-cache.ts';
import { AuthError } from '../../../shared/http/errors.ts';
import { sendJson, startServer, type TestServer } from '../../helpers/http-server.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});

function decodePart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

function verifyJwt(jwt: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, c, s] = jwt.split('.');
  const valid = createVerify('RSA-SHA256')
    .update(`${h}.${c}`)
    .verify(publicKey, Buffer.from(s!, 'base64url'));
  expect(valid).toBe(true);
  return { header: decodePart(h!), claims: decodePart(c!) };
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  clearTokenCache();
});

describe('service-account JWT', () => {
  it('is RS256-signed and verifies with the public key, with the claims Google wants', () => {
    const nowMs = Date.parse('2025-02-01T10:00:00Z');
    const jwt = signServiceAccountJwt({
      clientEmail: 'ingest@proj.iam.gserviceaccount.com',
      privateKey,
      scope: CM360_SCOPE,
      audience: GOOGLE_TOKEN_URL,
      nowMs,
    });
    const { header, claims } = verifyJwt(jwt);
    expect(header).toEqual({ alg: 'RS256', typ: 'JWT' });
    expect(claims).toEqual({
      iss: 'ingest@proj.iam.gserviceaccount.com',
      scope: 'https://www.googleapis.com/auth/dfatrafficking',
      aud: 'https://oauth2.googleapis.com/token',
      iat: nowMs / 1000,
      exp: nowMs / 1000 + 3600,
    });
  });

  it('a tampered token does not verify', () => {
    const jwt = signServiceAccountJwt({ clientEmail: 'a@b', privateKey, scope: 's', audience: 'aud' });
    const [h, , s] = jwt.split('.');
    const forged = Buffer.from(JSON.stringify({ iss: 'evil@b' })).toString('base64url');
    const ok = createVerify('RSA-SHA256')
      .update(`${h}.${forged}`)
      .verify(publicKey, Buffer.from(s!, 'base64url'));
    expect(ok).toBe(false);
  });
});

describe('Google token requests', () => {
  it('trades a service-account assertion at the token URI (aud = that URI); expires_in may be a string', async () => {
    server = await startServer((_req, res) =>
      sendJson(res, 200, { access_token: 'ya29.sa', expires_in: '3599' }),
    );
    const tokenUrl = `${server.url}/token`;
    const secret = googleSecretSchema.parse({
      type: 'service_account',
      client_email: 'ingest@proj.iam.gserviceaccount.com',
      private_key: privateKey,
      token_uri: tokenUrl,
    });
    const token = await requestGoogleToken({ connection: 'cm', secret });
    expect(token).toEqual({ accessToken: 'ya29.sa', expiresIn: 3599 });
    const form = Object.fromEntries(new URLSearchParams(server.requests[0]!.body));
    expect(form.grant_type).toBe(JWT_BEARER_GRANT);
    const { claims } = verifyJwt(form.assertion!);
    expect(claims.aud).toBe(tokenUrl);
    expect(claims.iss).toBe('ingest@proj.iam.gserviceaccount.com');
  });

  it('uses the refresh grant for an OAuth client secret', async () => {
    server = await startServer((_req, res) =>
      sendJson(res, 200, { access_token: 'ya29.rt', expires_in: 3600 }),
    );
    const secret = googleSecretSchema.parse({
      clientId: 'cid',
      clientSecret: 'csecret',
      refreshToken: '1//rt',
    });
    const source = googleTokenSource({ connection: 'cm', secret, tokenUrl: `${server.url}/token` });
    expect(await source.get()).toBe('ya29.rt');
    expect(Object.fromEntries(new URLSearchParams(server.requests[0]!.body))).toEqual({
      grant_type: 'refresh_token',
      client_id: 'cid',
      client_secret: 'csecret',
      refresh_token: '1//rt',
    });
  });

  it('a refused grant is an AuthError naming the connection', async () => {
    server = await startServer((_req, res) =>
      sendJson(res, 400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }),
    );
    const secret = googleSecretSchema.parse({
      clientId: 'cid',
      clientSecret: 'csecret',
      refreshToken: '1//rt',
    });
    const err = await requestGoogleToken({
      connection: 'cm-main',
      secret,
      tokenUrl: `${server.url}/t`,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ connection: 'cm-main', oauthError: 'invalid_grant' });
    expect((err as Error).message).not.toContain('csecret');
  });
});

describe('googleSecretSchema', () => {
  it('accepts the nested serviceAccount form and unescapes a key stored with literal \\n', () => {
    const escaped = privateKey.replace(/\n/g, '\\n');
    const parsed = googleSecretSchema.parse({
      serviceAccount: { client_email: 'a@b', private_key: escaped },
    });
    expect(parsed).toEqual({ clientEmail: 'a@b', privateKey });
  });

  it('names the missing fields of each form', () => {
    const refresh = googleSecretSchema.safeParse({ clientId: 'x' });
    expect(refresh.error?.issues.map((i) => i.path.join('.'))).toEqual(['clientSecret', 'refreshToken']);
    const flat = googleSecretSchema.safeParse({ client_email: 'a@b' });
    expect(flat.error?.issues.map((i) => i.path.join('.'))).toEqual(['private_key']);
  });

  it('rejects a private key that is not PEM, without quoting it', () => {
    const r = googleSecretSchema.safeParse({
      serviceAccount: { client_email: 'a@b', private_key: 'not-a-key-SECRET' },
    });
    expect(r.error?.issues[0]).toMatchObject({
      path: ['serviceAccount', 'private_key'],
      message: 'not a PEM private key',
    });
    expect(JSON.stringify(r.error?.issues)).not.toContain('not-a-key-SECRET');
  });
});
