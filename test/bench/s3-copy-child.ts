import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { localS3Client } from '../../infra/local/clients.ts';
import { S3Sink } from '../../shared/aws/sink.ts';

/** One copy in its own process, so the peak RSS it reports is the copier's alone (not s3rver's). */
const [mode, url, target, env] = process.argv.slice(2) as [string, string, string, string];
const started = performance.now();
const res = await request(url);
const expected = Number(res.headers['content-length']);
let bytes: number;
if (mode === 'file') {
  await pipeline(res.body, createWriteStream(target));
  bytes = expected;
} else {
  const sink = new S3Sink(localS3Client(JSON.parse(env) as Record<string, string>), target, {
    ...(process.env.SINK_PART_MB ? { partSize: Number(process.env.SINK_PART_MB) * 1024 * 1024 } : {}),
    ...(process.env.SINK_CONCURRENCY ? { concurrency: Number(process.env.SINK_CONCURRENCY) } : {}),
  });
  const stored = await sink.putStream('bench/copy.bin', res.body as unknown as Readable, {
    sourceOperation: 'bench',
    runId: 'bench',
    fetchedAt: new Date().toISOString(),
    expectedBytes: expected,
  });
  bytes = stored.bytes;
}
const seconds = (performance.now() - started) / 1000;
process.stdout.write(JSON.stringify({ bytes, seconds, maxRssKb: process.resourceUsage().maxRSS }));
