import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { promisify } from 'node:util';
import type { SimClock } from './framework/clock.ts';
import { oauthError } from './framework/errors.ts';
import type { FaultConfigInput } from './framework/faults.ts';
import { json, SimHttpError } from './framework/http.ts';
import type { Seed } from './framework/seed.ts';
import { createSimServer, type SimServer } from './framework/server.ts';
import { type TokenCheck, TokenStore } from './framework/tokens.ts';
import { clientCredentials, tokenForm } from './lwa.ts';

/**
 * Google OAuth token server: `POST /token` with a refresh_token grant or a service account's RS256 JWT
 * (urn:ietf:params:oauth:grant-type:jwt-bearer). Tokens are `ya29.<random>` and expire after
 * `expiresIn` REAL seconds; `expires_in` comes as a string on some answers, as Google's sometimes does.
 */

export const GOOGLE_TOKEN_PATH = '/token';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** The scope CM360 invoices need. */
export const DFATRAFFICKING_SCOPE = 'https://www.googleapis.com/auth/dfatrafficking';

export interface GoogleRefreshToken {
  refreshToken: string;
  subject?: string;
  /** Space-separated scopes granted (default: dfatrafficking). */
  scope?: string;
}

export interface GoogleClientRegistration {
  clientId: string;
  clientSecret: string;
  refreshTokens?: ReadonlyArray<string | GoogleRefreshToken>;
}

export interface GoogleServiceAccountRegistration {
  clientEmail: string;
  /** PEM or KeyObject of the key the assertions are signed with. */
  publicKey: string | KeyObject;
  subject?: string;
}

export interface GoogleTokenInfo {
  /** OAuth client id (refresh grant) or service account email (JWT grant). */
  principal: string;
  grant: 'refresh_token' | 'service_account';
  scopes: string[];
  subject?: string;
  expiresAt: number;
}

/** When `expires_in` is sent as a string: never, always, or on every second answer. */
export type ExpiresInStyle = 'number' | 'string' | 'alternate';

export interface GoogleOAuthServerOptions {
  clients?: readonly GoogleClientRegistration[];
  serviceAccounts?: readonly GoogleServiceAccountRegistration[];
  /** Real seconds a token lives. Default 3599 (what Google sends). */
  expiresIn?: number;
  /** Default 'alternate'. */
  expiresInStyle?: ExpiresInStyle;
  clock?: SimClock;
  seed?: Seed;
  faults?: FaultConfigInput;
  /** Real epoch ms source for token expiry and JWT iat/exp checks (tests). */
  now?: () => number;
}

export interface GoogleOAuthServer extends SimServer {
  /** `${url}/token`: the `token_uri` of the service account JSON and the JWT `aud`. */
  readonly tokenUrl: string;
  registerClient(client: GoogleClientRegistration): void;
  addRefreshToken(clientId: string, token: string | GoogleRefreshToken): void;
  registerServiceAccount(account: GoogleServiceAccountRegistration): void;
  verify(accessToken: string | undefined): GoogleTokenInfo | undefined;
  check(accessToken: string | undefined): TokenCheck<Omit<GoogleTokenInfo, 'expiresAt'>>;
  expireAll(): number;
}

/** The service account key file Google hands out (the fields a client reads). */
export interface ServiceAccountKey {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  token_uri: string;
}

const generateRsa = promisify(generateKeyPair);

/** A new RSA key pair and the key file for `clientEmail`, pointing at `tokenUri`. */
export async function newServiceAccount(
  clientEmail: string,
  tokenUri: string,
): Promise<{ key: ServiceAccountKey; publicKey: KeyObject }> {
  const { publicKey, privateKey } = await generateRsa('rsa', { modulusLength: 2048 });
  return {
    publicKey,
    key: {
      type: 'service_account',
      project_id: clientEmail.split('@')[1]?.split('.')[0] ?? 'sandbox',
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: clientEmail,
      client_id: BigInt(`0x${randomBytes(9).toString('hex')}`).toString(),
      token_uri: tokenUri,
    },
  };
}

