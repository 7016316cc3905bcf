import type { Readable } from 'node:stream';
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { TokenSource } from '../auth/types.ts';
import { redact, redactUrl } from '../log/redact.ts';
import type {
  Budget,
  DownloadResponse,
  HttpResponse,
  Log,
  ProviderHttp,
  RequestOptions,
} from '../providers/types.ts';
import type { HttpAgents } from './agent.ts';
import { checkDownloadUrl, loopbackDownloadsAllowed } from './allowlist.ts';
import { type ErrorParser, parseProviderErrorBody, statusText } from './error-body.ts';
import {
  DeferError,
  type DeferReason,
  DownloadRefusedError,
  ExpiredUrlError,
  isRetryableNetworkError,
  networkErrorCode,
  PayloadError,
  ProviderError,
} from './errors.ts';
import { looksLikeExpiredToken, looksLikeExpiredUrl } from './expiry.ts';
import { discard, type HttpMethod, type ResponseData, readText, request } from './request.ts';
import { backoffMs, DEFAULT_RETRY, parseRetryAfter, type RetryPolicy } from './retry.ts';
import type { RateKey, Reservation, SharedPlan, SharedRate } from './shared-rate.ts';
import { type BucketRegistry, type BucketSpec, bucketFor, type TokenBucket } from './token-bucket.ts';

export type QueryArrayStyle = 'comma' | 'repeat';

/** An operation's pacing (the provider's documented rate and burst) and how its array parameters go out. */
export interface OperationSpec extends BucketSpec {
  queryArrays?: QueryArrayStyle;
  /**
   * False for calls that create something at the provider (an export, a report). Such a call is never
   * resent after an answer that may or may not have been acted on (5xx, a broken connection, a cut-short
   * body): the error says `ambiguous`, and the caller looks the job up instead. A 429 is still retried
   * (the provider says it did nothing).
   */
  idempotent?: boolean;
  /**
   * Paced by the connection's rate plan shared by all its containers (HttpClientOptions.sharedRate) instead
   * of each container's own bucket. It costs a state-table write a request: for slow operations called per
   * page or per job, where one burst sent by every container would be the 429s.
   */
  shared?: boolean;
}

export interface HttpEvent {
  type: 'retry' | 'throttle' | 'defer';
  operation: string;
  status?: number;
  waitMs?: number;
  reason?: DeferReason;
}

