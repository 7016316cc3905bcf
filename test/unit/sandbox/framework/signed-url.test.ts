import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimClock } from '../../../../infra/sandbox/framework/clock.ts';
import { json } from '../../../../infra/sandbox/framework/http.ts';
import {
  createSimServer,
  type SimServer,
  type SimServerOptions,
} from '../../../../infra/sandbox/framework/server.ts';
import { type DownloadSource, generatedStream } from '../../../../infra/sandbox/framework/signed-url.ts';

const servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const DOC = Buffer.from('PK\u0003\u0004 a tiny zip-looking document');

function source(key: string): DownloadSource | undefined {
  const doc = /^exports\/E1\/(doc-\d+\.zip)$/.exec(key);
  if (doc) {
    return {
      contentLength: DOC.length,
      contentType: 'application/zip',
      filename: doc[1],
      body: () => Readable.from([DOC]),
    };
  }
  const big = /^big\/(\d+)$/.exec(key);
  if (big) {
    const size = Number(big[1]);
    return {
      contentLength: size,
      contentType: 'application/octet-stream',
      body: () => generatedStream(size, key),
    };
  }
  return undefined;
}

async function start(extra: Partial<SimServerOptions> = {}) {
  let real = 1_700_000_000_000;
  const clock = createSimClock({ timeScale: 60, realNow: () => real });
  const sim = await createSimServer({
    name: 'docs',
    clock,
    seed: 9,
    downloads: { open: source },
    routes: [
      {
        method: 'GET',
        path: '/documents/:id',
        operation: 'getInvoicesDocument',
        handler: (req, ctx) =>
          json(200, {
            invoicesDocumentUrl: ctx.downloads.issue(`exports/E1/${req.params.id}`, { ttlSeconds: 30 }),
          }),
      },
    ],
    ...extra,
  });
  servers.push(sim);
  return { sim, tick: (realMs: number) => (real += realMs) };
}

async function fetchUrl(sim: SimServer, id = 'doc-1.zip'): Promise<string> {
  const res = await request(`${sim.url}/documents/${id}`);
  return ((await res.body.json()) as { invoicesDocumentUrl: string }).invoicesDocumentUrl;
}

