import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { budgetUntil } from '../../../shared/http/budget.ts';
import { HttpClient } from '../../../shared/http/client.ts';
import { DeferError, isRetryableNetworkError, ProviderError } from '../../../shared/http/errors.ts';
import { readText, request } from '../../../shared/http/request.ts';
import { resetBuckets } from '../../../shared/http/token-bucket.ts';
import { sendText, startServer, type TestServer } from '../../helpers/http-server.ts';

const servers: TestServer[] = [];
const raw: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const s of raw.splice(0)) s.close();
  resetBuckets();
});

/** A TCP server that answers each connection with `reply` as written, then does what `after` says. */
async function rawServer(reply: string, after: 'close' | 'hang'): Promise<string> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      if (reply) socket.write(reply);
      if (after === 'close') socket.end();
    });
  });
  raw.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('request (node:http)', () => {
  it('reuses a kept-alive connection for the next call to the same host', async () => {
    const ports: number[] = [];
    const s = await startServer((_req, res, incoming) => {
      ports.push(incoming.socket.remotePort ?? 0);
      sendText(res, 200, 'ok');
    });
    servers.push(s);
    for (let i = 0; i < 3; i++) {
      const res = await request(`${s.url}/x`);
      expect(await readText(res.body)).toBe('ok');
    }
    expect(new Set(ports).size).toBe(1);
  });

  it('sends a string body with its Content-Length, and Content-Length: 0 for an empty POST', async () => {
    const s = await startServer((_req, res) => sendText(res, 200, ''));
    servers.push(s);
    await readText((await request(`${s.url}/a`, { method: 'POST', body: 'grant_type=x&é=1' })).body);
    await readText((await request(`${s.url}/b`, { method: 'POST' })).body);
    await readText((await request(`${s.url}/c`)).body);
    expect(
      s.requests.map((r) => [r.body, r.headers['content-length'], r.headers['transfer-encoding']]),
    ).toEqual([
      ['grant_type=x&é=1', '17', undefined],
      ['', '0', undefined],
      ['', undefined, undefined],
    ]);
  });

  it.each([
    ['Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part'],
    ['chunked', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n'],
  ])('a body cut short (%s) errors the stream with a retryable code', async (_framing, reply) => {
    const url = await rawServer(reply, 'close');
    const res = await request(`${url}/doc`);
    expect(res.statusCode).toBe(200);
    const err = await rejection(readText(res.body));
    expect(err.code).toBe('ECONNRESET');
    expect(isRetryableNetworkError(err)).toBe(true);
  });

  it('a connection closed before the answer is a retryable reset', async () => {
    const url = await rawServer('', 'close');
    const err = await rejection(request(`${url}/doc`));
    expect(err.code).toBe('ECONNRESET');
    expect(isRetryableNetworkError(err)).toBe(true);
  });

  it('times out waiting for the headers, and a stalled body, with retryable codes', async () => {
    const silent = await rawServer('', 'hang');
    const err = await rejection(request(`${silent}/x?sig=s3cr3t`, { timeouts: { headersMs: 100 } }));
    expect(err.code).toBe('HTTP_HEADERS_TIMEOUT');
    expect(err.message).not.toContain('s3cr3t');
    expect(isRetryableNetworkError(err)).toBe(true);

    const stalls = await rawServer('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nfirst', 'hang');
    const res = await request(`${stalls}/x`, { timeouts: { bodyMs: 100 } });
    const bodyErr = await rejection(readText(res.body));
    expect(bodyErr.code).toBe('HTTP_BODY_TIMEOUT');
    expect(isRetryableNetworkError(bodyErr)).toBe(true);
  });

  it('times out a TLS handshake that never completes as connecting', async () => {
    const silent = await rawServer('', 'hang');
    const err = await rejection(
      request(silent.replace('http:', 'https:'), { timeouts: { connectMs: 100, headersMs: 5_000 } }),
    );
    expect(err.code).toBe('HTTP_CONNECT_TIMEOUT');
  });

  it('keeps the error of a body that broke before anyone read it', async () => {
    const url = await rawServer('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart', 'close');
    const res = await request(`${url}/doc`);
    await new Promise((resolve) => res.body.once('close', resolve));
    const err = await rejection(readText(res.body));
    expect(err.code).toBe('ECONNRESET');
  });
});

describe('the budget', () => {
  function client(remainingMs: number, idempotent = true) {
    return (url: string) =>
      new HttpClient({
        provider: 'p',
        connection: 'c',
        baseUrl: url,
        operations: { op: { rate: 100, burst: 100, idempotent } },
        budget: budgetUntil(Date.now() + remainingMs),
        downloadHosts: [],
        allowLoopback: true,
      });
  }

  it('hands a call still waiting when the budget runs out back to the queue', async () => {
    const silent = await rawServer('', 'hang');
    const err = await rejection(client(150)(silent).request('op', { path: '/x' }));
    expect(err).toBeInstanceOf(DeferError);
    expect((err as DeferError).reason).toBe('budget');
  });

  it('reports a call that creates something as ambiguous instead', async () => {
    const silent = await rawServer('', 'hang');
    const err = await rejection(client(150, false)(silent).request('op', { path: '/x', method: 'POST' }));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ ambiguous: true, code: 'BUDGET_EXHAUSTED', status: 0 });
  });
});
