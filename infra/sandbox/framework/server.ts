import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSimClock, type SimClock } from './clock.ts';
import { amazonErrorList, frameworkError, s3Error } from './errors.ts';
import { type FaultConfigInput, FaultInjector } from './faults.ts';
import {
  type ErrorBuilder,
  isErrorReply,
  json,
  type SimErrorInput,
  SimHttpError,
  type SimReply,
  type SimRequest,
} from './http.ts';
import {
  type RateLimit,
  RateLimiter,
  type RateLimitHeaderPolicy,
  rateLimitHeaderValue,
  validateRateLimit,
} from './rate-limit.ts';
import { requestIdentity } from './request-identity.ts';
import { type HttpMethod, Router } from './router.ts';
import type { Seed } from './seed.ts';
import { DOWNLOAD_PREFIX, type OpenDownload, SignedUrls } from './signed-url.ts';
import { StableIds } from './stable-ids.ts';
import { type SimStats, SimStatsRecorder } from './stats.ts';

/**
 * The HTTP server every provider simulator runs on (node:http only): routing, body parsing, the
 * provider's error shape, per-operation rate limits in simulated time, fault injection, pre-signed
 * downloads, and admin endpoints under /__sandbox/ (no auth: it listens on 127.0.0.1 only).
 */

/** What a handler can reach besides its request. */
export interface SimContext {
  readonly name: string;
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  readonly url: string;
  readonly clock: SimClock;
  /** `faults.shouldFailExport(id)` decides whether an export ends in the provider's error state. */
  readonly faults: FaultInjector;
  /** `downloads.issue(key, { ttlSeconds })` gives a pre-signed URL served by this simulator. */
  readonly downloads: SignedUrls;
}

export type RouteHandler = (req: SimRequest, sim: SimContext) => SimReply | Promise<SimReply>;

export interface RouteDef {
  method: HttpMethod;
  /** `/tax/invoices/2024-06-19/invoices/:invoiceId` */
  path: string;
  /** The provider's operation name: keys stats, rate-limit buckets and fault scoping. */
  operation: string;
  /** The provider's published rate, in simulated requests per second. */
  rateLimit?: RateLimit;
  /** Splits the bucket (e.g. one per seller or per profile); default: one bucket per operation. */
  rateLimitKey?: (req: SimRequest) => string;
  /**
   * Query or body parameters that change from run to run for the same request (a client's own
   * timestamp, a nonce), besides the signatures, expiries and tokens the framework always leaves out
   * of the request identity (VOLATILE_PARAMS).
   */
  volatileParams?: readonly string[];
  handler: RouteHandler;
}

export interface AdminRouteDef {
  method: HttpMethod;
  /** Below /__sandbox/, e.g. `/expire-tokens`. */
  path: string;
  handler: (req: SimRequest) => SimReply | Promise<SimReply>;
}

export interface SimServerOptions {
  name: string;
  routes: readonly RouteDef[];
  /** The provider's error body (default: SP-API's `{errors: [{code, message}]}`). */
  errorBody?: ErrorBuilder;
  /** Shared clock (startSandbox passes one to every simulator); default: a new one at `timeScale`. */
  clock?: SimClock;
  timeScale?: number;
  /** Seed of fault decisions (when the fault config has none), request ids and download URL signatures. */
  seed?: Seed;
  faults?: FaultConfigInput;
  /** Default: `x-amzn-RateLimit-Limit` on, `Retry-After` off (SP-API). Amazon Ads: the reverse. */
  rateLimitHeaders?: Partial<RateLimitHeaderPolicy>;
  /**
   * Who or what a request is for beyond its method, path, query and body: the caller's connection (the
   * token's subject), a profile or account header. Requests differing in it are different requests to
   * fault injection and request ids. startSandbox's `ctx.server` brings one naming the token's subject;
   * a simulator reading more headers extends it. Default: nothing.
   */
  identityKey?: (req: SimRequestBase) => string;
  /** Header carrying the request id on every answer; null for none. Default `x-amzn-RequestId`. */
  requestIdHeader?: string | null;
  /** Serve pre-signed downloads at /__download/:id from this callback. */
  downloads?: { open: OpenDownload; operation?: string };
  admin?: readonly AdminRouteDef[];
  /** Default 10 MiB; larger bodies get 413. */
  maxBodyBytes?: number;
  /** Handler crashes are reported here (message only). Default: stderr. */
  log?: (line: string) => void;
}

export interface SimServer {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly clock: SimClock;
  readonly faults: FaultInjector;
  readonly downloads: SignedUrls;
  readonly rateLimiter: RateLimiter;
  /** The node server (tests check `listening`). */
  readonly server: Server;
  stats(): SimStats;
  /** Stops listening and destroys every open connection; resolves once the server is closed. */
  close(): Promise<void>;
}

