import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { request } from 'undici';
import { localS3Client } from '../../infra/local/clients.ts';
import { S3Sink } from '../../shared/aws/sink.ts';
import { peakRssKb } from './peak-rss.ts';

/**
 * One copy in its own process, so the peak RSS it reports is the copier's alone (not s3rver's).
 * MODE: file (the baseline), s3 (the local stack's client: checksums only when required, as s3rver needs),
 * s3-lambda (the SDK's defaults, as in Lambda: the sink sends the SHA-256 S3 verifies). ANNOUNCE: 0 to hide
 * the source's Content-Length from the sink.
 */
const [mode, url, target, env, announce] = process.argv.slice(2) as [string, string, string, string, string?];
const started = performance.now();
const res = await request(url);
const expected = Number(res.headers['content-length']);
let bytes: number;
if (mode === 'file') {
  await pipeline(res.body, createWriteStream(target));
  bytes = expected;
} else {
  const standins = JSON.parse(env) as Record<string, string>;
  const client =
    mode === 's3-lambda'
      ? new S3Client({
          region: standins.AWS_REGION ?? 'us-east-1',
          endpoint: standins.AWS_ENDPOINT_URL_S3 ?? '',
          forcePathStyle: true,
          credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
        })
      : localS3Client(standins);
  const sink = new S3Sink(client, target, {
    ...(process.env.SINK_PART_MB ? { partSize: Number(process.env.SINK_PART_MB) * 1024 * 1024 } : {}),
    ...(process.env.SINK_CONCURRENCY ? { concurrency: Number(process.env.SINK_CONCURRENCY) } : {}),
  });
  const stored = await sink.putStream('bench/copy.bin', res.body as unknown as Readable, {
    sourceOperation: 'bench',
    runId: 'bench',
    fetchedAt: new Date().toISOString(),
    ...(announce === '0' ? {} : { expectedBytes: expected }),
  });
  bytes = stored.bytes;
}
const seconds = (performance.now() - started) / 1000;
process.stdout.write(JSON.stringify({ bytes, seconds, maxRssKb: peakRssKb() }));