async function download(url: string) {
  const res = await request(url);
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

describe('pre-signed download URLs', () => {
  it('look like S3 pre-signed URLs and serve the bytes with length, type and file name', async () => {
    const { sim } = await start();
    const url = await fetchUrl(sim);
    const u = new URL(url);
    expect(u.origin).toBe(sim.url);
    expect(u.pathname).toMatch(/^\/__download\/[A-Za-z0-9_-]+$/);
    expect(u.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(u.searchParams.get('X-Amz-Expires')).toBe('30');
    expect(u.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);

    const got = await download(url);
    expect(got.status).toBe(200);
    expect(got.body.equals(DOC)).toBe(true);
    expect(got.headers['content-length']).toBe(String(DOC.length));
    expect(got.headers['content-type']).toBe('application/zip');
    expect(got.headers['content-disposition']).toBe('attachment; filename="doc-1.zip"');
    expect(got.headers['x-amz-request-id']).toBeDefined();
    expect(sim.stats().operations.download).toMatchObject({ requests: 1, statuses: { 200: 1 } });
  });

  it('expire after their TTL in simulated time with S3 403 AccessDenied XML', async () => {
    const { sim, tick } = await start();
    const url = await fetchUrl(sim);
    tick(400); // 24 simulated seconds of 30
    expect((await download(url)).status).toBe(200);
    tick(200); // 36 simulated seconds
    const expired = await download(url);
    expect(expired.status).toBe(403);
    expect(expired.headers['content-type']).toBe('application/xml');
    const xml = expired.body.toString();
    expect(xml).toContain('<Error><Code>AccessDenied</Code><Message>Request has expired</Message>');
    // A fresh URL works again: what a client does after an expired link.
    expect((await download(await fetchUrl(sim))).status).toBe(200);
  });

  it('refuse a tampered signature or a stretched expiry, without echoing the signature', async () => {
    const { sim } = await start();
    const url = new URL(await fetchUrl(sim));
    const signature = url.searchParams.get('X-Amz-Signature')!;

    const tampered = new URL(url);
    tampered.searchParams.set(
      'X-Amz-Signature',
      `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`,
    );
    const bad = await download(tampered.toString());
    expect(bad.status).toBe(403);
    expect(bad.body.toString()).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect(bad.body.toString()).not.toContain(signature.slice(0, 20));

    const stretched = new URL(url);
    stretched.searchParams.set('X-Amz-Expires', '604800');
    expect((await download(stretched.toString())).status).toBe(403);

    const otherKey = new URL(url);
    otherKey.pathname = `/__download/${Buffer.from('big/10').toString('base64url')}`;
    expect((await download(otherKey.toString())).status).toBe(403);

    const unsigned = new URL(url);
    unsigned.search = '';
    const missing = await download(unsigned.toString());
    expect(missing.status).toBe(403);
    expect(missing.body.toString()).toContain('<Code>AccessDenied</Code>');
  });

  it('answer a validly signed URL for a key the simulator does not know with 404 NoSuchKey', async () => {
    const { sim } = await start();
    const url = sim.downloads.issue('nothing/here', { ttlSeconds: 60 });
    const res = await download(url);
    expect(res.status).toBe(404);
    expect(res.body.toString()).toContain('<Code>NoSuchKey</Code>');
  });

  it('answer as expired on first use for the injected share, deterministically, and stay expired', async () => {
    const outcomes = async () => {
      const { sim } = await start({ faults: { expiredUrlRate: 0.5 } });
      const statuses: number[] = [];
      for (let i = 0; i < 24; i++)
        statuses.push((await download(await fetchUrl(sim, `doc-${i % 6}.zip`))).status);
      return { sim, statuses };
    };
    const a = await outcomes();
    const b = await outcomes();
    expect(b.statuses).toEqual(a.statuses);
    expect(new Set(a.statuses)).toEqual(new Set([200, 403]));
    expect(a.sim.stats().faults.total.expiredUrl).toBe(a.statuses.filter((s) => s === 403).length);

    const { sim } = await start({ faults: { expiredUrlRate: 1 } });
    const url = await fetchUrl(sim);
    const first = await download(url);
    expect(first.status).toBe(403);
    expect(first.body.toString()).toContain('<Message>Request has expired</Message>');
    expect((await download(url)).status).toBe(403);
  });

  it('refuse to issue without a download source or with a bad TTL', async () => {
    const plain = await createSimServer({ name: 'plain', routes: [] });
    servers.push(plain);
    expect(() => plain.downloads.issue('k', { ttlSeconds: 30 })).toThrow(/serves no downloads/);
    const { sim } = await start();
    expect(() => sim.downloads.issue('k', { ttlSeconds: 0 })).toThrow(
      'ttlSeconds must be a positive integer, got 0',
    );
  });

  it('stream a 200 MB generated download without buffering it', async () => {
    const { sim } = await start();
    const size = 200 * 1024 * 1024;
    const url = sim.downloads.issue(`big/${size}`, { ttlSeconds: 3600 });
    const res = await request(url);
    expect(res.headers['content-length']).toBe(String(size));
    const before = process.memoryUsage().rss;
    let peak = before;
    let received = 0;
    const hash = createHash('sha256');
    for await (const chunk of res.body) {
      received += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
      if ((received & 0xfffff) < (chunk as Buffer).length) peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(received).toBe(size);
    // Client and server share this process: had either side held the body, RSS would grow by 200 MB or
    // more. Streaming settles at a few tens of MB (garbage chunks waiting for the GC).
    expect(peak - before).toBeLessThan(128 * 1024 * 1024);

    // Same key, same bytes: generated content is deterministic.
    const again = createHash('sha256');
    for await (const chunk of generatedStream(size, `big/${size}`)) again.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(again.digest('hex'));
  });
});
