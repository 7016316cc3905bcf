import type { SimClock } from './framework/clock.ts';
import { oauthError } from './framework/errors.ts';
import type { FaultConfigInput } from './framework/faults.ts';
import { json, SimHttpError, type SimRequest } from './framework/http.ts';
import type { Seed } from './framework/seed.ts';
import { createSimServer, type SimServer } from './framework/server.ts';
import { type TokenCheck, TokenStore } from './framework/tokens.ts';

/**
 * Login with Amazon token server: `POST /auth/o2/token` with a form-urlencoded refresh_token grant,
 * as Amazon Ads, SP-API and Amazon Business use it. Issues opaque `Atza|...` tokens that expire after
 * `expiresIn` REAL seconds (default 3600); provider simulators check them with `verify`/`check`.
 */

export interface LwaRefreshToken {
  refreshToken: string;
  /** Who the grant is for (the sandbox puts the connection id here); handed back by verify. */
  subject?: string;
}

export interface LwaClientRegistration {
  clientId: string;
  clientSecret: string;
  refreshTokens?: ReadonlyArray<string | LwaRefreshToken>;
}

export interface LwaTokenInfo {
  clientId: string;
  subject?: string;
  /** Real epoch ms. */
  expiresAt: number;
}

export interface LwaServerOptions {
  clients?: readonly LwaClientRegistration[];
  /** Real seconds a token lives (and the `expires_in` sent). Default 3600. */
  expiresIn?: number;
  clock?: SimClock;
  seed?: Seed;
  faults?: FaultConfigInput;
  /** Real epoch ms source for token expiry (tests). */
  now?: () => number;
}

export interface LwaServer extends SimServer {
  /** `${url}/auth/o2/token` */
  readonly tokenUrl: string;
  registerClient(client: LwaClientRegistration): void;
  /** Adds a refresh token to a registered client. */
  addRefreshToken(clientId: string, token: string | LwaRefreshToken): void;
  /** The token's grant when it is valid and unexpired; undefined otherwise. */
  verify(accessToken: string | undefined): LwaTokenInfo | undefined;
  /** Like verify, with the reason a token is refused (missing, unknown, expired). */
  check(accessToken: string | undefined): TokenCheck<Omit<LwaTokenInfo, 'expiresAt'>>;
  /** Expires every token issued so far; returns how many were still valid. */
  expireAll(): number;
}

export const LWA_TOKEN_PATH = '/auth/o2/token';

const oauthFail = (status: number, error: string, description: string) =>
  new SimHttpError(
    status,
    error,
    description,
    undefined,
    status === 401 ? { 'www-authenticate': 'Basic' } : {},
  );

/** client_id/client_secret from the form, or from HTTP Basic auth (RFC 6749 2.3.1 allows either). */
export function clientCredentials(
  req: SimRequest,
  form: Record<string, string>,
): { id?: string; secret?: string } {
  const basic = /^Basic\s+(\S+)$/i.exec(req.header('authorization') ?? '')?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      return {
        id: decodeURIComponent(decoded.slice(0, colon)),
        secret: decodeURIComponent(decoded.slice(colon + 1)),
      };
    }
  }
  return { id: form.client_id, secret: form.client_secret };
}

/** The form of a token request, or invalid_request naming what is wrong. */
export function tokenForm(req: SimRequest): Record<string, string> {
  if (req.contentType !== 'application/x-www-form-urlencoded') {
    throw oauthFail(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
  }
  return (req.body as Record<string, string> | undefined) ?? {};
}

export async function createLwaServer(options: LwaServerOptions = {}): Promise<LwaServer> {
  const expiresIn = options.expiresIn ?? 3600;
  if (!(Number.isInteger(expiresIn) && expiresIn > 0)) {
    throw new RangeError(`expiresIn must be a positive integer of seconds, got ${expiresIn}`);
  }
  const clients = new Map<string, string>();
  const refreshTokens = new Map<string, { clientId: string; subject?: string }>();
  const tokens = new TokenStore<Omit<LwaTokenInfo, 'expiresAt'>>('Atza|', options.now);

  const addRefreshToken = (clientId: string, token: string | LwaRefreshToken) => {
    if (!clients.has(clientId)) throw new Error(`LWA client ${clientId} is not registered`);
    const t = typeof token === 'string' ? { refreshToken: token } : token;
    refreshTokens.set(t.refreshToken, { clientId, subject: t.subject });
  };
  const registerClient = (client: LwaClientRegistration) => {
    if (!client.clientId || !client.clientSecret)
      throw new Error('an LWA client needs clientId and clientSecret');
    clients.set(client.clientId, client.clientSecret);
    for (const t of client.refreshTokens ?? []) addRefreshToken(client.clientId, t);
  };
  for (const c of options.clients ?? []) registerClient(c);

  const server = await createSimServer({
    name: 'lwa',
    clock: options.clock,
    seed: options.seed,
    faults: options.faults,
    errorBody: oauthError,
    requestIdHeader: 'x-amzn-RequestId',
    routes: [
      {
        method: 'POST',
        path: LWA_TOKEN_PATH,
        operation: 'token',
        handler: (req) => {
          const form = tokenForm(req);
          if (!form.grant_type) {
            throw oauthFail(
              400,
              'invalid_request',
              'The request is missing a required parameter : grant_type',
            );
          }
          if (form.grant_type !== 'refresh_token') {
            throw oauthFail(
              400,
              'unsupported_grant_type',
              `The grant type ${form.grant_type} is not supported`,
            );
          }
          const { id, secret } = clientCredentials(req, form);
          if (!id)
            throw oauthFail(
              400,
              'invalid_request',
              'The request is missing a required parameter : client_id',
            );
          if (clients.get(id) === undefined || clients.get(id) !== secret) {
            throw oauthFail(401, 'invalid_client', 'Client authentication failed');
          }
          if (!form.refresh_token) {
            throw oauthFail(
              400,
              'invalid_request',
              'The request is missing a required parameter : refresh_token',
            );
          }
          const grant = refreshTokens.get(form.refresh_token);
          if (!grant || grant.clientId !== id) {
            throw oauthFail(
              400,
              'invalid_grant',
              'The request has an invalid grant parameter : refresh_token',
            );
          }
          const accessToken = tokens.issue({ clientId: id, subject: grant.subject }, expiresIn);
          return json(
            200,
            {
              access_token: accessToken,
              refresh_token: form.refresh_token,
              token_type: 'bearer',
              expires_in: expiresIn,
            },
            { headers: { 'cache-control': 'no-store', pragma: 'no-cache' } },
          );
        },
      },
    ],
    admin: [
      { method: 'POST', path: '/expire-tokens', handler: () => json(200, { expired: tokens.expireAll() }) },
    ],
  });

  return Object.assign(server, {
    tokenUrl: `${server.url}${LWA_TOKEN_PATH}`,
    registerClient,
    addRefreshToken,
    check: (t: string | undefined) => tokens.check(t),
    verify(t: string | undefined) {
      const c = tokens.check(t);
      return c.ok ? { ...c.info, expiresAt: c.expiresAt } : undefined;
    },
    expireAll: () => tokens.expireAll(),
  });
}
