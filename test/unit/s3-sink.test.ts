import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ByteCountError, S3Sink } from '../../shared/aws/sink.ts';
import type { StoredObject } from '../../shared/providers/types.ts';

/**
 * The sink as it runs in Lambda, with the SDK's default checksums (s3rver, in runtime-aws.test.ts, has none).
 * The endpoint plays S3's part in the checksum: it decodes a streamed (aws-chunked) body, checks the SHA-256
 * sent with a body (header or trailer) against the bytes, refuses a mismatch (BadDigest) and answers the
 * SHA-256 it verified. Requests cut off before their end are recorded as incomplete.
 */
interface Seen {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  /** The object bytes (aws-chunked framing removed). */
  body: Buffer;
  trailer: Record<string, string>;
  complete: boolean;
}

const seen: Seen[] = [];
let server: Server;
let endpoint: string;

function decodeAwsChunked(raw: Buffer): { body: Buffer; trailer: Record<string, string> } {
  const parts: Buffer[] = [];
  const trailer: Record<string, string> = {};
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    const size = Number.parseInt(raw.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
    at = eol + 2;
    if (size === 0) break;
    parts.push(raw.subarray(at, at + size));
    at += size + 2;
  }
  for (const line of raw.subarray(at).toString('latin1').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) trailer[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return { body: Buffer.concat(parts), trailer };
}

const sha = (b: Buffer) => createHash('sha256').update(b);

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    const entry: Seen = {
      method: req.method ?? '',
      url,
      headers: req.headers,
      body: Buffer.alloc(0),
      trailer: {},
      complete: false,
    };
    seen.push(entry);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      entry.complete = true;
      const raw = Buffer.concat(chunks);
      const chunked = String(req.headers['content-encoding'] ?? '').includes('aws-chunked');
      Object.assign(entry, chunked ? decodeAwsChunked(raw) : { body: raw });
      const sent = req.headers['x-amz-checksum-sha256'] ?? entry.trailer['x-amz-checksum-sha256'];
      res.setHeader('content-type', 'application/xml');
      if (typeof sent === 'string') {
        const actual = sha(entry.body).digest('base64');
        if (sent !== actual) {
          res.statusCode = 400;
          return void res.end('<Error><Code>BadDigest</Code><Message>checksum mismatch</Message></Error>');
        }
        res.setHeader('x-amz-checksum-sha256', actual);
      }
      if (req.method === 'POST' && url.searchParams.has('uploads')) {
        return void res.end(
          '<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>',
        );
      }
      if (req.method === 'POST' && url.searchParams.has('uploadId')) {
        return void res.end(
          '<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"e"</ETag></CompleteMultipartUploadResult>',
        );
      }
      res.setHeader('etag', `"${createHash('md5').update(entry.body).digest('hex')}"`);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  seen.length = 0;
});

const sink = (options: { onStored?: (stored: StoredObject) => void } = {}) =>
  new S3Sink(
    new S3Client({
      region: 'us-east-1',
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }),
    'bucket',
    { partSize: 5 * 1024 * 1024, ...options },
  );
const meta = { sourceOperation: 'test', runId: 'r', fetchedAt: '2026-01-01T00:00:00.000Z' };

function patterned(bytes: number): { stream: Readable; content: Buffer } {
  const content = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) content[i] = (i * 7 + (i >> 13)) % 251;
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes; at += 100_000) chunks.push(content.subarray(at, at + 100_000));
  return { stream: Readable.from(chunks), content };
}

