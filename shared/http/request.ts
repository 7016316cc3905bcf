import type { Dispatcher } from 'undici';
import apiRequest from 'undici/lib/api/api-request.js';
import util from 'undici/lib/core/util.js';

export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & {
  method?: Dispatcher.HttpMethod;
  dispatcher: Dispatcher;
};

/**
 * undici's `request(url, options)`, built from its request API alone. undici's package entry loads every
 * part of it (fetch, WebSocket, the mock agents, caches: about 230 KB minified beside what this needs), and a
 * bundler cannot leave out parts of a CommonJS module; the functions use only this and an Agent.
 */
export function request(url: string | URL, options: RequestOptions): Promise<Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = options;
  const parsed = util.parseURL(url);
  return apiRequest.call(dispatcher, {
    ...rest,
    origin: parsed.origin,
    path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname,
    method: rest.method ?? (rest.body ? 'PUT' : 'GET'),
  });
}
