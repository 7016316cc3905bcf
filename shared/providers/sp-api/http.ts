import { lwaTokenSource } from '../../auth/lwa.ts';
import { lwaSecretSchema } from '../../auth/secret-schemas.ts';
import type { ConnectionOf } from '../../config/schema.ts';
import { DOWNLOAD_HOSTS } from '../../http/allowlist.ts';
import { HttpClient, type HttpClientOptions } from '../../http/client.ts';
import { DeferError, ProviderError } from '../../http/errors.ts';
import type { JobMessageInput } from '../../jobs/messages.ts';
import type { HttpResponse, HttpRuntime, ProviderHttp, RequestOptions } from '../types.ts';
import { type ApiRequest, OPERATIONS, type OperationName, SP_API_HOST } from './api.ts';

export type SpApiConnection = ConnectionOf<'sp-api'>;

/**
 * The SP-API client for one connection: LWA token in `x-amz-access-token` (no SigV4 for this API), one
 * token bucket per operation from the usage plans, S3 hosts for the export documents.
 */
export function spApiHttp(
  connection: SpApiConnection,
  secret: Record<string, string>,
  runtime: HttpRuntime,
  overrides: Partial<HttpClientOptions> = {},
): ProviderHttp {
  const lwa = lwaSecretSchema.parse(secret);
  return new HttpClient({
    provider: 'sp-api',
    connection: connection.id,
    baseUrl: connection.endpoints?.api ?? SP_API_HOST,
    operations: OPERATIONS,
    auth: {
      style: 'x-amz-access-token',
      tokens: lwaTokenSource({
        provider: 'sp-api',
        connection: connection.id,
        region: 'NA',
        secret: lwa,
        ...(connection.endpoints?.token ? { tokenUrl: connection.endpoints.token } : {}),
      }),
    },
    budget: runtime.budget,
    log: runtime.log,
    onEvent: runtime.onEvent,
    downloadHosts: [...DOWNLOAD_HOSTS['sp-api'], ...runtime.extraDownloadHosts],
    allowLoopback: runtime.allowLoopback,
    deferThresholdMs: runtime.deferThresholdMs,
    ...overrides,
  });
}

/** Sends a built request. */
export function send<T>(
  http: ProviderHttp,
  req: ApiRequest,
  schema?: RequestOptions<T>['schema'],
): Promise<HttpResponse<T>> {
  return http.request<T>(req.operation, {
    method: req.method,
    path: req.path,
    ...(req.query ? { query: req.query } : {}),
    ...(req.json !== undefined ? { json: req.json } : {}),
    ...(schema ? { schema } : {}),
  });
}

/** Requests per second the provider last announced for an operation (x-amzn-RateLimit-Limit), per connection. */
const announcedRates = new Map<string, number>();

export function noteRate(connection: string, operation: string, headers: Record<string, string>): void {
  const rate = Number.parseFloat(headers['x-amzn-ratelimit-limit'] ?? '');
  if (rate > 0 && Number.isFinite(rate)) announcedRates.set(`${connection}:${operation}`, rate);
}

export function currentRate(connection: string, operation: keyof typeof OPERATIONS): number {
  return announcedRates.get(`${connection}:${operation}`) ?? OPERATIONS[operation].rate;
}

/** A 429 the client's own retries did not get past. */
export function isThrottled(err: unknown): err is ProviderError {
  return err instanceof ProviderError && err.status === 429;
}

/**
 * Hands a throttled operation back to the queue: again once the bucket has earned a token back (at the
 * rate last announced), with the message that carries the work's position (or the message itself).
 */
export function throttledDefer(err: ProviderError, now: Date, continuation?: JobMessageInput): DeferError {
  const operation = err.operation as OperationName;
  const rate = OPERATIONS[operation] ? currentRate(err.connection, operation) : 1;
  const retryAt = new Date(now.getTime() + Math.max(1_000, 1_000 / rate));
  return new DeferError(err.operation, retryAt, 'throttled', continuation);
}
