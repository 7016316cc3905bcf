import { Transform } from 'node:stream';
import { Unzip, type UnzipFile, UnzipInflate } from 'fflate';
import { numberEnv } from '../../runtime/env.ts';

/**
 * Opens an export ZIP while it streams to S3: the bytes pass through unchanged (the copy stays exact)
 * and, on the side, each entry is inflated and handed to `onEntry` once complete. Memory stays bounded:
 * input is fed to the inflater in small slices, an entry is held only up to maxEntryBytes, and the
 * stream is not read further while entry writes are in flight (backpressure reaches the download).
 *
 * An unsafe archive is refused at the first sign: an entry name that could escape its folder, more
 * entries or more inflated bytes than the limits, or an inflate ratio only a bomb reaches. Refusing
 * stops the extraction (no further entry is handed out); the ZIP itself is still copied, as received.
 */

export interface ZipLimits {
  maxEntries: number;
  /** Inflated bytes of all entries together. */
  maxTotalBytes: number;
  maxEntryBytes: number;
  /** Inflated bytes per compressed byte, over the archive so far (checked past minRatioBytes). */
  maxRatio: number;
  /** Below this many inflated bytes the ratio is not judged (tiny files compress absurdly well). */
  minRatioBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 100_000,
  maxTotalBytes: 8 * 1024 ** 3,
  maxEntryBytes: 16 * 1024 ** 2,
  maxRatio: 200,
  minRatioBytes: 1024 ** 2,
};

/** Limits from SP_API_ZIP_MAX_ENTRIES, _MAX_BYTES, _MAX_ENTRY_BYTES, _MAX_RATIO (defaults above). */
export function zipLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): ZipLimits {
  return {
    maxEntries: numberEnv('SP_API_ZIP_MAX_ENTRIES', DEFAULT_ZIP_LIMITS.maxEntries, env),
    maxTotalBytes: numberEnv('SP_API_ZIP_MAX_BYTES', DEFAULT_ZIP_LIMITS.maxTotalBytes, env),
    maxEntryBytes: numberEnv('SP_API_ZIP_MAX_ENTRY_BYTES', DEFAULT_ZIP_LIMITS.maxEntryBytes, env),
    maxRatio: numberEnv('SP_API_ZIP_MAX_RATIO', DEFAULT_ZIP_LIMITS.maxRatio, env),
    minRatioBytes: DEFAULT_ZIP_LIMITS.minRatioBytes,
  };
}

export type RefusalCode =
  | 'UNSAFE_ENTRY_NAME'
  | 'TOO_MANY_ENTRIES'
  | 'TOO_MANY_BYTES'
  | 'ENTRY_TOO_LARGE'
  | 'COMPRESSION_RATIO'
  | 'UNSUPPORTED_COMPRESSION'
  | 'CORRUPT_ARCHIVE';

export interface ZipSummary {
  /** Entries seen (directories included). */
  entries: number;
  /** Complete files handed to onEntry. */
  extracted: number;
  inflatedBytes: number;
  refused?: { code: RefusalCode; message: string };
}

export interface ZipEntry {
  /** The name as stored in the archive (checked safe). */
  name: string;
  data: Buffer;
}

/** Why an entry name is unsafe, or undefined. Names are only ever used through their last segment. */
export function unsafeEntryName(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.length > 1024) return 'name longer than 1024 characters';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'control characters in the name';
  const unified = name.replace(/\\/g, '/');
  if (unified.startsWith('/') || /^[A-Za-z]:/.test(unified)) return 'absolute path';
  if (unified.split('/').some((s) => s === '..')) return 'path escapes its folder (..)';
  return undefined;
}

const SLICE = 4 * 1024;

export interface ZipTee {
  /** Pipe the download into this and read the copy from it. */
  stream: Transform;
  /** Settles once the archive has been read through and every entry write has finished. */
  done: Promise<ZipSummary>;
}

