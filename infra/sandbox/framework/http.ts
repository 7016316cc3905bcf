import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';

/** What a route handler sees of a request. */
export interface SimRequest {
  readonly method: string;
  /** Path without the query, as sent (params are decoded). */
  readonly path: string;
  readonly url: URL;
  /** `:name` segments of the route pattern, decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** First value of each query parameter; `searchParams` has them all (repeated parameters). */
  readonly query: Readonly<Record<string, string>>;
  readonly searchParams: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** A header's value (the first one when repeated), case-insensitive. */
  header(name: string): string | undefined;
  /** The token of `Authorization: Bearer <token>`. */
  bearerToken(): string | undefined;
  /** Media type of the body, lower case, without parameters. */
  readonly contentType: string | undefined;
  /** Parsed body: a JSON value (application/json, application/*+json) or a form record; else undefined. */
  readonly body: unknown;
  readonly rawBody: Buffer;
  /** The route's operation name (stats, rate limits, faults). */
  readonly operation: string;
  /** Also sent back in the request-id header. Fixed by the seed, the identity and how often it came. */
  readonly requestId: string;
  /**
   * What makes this request the same one on another run (method, path, query and body without
   * signatures, expiries and tokens): key ids a handler mints by it to keep them stable across runs.
   */
  readonly identity?: string;
  readonly raw: IncomingMessage;
}

/** A provider error, rendered by the simulator's error builder. */
export interface SimErrorInput {
  status: number;
  code: string;
  message: string;
  details?: string;
  /** Set for errors the framework itself answers, so a builder can map them to the provider's codes. */
  kind?: FrameworkErrorKind;
}

export type FrameworkErrorKind =
  | 'not_found'
  | 'method_not_allowed'
  | 'bad_request'
  | 'payload_too_large'
  | 'throttled'
  | 'server_error'
  | 'unavailable'
  | 'handler_failed';

export interface RenderedError {
  body: string | Buffer;
  contentType: string;
  headers?: Record<string, string>;
}

export type ErrorBuilder = (error: SimErrorInput) => RenderedError;

export interface SimBodyReply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable;
  /** Exact length of a stream body (sent as Content-Length; without it the answer is chunked). */
  contentLength?: number;
}

export interface SimErrorReply {
  status: number;
  headers?: Record<string, string>;
  error: SimErrorInput;
}

export type SimReply = SimBodyReply | SimErrorReply;

export const isErrorReply = (r: SimReply): r is SimErrorReply => 'error' in r;

/** Thrown anywhere in a handler: answered in the provider's error shape. */
export class SimHttpError extends Error {
  override name = 'SimHttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export function json(
  status: number,
  value: unknown,
  opts: { contentType?: string; headers?: Record<string, string> } = {},
): SimBodyReply {
  return {
    status,
    headers: { 'content-type': opts.contentType ?? 'application/json', ...opts.headers },
    body: JSON.stringify(value),
  };
}

export function text(
  status: number,
  value: string | Buffer,
  opts: { contentType?: string; headers?: Record<string, string> } = {},
): SimBodyReply {
  return {
    status,
    headers: { 'content-type': opts.contentType ?? 'text/plain; charset=utf-8', ...opts.headers },
    body: value,
  };
}

export function stream(
  status: number,
  body: Readable,
  opts: { contentLength?: number; contentType?: string; headers?: Record<string, string> } = {},
): SimBodyReply {
  return {
    status,
    headers: { 'content-type': opts.contentType ?? 'application/octet-stream', ...opts.headers },
    body,
    contentLength: opts.contentLength,
  };
}

export function empty(status = 204, headers?: Record<string, string>): SimBodyReply {
  return { status, headers };
}

/** An error answered in the simulator's provider shape. */
export function fail(status: number, code: string, message: string, details?: string): SimErrorReply {
  return { status, error: { status, code, message, details } };
}
