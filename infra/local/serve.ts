import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { RUNS_API_SETTINGS } from '../aws/settings.ts';
import { taskRootOf } from './bundles.ts';
import { FunctionContainer } from './container.ts';
import { closeServer } from './servers.ts';
import type { LocalStack } from './stack.ts';

/**
 * `npm start -- --serve`: the runs API on localhost, answering as API Gateway in front of Lambda does.
 * Each request becomes an API Gateway proxy event for runs-api's bundle, run in a container of its own
 * while it lasts (Lambda gives concurrent requests separate execution environments; idle ones are
 * reused). What API Gateway answers itself is answered here: 400 for a path that does not decode, 413
 * over its payload limit, 429 past its burst, 502 when the function fails.
 */

/** API Gateway's REST payload limit; the handler refuses far less (RUN_REQUEST_MAX_BYTES) on its own. */
export const GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** The stage's burst limit (infra/aws/api.ts API_THROTTLE.burstLimit): requests beyond it in flight get 429. */
export const MAX_CONCURRENT_REQUESTS = 10;

/** API Gateway gives up on an integration after 29 s; runs-api's own timeout is shorter. */
const INVOKE_TIMEOUT_MS = Math.min(RUNS_API_SETTINGS.timeoutSeconds, 29) * 1000;

export interface ServedApi {
  url: string;
  close(): Promise<void>;
}

interface ProxyResult {
  statusCode: number;
  headers?: Record<string, string | number | boolean>;
  multiValueHeaders?: Record<string, Array<string | number | boolean>>;
  body?: string;
  isBase64Encoded?: boolean;
}

class GatewayError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Serves on 127.0.0.1:`port` (0: a free port); `env` is added to runs-api's environment (log level, settings). */
export async function serveRunsApi(
  stack: LocalStack,
  port: number,
  env: Record<string, string> = {},
): Promise<ServedApi> {
  const module = stack.runsApiModule;
  if (!module) throw new Error('serveRunsApi: start the stack with runsApi: true');
  const containers: FunctionContainer[] = [];
  const idle: FunctionContainer[] = [];
  const acquire = (): FunctionContainer | undefined => {
    const warm = idle.pop();
    if (warm) return warm;
    if (containers.length >= MAX_CONCURRENT_REQUESTS) return undefined;
    const container = new FunctionContainer({
      workerModule: stack.workerModule,
      init: {
        handlerModule: module,
        handlerExport: 'handler',
        functionName: 'runs-api',
        memoryMb: RUNS_API_SETTINGS.memoryMb,
        region: stack.region,
        accountId: stack.accountId,
      },
      env: { ...stack.functionEnv['runs-api'], LAMBDA_TASK_ROOT: taskRootOf(module), ...env },
      output: 'stderr',
      initTimeoutMs: 60_000,
    });
    containers.push(container);
    return container;
  };

  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    const requestId = randomUUID();
    const event = await proxyEvent(req, requestId);
    const container = acquire();
    if (!container) throw new GatewayError(429, 'Too Many Requests');
    let outcome: Awaited<ReturnType<FunctionContainer['invoke']>>;
    try {
      outcome = await container.invoke(requestId, event, INVOKE_TIMEOUT_MS);
    } finally {
      idle.push(container);
    }
    const result = outcome.kind === 'ok' ? (outcome.value as ProxyResult | undefined) : undefined;
    if (!result || !Number.isInteger(result.statusCode)) throw new GatewayError(502, 'Internal server error');
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
    for (const [k, v] of Object.entries(result.multiValueHeaders ?? {})) headers[k] = v.map(String);
    headers['x-amzn-requestid'] = requestId;
    const body = result.isBase64Encoded
      ? Buffer.from(result.body ?? '', 'base64')
      : Buffer.from(result.body ?? '', 'utf8');
    res.writeHead(result.statusCode, headers);
    res.end(body);
  };

  const server: Server = createServer((req, res) => {
    answer(req, res).catch((err: unknown) => {
      const status = err instanceof GatewayError ? err.status : 500;
      const message = err instanceof GatewayError ? err.message : 'Internal server error';
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // What is left of a refused body is read and dropped (node does so once the answer is sent), so
      // the client sees the answer, not a reset.
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message }));
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok());
  });
  const { port: bound } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${bound}`,
    close: async () => {
      await closeServer(server);
      await Promise.all(containers.map((c) => c.stop()));
    },
  };
}

/** The API Gateway REST proxy event for a request (its body read up to the gateway's limit). */
async function proxyEvent(req: IncomingMessage, requestId: string) {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  let segments: string[];
  try {
    segments = path.split('/').map((s) => decodeURIComponent(s));
  } catch {
    throw new GatewayError(400, 'Bad Request: the path is not valid percent-encoding');
  }
  const decodedPath = segments.join('/');
  const runMatch = segments.length === 3 && segments[1] === 'runs' && segments[2] ? segments[2] : undefined;
  const resource = decodedPath === '/runs' ? '/runs' : runMatch ? '/runs/{runId}' : decodedPath;
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const value = req.rawHeaders[i + 1]!;
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  // API Gateway gives null, not {}, when there is no query string.
  const queryStringParameters = query.size ? Object.fromEntries(query) : null;
  const multiValueQueryStringParameters = query.size
    ? Object.fromEntries([...new Set(query.keys())].map((k) => [k, query.getAll(k)]))
    : null;
  const method = req.method ?? 'GET';
  return {
    httpMethod: method,
    resource,
    path: decodedPath,
    pathParameters: runMatch ? { runId: runMatch } : null,
    queryStringParameters,
    multiValueQueryStringParameters,
    headers,
    multiValueHeaders,
    body: await readBody(req),
    isBase64Encoded: false,
    stageVariables: null,
    requestContext: {
      requestId,
      httpMethod: method,
      path: decodedPath,
      resourcePath: resource,
      stage: 'local',
      requestTimeEpoch: Date.now(),
    },
  };
}

/**
 * The body, up to the gateway's limit. Not read with `for await`: leaving that loop early destroys the
 * request and with it the socket, and the client would see a reset instead of the 413.
 */
function readBody(req: IncomingMessage): Promise<string | null> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > GATEWAY_MAX_BODY_BYTES) return Promise.reject(new GatewayError(413, 'Request Too Long'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (refused) return;
      if (size > GATEWAY_MAX_BODY_BYTES) {
        refused = true;
        chunks.length = 0;
        reject(new GatewayError(413, 'Request Too Long'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length ? Buffer.concat(chunks).toString('utf8') : null));
    req.on('error', reject);
  });
}