interface InternalRoute {
  operation: string;
  rateLimit?: RateLimit;
  rateLimitKey?: (req: SimRequest) => string;
  volatileParams?: readonly string[];
  errorBody: ErrorBuilder;
  requestIdHeader: string | null;
  handler: RouteHandler;
}

const ADMIN_PREFIX = '/__sandbox';
const DEFAULT_MAX_BODY = 10 * 1024 * 1024;

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0]?.trim().toLowerCase() || undefined;
}

function parseBody(type: string | undefined, raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  if (type === 'application/json' || type?.endsWith('+json')) return JSON.parse(raw.toString('utf8'));
  if (type === 'application/x-www-form-urlencoded') {
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  }
  return undefined;
}

function parseAdminBody(raw: Buffer): unknown {
  try {
    // Admin calls from curl often omit the content type: take any body as JSON.
    return raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
  } catch (err) {
    return err as Error;
  }
}

/** A request before its id is known (what `identityKey` sees). */
export type SimRequestBase = Omit<SimRequest, 'requestId' | 'identity'>;

function buildRequest(
  req: IncomingMessage,
  url: URL,
  params: Record<string, string>,
  operation: string,
  rawBody: Buffer,
  body: unknown,
): SimRequestBase {
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) if (!(k in query)) query[k] = v;
  const header = (name: string) => {
    const v = req.headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  };
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    url,
    params,
    query,
    searchParams: url.searchParams,
    headers: req.headers,
    header,
    bearerToken: () => /^Bearer\s+(\S+)\s*$/i.exec(header('authorization') ?? '')?.[1],
    contentType: mediaType(header('content-type')),
    body,
    rawBody,
    operation,
    raw: req,
  };
}

function identityOf(
  req: IncomingMessage,
  method: string,
  url: URL,
  rawBody: Buffer,
  volatile?: readonly string[],
): string {
  return requestIdentity(
    {
      method,
      path: url.pathname,
      searchParams: url.searchParams,
      rawBody,
      contentType: mediaType(req.headers['content-type']),
    },
    volatile,
  );
}

