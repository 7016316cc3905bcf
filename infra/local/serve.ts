import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { resolve } from 'node:path';
import { FunctionContainer } from './container.ts';
import { closeServer } from './servers.ts';
import { type LocalStack, REPO_ROOT } from './stack.ts';

/**
 * `npm start -- --serve`: the runs API on localhost. Requests become API Gateway proxy events for the real
 * runs-api handler, run in its own container like the queue-fed functions.
 */
export async function serveRunsApi(
  stack: LocalStack,
  port: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const container = new FunctionContainer({
    init: {
      handlerModule: resolve(REPO_ROOT, 'functions/runs-api/handler.ts'),
      handlerExport: 'handler',
      functionName: 'runs-api',
      memoryMb: 256,
      region: stack.region,
      accountId: stack.accountId,
    },
    env: stack.functionEnv['runs-api'],
    output: 'stderr',
    initTimeoutMs: 60_000,
  });
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const runMatch = /^\/runs\/([^/]+)$/.exec(url.pathname);
      const resource = url.pathname === '/runs' ? '/runs' : runMatch ? '/runs/{runId}' : url.pathname;
      const event = {
        httpMethod: req.method ?? 'GET',
        resource,
        path: url.pathname,
        pathParameters: runMatch ? { runId: decodeURIComponent(runMatch[1]!) } : null,
        queryStringParameters: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: await readBody(req),
        isBase64Encoded: false,
        requestContext: { requestId: randomUUID() },
      };
      const outcome = await container.invoke(randomUUID(), event, 30_000);
      if (outcome.kind !== 'ok') {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `runs-api ${outcome.kind}` }));
        return;
      }
      const answer = outcome.value as { statusCode: number; headers?: Record<string, string>; body?: string };
      res.writeHead(answer.statusCode, answer.headers ?? {});
      res.end(answer.body ?? '');
    })().catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: (err as Error).message }));
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
      await container.stop();
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error('request body over 64 KiB');
    chunks.push(chunk as Buffer);
  }
  return chunks.length ? Buffer.concat(chunks).toString('utf8') : null;
}