export interface HttpClientOptions {
  provider: string;
  connection: string;
  /** API root, no trailing slash needed; request paths are appended to it. */
  baseUrl: string;
  /** Every operation request() may name, with its rate limit. Downloads may name one to be paced too. */
  operations: Record<string, OperationSpec>;
  auth?: { style: 'bearer' | 'x-amz-access-token'; tokens: TokenSource };
  /** Sent with every request() (never with downloads, which go to other hosts). */
  defaultHeaders?: Record<string, string>;
  budget: Budget;
  /** A wait longer than this is handed back to the queue (DeferError) instead of slept. Default 5000. */
  deferThresholdMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Hosts download() may reach: exact names or patterns ('*.s3.amazonaws.com'). */
  downloadHosts: readonly string[];
  /** Also allow http(s)://127.0.0.1, localhost, [::1]. Default: ALLOW_LOOPBACK_DOWNLOADS=1. */
  allowLoopback?: boolean;
  /** Array query parameters: 'comma' (a=x,y, the default) or 'repeat' (a=x&a=y); operations may override. */
  queryArrays?: QueryArrayStyle;
  onEvent?: (e: HttpEvent) => void;
  log?: Log;
  errorParser?: ErrorParser;
  /** Whether a 403 means the access token expired (then it is refreshed once). 401 always is. */
  isExpiredTokenError?: (status: number, body: string) => boolean;
  /**
   * Whether an answer other than 429 means "slow down" (Google answers a spent quota with 403 and reason
   * rateLimitExceeded as often as with 429): it is then paced, retried and handed back like a 429.
   */
  isThrottleError?: (status: number, body: string) => boolean;
  random?: () => number;
  now?: () => number;
  sleep?: (ms: number) => Promise<unknown>;
  /** Keep-alive pools to use instead of the container's shared ones. */
  agents?: HttpAgents;
  /**
   * Where operations marked `shared` take their slots (the state table's rate budgets). When it cannot be
   * reached they pace on this container's bucket (its full burst, as before plans were shared) instead:
   * never blocked, at worst less shared.
   */
  sharedRate?: SharedRate;
  /**
   * Containers that may call this connection at once (the provider's maxConcurrency): each container's own
   * buckets start with, and hold, that share of the burst, so together they send one burst. Default 1.
   */
  containers?: number;
  /** This container's buckets (default: the module's, which live as long as the container). */
  buckets?: BucketRegistry;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY = 64 * 1024;
const USER_AGENT = 'invoice-ingest/0.1';
/** setTimeout fires at once beyond this (a 32-bit delay); no budget is that long. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Target {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
  auth: boolean;
}

type Answer =
  | { kind: 'text'; status: number; headers: Record<string, string>; text: string }
  | { kind: 'stream'; status: number; headers: Record<string, string>; stream: Readable };

function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function lowerKeys(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v;
  return out;
}

/** Reads at most `limit` bytes of an error answer, then lets the socket go; a broken body reads as ''. */
async function readErrorBody(body: Readable, limit = MAX_ERROR_BODY): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      chunks.push(buf);
      size += buf.length;
      if (size >= limit) break;
    }
  } catch {
    // The status is what we act on; a body cut short only loses detail.
  } finally {
    if (!body.destroyed) body.destroy();
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

/** Comma-joined arrays keep literal commas (what the providers document), items are encoded one by one. */
export function buildQuery(query: RequestOptions<unknown>['query'], arrays: QueryArrayStyle): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    const k = encodeURIComponent(key);
    if (Array.isArray(value)) {
      const items = value as readonly string[];
      if (items.length === 0) continue;
      if (arrays === 'repeat') for (const item of items) parts.push(`${k}=${encodeURIComponent(item)}`);
      else parts.push(`${k}=${items.map((i) => encodeURIComponent(i)).join(',')}`);
    } else {
      parts.push(`${k}=${encodeURIComponent(String(value))}`);
    }
  }
  return parts.join('&');
}

/**
 * The provider HTTP client: paces each operation with its token bucket, retries what is worth retrying
 * inside the time budget, hands longer waits back to the queue as DeferError, refreshes the access token
 * once when it is refused, validates JSON answers, and streams downloads from allowlisted hosts only.
 */
export class HttpClient implements ProviderHttp {
  readonly #o: HttpClientOptions;
  readonly #retry: RetryPolicy;
  readonly #deferThresholdMs: number;
  readonly #allowLoopback: boolean;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<unknown>;
  readonly #random: () => number;
  readonly #parseError: ErrorParser;
  readonly #expiredToken: (status: number, body: string) => boolean;
  readonly #throttleError: (status: number, body: string) => boolean;

  constructor(opts: HttpClientOptions) {
    this.#o = opts;
    this.#retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.#deferThresholdMs = opts.deferThresholdMs ?? 5_000;
    this.#allowLoopback = opts.allowLoopback ?? loopbackDownloadsAllowed();
    this.#now = opts.now ?? Date.now;
    this.#sleep = opts.sleep ?? sleepMs;
    this.#random = opts.random ?? Math.random;
    this.#parseError = opts.errorParser ?? parseProviderErrorBody;
    this.#expiredToken = opts.isExpiredTokenError ?? looksLikeExpiredToken;
    this.#throttleError = opts.isThrottleError ?? (() => false);
  }

