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
import { spawnDiscardingS3 } from './discard-s3.ts';
import { lambdaNodeFlags } from './lambda-node-flags.ts';

const run$ = promisify(execFile);
const LABELS = {
  file: 'stream-to-file (baseline)                 ',
  s3: 'S3 sink into s3rver (local client)        ',
  sink: 'S3 sink, discarding endpoint              ',
  'sink-parts': 'S3 sink, discarding endpoint, size unknown',
} as const;
type Mode = keyof typeof LABELS;
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

/**
 * V8 sizes its heap (and young generation) from the memory it may use: the copier runs with the flags
 * Lambda's runtime gives the export poller's memory, not sized from this machine (BENCH_NODE_FLAGS overrides).
 */
const copierFlags = (): string[] =>
  process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? lambdaNodeFlags(POLLER_SETTINGS.memoryMb);

async function child(
  script: string,
  args: string[],
): Promise<{ bytes: number; seconds: number; maxRssKb: number }> {
  const { stdout } = await run$(process.execPath, [...copierFlags(), script, ...args], {
    maxBuffer: 1024 * 1024,
  });
  return JSON.parse(stdout) as { bytes: number; seconds: number; maxRssKb: number };
}

interface Copy {
  mbps: number;
  rssMb: number;
  /** Bytes the discarding endpoint received per byte copied (1.00: each byte sent once). */
  sent?: number;
  requests?: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const spread = (xs: number[], digits = 0) =>
  `${Math.min(...xs).toFixed(digits)} / ${median(xs).toFixed(digits)} / ${Math.max(...xs).toFixed(digits)}`;

export async function run(): Promise<void> {
  const runs = Number(process.env.BENCH_COPY_RUNS ?? 3);
  const standins = await startStandins();
  const source = await startSource();
  const discard = await spawnDiscardingS3();
  const discardEnv = JSON.stringify({ ...standins.env, AWS_ENDPOINT_URL_S3: discard.url });
  const dir = await mkdtemp(join(tmpdir(), 'bench-copy-'));
  const bucket = 'bench';
  await localS3Client(standins.env).send(new CreateBucketCommand({ Bucket: bucket }));
  const script = await bundleChild(dir);
  const sizes = (process.env.BENCH_SIZES_MIB ?? '100,1024').split(',').map((m) => Number(m) * MiB);
  const results = new Map<string, Copy[]>();
  const copy = async (mode: Mode, size: number, args: string[]) => {
    const before = await discard.stats();
    const r = await child(script, args);
    const after = await discard.stats();
    const got: Copy = { mbps: r.bytes / MiB / r.seconds, rssMb: r.maxRssKb / 1024 };
    if (after.requests > before.requests) {
      got.sent = (after.bytes - before.bytes) / r.bytes;
      got.requests = after.requests - before.requests;
    }
    const k = `${mode}-${size}`;
    results.set(k, [...(results.get(k) ?? []), got]);
  };
  try {
    // Every mode once per round, rounds repeated: the ratios pair copies made side by side.
    for (let i = 0; i < runs; i++) {
      for (const size of sizes) {
        const url = `${source.url}?size=${size}`;
        await copy('file', size, ['file', url, join(dir, 'copy.bin'), '{}']);
        await copy('s3', size, ['s3', url, bucket, JSON.stringify(standins.env)]);
        await copy('sink', size, ['s3-lambda', url, bucket, discardEnv]);
        await copy('sink-parts', size, ['s3-lambda', url, bucket, discardEnv, '0']);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await source.close();
    await discard.close();
    await standins.close();
  }
  console.log(
    `node ${process.version}; copier flags ${copierFlags().join(' ')}; ${runs} rounds; min / median / max; ratio = MB/s over the baseline's in the same round`,
  );
  const ratios = (mode: Mode, size: number) =>
    results.get(`${mode}-${size}`)!.map((c, i) => c.mbps / results.get(`file-${size}`)![i]!.mbps);
  for (const size of sizes) {
    for (const mode of Object.keys(LABELS) as Mode[]) {
      const cs = results.get(`${mode}-${size}`)!;
      const sent =
        cs[0]?.sent === undefined
          ? ''
          : `  sent ${spread(
              cs.map((c) => c.sent!),
              2,
            )} x, ${median(cs.map((c) => c.requests!))} requests`;
      console.log(
        `${LABELS[mode]} ${String(size / MiB).padStart(5)} MiB  ${spread(cs.map((c) => c.mbps)).padStart(15)} MB/s` +
          `  ratio ${spread(ratios(mode, size), 2)}  peak RSS ${spread(cs.map((c) => c.rssMb))} MB${sent}`,
      );
    }
  }
  const worstRss = Math.max(
    ...[...results.entries()]
      .filter(([k]) => k.startsWith('sink-'))
      .flatMap(([, cs]) => cs.map((c) => c.rssMb)),
  );
  console.log(
    `targets: the sink against the discarding endpoint at >= 0.9 of the baseline (median ${sizes
      .map((size) => `${size / MiB} MiB: ${median(ratios('sink', size)).toFixed(2)}`)
      .join(
        ', ',
      )}); peak RSS < 150 MB (largest: ${worstRss.toFixed(0)} MB); every byte sent once (sent ~1.00 x)`,
  );
}
