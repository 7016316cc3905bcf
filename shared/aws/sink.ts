import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  type UploadPartCommandInput,
  type UploadPartCommandOutput,
} from '@aws-sdk/client-s3';
import type { BuildMiddleware } from '@smithy/types';
import type { ObjectMeta, Sink, StoredObject } from '../providers/types.ts';

export class ByteCountError extends Error {
  override name = 'ByteCountError';
}

export interface SinkOptions {
  /** Multipart part size; S3's minimum is 5 MiB. */
  partSize?: number;
  /** Parts in flight at once: memory is about partSize * (concurrency + 1). */
  concurrency?: number;
  /** Called once per streamed copy (what was copied from a provider), for the run's byte count. */
  onStored?: (stored: StoredObject) => void;
}

const MiB = 1024 * 1024;
/** S3's smallest part (but the last); parts in flight are what a copy holds in memory. */
const MIN_PART = 5 * MiB;
const MAX_PARTS = 10_000;
/** Server-side copy (used to attach the hash after a multipart upload) is limited to 5 GiB in one request. */
const MAX_SINGLE_COPY = 5 * 1024 * MiB;

function metadata(meta: ObjectMeta, sha256: string): Record<string, string> {
  return {
    sha256,
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

export class S3Sink implements Sink {
  private readonly partSize: number;
  private readonly concurrency: number;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly options: SinkOptions = {},
  ) {
    this.partSize = Math.max(MIN_PART, options.partSize ?? MIN_PART);
    this.concurrency = Math.max(1, options.concurrency ?? 2);
  }

  private async putBuffer(
    key: string,
    body: Buffer,
    meta: ObjectMeta,
    contentType: string,
    condition?: { ifMatch?: string; ifNoneMatch?: string },
  ): Promise<StoredObject> {
    const sha256 = createHash('sha256').update(body).digest('hex');
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: contentType,
        Metadata: metadata(meta, sha256),
        ...(condition?.ifMatch ? { IfMatch: condition.ifMatch } : {}),
        ...(condition?.ifNoneMatch ? { IfNoneMatch: condition.ifNoneMatch } : {}),
      }),
    );
    return { key, sha256, bytes: body.length };
  }

  putJson(key: string, value: unknown, meta: ObjectMeta): Promise<StoredObject> {
    return this.putBuffer(key, Buffer.from(`${JSON.stringify(value, null, 2)}\n`), meta, 'application/json');
  }

  async getText(key: string): Promise<string | undefined> {
    return (await this.getWithEtag(key))?.text;
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

  async putStream(
    key: string,
    body: Readable,
    meta: ObjectMeta & { expectedBytes?: number; onChunk?: (chunk: Buffer) => void },
  ): Promise<StoredObject> {
    const contentType = meta.contentType ?? 'application/octet-stream';
    // S3 allows 10,000 parts: an object announced larger than that many parts gets larger parts.
    const partSize = Math.max(this.partSize, Math.ceil((meta.expectedBytes ?? 0) / MAX_PARTS));
    const hash = createHash('sha256');
    let bytes = 0;
    // One part buffer filled in place: each byte is copied once, and memory is the parts in flight plus one.
    // It starts at the announced size (or small) and doubles up to a part, so a small document costs little.
    const initial = Math.min(partSize, Math.max(64 * 1024, (meta.expectedBytes ?? 0) + 1));
    let part = Buffer.allocUnsafe(initial);
    let filled = 0;
    let uploadId: string | undefined;
    const parts: { PartNumber: number; ETag: string }[] = [];
    let partsStarted = 0;
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;

    const startPart = async (data: Buffer): Promise<void> => {
      if (!uploadId) {
        const created = await this.s3.send(
          new CreateMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            ContentType: contentType,
            Metadata: metadata(meta, 'pending'),
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
      });
      command.middlewareStack.add(unsignedPayload, { step: 'build', name: 'unsignedPartPayload' });
      const job = this.s3
        .send(command)
        .then((out) => {
          parts.push({ PartNumber: partNumber, ETag: out.ETag ?? '' });
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

    try {
      for await (const chunk of body as AsyncIterable<Buffer | string>) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        hash.update(buf);
        bytes += buf.length;
        meta.onChunk?.(buf);
        // A body longer than announced is refused as soon as it shows, not after it was all uploaded.
        if (meta.expectedBytes !== undefined && bytes > meta.expectedBytes) {
          throw new ByteCountError(
            `${key}: got more than the ${meta.expectedBytes} bytes the source announced`,
          );
        }
        let offset = 0;
        while (offset < buf.length) {
          const n = buf.copy(part, filled, offset);
          filled += n;
          offset += n;
          if (filled === part.length && part.length < partSize) {
            const grown = Buffer.allocUnsafe(Math.min(partSize, part.length * 2));
            part.copy(grown, 0, 0, filled);
            part = grown;
          } else if (filled === partSize) {
            const full = part;
            part = Buffer.allocUnsafe(partSize);
            filled = 0;
            await startPart(full);
          }
        }
      }
      if (meta.expectedBytes !== undefined && bytes !== meta.expectedBytes) {
        throw new ByteCountError(`${key}: got ${bytes} bytes, the source announced ${meta.expectedBytes}`);
      }
      const sha256 = hash.digest('hex');
      if (!uploadId) {
        const stored = await this.putBuffer(key, part.subarray(0, filled), meta, contentType);
        this.options.onStored?.(stored);
        return stored;
      }
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
      if (bytes <= MAX_SINGLE_COPY) {
        // The hash is known only at the end; a server-side self-copy attaches it as metadata.
        await this.s3.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: key,
            CopySource: `${this.bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`,
            MetadataDirective: 'REPLACE',
            ContentType: contentType,
            Metadata: metadata(meta, sha256),
          }),
        );
      }
      const stored = { key, sha256, bytes };
      this.options.onStored?.(stored);
      return stored;
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