describe('S3 sink with S3 checksums (as in Lambda)', () => {
  it('streams a body of announced size in one PUT whose SHA-256 S3 verified, and returns that hash', async () => {
    const size = 12 * 1024 * 1024 + 7;
    const { stream, content } = patterned(size);
    const stored = await sink().putStream('documents/a.pdf', stream, {
      ...meta,
      contentType: 'application/pdf',
      expectedBytes: size,
    });
    expect(stored).toEqual({ key: 'documents/a.pdf', sha256: sha(content).digest('hex'), bytes: size });
    expect(seen.map((r) => `${r.method} ${r.url.pathname}`)).toEqual(['PUT /bucket/documents/a.pdf']);
    const put = seen[0]!;
    expect(put.body.equals(content)).toBe(true);
    expect(put.trailer['x-amz-checksum-sha256']).toBe(sha(content).digest('base64'));
    expect(put.headers['content-type']).toBe('application/pdf');
    expect(put.headers['x-amz-meta-source-operation']).toBe('test');
    expect(put.headers['x-amz-meta-sha256']).toBeUndefined();
  });

  it('writes a body held whole in one PUT with its SHA-256 as checksum and as metadata', async () => {
    const stored = await sink().putJson('raw/x.json', { a: 1 }, meta);
    expect(seen).toHaveLength(1);
    const put = seen[0]!;
    expect(put.headers['x-amz-checksum-sha256']).toBe(sha(put.body).digest('base64'));
    expect(put.headers['x-amz-meta-sha256']).toBe(stored.sha256);
    expect(stored.sha256).toBe(sha(put.body).digest('hex'));
  });

  it('refuses a body shorter or longer than announced, and its PUT never completes', async () => {
    const size = 7 * 1024 * 1024;
    for (const actual of [6 * 1024 * 1024, 8 * 1024 * 1024]) {
      seen.length = 0;
      await expect(
        sink().putStream('documents/short.bin', patterned(actual).stream, { ...meta, expectedBytes: size }),
      ).rejects.toThrow(ByteCountError);
      // Give the endpoint time to see the connection close.
      await new Promise((r) => setTimeout(r, 50));
      expect(seen.filter((r) => r.complete)).toEqual([]);
    }
  });

  it('fails with the error of the source when the download breaks, and its PUT never completes', async () => {
    const size = 7 * 1024 * 1024;
    const broken = new Readable({ read() {} });
    broken.push(Buffer.alloc(3 * 1024 * 1024, 1));
    setTimeout(() => broken.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), 20);
    await expect(
      sink().putStream('documents/broken.bin', broken, { ...meta, expectedBytes: size }),
    ).rejects.toThrow('socket hang up');
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.filter((r) => r.complete)).toEqual([]);
  });

  it('uploads a body of unannounced size in parts, each part SHA-256 verified, with no copy afterwards', async () => {
    const size = 12 * 1024 * 1024 + 3;
    const { stream, content } = patterned(size);
    const stored = await sink().putStream('exports/b.zip', stream, meta);
    expect(stored).toEqual({ key: 'exports/b.zip', sha256: sha(content).digest('hex'), bytes: size });
    expect(seen.map((r) => r.method)).toEqual(['POST', 'PUT', 'PUT', 'PUT', 'POST']);
    expect(seen[0]!.headers['x-amz-checksum-algorithm']).toBe('SHA256');
    const parts = seen.slice(1, 4);
    expect(Buffer.concat(parts.map((p) => p.body)).equals(content)).toBe(true);
    for (const p of parts) expect(p.headers['x-amz-checksum-sha256']).toBe(sha(p.body).digest('base64'));
    const complete = seen[4]!.body.toString('utf8');
    for (const p of parts)
      expect(complete).toContain(`<ChecksumSHA256>${p.headers['x-amz-checksum-sha256']}</ChecksumSHA256>`);
    expect(seen.some((r) => r.headers['x-amz-copy-source'])).toBe(false);
  });

  it('stores text chunks as their UTF-8 bytes, whole and across part boundaries', async () => {
    // Lines of multi-byte characters in chunks of uneven sizes, so chunks and characters straddle parts.
    const chunks: string[] = [];
    for (let i = 0; chunks.join('').length < 6_000_000; i++)
      chunks.push(`{"n":${i},"name":"Fatura nº ${i} – São Paulo €"}\n`.repeat(1 + (i % 4_000)));
    const content = Buffer.from(chunks.join(''), 'utf8');
    const stored = await sink().putStream('invoices/m.jsonl', Readable.from(chunks), meta);
    expect(stored).toEqual({
      key: 'invoices/m.jsonl',
      sha256: sha(content).digest('hex'),
      bytes: content.length,
    });
    // Parts in flight together may arrive in either order.
    const parts = seen
      .filter((r) => r.method === 'PUT')
      .sort(
        (a, b) => Number(a.url.searchParams.get('partNumber')) - Number(b.url.searchParams.get('partNumber')),
      );
    expect(parts.length).toBeGreaterThan(1);
    expect(Buffer.concat(parts.map((p) => p.body)).equals(content)).toBe(true);

    seen.length = 0;
    const small = await sink().putStream(
      'invoices/s.jsonl',
      Readable.from(['{"a":"ç"}\n', '{"b":1}\n']),
      meta,
    );
    expect(small.bytes).toBe(Buffer.byteLength('{"a":"ç"}\n{"b":1}\n'));
    expect(seen.map((r) => r.body.toString('utf8'))).toEqual(['{"a":"ç"}\n{"b":1}\n']);
  });
  it('counts the bytes of what it copied for the run, not of the files made from them (derived)', async () => {
    const counted: string[] = [];
    const counting = sink({ onStored: (s) => counted.push(`${s.key} ${s.bytes}`) });
    await counting.putStream('documents/a.pdf', Readable.from([Buffer.alloc(10)]), {
      ...meta,
      expectedBytes: 10,
    });
    await counting.putStream('invoices/m.jsonl', Readable.from(['{"a":1}\n']), { ...meta, derived: true });
    expect(counted).toEqual(['documents/a.pdf 10']);
  });
});
