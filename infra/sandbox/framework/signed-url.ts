import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import type { SimClock } from './clock.ts';
import { s3XmlError } from './errors.ts';
import type { FaultInjector } from './faults.ts';
import { type SimReply, stream, text } from './http.ts';
import { hash32, type Seed } from './seed.ts';

/**
 * Pre-signed-looking download URLs served by the simulator that issued them:
 * `/__download/<id>?X-Amz-Algorithm=...&X-Amz-Date=...&X-Amz-Expires=<s>&X-Amz-Signature=<hmac>`.
 * Valid for a TTL in SIMULATED seconds (SP-API's "expires after 30 seconds" is 0.5 real seconds at
 * time scale 60). Stateless: the id is the simulator's document key and the HMAC covers id, date and
 * TTL, so nothing is kept per URL; the bytes come from the simulator's `open(key)` as a stream.
 * With a `seed` the signing key is derived from it, so one seed and one clock issue the same URLs on
 * every run (a sandbox is not a place for secrets).
 */

export const DOWNLOAD_PREFIX = '/__download/';

export interface DownloadSource {
  /** Exact byte count of `body()`: sent as Content-Length. */
  contentLength: number;
  contentType?: string;
  /** Sent as Content-Disposition: attachment; filename="...". */
  filename?: string;
  /** A fresh stream of the bytes on each call (generate them: nothing needs to sit in memory). */
  body(): Readable;
}

export type OpenDownload = (key: string) => DownloadSource | undefined | Promise<DownloadSource | undefined>;

const amzDate = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

const encodeKey = (key: string) => Buffer.from(key, 'utf8').toString('base64url');

export interface SignedUrlsOptions {
  clock: SimClock;
  faults: FaultInjector;
  /** Base URL of the serving simulator (known once it listens). */
  baseUrl: () => string;
  open?: OpenDownload;
  /** Derives the signing key (createSimServer passes its seed and name); default: random bytes. */
  seed?: Seed;
}

export class SignedUrls {
  private readonly secret: Buffer;
  private readonly issued = new Map<string, number>();
  /** Signatures of URLs a fault made expired: they stay expired, as a real expired link does. */
  private readonly forcedExpired = new Set<string>();

  constructor(private readonly options: SignedUrlsOptions) {
    this.secret =
      options.seed === undefined
        ? randomBytes(32)
        : createHash('sha256').update(`signed-url\u241f${options.seed}`).digest();
  }

  private sign(id: string, date: string, expires: string): string {
    return createHmac('sha256', this.secret).update(`${id}\n${date}\n${expires}`).digest('hex');
  }

  /** A URL for the simulator's download `key`, valid for `ttlSeconds` simulated seconds from now. */
  issue(key: string, opts: { ttlSeconds: number }): string {
    if (!this.options.open)
      throw new Error('this simulator serves no downloads: pass `downloads` to createSimServer');
    if (!(Number.isInteger(opts.ttlSeconds) && opts.ttlSeconds > 0)) {
      throw new RangeError(`ttlSeconds must be a positive integer, got ${opts.ttlSeconds}`);
    }
    const id = encodeKey(key);
    const date = amzDate(this.options.clock.simNow());
    const expires = String(opts.ttlSeconds);
    const signature = this.sign(id, date, expires);
    const ordinal = (this.issued.get(key) ?? 0) + 1;
    this.issued.set(key, ordinal);
    // Two links for one key in the same simulated second share a signature: the one issued last decides,
    // so a fresh link is not expired just because its twin was.
    if (this.options.faults.shouldExpireUrl(key, ordinal)) this.forcedExpired.add(signature);
    else this.forcedExpired.delete(signature);
    const day = date.slice(0, 8);
    const query = new URLSearchParams({
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': `ASIASANDBOX${(hash32(key) % 1e6).toString().padStart(6, '0')}/${day}/us-east-1/s3/aws4_request`,
      'X-Amz-Date': date,
      'X-Amz-Expires': expires,
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': signature,
    });
    return `${this.options.baseUrl()}${DOWNLOAD_PREFIX}${id}?${query}`;
  }

  /** Answers `GET /__download/:id`: S3's 403 XML when expired or tampered, else the bytes as a stream. */
  async serve(id: string, query: URLSearchParams, requestId: string): Promise<SimReply> {
    const date = query.get('X-Amz-Date') ?? '';
    const expires = query.get('X-Amz-Expires') ?? '';
    const given = query.get('X-Amz-Signature') ?? '';
    const deny = (code: string, message: string, extra: Record<string, string> = {}) =>
      text(403, s3XmlError(code, message, { ...extra, RequestId: requestId }), {
        contentType: 'application/xml',
      });

    if (query.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' || !date || !expires || !given) {
      return deny(
        'AccessDenied',
        'Query-string authentication requires the X-Amz-Algorithm, X-Amz-Date, X-Amz-Expires and X-Amz-Signature parameters',
      );
    }
    const expected = Buffer.from(this.sign(id, date, expires), 'hex');
    const provided = /^[0-9a-f]{64}$/.test(given) ? Buffer.from(given, 'hex') : Buffer.alloc(0);
    if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
      // S3 echoes the string to sign and the signature; neither belongs in an answer that may be logged.
      return deny(
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.',
      );
    }
    const issuedAt = parseAmzDate(date)!;
    const expiresAt = issuedAt + Number(expires) * 1000;
    const now = this.options.clock.simNow();
    const forced = this.forcedExpired.has(given);
    if (now > expiresAt || forced) {
      if (forced) this.options.faults.record('expiredUrl', 'download');
      return deny('AccessDenied', 'Request has expired', {
        'X-Amz-Expires': expires,
        Expires: new Date(expiresAt).toISOString(),
        ServerTime: new Date(now).toISOString(),
      });
    }
    const key = Buffer.from(id, 'base64url').toString('utf8');
    const source = await this.options.open?.(key);
    if (!source) {
      return text(
        404,
        s3XmlError('NoSuchKey', 'The specified key does not exist.', { RequestId: requestId }),
        {
          contentType: 'application/xml',
        },
      );
    }
    return stream(200, source.body(), {
      contentLength: source.contentLength,
      contentType: source.contentType,
      headers: source.filename ? { 'content-disposition': `attachment; filename="${source.filename}"` } : {},
    });
  }
}

/**
 * `totalBytes` of deterministic bytes as a stream: one 64 KiB block drawn from the seed, repeated, so
 * a download of any size costs one block of memory.
 */
export function generatedStream(totalBytes: number, seed: string | number = 0): Readable {
  if (!(Number.isSafeInteger(totalBytes) && totalBytes >= 0)) {
    throw new RangeError(`totalBytes must be a non-negative integer, got ${totalBytes}`);
  }
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE(hash32(seed, i), i);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= totalBytes) {
        this.push(null);
        return;
      }
      const n = Math.min(block.length, totalBytes - sent);
      sent += n;
      // The block is never written again, so consumers may keep the slices they get.
      this.push(block.subarray(0, n));
    },
  });
}
