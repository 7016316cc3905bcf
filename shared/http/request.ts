import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type RequestOptions as NodeRequestOptions,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { finished } from 'node:stream/promises';
import { HTTP_TIMEOUTS, type HttpAgents, type HttpTimeouts, sharedAgent } from './agent.ts';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RequestOptions {
  method?: HttpMethod;
  headers?: Record<string, string>;
  body?: string;
  /** The keep-alive pools to take a socket from; the container's shared ones by default. */
  agents?: HttpAgents;
  /** Aborts the request, and the body while it is still being read. */
  signal?: AbortSignal;
  timeouts?: Partial<HttpTimeouts>;
}

export interface ResponseData {
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** The body as it arrives: read it (readText), hand it on, or let it go (discard). */
  body: IncomingMessage;
}

/** Error codes of the timeouts below; errors.ts counts them as retryable network errors. */
export const TIMEOUT_CODES = {
  connect: 'HTTP_CONNECT_TIMEOUT',
  headers: 'HTTP_HEADERS_TIMEOUT',
  body: 'HTTP_BODY_TIMEOUT',
} as const;

/** Methods whose empty body is announced (Content-Length: 0), as servers behind AWS front doors expect. */
const PAYLOAD_METHODS = new Set<string>(['POST', 'PUT', 'PATCH']);

/** Redirect and error bodies up to this size are read off so the socket can go back to the pool. */
const DISCARD_LIMIT = 64 * 1024;

function codedError(code: string, message: string, cause?: unknown): Error {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: string };
  err.code = code;
  return err;
}

function abortError(signal: AbortSignal): Error {
  const err = codedError('ABORT_ERR', 'the request was aborted', signal.reason);
  err.name = 'AbortError';
  return err;
}

/**
 * One HTTP/1.1 exchange on Node's own client, from a keep-alive pool: resolves at the status line and
 * headers, with the body still streaming. Each phase has its own limit (HTTP_TIMEOUTS): connect (DNS, TCP,
 * TLS), then the headers, then the gap between two body chunks. A body cut short (the socket closed before
 * Content-Length bytes or the last chunk) errors the stream with ECONNRESET, Node's parser enforcing the
 * framing. Error messages name no URL: a pre-signed one carries its signature in the query.
 */
export function request(url: string | URL, options: RequestOptions = {}): Promise<ResponseData> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const secure = target.protocol === 'https:';
  if (!secure && target.protocol !== 'http:') {
    return Promise.reject(codedError('ERR_INVALID_PROTOCOL', `unsupported protocol ${target.protocol}`));
  }
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const limits = { ...HTTP_TIMEOUTS, ...options.timeouts };
  const agents = options.agents ?? sharedAgent();
  const method = options.method ?? (options.body !== undefined ? 'PUT' : 'GET');
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  else if (PAYLOAD_METHODS.has(method)) headers['content-length'] = '0';

  return new Promise<ResponseData>((resolve, reject) => {
    const init: NodeRequestOptions = { method, headers, agent: secure ? agents.https : agents.http };
    const req = secure ? httpsRequest(target, init) : httpRequest(target, init);
    let settled = false;
    let res: IncomingMessage | undefined;
    let timer: NodeJS.Timeout | undefined;

    const onAbort = () => {
      const err = abortError(signal as AbortSignal);
      if (res) res.destroy(err);
      else fail(err);
    };
    const release = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      release();
      req.destroy(err);
      reject(err);
    };
    const arm = (ms: number, code: string, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(codedError(code, `${what} timed out after ${ms} ms`)), ms);
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    // Armed before a socket is assigned: the wait for one counts as connecting.
    arm(limits.connectMs, TIMEOUT_CODES.connect, 'connecting');
    req.once('socket', (socket: Socket) => {
      if (settled) return;
      const waitHeaders = () => {
        if (!settled) arm(limits.headersMs, TIMEOUT_CODES.headers, 'waiting for the answer');
      };
      // A pooled socket is connected already; a new one connects through DNS, TCP and, for https, TLS.
      if (socket.connecting) socket.once(secure ? 'secureConnect' : 'connect', waitHeaders);
      else waitHeaders();
    });
    // Also after the answer came: a socket error then reaches the body as its own error (ECONNRESET), and
    // an unheard error event here would be an uncaught exception.
    req.on('error', fail);
    req.once('response', (incoming: IncomingMessage) => {
      clearTimeout(timer);
      if (settled) {
        incoming.destroy();
        return;
      }
      settled = true;
      res = incoming;
      // Node's IncomingMessage drops a destroy error when nobody listens yet: this listener keeps it on the
      // stream (`errored`) for whoever reads the body later, which then sees why it broke.
      incoming.on('error', () => undefined);
      incoming.once('close', release);
      req.setTimeout(limits.bodyMs, () => {
        incoming.destroy(
          codedError(TIMEOUT_CODES.body, `no body data for ${limits.bodyMs} ms (the body stalled)`),
        );
      });
      resolve({ statusCode: incoming.statusCode ?? 0, headers: incoming.headers, body: incoming });
    });
    req.end(options.body);
  });
}

/** The whole body as UTF-8 text; a body cut short or stalled rejects with its network code. */
export async function readText(body: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Lets a body go: a small one is read off so its socket is reused, a large or unannounced one is dropped
 * with its socket (reading it would cost more than a new connection).
 */
export async function discard(body: IncomingMessage): Promise<void> {
  if (body.complete && body.readableEnded) return;
  const length = Number(body.headers['content-length']);
  if (!(length <= DISCARD_LIMIT)) {
    body.destroy();
    return;
  }
  body.resume();
  await finished(body).catch(() => undefined);
}
