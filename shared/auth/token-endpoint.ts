import { setTimeout as sleepMs } from 'node:timers/promises';
import type { HttpAgents } from '../http/agent.ts';
import { AuthError, isRetryableNetworkError, networkErrorCode } from '../http/errors.ts';
import { readText, request } from '../http/request.ts';
import { backoffMs, parseRetryAfter } from '../http/retry.ts';
import type { IssuedToken } from './types.ts';

export interface TokenEndpointOptions {
  /** Connection id: named in errors (the credentials never are). */
  connection: string;
  url: string;
  /** Attempts in all when the endpoint answers 5xx/429 or the connection breaks. */
  maxAttempts?: number;
  /** Keep-alive pools to use instead of the container's shared ones. */
  agents?: HttpAgents;
  sleep?: (ms: number) => Promise<unknown>;
  random?: () => number;
}

const RETRY = { baseMs: 200, capMs: 2_000 };
/** A longer Retry-After from a token endpoint is not waited out inside an invocation. */
const MAX_WAIT_MS = 5_000;

function readExpiresIn(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * POSTs an OAuth token request (form-urlencoded) and reads `{access_token, expires_in}`. A refusal
 * (`{error, error_description}`, any 4xx) is an AuthError at once; 5xx, 429 and broken connections are
 * retried a couple of times, then reported as a transient AuthError. The form (secrets) is never logged.
 */
export async function postTokenForm(
  form: Record<string, string>,
  opts: TokenEndpointOptions,
): Promise<IssuedToken> {
  const maxAttempts = opts.maxAttempts ?? 3;
  const sleep = opts.sleep ?? sleepMs;
  const random = opts.random ?? Math.random;
  const body = new URLSearchParams(form).toString();
  for (let attempt = 1; ; attempt++) {
    let status: number;
    let text: string;
    let retryAfter: string | undefined;
    try {
      const res = await request(opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
          accept: 'application/json',
        },
        body,
        ...(opts.agents ? { agents: opts.agents } : {}),
      });
      status = res.statusCode;
      const ra = res.headers['retry-after'];
      retryAfter = Array.isArray(ra) ? ra[0] : ra;
      text = await readText(res.body);
    } catch (err) {
      if (isRetryableNetworkError(err) && attempt < maxAttempts) {
        await sleep(backoffMs(attempt - 1, RETRY, random));
        continue;
      }
      throw new AuthError({
        connection: opts.connection,
        oauthError: networkErrorCode(err) ?? 'network_error',
        description: 'the token endpoint could not be reached',
        transient: isRetryableNetworkError(err),
      });
    }

    const json = parseJson(text);
    if (status >= 200 && status < 300) {
      const accessToken = json?.access_token;
      const expiresIn = readExpiresIn(json?.expires_in);
      if (typeof accessToken !== 'string' || accessToken === '' || expiresIn === undefined) {
        throw new AuthError({
          connection: opts.connection,
          oauthError: 'invalid_response',
          description: 'the token answer lacks access_token or expires_in',
        });
      }
      return { accessToken, expiresIn };
    }

    if ((status >= 500 || status === 429) && attempt < maxAttempts) {
      const wait = backoffMs(attempt - 1, RETRY, random, parseRetryAfter(retryAfter));
      if (wait <= MAX_WAIT_MS) {
        await sleep(wait);
        continue;
      }
    }
    const oauthError = typeof json?.error === 'string' ? json.error : `http_${status}`;
    const description =
      typeof json?.error_description === 'string'
        ? json.error_description
        : json === undefined
          ? text.slice(0, 200) || undefined
          : undefined;
    throw new AuthError({
      connection: opts.connection,
      oauthError,
      ...(description ? { description } : {}),
      transient: status >= 500 || status === 429,
    });
  }
}
