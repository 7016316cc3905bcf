import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

/**
 * Copies the bucket into a directory through the S3 API (as anyone with read access could), so the result
 * of a local run can be browsed as files. Keys become relative paths; a key that would land outside the
 * directory is refused, never written.
 */

export interface MirrorOptions {
  s3: S3Client;
  bucket: string;
  dir: string;
  /** Only keys under this prefix. */
  prefix?: string;
}

export interface MirrorResult {
  dir: string;
  objects: number;
  bytes: number;
  /** Keys not written because their path is unsafe, with why. */
  refused: Array<{ key: string; reason: string }>;
  /** Keys whose copy failed (e.g. a key that is both an object and a "folder"); the others are still copied. */
  failed: Array<{ key: string; error: string }>;
}

/** The file a key mirrors to, or the reason it may not be written. */
export function mirrorPath(dir: string, key: string): { path: string } | { refused: string } {
  const root = resolve(dir);
  if (!key || key.endsWith('/')) return { refused: 'folder placeholder, not an object' };
  if (key.includes('\0')) return { refused: 'contains a NUL character' };
  const segments = key.split('/');
  if (isAbsolute(key) || segments.some((s) => s === '..' || s === '.' || s === '')) {
    return { refused: 'has an absolute, empty, "." or ".." path segment' };
  }
  if (key.includes('\\')) return { refused: 'contains a backslash' };
  const path = resolve(root, ...segments);
  const rel = relative(root, path);
  if (!rel || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    return { refused: 'would be written outside the mirror directory' };
  }
  return { path };
}

export async function mirrorBucket(options: MirrorOptions): Promise<MirrorResult> {
  const dir = resolve(options.dir);
  await mkdir(dir, { recursive: true });
  const result: MirrorResult = { dir, objects: 0, bytes: 0, refused: [], failed: [] };
  let token: string | undefined;
  do {
    const page = await options.s3.send(
      new ListObjectsV2Command({
        Bucket: options.bucket,
        ...(options.prefix ? { Prefix: options.prefix } : {}),
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const item of page.Contents ?? []) {
      const key = item.Key ?? '';
      const target = mirrorPath(dir, key);
      if ('refused' in target) {
        result.refused.push({ key, reason: target.refused });
        continue;
      }
      try {
        result.bytes += await download(options.s3, options.bucket, key, target.path);
        result.objects++;
      } catch (err) {
        result.failed.push({ key, error: (err as Error).message });
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return result;
}

/** Streams one object to a temporary file beside the target, then renames it: no half-written files. */
async function download(s3: S3Client, bucket: string, key: string, path: string): Promise<number> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomUUID()}.partial`;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (!out.Body) throw new Error(`object ${key} has no body`);
    await pipeline(out.Body as Readable, createWriteStream(tmp));
    const { size } = await stat(tmp);
    await rename(tmp, path);
    return size;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
