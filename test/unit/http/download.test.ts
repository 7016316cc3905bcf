import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { DOWNLOAD_HOSTS, isAllowedDownload } from '../../../shared/http/allowlist.ts';
import { budgetUntil } from '../../../shared/http/budget.ts';
import { HttpClient, type HttpClientOptions } from '../../../shared/http/client.ts';
import { DownloadRefusedError, ExpiredUrlError, ProviderError } from '../../../shared/http/errors.ts';
import { resetBuckets } from '../../../shared/http/token-bucket.ts';
import {
  type Handler,
  resetConnection,
  sendText,
  sequence,
  simulatedClock,
  startServer,
  type TestServer,
} from '../../helpers/http-server.ts';

const s3 = DOWNLOAD_HOSTS['sp-api'];

describe('isAllowedDownload', () => {
  it.each([
    'https://bucket.s3.amazonaws.com/doc.zip?X-Amz-Signature=abc',
    'https://my.dotted.bucket.s3.amazonaws.com/doc.zip',
    'https://bucket.s3.us-east-1.amazonaws.com/doc.zip',
    'https://s3.sa-east-1.amazonaws.com/bucket/doc.zip',
    'https://s3.amazonaws.com/bucket/doc.zip',
    'https://bucket.s3-eu-west-1.amazonaws.com/doc.zip',
    'https://bucket.s3.dualstack.us-west-2.amazonaws.com/doc.zip',
    'https://BUCKET.S3.AMAZONAWS.COM/doc.zip',
  ])('allows the S3 form %s', (url) => {
    expect(isAllowedDownload(url, s3, false)).toBe(true);
  });

  it.each([
    ['http://bucket.s3.amazonaws.com/doc.zip', 'not https'],
    ['https://s3.amazonaws.com.evil.example/doc.zip', 'lookalike suffix'],
    ['https://evils3.amazonaws.com/doc.zip', 'not a label boundary'],
    ['https://bucket.s3.amazonaws.com@evil.example/doc.zip', 'userinfo trick'],
    ['https://example.com/doc.zip', 'other host'],
    ['ftp://bucket.s3.amazonaws.com/doc.zip', 'other scheme'],
    ['not a url', 'unparseable'],
  ])('refuses %s (%s)', (url) => {
    expect(isAllowedDownload(url, s3, false)).toBe(false);
  });

  it('allows Google API and content hosts for cm360 only', () => {
    const pdf = 'https://dfareporting.googleapis.com/dfareporting/v4/userprofiles/1/invoices/2/pdf';
    expect(isAllowedDownload(pdf, DOWNLOAD_HOSTS.cm360, false)).toBe(true);
    expect(isAllowedDownload('https://doc-0.googleusercontent.com/x', DOWNLOAD_HOSTS.cm360, false)).toBe(
      true,
    );
    expect(isAllowedDownload(pdf, s3, false)).toBe(false);
  });

  it('allows loopback (http too) only when asked, by option or ALLOW_LOOPBACK_DOWNLOADS=1', () => {
    for (const url of ['http://127.0.0.1:9000/x', 'http://localhost:9000/x', 'http://[::1]:9000/x']) {
      expect(isAllowedDownload(url, s3, true)).toBe(true);
      expect(isAllowedDownload(url, s3, false)).toBe(false);
    }
    const before = process.env.ALLOW_LOOPBACK_DOWNLOADS;
    try {
      process.env.ALLOW_LOOPBACK_DOWNLOADS = '1';
      expect(isAllowedDownload('http://127.0.0.1:9000/x', s3)).toBe(true);
      delete process.env.ALLOW_LOOPBACK_DOWNLOADS;
      expect(isAllowedDownload('http://127.0.0.1:9000/x', s3)).toBe(false);
    } finally {
      if (before === undefined) delete process.env.ALLOW_LOOPBACK_DOWNLOADS;
      else process.env.ALLOW_LOOPBACK_DOWNLOADS = before;
    }
  });
});

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  resetBuckets();
});

async function serve(handler: Handler): Promise<TestServer> {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}

