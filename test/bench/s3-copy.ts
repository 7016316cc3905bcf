import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { localS3Client } from '../../infra/local/clients.ts';
import { startStandins } from '../../infra/local/standins.ts';

const run$ = promisify(execFile);
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
  const { stdout } = await run$(process.execPath, [script, ...args], { maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout) as { bytes: number; seconds: number; maxRssKb: number };
}

export async function run(): Promise<void> {
  const standins = await startStandins();
  const source = await startSource();
  const dir = await mkdtemp(join(tmpdir(), 'bench-copy-'));
  const bucket = 'bench';
  await localS3Client(standins.env).send(new CreateBucketCommand({ Bucket: bucket }));
  const script = await bundleChild(dir);
  const rows: string[] = [];
  const results: Record<string, { mbps: number; rssMb: number }> = {};
  try {
    for (const size of [100 * MiB, 1024 * MiB]) {
      const url = `${source.url}?size=${size}`;
      const file = await child(script, ['file', url, join(dir, 'copy.bin'), '{}']);
      const s3 = await child(script, ['s3', url, bucket, JSON.stringify(standins.env)]);
      for (const [mode, r] of [
        ['file', file],
        ['s3', s3],
      ] as const) {
        const mbps = r.bytes / MiB / r.seconds;
        const rssMb = r.maxRssKb / 1024;
        results[`${mode}-${size}`] = { mbps, rssMb };
        rows.push(
          `${mode === 'file' ? 'stream-to-file (baseline)' : 'S3 sink (multipart, sha256)'}  ${String(size / MiB).padStart(5)} MiB  ${mbps.toFixed(1).padStart(7)} MB/s  peak RSS ${rssMb.toFixed(0).padStart(4)} MB`,
        );
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await source.close();
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
