import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type PutObjectCommandOutput,
  type S3Client,
  UploadPartCommand,
  type UploadPartCommandInput,
  type UploadPartCommandOutput,
} from '@aws-sdk/client-s3';
import type { BuildMiddleware } from '@smithy/types';
import type { Held, ObjectMeta, Sink, StoredObject } from '../providers/types.ts';

export class ByteCountError extends Error {
  override name = 'ByteCountError';
}

export interface SinkOptions {
  /**
   * Bodies up to this size are held and written whole; multipart uploads (bodies of unannounced size beyond
   * it, or over 5 GiB) use parts of this size. S3's minimum is 5 MiB.
   */
  partSize?: number;
  /** Parts in flight at once: memory is about partSize * (concurrency + 1). */
  concurrency?: number;
  /** Called once per streamed object copied from a provider (not `derived`), for the run's byte count. */
  onStored?: (stored: StoredObject) => void;
}

const MiB = 1024 * 1024;
/** S3's smallest part (but the last). */
const MIN_PART = 5 * MiB;
const DEFAULT_PART = 8 * MiB;
const MAX_PARTS = 10_000;
/** S3's largest single PUT. */
const MAX_SINGLE_PUT = 5 * 1024 * MiB;

/**
 * Where an object's sha256 lives, written once. S3 verifies a SHA-256 checksum sent with every upload and
 * keeps it with the object: HeadObject or GetObject with ChecksumMode ENABLED answer ChecksumSHA256 (base64).
 * For one PUT it is the object's own SHA-256 (ChecksumType FULL_OBJECT); the hash goes with the request (a
 * header for a body held in memory, a trailer after a streamed one), so every byte is written once and the
 * object created once: one "Object Created" event, one version. (The sink used to copy a multipart upload
 * onto itself to attach the hash as metadata: a second write of every byte, version and event.) A body held
 * in memory (up to one part: JSON, month files, small documents) also carries it as hex metadata `sha256`.
 * Multipart uploads (a body of unannounced size beyond one part, or over 5 GiB) get S3's composite checksum
 * (each part's SHA-256 verified); their sha256 is the one putStream returns, recorded wherever the object is
 * named (an invoice line's documents). Without S3 checksums (the local stack's client, for s3rver) only that
 * returned sha256 and the metadata of bodies held whole carry it.
 */
function metadata(meta: ObjectMeta, sha256?: string): Record<string, string> {
  return {
    ...(sha256 ? { sha256 } : {}),
    ...(meta.sameAs ? { 'same-as': meta.sameAs } : {}),
    'source-operation': meta.sourceOperation,
    'run-id': meta.runId,
    'fetched-at': meta.fetchedAt,
  };
}

function isMissing(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return (
    name === 'NoSuchKey' ||
    name === 'NotFound' ||
    (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 404
  );
}

function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return (
    e?.name === 'PreconditionFailed' ||
    e?.$metadata?.httpStatusCode === 412 ||
    e?.$metadata?.httpStatusCode === 409
  );
}

/**
 * Parts are already hashed once for the object's sha256; signing would hash every byte again. S3 takes
 * UNSIGNED-PAYLOAD (the SDK's own choice for streamed bodies), and TLS covers the bytes in transit.
 */