/** An RS256 JWT over `claims` (tests, and what a client's service-account signer produces). */
export function signJwtRs256(claims: Record<string, unknown>, privateKeyPem: string, kid?: string): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const head = enc({ alg: 'RS256', typ: 'JWT', ...(kid ? { kid } : {}) });
  const input = `${head}.${enc(claims)}`;
  const signature = sign('RSA-SHA256', Buffer.from(input), createPrivateKey(privateKeyPem));
  return `${input}.${signature.toString('base64url')}`;
}

const invalidGrant = (description: string) => new SimHttpError(400, 'invalid_grant', description);
const LIFETIME_MESSAGE =
  'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';
/** Clock skew allowed between the client signing the assertion and this server. */
const SKEW_SECONDS = 300;

function decodePart(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export async function createGoogleOAuthServer(
  options: GoogleOAuthServerOptions = {},
): Promise<GoogleOAuthServer> {
  const expiresIn = options.expiresIn ?? 3599;
  if (!(Number.isInteger(expiresIn) && expiresIn > 0)) {
    throw new RangeError(`expiresIn must be a positive integer of seconds, got ${expiresIn}`);
  }
  const style = options.expiresInStyle ?? 'alternate';
  const now = options.now ?? Date.now;
  const clients = new Map<string, string>();
  const refreshTokens = new Map<string, { clientId: string; subject?: string; scope: string }>();
  const accounts = new Map<string, { publicKey: KeyObject; subject?: string }>();
  const tokens = new TokenStore<Omit<GoogleTokenInfo, 'expiresAt'>>('ya29.', now);
  let answered = 0;
  let tokenUrl = '';

  const addRefreshToken = (clientId: string, token: string | GoogleRefreshToken) => {
    if (!clients.has(clientId)) throw new Error(`Google OAuth client ${clientId} is not registered`);
    const t = typeof token === 'string' ? { refreshToken: token } : token;
    refreshTokens.set(t.refreshToken, {
      clientId,
      subject: t.subject,
      scope: t.scope ?? DFATRAFFICKING_SCOPE,
    });
  };
  const registerClient = (client: GoogleClientRegistration) => {
    if (!client.clientId || !client.clientSecret)
      throw new Error('a Google client needs clientId and clientSecret');
    clients.set(client.clientId, client.clientSecret);
    for (const t of client.refreshTokens ?? []) addRefreshToken(client.clientId, t);
  };
  const registerServiceAccount = (account: GoogleServiceAccountRegistration) => {
    const publicKey =
      typeof account.publicKey === 'string' ? createPublicKey(account.publicKey) : account.publicKey;
    accounts.set(account.clientEmail, { publicKey, subject: account.subject });
  };
  for (const c of options.clients ?? []) registerClient(c);
  for (const a of options.serviceAccounts ?? []) registerServiceAccount(a);

  const answer = (info: Omit<GoogleTokenInfo, 'expiresAt'>, withScope: boolean) => {
    answered += 1;
    const asString = style === 'string' || (style === 'alternate' && answered % 2 === 0);
    return json(
      200,
      {
        access_token: tokens.issue(info, expiresIn),
        expires_in: asString ? String(expiresIn) : expiresIn,
        ...(withScope ? { scope: info.scopes.join(' ') } : {}),
        token_type: 'Bearer',
      },
      { headers: { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' } },
    );
  };

  const refreshGrant = (form: Record<string, string>, id: string | undefined, secret: string | undefined) => {
    if (!id) throw new SimHttpError(400, 'invalid_request', 'Missing required parameter: client_id');
    if (!clients.has(id)) throw new SimHttpError(401, 'invalid_client', 'The OAuth client was not found.');
    if (clients.get(id) !== secret) throw new SimHttpError(401, 'invalid_client', 'Unauthorized');
    if (!form.refresh_token)
      throw new SimHttpError(400, 'invalid_request', 'Missing required parameter: refresh_token');
    const grant = refreshTokens.get(form.refresh_token);
    if (!grant || grant.clientId !== id) throw invalidGrant('Token has been expired or revoked.');
    return answer(
      { principal: id, grant: 'refresh_token', scopes: grant.scope.split(' '), subject: grant.subject },
      true,
    );
  };

  const jwtGrant = (assertion: string | undefined) => {
    if (!assertion) throw new SimHttpError(400, 'invalid_request', 'Missing required parameter: assertion');
    const parts = assertion.split('.');
    const header = parts.length === 3 ? decodePart(parts[0]!) : undefined;
    const claims = parts.length === 3 ? decodePart(parts[1]!) : undefined;
    if (!header || !claims) throw invalidGrant('Invalid JWT: the assertion is not a JWS of three parts');
    if (header.alg !== 'RS256')
      throw invalidGrant(`Invalid JWT: alg must be RS256, got ${String(header.alg)}`);
    const account = typeof claims.iss === 'string' ? accounts.get(claims.iss) : undefined;
    if (!account) throw invalidGrant('Invalid grant: account not found');
    const signed = verify(
      'RSA-SHA256',
      Buffer.from(`${parts[0]}.${parts[1]}`),
      account.publicKey,
      Buffer.from(parts[2]!, 'base64url'),
    );
    if (!signed) throw invalidGrant('Invalid JWT Signature.');
    if (claims.aud !== tokenUrl)
      throw invalidGrant(`Invalid JWT: Failed audience check. aud must be ${tokenUrl}`);
    const { iat, exp } = claims;
    const nowSec = Math.floor(now() / 1000);
    if (
      typeof iat !== 'number' ||
      typeof exp !== 'number' ||
      exp <= nowSec ||
      exp - iat > 3600 ||
      exp <= iat ||
      iat > nowSec + SKEW_SECONDS
    ) {
      throw invalidGrant(LIFETIME_MESSAGE);
    }
    const scope = typeof claims.scope === 'string' ? claims.scope.trim() : '';
    if (!scope)
      throw new SimHttpError(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    return answer(
      {
        principal: claims.iss as string,
        grant: 'service_account',
        scopes: scope.split(/\s+/),
        subject: account.subject,
      },
      false,
    );
  };

  const server = await createSimServer({
    name: 'google',
    clock: options.clock,
    seed: options.seed,
    faults: options.faults,
    errorBody: oauthError,
    requestIdHeader: null,
    routes: [
      {
        method: 'POST',
        path: GOOGLE_TOKEN_PATH,
        operation: 'token',
        handler: (req) => {
          const form = tokenForm(req);
          if (form.grant_type === 'refresh_token') {
            const { id, secret } = clientCredentials(req, form);
            return refreshGrant(form, id, secret);
          }
          if (form.grant_type === JWT_BEARER_GRANT) return jwtGrant(form.assertion);
          if (!form.grant_type)
            throw new SimHttpError(400, 'invalid_request', 'Missing required parameter: grant_type');
          throw new SimHttpError(400, 'unsupported_grant_type', `Invalid grant_type: ${form.grant_type}`);
        },
      },
    ],
    admin: [
      { method: 'POST', path: '/expire-tokens', handler: () => json(200, { expired: tokens.expireAll() }) },
    ],
  });
  tokenUrl = `${server.url}${GOOGLE_TOKEN_PATH}`;

  return Object.assign(server, {
    tokenUrl,
    registerClient,
    addRefreshToken,
    registerServiceAccount,
    check: (t: string | undefined) => tokens.check(t),
    verify(t: string | undefined) {
      const c = tokens.check(t);
      return c.ok ? { ...c.info, expiresAt: c.expiresAt } : undefined;
    },
    expireAll: () => tokens.expireAll(),
  });
}
