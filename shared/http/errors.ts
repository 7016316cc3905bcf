import type { JobMessageInput } from '../jobs/messages.ts';
import { redactText } from '../log/redact.ts';

/**
 * Errors the HTTP layer raises. Every message is built from redacted parts, so none of them can carry a
 * token, a client secret or a URL signature, whatever the provider echoed back.
 */

/** A provider answer that will not get better by retrying now: a non-retried 4xx, or retries exhausted. */
export class ProviderError extends Error {
  override name = 'ProviderError';
  readonly retryable = false;
  readonly provider: string;
  readonly connection: string;
  readonly operation: string;
  /** HTTP status; 0 when no answer came (a network error that was not retried, or retried to exhaustion). */
  readonly status: number;
  /** The provider's error code (or the network error code, or the status text). */
  readonly code: string;
  /** The provider's own message, redacted. */
  readonly providerMessage: string;
  /** The provider's details field when it sent one, redacted. */
  readonly details?: string;
  /** Attempts made before giving up (1 when it failed at once). */
  readonly attempts: number;
  /** A call that creates something failed in a way that leaves unknown whether it was acted on. */
  readonly ambiguous: boolean;
  /** The provider said "slow down" (a 429, or an answer the spec classifies so) until the retries ran out. */
  readonly throttled: boolean;

  constructor(init: {
    ambiguous?: boolean;
    throttled?: boolean;
    provider: string;
    connection: string;
    operation: string;
    status: number;
    code: string;
    message: string;
    details?: string;
    attempts?: number;
    cause?: unknown;
  }) {
    const providerMessage = redactText(init.message);
    const details = init.details === undefined ? undefined : redactText(init.details);
    const attempts = init.attempts ?? 1;
    const code = redactText(init.code);
    const statusPart = init.status ? `HTTP ${init.status}` : 'no answer';
    const exhausted = attempts > 1 ? ` after ${attempts} attempts` : '';
    super(
      `${init.provider}/${init.connection} ${init.operation}: ${statusPart} ${code}: ${providerMessage}` +
        `${details && details !== providerMessage ? ` (${details})` : ''}${exhausted}`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.provider = init.provider;
    this.connection = init.connection;
    this.operation = init.operation;
    this.status = init.status;
    this.code = code;
    this.providerMessage = providerMessage;
    if (details !== undefined) this.details = details;
    this.attempts = attempts;
    this.ambiguous = init.ambiguous ?? false;
    this.throttled = init.throttled ?? init.status === 429;
  }
}

export type DeferReason = 'throttled' | 'unavailable' | 'budget' | 'export-pending';

/**
 * "Do not sleep here": the rest of the work should run again at retryAt. The handler frame turns it into a
 * delayed message (the continuation when one is attached, else the message being handled).
 */
export class DeferError extends Error {
  override name = 'DeferError';
  readonly operation: string;
  readonly retryAt: Date;
  readonly reason: DeferReason;
  readonly continuation?: JobMessageInput;

  constructor(operation: string, retryAt: Date, reason: DeferReason, continuation?: JobMessageInput) {
    super(`${operation}: deferred until ${retryAt.toISOString()} (${reason})`);
    this.operation = operation;
    this.retryAt = retryAt;
    this.reason = reason;
    if (continuation !== undefined) this.continuation = continuation;
  }

  /** A copy carrying the message to re-enqueue (the cursor where this work stopped). */
  withContinuation(message: JobMessageInput): DeferError {
    return new DeferError(this.operation, this.retryAt, this.reason, message);
  }

  /** Whole seconds from now until retryAt, at least 0. */
  delaySeconds(nowMs: number = Date.now()): number {
    return Math.max(0, Math.ceil((this.retryAt.getTime() - nowMs) / 1000));
  }
}

/** A 2xx answer that does not fit the schema (or is not JSON). The raw body is kept for a look later. */
export class PayloadError extends Error {
  override name = 'PayloadError';
  readonly operation: string;
  readonly rawBody: string;
  readonly issues: string;

  constructor(operation: string, rawBody: string, issues: string) {
    const safeIssues = redactText(issues);
    super(`${operation}: the answer does not fit the expected shape: ${safeIssues}`);
    this.operation = operation;
    this.rawBody = rawBody;
    this.issues = safeIssues;
  }
}

/** The token endpoint refused the credentials (invalid_grant, invalid_client...), or stayed unavailable. */
export class AuthError extends Error {
  override name = 'AuthError';
  readonly connection: string;
  /** The OAuth error code (invalid_grant...), or http_<status> / network code when there was none. */
  readonly oauthError: string;
  readonly description?: string;
  /** True when the endpoint was unavailable (5xx, network) rather than refusing: a later attempt may work. */
  readonly transient: boolean;

  constructor(init: {
    connection: string;
    oauthError: string;
    description?: string;
    transient?: boolean;
    cause?: unknown;
  }) {
    const oauthError = redactText(init.oauthError);
    const description = init.description === undefined ? undefined : redactText(init.description);
    super(
      `token request for connection "${init.connection}" failed: ${oauthError}${description ? ` (${description})` : ''}`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.connection = init.connection;
    this.oauthError = oauthError;
    if (description !== undefined) this.description = description;
    this.transient = init.transient ?? false;
  }
}

/** A download URL (or a redirect hop) that is not https or not on the provider's allowlist. */
export class DownloadRefusedError extends Error {
  override name = 'DownloadRefusedError';
  readonly operation: string;
  /** Host only: the query string of a pre-signed URL is a credential. */
  readonly host: string;
  readonly reason: string;

  constructor(operation: string, host: string, reason: string) {
    super(`${operation}: download refused for host "${host}": ${reason}`);
    this.operation = operation;
    this.host = host;
    this.reason = reason;
  }
}

/** A download URL answered as expired: ask the provider for a fresh one. */
export class ExpiredUrlError extends Error {
  override name = 'ExpiredUrlError';
  readonly operation: string;
  readonly status: number;

  constructor(operation: string, status: number) {
    super(`${operation}: the download URL has expired (HTTP ${status}); ask for a fresh one`);
    this.operation = operation;
    this.status = status;
  }
}

/**
 * Socket-level failures worth another attempt: the connection broke, timed out, or DNS hiccuped.
 * ECONNREFUSED and ENOTFOUND are not retried in-process: they mean nothing listens at that address (a wrong
 * endpoint, a stopped simulator), which sleeping inside the Lambda's budget will not fix; the queue's own
 * redelivery covers the rare transient case.
 */
const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  // request.ts's own timeouts (connect, headers, a stalled body).
  'HTTP_CONNECT_TIMEOUT',
  'HTTP_HEADERS_TIMEOUT',
  'HTTP_BODY_TIMEOUT',
]);

export function networkErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isRetryableNetworkError(err: unknown): boolean {
  const code = networkErrorCode(err);
  return code !== undefined && RETRYABLE_NETWORK_CODES.has(code);
}