function client(overrides: Partial<HttpClientOptions> = {}) {
  const clock = simulatedClock();
  return {
    clock,
    http: new HttpClient({
      provider: 'sp-api',
      connection: 'dl',
      baseUrl: 'https://sellingpartnerapi-na.amazon.com',
      operations: {},
      budget: budgetUntil(clock.now() + 600_000, clock.now),
      downloadHosts: s3,
      allowLoopback: true,
      retry: { baseMs: 100, capMs: 1_000, maxAttempts: 3 },
      random: () => 0.5,
      now: clock.now,
      sleep: clock.sleep,
      ...overrides,
    }),
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

describe('download', () => {
  it('hands back the body as a stream before the server has finished sending it', async () => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const server = await serve(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': '10' });
      res.write('first');
      await released;
      res.end('-last');
    });
    const { http } = client();
    const dl = await http.download('getInvoicesDocument', `${server.url}/doc.zip?X-Amz-Signature=s3cr3t`);
    expect(dl).toMatchObject({ status: 200, contentLength: 10, contentType: 'application/zip' });
    const [first] = (await once(dl.stream, 'data')) as [Buffer];
    expect(first.toString()).toBe('first');
    release();
    const rest = await readAll(dl.stream);
    expect(rest).toBe('-last');
  });

  it('refuses loopback when not allowed, before any request, naming the host but not the query', async () => {
    const server = await serve((_req, res) => sendText(res, 200, 'x'));
    const { http } = client({ allowLoopback: false });
    const url = `${server.url}/doc.zip?X-Amz-Signature=s3cr3t&X-Amz-Credential=AKIA`;
    const err = (await rejection(http.download('getInvoicesDocument', url))) as DownloadRefusedError;
    expect(err).toBeInstanceOf(DownloadRefusedError);
    expect(err.host).toBe(`127.0.0.1:${server.port}`);
    expect(err.message).toContain('127.0.0.1');
    expect(err.message).not.toContain('s3cr3t');
    expect(err.message).not.toContain('AKIA');
    expect(server.requests).toHaveLength(0);
  });

  it('follows a redirect to an allowed host', async () => {
    const server = await serve((req, res) =>
      req.url.startsWith('/start')
        ? sendText(res, 302, '', { location: '/final.zip?sig=abc' })
        : sendText(res, 200, 'zipbytes'),
    );
    const { http } = client();
    const dl = await http.download('op', `${server.url}/start`);
    expect(await readAll(dl.stream)).toBe('zipbytes');
    expect(server.requests.map((r) => r.url)).toEqual(['/start', '/final.zip?sig=abc']);
  });

  it.each([
    ['https://evil.example/steal?X-Amz-Signature=zzz', 'evil.example', /allowlist/],
    ['http://bucket.s3.amazonaws.com/doc.zip', 'bucket.s3.amazonaws.com', /not https/],
  ])('re-checks every redirect hop: %s is refused', async (location, host, reason) => {
    const server = await serve((_req, res) => sendText(res, 302, '', { location }));
    const { http } = client();
    const err = (await rejection(http.download('op', `${server.url}/start`))) as DownloadRefusedError;
    expect(err).toBeInstanceOf(DownloadRefusedError);
    expect(err.host).toBe(host);
    expect(err.reason).toMatch(reason);
    expect(err.message).not.toContain('zzz');
    expect(server.requests).toHaveLength(1);
  });

  it('stops after 5 redirects', async () => {
    const server = await serve((req, res) => sendText(res, 302, '', { location: `${req.url}x` }));
    const { http } = client();
    const err = (await rejection(http.download('op', `${server.url}/r`))) as DownloadRefusedError;
    expect(err.reason).toMatch(/more than 5 redirects/);
    expect(server.requests).toHaveLength(6);
  });

  it('sends the bearer token when auth is asked for, and drops it when a redirect changes host', async () => {
    const other = await serve((_req, res) => sendText(res, 200, 'pdf'));
    const first = await serve((_req, res) => sendText(res, 302, '', { location: `${other.url}/file.pdf` }));
    const { http } = client({
      provider: 'cm360',
      auth: { style: 'bearer', tokens: { get: async () => 'ya29.token', invalidate: () => undefined } },
    });
    const dl = await http.download('invoicePdf', `${first.url}/pdf`, { auth: true });
    expect(await readAll(dl.stream)).toBe('pdf');
    expect(first.requests[0]!.headers.authorization).toBe('Bearer ya29.token');
    expect(other.requests[0]!.headers.authorization).toBeUndefined();
  });

  it.each([
    [
      403,
      '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message><Expires>2025-01-01T00:00:00Z</Expires></Error>',
    ],
    [400, '<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>'],
  ])('an expired pre-signed URL (%i) raises ExpiredUrlError, not retried', async (status, body) => {
    const server = await serve((_req, res) =>
      sendText(res, status, body, { 'content-type': 'application/xml' }),
    );
    const { http } = client();
    const err = await rejection(
      http.download('getInvoicesDocument', `${server.url}/doc.zip?X-Amz-Expires=30`),
    );
    expect(err).toBeInstanceOf(ExpiredUrlError);
    expect(server.requests).toHaveLength(1);
  });

  it('another 4xx is a ProviderError with the S3 code', async () => {
    const server = await serve((_req, res) =>
      sendText(
        res,
        404,
        '<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
      ),
    );
    const { http } = client();
    const err = (await rejection(http.download('op', `${server.url}/doc.zip`))) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ status: 404, code: 'NoSuchKey' });
  });

  it('retries 5xx and resets before the body starts', async () => {
    const server = await serve(
      sequence(
        (_req, res) => sendText(res, 503, 'slow down'),
        resetConnection,
        (_req, res) => sendText(res, 200, 'done'),
      ),
    );
    const { http, clock } = client();
    const dl = await http.download('op', `${server.url}/doc.zip`);
    expect(await readAll(dl.stream)).toBe('done');
    expect(server.requests).toHaveLength(3);
    expect(clock.slept).toEqual([50, 100]);
  });
});
