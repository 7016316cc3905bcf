import type { HttpResponse, ProviderHttp, RequestOptions } from '../types.ts';
import { type ApiRequest, OPERATIONS } from './api.ts';

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
