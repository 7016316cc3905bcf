import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { POLLER_SETTINGS } from '../../infra/aws/settings.ts';
import { localS3Client } from '../../infra/local/clients.ts';
import { startStandins } from '../../infra/local/standins.ts';
import { startDiscardingS3 } from './discard-s3.ts';

const run$ = promisify(execFile);
const LABELS = {
  file: 'stream-to-file (baseline)       ',
  s3: 'S3 sink into s3rver             ',
  'sink-only': 'S3 sink, discarding endpoint    ',
} as const;
const MiB = 1024 * 1024;

/** Serves `size` bytes of a repeating pattern with a Content-Length, generated as it goes. */
function startSource() {
  const chunk = Buffer.alloc(64 * 1024, 'invoice-ingest ');
  const server = createServer((req, res) => {
    const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size'));
    res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n)))
          return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  return new Promise<{ url: string; close: () => Promise<void> }>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${port}/`,
        close: () => new Promise((r) => server.close(() => r())),
      });
    }),
  );
}

/** The copier is bundled the way the functions are (esbuild, ESM), so its RSS is a Lambda's, not tsx's. */
async function bundleChild(dir: string): Promise<string> {
  const outfile = join(dir, 's3-copy-child.mjs');
  await build({
    entryPoints: [join(import.meta.dirname, 's3-copy-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'error',
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  return outfile;
}

async function child(
  script: string,
  args: string[],
): Promise<{ bytes: number; seconds: number; maxRssKb: number }> {
  // V8 sizes its heap (and young generation) from the memory it may use: give the copier the export
  // poller's memory limit, as on Lambda, not this machine's.
  const flags = (process.env.BENCH_NODE_FLAGS ?? `--max-old-space-size=${POLLER_SETTINGS.memoryMb}`)
    .split(' ')
    .filter(Boolean);
  const { stdout } = await run$(process.execPath, [...flags, script, ...args], { maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout) as { bytes: number; seconds: number; maxRssKb: number };
}

export async function run(): Promise<void> {
  const standins = await startStandins();
  const source = await startSource();
  const discard = await startDiscardingS3();
  const discardEnv = JSON.stringify({ ...standins.env, AWS_ENDPOINT_URL_S3: discard.url });
  const dir = await mkdtemp(join(tmpdir(), 'bench-copy-'));
  const bucket = 'bench';
  await localS3Client(standins.env).send(new CreateBucketCommand({ Bucket: bucket }));
  const script = await bundleChild(dir);
  const rows: string[] = [];
  const results: Record<string, { mbps: number; rssMb: number }> = {};
  try {
    for (const size of (process.env.BENCH_SIZES_MIB ?? '100,1024').split(',').map((m) => Number(m) * MiB)) {
      const url = `${source.url}?size=${size}`;
      const file = await child(script, ['file', url, join(dir, 'copy.bin'), '{}']);
      const s3 = await child(script, ['s3', url, bucket, JSON.stringify(standins.env)]);
      const sinkOnly = await child(script, ['s3', url, bucket, discardEnv]);
      for (const [mode, r] of [
        ['file', file],
        ['s3', s3],
        ['sink-only', sinkOnly],
      ] as const) {
        const mbps = r.bytes / MiB / r.seconds;
        const rssMb = r.maxRssKb / 1024;
        results[`${mode}-${size}`] = { mbps, rssMb };
        rows.push(
          `${LABELS[mode]}  ${String(size / MiB).padStart(5)} MiB  ${mbps.toFixed(1).padStart(7)} MB/s  peak RSS ${rssMb.toFixed(0).padStart(4)} MB`,
        );
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await source.close();
    await discard.close();
    await standins.close();
  }
  for (const r of rows) console.log(r);
  const small = results[`s3-${100 * MiB}`]!;
  const large = results[`s3-${1024 * MiB}`]!;
  const ratio = (size: number) => results[`s3-${size}`]!.mbps / results[`file-${size}`]!.mbps;
  console.log(
    `targets: peak RSS < 150 MB (100 MiB: ${small.rssMb.toFixed(0)} MB, 1 GiB: ${large.rssMb.toFixed(0)} MB) ` +
      `and within 20% of each other (${((Math.abs(large.rssMb - small.rssMb) / small.rssMb) * 100).toFixed(0)}%); ` +
      `throughput >= 70% of baseline (100 MiB: ${(ratio(100 * MiB) * 100).toFixed(0)}%, 1 GiB: ${(ratio(1024 * MiB) * 100).toFixed(0)}%)`,
  );
}