export function zipTee(opts: {
  limits: ZipLimits;
  onEntry: (entry: ZipEntry) => Promise<void>;
  /** Entry writes in flight at once. */
  concurrency?: number;
}): ZipTee {
  const { limits } = opts;
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const summary: ZipSummary = { entries: 0, extracted: 0, inflatedBytes: 0 };
  let compressedIn = 0;
  const ready: ZipEntry[] = [];
  const inFlight = new Set<Promise<void>>();
  let writeError: unknown;
  let unzip: Unzip | undefined;

  const refuse = (code: RefusalCode, message: string) => {
    if (summary.refused) return;
    summary.refused = { code, message };
    // Entries completed before this point were sound; nothing after it is handed out.
    unzip = undefined;
  };

  const onFile = (file: UnzipFile) => {
    if (summary.refused) return;
    summary.entries += 1;
    if (summary.entries > limits.maxEntries) {
      refuse('TOO_MANY_ENTRIES', `more than ${limits.maxEntries} entries`);
      return;
    }
    const bad = unsafeEntryName(file.name);
    if (bad) {
      refuse('UNSAFE_ENTRY_NAME', `entry ${JSON.stringify(file.name.slice(0, 200))}: ${bad}`);
      return;
    }
    if (file.name.endsWith('/')) return;
    if (file.compression !== 0 && file.compression !== 8) {
      refuse(
        'UNSUPPORTED_COMPRESSION',
        `entry ${JSON.stringify(file.name)} uses compression method ${file.compression}`,
      );
      return;
    }
    if (file.originalSize !== undefined && file.originalSize > limits.maxEntryBytes) {
      refuse('ENTRY_TOO_LARGE', `entry ${JSON.stringify(file.name)} declares ${file.originalSize} bytes`);
      return;
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    file.ondata = (err, data, final) => {
      if (summary.refused) return;
      if (err) {
        refuse('CORRUPT_ARCHIVE', `entry ${JSON.stringify(file.name)}: ${err.message}`);
        return;
      }
      size += data.length;
      summary.inflatedBytes += data.length;
      if (size > limits.maxEntryBytes) {
        refuse(
          'ENTRY_TOO_LARGE',
          `entry ${JSON.stringify(file.name)} inflates past ${limits.maxEntryBytes} bytes`,
        );
        return;
      }
      if (summary.inflatedBytes > limits.maxTotalBytes) {
        refuse('TOO_MANY_BYTES', `entries inflate past ${limits.maxTotalBytes} bytes`);
        return;
      }
      if (
        summary.inflatedBytes >= limits.minRatioBytes &&
        summary.inflatedBytes > limits.maxRatio * compressedIn
      ) {
        refuse(
          'COMPRESSION_RATIO',
          `${summary.inflatedBytes} bytes inflated from ${compressedIn}: ratio above ${limits.maxRatio}`,
        );
        return;
      }
      if (data.length > 0) chunks.push(data);
      if (final) {
        ready.push({ name: file.name, data: Buffer.concat(chunks, size) });
        chunks.length = 0;
      }
    };
    file.start();
  };

  unzip = new Unzip(onFile);
  unzip.register(UnzipInflate);

  const startWrites = async () => {
    while (ready.length > 0) {
      if (writeError) throw writeError;
      const entry = ready.shift()!;
      const job = opts
        .onEntry(entry)
        .then(() => {
          summary.extracted += 1;
        })
        .catch((err: unknown) => {
          writeError ??= err;
        })
        .finally(() => inFlight.delete(job));
      inFlight.add(job);
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
    if (writeError) throw writeError;
  };

  const feed = async (chunk: Buffer, final: boolean) => {
    for (let i = 0; i < chunk.length || (final && i === 0); i += SLICE) {
      if (!unzip) return;
      const slice = chunk.subarray(i, i + SLICE);
      compressedIn += slice.length;
      try {
        unzip.push(slice, final && i + SLICE >= chunk.length);
      } catch (err) {
        refuse('CORRUPT_ARCHIVE', (err as Error).message);
        return;
      }
      await startWrites();
    }
  };

  let settle!: { resolve: (s: ZipSummary) => void; reject: (e: unknown) => void };
  const done = new Promise<ZipSummary>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // The caller may never ask (a failed copy): an unobserved rejection must not crash the process.
  done.catch(() => undefined);

  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      this.push(chunk);
      feed(chunk, false).then(
        () => cb(),
        (err: unknown) => cb(err as Error),
      );
    },
    flush(cb) {
      feed(Buffer.alloc(0), true)
        .then(() => Promise.all(inFlight))
        .then(() => {
          if (writeError) throw writeError;
          if (!summary.refused && unzip && summary.entries === 0 && compressedIn > 0) {
            refuse('CORRUPT_ARCHIVE', 'no ZIP entries found');
          }
          settle.resolve(summary);
          cb();
        })
        .catch((err: unknown) => {
          settle.reject(err);
          cb(err as Error);
        });
    },
    destroy(err, cb) {
      settle.reject(err ?? new Error('ZIP stream closed before its end'));
      cb(err);
    },
  });
  return { stream, done };
}