export async function createSimServer(options: SimServerOptions): Promise<SimServer> {
  const clock = options.clock ?? createSimClock({ timeScale: options.timeScale ?? 1 });
  const seed = options.seed ?? 0;
  const faults = new FaultInjector(options.faults, seed);
  // Request ids from the seed and the request, not random: a replayed run gets the same headers and
  // the same ids in S3-shaped error bodies.
  const requestIds = new StableIds(`${seed}/${options.name}/request-id`);
  const limiter = new RateLimiter(clock);
  const stats = new SimStatsRecorder(options.name);
  const headerPolicy: RateLimitHeaderPolicy = { limit: true, retryAfter: false, ...options.rateLimitHeaders };
  const errorBody = options.errorBody ?? amazonErrorList;
  const requestIdHeader =
    options.requestIdHeader === undefined ? 'x-amzn-RequestId' : options.requestIdHeader;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let baseUrl = '';
  const downloads = new SignedUrls({
    clock,
    faults,
    baseUrl: () => baseUrl,
    open: options.downloads?.open,
    seed: `${seed}/${options.name}`,
  });

  const router = new Router<InternalRoute>();
  for (const r of options.routes) {
    if (r.path.startsWith(ADMIN_PREFIX) || r.path.startsWith(DOWNLOAD_PREFIX)) {
      throw new Error(`${options.name}: route ${r.path} is under a path the framework reserves`);
    }
    if (r.rateLimit) validateRateLimit(r.rateLimit, `${options.name} ${r.operation}`);
    router.add(r.method, r.path, { ...r, errorBody, requestIdHeader });
  }
  if (options.downloads) {
    router.add('GET', `${DOWNLOAD_PREFIX}:id`, {
      operation: options.downloads.operation ?? 'download',
      errorBody: s3Error,
      requestIdHeader: 'x-amz-request-id',
      handler: (req) => downloads.serve(req.params.id!, req.searchParams, req.requestId),
    });
  }

  const adminRouter = new Router<AdminRouteDef['handler']>();
  const admin: AdminRouteDef[] = [
    { method: 'GET', path: '/stats', handler: () => json(200, stats.snapshot(baseUrl, faults.snapshot())) },
    { method: 'GET', path: '/faults', handler: () => json(200, { faults: faults.config }) },
    { method: 'POST', path: '/faults', handler: (req) => json(200, { faults: faults.set(req.body ?? {}) }) },
    {
      method: 'GET',
      path: '/clock',
      handler: () => json(200, { timeScale: clock.timeScale, simNow: clock.simDate().toISOString() }),
    },
    {
      method: 'POST',
      path: '/clock',
      handler: (req) => {
        const seconds = (req.body as { advanceSeconds?: unknown } | undefined)?.advanceSeconds;
        if (typeof seconds !== 'number' || !(seconds >= 0)) {
          return json(400, { error: 'advanceSeconds: expected a non-negative number of simulated seconds' });
        }
        clock.advance(seconds * 1000);
        return json(200, { timeScale: clock.timeScale, simNow: clock.simDate().toISOString() });
      },
    },
    {
      method: 'POST',
      path: '/rate-limits/reset',
      handler: () => {
        limiter.reset();
        return json(200, { reset: true });
      },
    },
    ...(options.admin ?? []),
  ];
  for (const a of admin) adminRouter.add(a.method, a.path, a.handler);

  const sockets = new Set<Socket>();
  const shutdown = new AbortController();

  const context: SimContext = {
    name: options.name,
    get url() {
      return baseUrl;
    },
    clock,
    faults,
    downloads,
  };

  async function send(
    res: ServerResponse,
    method: string,
    reply: SimReply,
    extraHeaders: Record<string, string>,
    route: InternalRoute | undefined,
    truncate: boolean,
  ): Promise<boolean> {
    const headers: Record<string, string> = { ...extraHeaders, ...reply.headers };
    let body: string | Buffer | Readable | undefined;
    let contentLength: number | undefined;
    if (isErrorReply(reply)) {
      const rendered = (route?.errorBody ?? errorBody)(reply.error);
      headers['content-type'] = rendered.contentType;
      Object.assign(headers, rendered.headers);
      body = rendered.body;
    } else {
      body = reply.body;
      contentLength = reply.contentLength;
    }
    const isStream = body instanceof Readable;
    const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.isBuffer(body) ? body : undefined;
    const length = bytes ? bytes.length : contentLength;
    if (length !== undefined) headers['content-length'] = String(length);
    const cut =
      truncate && reply.status >= 200 && reply.status < 300 && method !== 'HEAD' && (length ?? 0) > 1;
    // Closing after the answer is what makes the short body visible: the client sees the end of the
    // connection before Content-Length bytes arrived, instead of waiting for the rest.
    if (cut) res.shouldKeepAlive = false;
    res.writeHead(reply.status, headers);

    if (method === 'HEAD' || body === undefined) {
      if (isStream) (body as Readable).destroy();
      res.end();
      return false;
    }
    if (bytes) {
      res.end(cut ? bytes.subarray(0, Math.floor(bytes.length / 2)) : bytes);
      return cut;
    }
    const source = body as Readable;
    try {
      if (cut) {
        const limit = Math.floor(length! / 2);
        await pipeline(
          source,
          async function* (chunks: AsyncIterable<Buffer>) {
            let sent = 0;
            for await (const chunk of chunks) {
              if (sent + chunk.length >= limit) {
                yield chunk.subarray(0, limit - sent);
                return;
              }
              sent += chunk.length;
              yield chunk;
            }
          },
          res,
        );
      } else {
        await pipeline(source, res);
      }
    } catch {
      // The client went away or the source failed: the connection is already destroyed, nothing to answer.
    }
    return cut;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');

    if (url.pathname === ADMIN_PREFIX || url.pathname.startsWith(`${ADMIN_PREFIX}/`)) {
      await handleAdmin(req, res, url, method);
      return;
    }

    const match = router.match(method, url.pathname);
    const route = match.kind === 'found' ? match.value : undefined;
    const operation = route?.operation ?? 'unknown';
    const headers: Record<string, string> = {};
    const idHeader = route ? route.requestIdHeader : requestIdHeader;
    const setRequestId = (identity: string) => {
      const id = requestIds.uuid(identity);
      if (idHeader) headers[idHeader] = id;
      return id;
    };
    if (route?.rateLimit && headerPolicy.limit) {
      headers['x-amzn-RateLimit-Limit'] = rateLimitHeaderValue(route.rateLimit, clock.timeScale);
    }
    const answer = async (reply: SimReply, truncate = false) => {
      stats.answered(operation, reply.status);
      const cut = await send(res, method, reply, headers, route, truncate);
      if (cut) faults.record('truncate', operation);
    };
    const error = (e: SimErrorInput, extra?: Record<string, string>) =>
      answer({ status: e.status, error: e, headers: extra });

    stats.requested(operation);
    let rawBody: Buffer;
    try {
      rawBody = await readBody(req, maxBody);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        setRequestId(identityOf(req, method, url, Buffer.alloc(0), route?.volatileParams));
        res.shouldKeepAlive = false;
        await error(frameworkError('payload_too_large'));
      }
      return;
    }
    let parsed: unknown;
    let badBody = false;
    try {
      parsed = parseBody(mediaType(req.headers['content-type']), rawBody);
    } catch {
      badBody = true;
    }
    const base = buildRequest(
      req,
      url,
      match.kind === 'found' ? match.params : {},
      operation,
      rawBody,
      parsed,
    );
    let identity = identityOf(req, method, url, rawBody, route?.volatileParams);
    if (route && options.identityKey) {
      let key = '';
      try {
        key = options.identityKey(base);
      } catch {
        // A key that cannot be read (a malformed header) leaves the request keyed by the rest.
      }
      if (key) identity = `${identity} ${key}`;
    }
    const requestId = setRequestId(identity);
    if (match.kind === 'not_found' || match.kind === 'bad_path') {
      await error(frameworkError('not_found', `No route for ${method} ${url.pathname}`));
      return;
    }
    if (match.kind === 'method_not_allowed') {
      await error(frameworkError('method_not_allowed', `${method} is not allowed on ${url.pathname}`), {
        allow: match.allowed.join(', '),
      });
      return;
    }
    const r = route!;
    const injected = faults.decide(operation, identity);
    if (injected.reset) {
      faults.record('reset', operation);
      stats.answered(operation, 'reset');
      req.socket.resetAndDestroy();
      return;
    }
    if (injected.latencyMs > 0) {
      faults.record('latency', operation);
      try {
        await sleep(injected.latencyMs, undefined, { signal: shutdown.signal });
      } catch {
        return;
      }
    }

    if (badBody) {
      await error(frameworkError('bad_request', 'The request body is not valid JSON.'));
      return;
    }
    const simReq: SimRequest = { ...base, requestId, identity };

    if (r.rateLimit) {
      const taken = limiter.take(operation, r.rateLimit, r.rateLimitKey?.(simReq) ?? '');
      if (!taken.allowed) {
        faults.retract(operation, identity);
        stats.throttled(operation);
        const extra = headerPolicy.retryAfter
          ? { 'retry-after': String(taken.retryAfterSeconds) }
          : undefined;
        await error(frameworkError('throttled'), extra);
        return;
      }
    }
    if (injected.throttle) {
      faults.record('throttleBurst', operation);
      stats.throttled(operation);
      const extra = headerPolicy.retryAfter
        ? { 'retry-after': String(injected.throttle.retryAfterSeconds) }
        : undefined;
      await error(frameworkError('throttled'), extra);
      return;
    }
    if (injected.serverError) {
      faults.record('serverError', operation);
      await error(frameworkError(injected.serverError === 503 ? 'unavailable' : 'server_error'));
      return;
    }

    let reply: SimReply;
    try {
      reply = await r.handler(simReq, context);
    } catch (err) {
      if (err instanceof SimHttpError) {
        reply = {
          status: err.status,
          headers: err.headers,
          error: { status: err.status, code: err.code, message: err.message, details: err.details },
        };
      } else {
        log(
          `[sandbox ${options.name}] ${operation} handler failed: ${(err as Error)?.message ?? String(err)}`,
        );
        reply = { status: 500, error: frameworkError('handler_failed') };
      }
    }
    await answer(reply, injected.truncate);
  }

  async function handleAdmin(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    method: string,
  ): Promise<void> {
    const path = url.pathname.slice(ADMIN_PREFIX.length) || '/';
    const match = adminRouter.match(method, path);
    let reply: SimReply;
    try {
      const rawBody = await readBody(req, maxBody);
      const identity = identityOf(req, method, url, rawBody);
      if (match.kind !== 'found') {
        reply = json(404, { error: `no admin endpoint ${method} ${url.pathname}` });
      } else {
        const body = parseAdminBody(rawBody);
        reply =
          body instanceof Error
            ? json(400, { error: 'the body is not valid JSON' })
            : await match.value({
                ...buildRequest(req, url, match.params, 'admin', rawBody, body),
                requestId: requestIds.uuid('admin', identity),
                identity,
              });
      }
    } catch (err) {
      reply = json(400, { error: (err as Error).message });
    }
    await send(res, method, reply, {}, undefined, false);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      log(`[sandbox ${options.name}] request failed: ${(err as Error)?.message ?? String(err)}`);
      if (!res.headersSent) {
        res.writeHead(500).end();
      } else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}`;

  let closing: Promise<void> | undefined;
  return {
    name: options.name,
    url: baseUrl,
    port,
    clock,
    faults,
    downloads,
    rateLimiter: limiter,
    server,
    stats: () => stats.snapshot(baseUrl, faults.snapshot()),
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        shutdown.abort();
        server.close((err) => (err ? reject(err) : resolve()));
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
