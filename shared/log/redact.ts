/**
 * Keeps credentials out of logs and error messages: access/refresh tokens, client secrets, private keys and
 * the signing parts of pre-signed URLs. Everything that leaves the process as text goes through here.
 */

export const REDACTED = '[REDACTED]';

/** Object keys whose values are always secret, compared without case, dashes or underscores. */
const SECRET_KEYS = new Set(
  [
    'authorization',
    'proxy-authorization',
    'x-amz-access-token',
    'x-amz-security-token',
    'x-api-key',
    'cookie',
    'set-cookie',
    'access_token',
    'refresh_token',
    'id_token',
    'client_secret',
    'assertion',
    'private_key',
    'password',
    'token',
    'secret',
    'api_key',
    'session_token',
    'secret_access_key',
  ].map(normalizeKey),
);

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(normalizeKey(key));
}

/** Query or form parameters whose values are credentials (pre-signed URL signatures, tokens in forms). */
const SECRET_PARAMS = [
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
  'Signature',
  'Key-Pair-Id',
  'Policy',
  'sig',
  'access_token',
  'refresh_token',
  'id_token',
  'client_secret',
  'assertion',
  'token',
  'AWSAccessKeyId',
  'GoogleAccessId',
  'X-Goog-Signature',
  'X-Goog-Credential',
];
const paramAlternation = SECRET_PARAMS.map((p) => p.replace(/-/g, '\\-')).join('|');

const JSON_KEY_NAMES = [
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'id_token',
  'client_secret',
  'clientSecret',
  'assertion',
  'private_key',
  'privateKey',
  'password',
  'token',
  'authorization',
  'x-amz-access-token',
].join('|');

/** Each rule rewrites one shape of secret found in free text. Order matters: structured shapes first. */
const TEXT_RULES: Array<[RegExp, string]> = [
  // PEM private keys (service-account JSON pasted into a message).
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, REDACTED],
  // "key": "value" inside JSON text (a response or request body quoted in a message), escaped quotes included.
  [
    new RegExp(`(\\\\?"(?:${JSON_KEY_NAMES})\\\\?"\\s*:\\s*\\\\?")(?:[^"\\\\]|\\\\(?!"))*`, 'gi'),
    `$1${REDACTED}`,
  ],
  // name=value in URLs, form bodies and header-ish text.
  [new RegExp(`((?:^|[?&;\\s,'"(])(?:${paramAlternation})=)[^&#\\s"'<>),]*`, 'gi'), `$1${REDACTED}`],
  // The same, URL-encoded once (a pre-signed URL carried as a query parameter of another URL).
  [new RegExp(`((?:%3F|%26)(?:${paramAlternation})%3D)(?:(?!%26)[^&#\\s"'<>])*`, 'gi'), `$1${REDACTED}`],
  // Authorization header values written out as text.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/|]+=*/g, `$1 ${REDACTED}`],
  [/(x-amz-access-token|authorization)(\s*[:=]\s*)[^\s,;"']+/gi, `$1$2${REDACTED}`],
  // Token shapes recognisable on their own: LWA access/refresh tokens, Google access and refresh tokens, JWTs.
  [/\bAtz[ar]\|[^\s"'&,;<>)]+/g, REDACTED],
  [/\bya29\.[A-Za-z0-9\-_.]+/g, REDACTED],
  [/\b1\/\/[A-Za-z0-9\-_]{20,}/g, REDACTED],
  [/\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+/g, REDACTED],
  // Credentials in a URL's userinfo.
  [/(\/\/[^/\s:@]+:)[^@/\s]+@/g, `$1${REDACTED}@`],
];

/** Redacts secrets found in free text (messages, bodies, URLs). */
export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of TEXT_RULES) out = out.replace(pattern, replacement);
  return out;
}

/** A URL with its signing parameters and userinfo password replaced; safe to log. */
export function redactUrl(url: string | URL): string {
  return redactText(typeof url === 'string' ? url : url.href);
}

/**
 * Deep copy of a value with secrets replaced: secret-named keys lose their value, strings are scrubbed,
 * Errors become plain objects (name, message, stack, own fields, cause) so they can be serialised.
 */
export function redact<T>(value: T): T {
  return redactValue(value, new WeakMap()) as T;
}

function redactValue(value: unknown, seen: WeakMap<object, unknown>): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return seen.get(value);
  if (value instanceof URL) return redactUrl(value);
  if (value instanceof Date) return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(redactValue(item, seen));
    return out;
  }
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  if (value instanceof Error) {
    out.name = value.name;
    out.message = redactText(value.message);
    if (value.stack) out.stack = redactText(value.stack);
  }
  const entries =
    value instanceof Map
      ? [...value.entries()].map(([k, v]) => [String(k), v] as const)
      : Object.entries(value);
  for (const [key, v] of entries) {
    out[key] = isSecretKey(key) && v !== undefined && v !== null ? REDACTED : redactValue(v, seen);
  }
  if (value instanceof Error && value.cause !== undefined) out.cause = redactValue(value.cause, seen);
  return out;
}

/**
 * A JSON.stringify replacer with the same rules, for serialisers that walk the value themselves
 * (the Powertools logger calls it for every key before its own formatting).
 */
export function redactingReplacer(key: string, value: unknown): unknown {
  if (key !== '' && value !== undefined && value !== null && isSecretKey(key)) return REDACTED;
  if (typeof value === 'string') return redactText(value);
  if (value instanceof URL) return redactUrl(value);
  return value;
}