  async request<T = unknown>(operation: string, opts: RequestOptions<T>): Promise<HttpResponse<T>> {
    const spec = this.#o.operations[operation];
    if (!spec) {
      throw new Error(
        `${this.#o.provider}: operation "${operation}" is not declared in the client's operations`,
      );
    }
    const base = this.#o.baseUrl.replace(/\/+$/, '');
    const path = opts.path.startsWith('/') ? opts.path : `/${opts.path}`;
    const qs = buildQuery(opts.query, spec.queryArrays ?? this.#o.queryArrays ?? 'comma');
    const url = new URL(`${base}${path}${qs ? (path.includes('?') ? '&' : '?') + qs : ''}`);

    const headers: Record<string, string> = {
      'user-agent': USER_AGENT,
      accept: 'application/json',
      ...lowerKeys(this.#o.defaultHeaders),
      ...lowerKeys(opts.headers),
    };
    let body: string | undefined;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = opts.contentType ?? headers['content-type'] ?? 'application/json';
    }
    const answer = await this.#exchange(operation, {
      url,
      method: opts.method ?? (body !== undefined ? 'POST' : 'GET'),
      headers,
      ...(body !== undefined ? { body } : {}),
      auth: this.#o.auth !== undefined,
    });
    if (answer.kind !== 'text') throw new Error('unreachable: request() answers are read whole');
    const rawBody = answer.text;
    let data: unknown;
    if (rawBody.trim() !== '') {
      try {
        data = JSON.parse(rawBody);
      } catch {
        const type = answer.headers['content-type'] ?? 'no content type';
        throw new PayloadError(operation, rawBody, `not JSON (${type})`);
      }
    }
    if (opts.schema) {
      const parsed = opts.schema.safeParse(data);
      if (!parsed.success) throw new PayloadError(operation, rawBody, describeSchemaError(parsed.error));
      data = parsed.data;
    }
    return { status: answer.status, headers: answer.headers, data: data as T, rawBody };
  }

  async download(
    operation: string,
    url: string,
    opts: { headers?: Record<string, string>; auth?: boolean } = {},
  ): Promise<DownloadResponse> {
    const target = checkDownloadUrl(operation, url, this.#o.downloadHosts, this.#allowLoopback);
    if (opts.auth && !this.#o.auth)
      throw new Error(`${operation}: download asks for auth but the client has none`);
    const answer = await this.#exchange(
      operation,
      {
        url: target,
        method: 'GET',
        headers: { 'user-agent': USER_AGENT, ...lowerKeys(opts.headers) },
        auth: opts.auth === true,
      },
      true,
    );
    if (answer.kind !== 'stream') throw new Error('unreachable: downloads are streamed');
    const length = Number(answer.headers['content-length']);
    return {
      status: answer.status,
      stream: answer.stream,
      ...(Number.isFinite(length) && answer.headers['content-length'] !== undefined
        ? { contentLength: length }
        : {}),
      ...(answer.headers['content-type'] ? { contentType: answer.headers['content-type'] } : {}),
    };
  }

  /** One logical call: pacing, attempts, token refresh, redirects (downloads only), retries. */
  async #exchange(operation: string, target: Target, isDownload = false): Promise<Answer> {
    let { url, auth } = target;
    const headers = { ...target.headers };
    let retries = 0;
    let refreshed = false;
    let hops = 0;
    let pace = true;
    const once = this.#o.operations[operation]?.idempotent === false;

    for (;;) {
      if (pace) await this.#pace(operation);
      pace = true;

      let token: string | undefined;
      const sent = { ...headers };
      if (auth && this.#o.auth) {
        token = await this.#o.auth.tokens.get();
        if (this.#o.auth.style === 'bearer') sent.authorization = `Bearer ${token}`;
        else sent['x-amz-access-token'] = token;
      }

      // No call outlives the invocation's budget: the margin behind it is for handing the rest of the work
      // back to the queue. A download is let go once its body starts (the sink owns the copy from there).
      const deadline = new AbortController();
      const left = Math.min(Math.max(0, this.#o.budget.remainingMs()), MAX_TIMER_MS);
      const budgetTimer = setTimeout(() => deadline.abort(), left);
      budgetTimer.unref();
      try {
        let res: ResponseData;
        try {
          res = await request(url, {
            method: target.method as HttpMethod,
            headers: sent,
            ...(target.body !== undefined ? { body: target.body } : {}),
            ...(this.#o.agents ? { agents: this.#o.agents } : {}),
            signal: deadline.signal,
          });
        } catch (err) {
          if (deadline.signal.aborted) this.#outOfBudget(operation, err, retries, once);
          retries = await this.#afterNetworkError(operation, err, retries, once);
          continue;
        }
        const status = res.statusCode;
        const resHeaders = flattenHeaders(res.headers);
        const told = this.#correctRate(operation, resHeaders);
        if (told) await this.#tellShared(operation, told);
        this.#debug('http answer', { operation, method: target.method, url: redactUrl(url), status });

        if (isDownload && REDIRECTS.has(status)) {
          await discard(res.body);
          const location = resHeaders.location;
          if (!location) throw this.#providerError(operation, status, 'redirect without a Location', retries);
          if (++hops > MAX_REDIRECTS) {
            throw new DownloadRefusedError(operation, url.host, `more than ${MAX_REDIRECTS} redirects`);
          }
          const next = checkDownloadUrl(
            operation,
            new URL(location, url),
            this.#o.downloadHosts,
            this.#allowLoopback,
          );
          if (next.host !== url.host) {
            // Credentials are for the host they were given for, not for wherever it redirects.
            auth = false;
            delete headers.authorization;
            delete headers['x-amz-access-token'];
          }
          url = next;
          pace = false;
          continue;
        }

        if (status >= 200 && status < 300) {
          if (isDownload) return { kind: 'stream', status, headers: resHeaders, stream: res.body };
          try {
            return { kind: 'text', status, headers: resHeaders, text: await readText(res.body) };
          } catch (err) {
            if (deadline.signal.aborted) this.#outOfBudget(operation, err, retries, once);
            retries = await this.#afterNetworkError(operation, err, retries, once);
            continue;
          }
        }

        const errorBody = await readErrorBody(res.body);
        if (
          token !== undefined &&
          !refreshed &&
          (status === 401 || (status === 403 && this.#expiredToken(status, errorBody)))
        ) {
          this.#o.auth?.tokens.invalidate(token);
          refreshed = true;
          this.#debug('access token refused, refreshing once', { operation, status });
          continue;
        }
        if (isDownload && looksLikeExpiredUrl(status, errorBody))
          throw new ExpiredUrlError(operation, status);
        const throttled = status === 429 || this.#throttleError(status, errorBody);
        if (throttled || status >= 500) {
          if (throttled) this.#emit({ type: 'throttle', operation, status });
          if (retries + 1 >= this.#retry.maxAttempts || (once && !throttled)) {
            throw this.#providerError(
              operation,
              status,
              errorBody,
              retries + 1,
              once && !throttled,
              throttled,
            );
          }
          const retryAfter = parseRetryAfter(resHeaders['retry-after'], this.#now());
          await this.#waitBeforeRetry(
            operation,
            retries,
            throttled ? 'throttled' : 'unavailable',
            status,
            retryAfter,
          );
          retries++;
          continue;
        }
        throw this.#providerError(operation, status, errorBody, retries + 1);
      } finally {
        clearTimeout(budgetTimer);
      }
    }
  }

  /**
   * The budget ran out with a call in flight: the rest is handed back to the queue, unless the call creates
   * something, which may then have been acted on or not (ambiguous: the caller looks the job up).
   */
  #outOfBudget(operation: string, err: unknown, retries: number, once: boolean): never {
    if (!once) this.#defer(operation, 0, 'budget');
    throw new ProviderError({
      ambiguous: true,
      provider: this.#o.provider,
      connection: this.#o.connection,
      operation,
      status: 0,
      code: 'BUDGET_EXHAUSTED',
      message: 'the time budget ran out with the call in flight',
      attempts: retries + 1,
      cause: redact(err),
    });
  }

  /** Retries a broken connection (returns the new retry count), or fails with the network code. */
  async #afterNetworkError(operation: string, err: unknown, retries: number, once = false): Promise<number> {
    const code = networkErrorCode(err) ?? (err instanceof Error ? err.name : 'Error');
    if (!isRetryableNetworkError(err) || retries + 1 >= this.#retry.maxAttempts || once) {
      throw new ProviderError({
        ...(once && isRetryableNetworkError(err) ? { ambiguous: true } : {}),
        provider: this.#o.provider,
        connection: this.#o.connection,
        operation,
        status: 0,
        code,
        message: err instanceof Error ? err.message : String(err),
        attempts: retries + 1,
        cause: redact(err),
      });
    }
    await this.#waitBeforeRetry(operation, retries, 'unavailable', undefined, undefined, code);
    return retries + 1;
  }

  /** Sleeps the backoff, or defers when the wait is too long for this invocation. */
  async #waitBeforeRetry(
    operation: string,
    retries: number,
    reason: DeferReason,
    status: number | undefined,
    retryAfterMs: number | undefined,
    networkCode?: string,
  ): Promise<void> {
    const wait = backoffMs(retries, this.#retry, this.#random, retryAfterMs);
    this.#deferIfTooLong(operation, wait, reason, status);
    this.#emit({ type: 'retry', operation, waitMs: wait, ...(status !== undefined ? { status } : {}) });
    this.#warn('retrying', { operation, status, networkCode, waitMs: wait, attempt: retries + 2 });
    await this.#sleep(wait);
  }

  /**
   * Takes a token (from the connection's shared plan when the operation's is shared, else from this
   * container's bucket), sleeping a short wait or deferring a long one.
   */
  async #pace(operation: string): Promise<void> {
    if (this.#o.budget.remainingMs() <= 0) this.#defer(operation, 0, 'budget');
    const bucket = this.#bucket(operation);
    if (!bucket) return;
    const shared = await this.#reserveShared(operation, bucket);
    if (shared && !shared.reserved) this.#defer(operation, shared.waitMs, 'throttled');
    // This container's bucket counts what it sent, through the shared plan or not: back from a spell
    // without the table (which did not see those requests), it keeps the container from a burst the
    // provider has not refilled. (A slot taken and then not used leaves the plan stricter, never looser.)
    const wait = Math.max(shared?.waitMs ?? 0, bucket.peek());
    if (wait > this.#pacingSleepMs(bucket.rate) || wait >= this.#o.budget.remainingMs()) {
      this.#defer(operation, wait, 'throttled');
    }
    bucket.take();
    if (wait > 0) await this.#sleep(wait);
  }

  /** The shared plan of an operation marked shared, and this container's view of it; undefined: none. */
  #sharedPlan(
    operation: string,
    bucket: TokenBucket,
  ): { shared: SharedRate; key: RateKey; plan: SharedPlan } | undefined {
    const spec = this.#o.operations[operation];
    const shared = this.#o.sharedRate;
    if (!spec?.shared || !shared) return undefined;
    return {
      shared,
      key: { provider: this.#o.provider, connection: this.#o.connection, operation },
      plan: { rate: bucket.rate, burst: spec.burst, told: bucket.told },
    };
  }

  /** A slot of the shared plan, for an operation marked shared; undefined: pace on the container's bucket. */
  async #reserveShared(operation: string, bucket: TokenBucket): Promise<Reservation | undefined> {
    const target = this.#sharedPlan(operation, bucket);
    if (!target) return undefined;
    const maxWaitMs = Math.min(this.#pacingSleepMs(bucket.rate), this.#o.budget.remainingMs() - 1);
    try {
      const r = await target.shared.reserve(target.key, target.plan, maxWaitMs);
      if (r.toldRate !== undefined && !bucket.told) {
        this.#debug('rate taken from the shared plan, as the provider told another container', {
          operation,
          from: bucket.rate,
          to: r.toldRate,
        });
        bucket.setRate(r.toldRate);
      }
      return r;
    } catch (err) {
      this.#warn('shared rate plan out of reach, pacing on this container alone', {
        operation,
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    }
  }

  /**
   * The longest wait for a token this client sleeps: the threshold, but nothing for an operation slower than
   * it (one request an interval longer than the threshold). There a shorter wait is only the rest of an
   * interval the invocation's own work filled; handed back, it costs a queue round trip a request at most,
   * and the tokens keep coming meanwhile, while slept it is billed and counted as the function's time.
   */
  #pacingSleepMs(rate: number): number {
    return 1000 / rate > this.#deferThresholdMs ? 0 : this.#deferThresholdMs;
  }

  #deferIfTooLong(operation: string, wait: number, reason: DeferReason, status?: number): void {
    if (wait > this.#deferThresholdMs || wait >= this.#o.budget.remainingMs()) {
      this.#defer(operation, wait, reason, status);
    }
  }

  #defer(operation: string, wait: number, reason: DeferReason, status?: number): never {
    this.#emit({
      type: 'defer',
      operation,
      waitMs: wait,
      reason,
      ...(status !== undefined ? { status } : {}),
    });
    this.#debug('deferring', { operation, waitMs: wait, reason, status });
    throw new DeferError(operation, new Date(this.#now() + wait), reason);
  }

  /** The operation's current pace (requests per second), as corrected by the provider's rate header. */
  rate(operation: string): number | undefined {
    return this.#bucket(operation)?.rate;
  }

  #bucket(operation: string): TokenBucket | undefined {
    const spec = this.#o.operations[operation];
    if (!spec) return undefined;
    // A shared operation's plan already splits its burst between the containers; its own bucket only counts
    // what this container sent (and paces it while the plan is out of reach).
    const split = spec.shared && this.#o.sharedRate ? 1 : Math.max(1, this.#o.containers ?? 1);
    const burst = Math.max(1, Math.floor(spec.burst / split));
    return bucketFor(
      `${this.#o.provider}:${this.#o.connection}:${operation}`,
      { rate: spec.rate, burst },
      this.#now,
      this.#o.buckets,
    );
  }

  /**
   * x-amzn-RateLimit-Limit is the seller's actual rate for this operation (requests per second). Returns
   * the operation's bucket when it is news: a rate this container had not been told (the same rate as the
   * default is news too, since the shared plan keeps a told rate over a default one).
   */
  #correctRate(operation: string, headers: Record<string, string>): TokenBucket | undefined {
    const value = headers['x-amzn-ratelimit-limit'];
    if (value === undefined) return undefined;
    const rate = Number.parseFloat(value);
    const bucket = this.#bucket(operation);
    if (!bucket || !(rate > 0) || !Number.isFinite(rate) || (rate === bucket.rate && bucket.told))
      return undefined;
    if (rate !== bucket.rate) {
      this.#debug('rate corrected by x-amzn-RateLimit-Limit', { operation, from: bucket.rate, to: rate });
    }
    bucket.setRate(rate);
    return bucket;
  }

  /** A told rate of a shared operation, written to the plan at once rather than with this container's next slot. */
  async #tellShared(operation: string, bucket: TokenBucket): Promise<void> {
    const target = this.#sharedPlan(operation, bucket);
    if (!target?.shared.tell) return;
    try {
      await target.shared.tell(target.key, target.plan);
    } catch (err) {
      // The next slot's reservation carries the told rate anyway; only the others learn it later.
      this.#warn('shared rate plan out of reach, the told rate not written to it', {
        operation,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  #providerError(
    operation: string,
    status: number,
    body: string,
    attempts: number,
    ambiguous = false,
    throttled = status === 429,
  ): ProviderError {
    const parsed = this.#parseError(body, status);
    return new ProviderError({
      ...(ambiguous ? { ambiguous } : {}),
      ...(throttled ? { throttled } : {}),
      provider: this.#o.provider,
      connection: this.#o.connection,
      operation,
      status,
      code: parsed?.code ?? statusText(status),
      message: parsed?.message ?? statusText(status),
      ...(parsed?.details !== undefined ? { details: parsed.details } : {}),
      attempts,
    });
  }

  #emit(e: HttpEvent): void {
    this.#o.onEvent?.(e);
  }

  #debug(message: string, extra: Record<string, unknown>): void {
    this.#o.log?.debug(
      message,
      redact({ provider: this.#o.provider, connection: this.#o.connection, ...extra }),
    );
  }

  #warn(message: string, extra: Record<string, unknown>): void {
    this.#o.log?.warn(
      message,
      redact({ provider: this.#o.provider, connection: this.#o.connection, ...extra }),
    );
  }
}

/** zod issues as "path: message" pairs; other validators' errors by their message. */
function describeSchemaError(error: unknown): string {
  const issues = (error as { issues?: Array<{ path?: PropertyKey[]; message?: string }> })?.issues;
  if (Array.isArray(issues) && issues.length > 0) {
    const shown = issues.slice(0, 10).map((i) => {
      const path = i.path?.length ? i.path.map(String).join('.') : '(root)';
      return `${path}: ${i.message ?? 'invalid'}`;
    });
    return `${shown.join('; ')}${issues.length > 10 ? ` (+${issues.length - 10} more)` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}