const unsignedPayload: BuildMiddleware<UploadPartCommandInput, UploadPartCommandOutput> =
  (next) => (args) => {
    const request = (args as { request?: { headers?: Record<string, string> } }).request;
    if (request?.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    return next(args);
  };

type StreamMeta = ObjectMeta & {
  expectedBytes?: number;
  onChunk?: (chunk: Buffer) => void;
  derived?: boolean;
};

export class S3Sink implements Sink {
  private readonly partSize: number;
  private readonly concurrency: number;
  private checksums?: Promise<boolean>;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly options: SinkOptions = {},
  ) {
    this.partSize = Math.max(MIN_PART, options.partSize ?? DEFAULT_PART);
    this.concurrency = Math.max(1, options.concurrency ?? 2);
  }

  /**
   * Whether the client sends the checksums S3 verifies without requiring them: the SDK's default. The local
   * stack's client turns them off (WHEN_REQUIRED) because s3rver stores aws-chunked framing verbatim and keeps
   * no checksum; there the hash is only the one the sink returns, and the metadata of bodies held whole.
   */
  private withChecksums(): Promise<boolean> {
    this.checksums ??= this.s3.config.requestChecksumCalculation().then((when) => when !== 'WHEN_REQUIRED');
    return this.checksums;
  }

  private async putBuffer(
    key: string,
    body: Buffer,
    meta: ObjectMeta,
    contentType: string,
    condition?: { ifMatch?: string; ifNoneMatch?: string },
  ): Promise<StoredObject> {
    const digest = createHash('sha256').update(body).digest();
    const sha256 = digest.toString('hex');
    const checksum: Partial<PutObjectCommandInput> = (await this.withChecksums())
      ? { ChecksumAlgorithm: 'SHA256', ChecksumSHA256: digest.toString('base64') }
      : {};
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: contentType,
        Metadata: metadata(meta, sha256),
        ...checksum,
        ...(condition?.ifMatch ? { IfMatch: condition.ifMatch } : {}),
        ...(condition?.ifNoneMatch ? { IfNoneMatch: condition.ifNoneMatch } : {}),
      }),
    );
    return { key, sha256, bytes: body.length };
  }

  async holds(key: string, sha256: string, sameAs?: string): Promise<Held | undefined> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const meta = head.Metadata ?? {};
      const same = meta.sha256 === sha256 || (sameAs !== undefined && meta['same-as'] === sameAs);
      if (!same) return undefined;
      return meta['run-id'] ? { runId: meta['run-id'] } : {};
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  putJson(key: string, value: unknown, meta: ObjectMeta): Promise<StoredObject> {
    return this.putBuffer(key, Buffer.from(`${JSON.stringify(value, null, 2)}\n`), meta, 'application/json');
  }

  async getText(key: string): Promise<string | undefined> {
    return (await this.getWithEtag(key))?.text;
  }

  async getStream(key: string): Promise<Readable | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      // In Node the SDK's body is an http.IncomingMessage, a Readable; an empty object may come without one.
      return (out.Body as Readable | undefined) ?? Readable.from([]);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  private async getWithEtag(key: string): Promise<{ text: string; etag?: string } | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const text = (await out.Body?.transformToString('utf8')) ?? '';
      return { text, ...(out.ETag ? { etag: out.ETag } : {}) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async mergeJsonl<T extends Record<string, unknown>>(
    key: string,
    records: readonly T[],
    idField: keyof T & string,
    meta: ObjectMeta,
  ): Promise<StoredObject> {
    // A conditional write on the ETag keeps two writers of the same month file from losing each other's lines.
    for (let attempt = 0; ; attempt++) {
      const existing = await this.getWithEtag(key);
      const byId = new Map<string, string>();
      for (const line of existing?.text.split('\n') ?? []) {
        if (!line.trim()) continue;
        const parsed = JSON.parse(line) as Record<string, unknown>;
        byId.set(String(parsed[idField]), line);
      }
      for (const r of records) byId.set(String(r[idField]), JSON.stringify(r));
      const body = Buffer.from(
        `${[...byId.entries()]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([, line]) => line)
          .join('\n')}\n`,
      );
      try {
        return await this.putBuffer(
          key,
          body,
          meta,
          'application/x-ndjson',
          existing?.etag ? { ifMatch: existing.etag } : { ifNoneMatch: '*' },
        );
      } catch (err) {
        if (!isPreconditionFailed(err) || attempt >= 5) throw err;
      }
    }
  }

  async putStream(key: string, body: Readable, meta: StreamMeta): Promise<StoredObject> {
    const size = meta.expectedBytes;
    // One streamed PUT carries the object's own SHA-256; without S3 checksums there is nothing to carry, and
    // parts (each retried on its own, an aborted upload leaving nothing behind even on s3rver) are kept.
    const stored =
      size !== undefined && size > this.partSize && size <= MAX_SINGLE_PUT && (await this.withChecksums())
        ? await this.putStreamed(key, body, meta, size)
        : await this.putInParts(key, body, meta);
    if (!meta.derived) this.options.onStored?.(stored);
    return stored;
  }

  /**
   * A body of announced size, streamed through in one PUT: nothing is held beyond the stream's own buffers.
   * The SDK hashes it on the way and sends the SHA-256 as a trailer; S3 checks it, keeps it, and answers it,
   * and that answer is the sha256 returned (hashing here too would read every byte a second time). The SDK
   * does not retry a streamed body (it cannot rewind it): a failed PUT fails the message, whose retry copies
   * the body again.
   */
  private async putStreamed(
    key: string,
    body: Readable,
    meta: StreamMeta,
    size: number,
  ): Promise<StoredObject> {
    let bytes = 0;
    let failure: unknown;
    const abort = new AbortController();
    // The SDK re-emits an error of the body it sends on a stream of its own that nobody listens to (an
    // uncaught exception), so a failure never errors `counted`: the request is aborted and the body left
    // unended, and S3, never given the last chunk and trailer, stores nothing.
    const fail = (err: unknown) => {
      if (failure) return;
      failure = err;
      body.unpipe(counted);
      body.destroy();
      abort.abort(err);
    };
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done: TransformCallback) {
        if (failure) return done();
        bytes += chunk.length;
        // A body longer than announced is refused as soon as it shows, not after it was all sent.
        if (bytes > size) {
          fail(new ByteCountError(`${key}: got more than the ${size} bytes the source announced`));
          return done();
        }
        try {
          meta.onChunk?.(chunk);
        } catch (err) {
          fail(err);
          return done();
        }
        done(null, chunk);
      },
      flush(done: TransformCallback) {
        if (bytes === size) return done();
        fail(new ByteCountError(`${key}: got ${bytes} bytes, the source announced ${size}`));
      },
    });
    body.on('error', fail);
    body.pipe(counted);
    let out: PutObjectCommandOutput;
    try {
      out = await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: counted,
          ContentLength: size,
          ContentType: meta.contentType ?? 'application/octet-stream',
          Metadata: metadata(meta),
          ChecksumAlgorithm: 'SHA256',
        }),
        { abortSignal: abort.signal },
      );
    } catch (err) {
      fail(err);
      throw failure;
    }
    if (failure) throw failure;
    if (!out.ChecksumSHA256) throw new Error(`${key}: S3 did not answer the SHA-256 it stored`);
    return { key, sha256: Buffer.from(out.ChecksumSHA256, 'base64').toString('hex'), bytes };
  }

  /** Held in one part buffer; written whole when the body fits in one part, else as a multipart upload. */
  private async putInParts(key: string, body: Readable, meta: StreamMeta): Promise<StoredObject> {
    const contentType = meta.contentType ?? 'application/octet-stream';
    // S3 allows 10,000 parts: an object announced larger than that many parts gets larger parts.
    const partSize = Math.max(this.partSize, Math.ceil((meta.expectedBytes ?? 0) / MAX_PARTS));
    const checksums = await this.withChecksums();
    const hash = createHash('sha256');
    let bytes = 0;
    // One part buffer filled in place: each byte is copied once.
    // It starts at the announced size (or small) and doubles up to a part, so a small document costs little.
    const initial = Math.min(partSize, Math.max(64 * 1024, (meta.expectedBytes ?? 0) + 1));
    let part: Buffer = Buffer.allocUnsafe(initial);
    let filled = 0;
    let uploadId: string | undefined;
    const parts: { PartNumber: number; ETag: string; ChecksumSHA256?: string }[] = [];
    let partsStarted = 0;
    const inFlight = new Set<Promise<void>>();
    // Buffers of parts already sent, filled again: memory stays at the parts in flight plus one.
    const spare: Buffer[] = [];
    let failure: unknown;

    const startPart = async (data: Buffer): Promise<void> => {
      if (!uploadId) {
        const created = await this.s3.send(
          new CreateMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            ContentType: contentType,
            Metadata: metadata(meta),
            ...(checksums ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
          }),
        );
        uploadId = created.UploadId;
        if (!uploadId) throw new Error(`S3 gave no upload id for ${key}`);
      }
      const partNumber = ++partsStarted;
      const command = new UploadPartCommand({
        Bucket: this.bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: data,
        ContentLength: data.length,
        ...(checksums ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
      });
      command.middlewareStack.add(unsignedPayload, { step: 'build', name: 'unsignedPartPayload' });
      const job = this.s3
        .send(command)
        .then((out) => {
          parts.push({
            PartNumber: partNumber,
            ETag: out.ETag ?? '',
            ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
          });
          if (data.length === partSize) spare.push(data);
        })
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inFlight.delete(job));
      inFlight.add(job);
      // Backpressure: the source is not read further while the window of parts is full.
      while (inFlight.size >= this.concurrency) await Promise.race(inFlight);
      if (failure) throw failure;
    };

    /** The part buffer, grown (doubling, up to a part) to hold at least `size` bytes. */
    const grow = (size: number) => {
      const grown = Buffer.allocUnsafe(Math.min(partSize, Math.max(part.length * 2, size)));
      part.copy(grown, 0, 0, filled);
      part = grown;
    };
    const counted = (n: number) => {
      bytes += n;
      if (meta.expectedBytes !== undefined && bytes > meta.expectedBytes) {
        throw new ByteCountError(
          `${key}: got more than the ${meta.expectedBytes} bytes the source announced`,
        );
      }
    };
    /** A full part goes out, and the next fills a spare buffer. */
    const sendIfFull = async () => {
      if (filled < partSize) return;
      const full = part;
      part = spare.pop() ?? Buffer.allocUnsafe(partSize);
      filled = 0;
      await startPart(full);
    };

    try {
      for await (const chunk of body as AsyncIterable<Buffer | string>) {
        // Text is encoded straight into the part when it fits: no buffer of its own, so none left for the
        // GC (a month file's lines would otherwise leave their whole size of buffers behind it).
        if (typeof chunk === 'string' && !meta.onChunk) {
          const n = Buffer.byteLength(chunk);
          if (filled + n > part.length && part.length < partSize) grow(filled + n);
          if (filled + n <= part.length) {
            part.write(chunk, filled);
            hash.update(part.subarray(filled, filled + n));
            filled += n;
            counted(n);
            await sendIfFull();
            continue;
          }
        }
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        hash.update(buf);
        meta.onChunk?.(buf);
        counted(buf.length);
        let offset = 0;
        while (offset < buf.length) {
          const n = buf.copy(part, filled, offset);
          filled += n;
          offset += n;
          if (filled === part.length && part.length < partSize) grow(filled + 1);
          else await sendIfFull();
        }
      }
      if (meta.expectedBytes !== undefined && bytes !== meta.expectedBytes) {
        throw new ByteCountError(`${key}: got ${bytes} bytes, the source announced ${meta.expectedBytes}`);
      }
      if (!uploadId) return await this.putBuffer(key, part.subarray(0, filled), meta, contentType);
      if (filled > 0) await startPart(part.subarray(0, filled));
      await Promise.all(inFlight);
      if (failure) throw failure;
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
      uploadId = undefined;
      return { key, sha256: hash.digest('hex'), bytes };
    } catch (err) {
      body.destroy();
      await Promise.allSettled(inFlight);
      if (uploadId) {
        await this.s3
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }))
          .catch(() => undefined);
      }
      throw err;
    }
  }
}
