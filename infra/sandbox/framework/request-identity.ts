import { createHash } from 'node:crypto';

/**
 * What makes two requests "the same request" across runs: fault decisions, request ids and the ids a
 * simulator mints hang on it, so it must hold nothing a client computes from its clock or from random
 * bytes. Pre-signed URLs carry their signing time, expiry and signature in the query; OAuth bodies
 * carry signed JWTs whose iat/exp move with the clock. Those are left out (a JWT keeps the claims that
 * say who it is for); everything else of the method, path, query and body counts.
 */

/** Parameter names (case-insensitive) that never count: signatures, signing times, expiries, tokens, nonces. */
export const VOLATILE_PARAMS: readonly string[] = [
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-security-token',
  'x-amz-signature',
  'x-amz-signedheaders',
  'x-goog-algorithm',
  'x-goog-credential',
  'x-goog-date',
  'x-goog-expires',
  'x-goog-signature',
  'x-goog-signedheaders',
  'awsaccesskeyid',
  'expires',
  'signature',
  'access_token',
  'id_token',
  'nonce',
  'timestamp',
  // jQuery-style cache buster.
  '_',
];

const VOLATILE = new Set(VOLATILE_PARAMS);
const VOLATILE_PATTERN = /signature|nonce/i;

/** JWT claims that move with the clock or are random per token. */
const VOLATILE_CLAIMS = new Set(['iat', 'exp', 'nbf', 'jti', 'nonce']);

export interface IdentityInput {
  method: string;
  /** Path as sent, without the query. */
  path: string;
  searchParams: URLSearchParams;
  rawBody: Buffer;
  /** Media type of the body, lower case, without parameters. */
  contentType?: string;
}

function isVolatile(name: string, extra: ReadonlySet<string>): boolean {
  const lower = name.toLowerCase();
  return VOLATILE.has(lower) || extra.has(lower) || VOLATILE_PATTERN.test(name);
}

/** `jwt:{claims}` without the clock-bound ones, for a value shaped like a JWS; else the value itself. */
function stableValue(value: string): string {
  const parts = value.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) return value;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (!claims || typeof claims !== 'object' || Array.isArray(claims)) return value;
    const kept = Object.entries(claims).filter(([k]) => !VOLATILE_CLAIMS.has(k));
    return `jwt:${canonicalJson(Object.fromEntries(kept), new Set())}`;
  } catch {
    return value;
  }
}

function stablePairs(pairs: Iterable<[string, string]>, extra: ReadonlySet<string>): string {
  const kept = [...pairs]
    .filter(([k]) => !isVolatile(k, extra))
    .map(([k, v]): [string, string] => [k, stableValue(v)])
    .sort(([a, x], [b, y]) => (a === b ? x.localeCompare(y) : a.localeCompare(b)));
  return String(new URLSearchParams(kept));
}

/** JSON with sorted keys, volatile keys left out at any depth. */
function canonicalJson(value: unknown, extra: ReadonlySet<string>): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v, extra)).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([k]) => !isVolatile(k, extra))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v, extra)}`).join(',')}}`;
  }
  return typeof value === 'string' ? JSON.stringify(stableValue(value)) : JSON.stringify(value);
}

function stableBody(raw: Buffer, contentType: string | undefined, extra: ReadonlySet<string>): string {
  if (raw.length === 0) return '';
  const text = raw.toString('utf8');
  if (contentType === 'application/x-www-form-urlencoded') {
    return stablePairs(new URLSearchParams(text), extra);
  }
  if (contentType === 'application/json' || contentType?.endsWith('+json')) {
    try {
      return canonicalJson(JSON.parse(text), extra);
    } catch {
      // Not JSON after all: the bytes are the identity.
    }
  }
  return text;
}

/**
 * The request's identity, stable across runs: `GET /path?sorted&query#bodydigest`, without the
 * VOLATILE_PARAMS (and `extraVolatile`, names a route adds) in the query or in a form or JSON body.
 */
export function requestIdentity(input: IdentityInput, extraVolatile: readonly string[] = []): string {
  const extra = new Set(extraVolatile.map((n) => n.toLowerCase()));
  const query = stablePairs(input.searchParams, extra);
  const body = stableBody(input.rawBody, input.contentType, extra);
  const digest = body ? createHash('sha1').update(body).digest('base64url') : '';
  return `${input.method} ${input.path}?${query}#${digest}`;
}
