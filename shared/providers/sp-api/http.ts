import type { HttpResponse, ProviderHttp, RequestOptions } from '../types.ts';
import type { ApiRequest } from './api.ts';

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
