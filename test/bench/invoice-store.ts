import { execFile } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { localDynamoClient, localS3Client } from '../../infra/local/clients.ts';
import { createStateTable } from '../../infra/local/resources.ts';
import { startStandins } from '../../infra/local/standins.ts';
import { type Config, providerSettings } from '../../shared/config/schema.ts';
import { lambdaNodeFlags } from './lambda-node-flags.ts';

/**
 * The invoice store at scale (issue 13's benchmark): N invoices of one month through the real store
 * (DynamoInvoiceTable + S3Sink) against the local stand-ins, pages of 100, then one publish. Every byte
 * the store sends to or receives from DynamoDB and S3 is counted on the wire (a counting TCP relay in front
 * of each stand-in: bodies and HTTP headers both), and set against the published file's size.
 * Targets: bytes moved / file bytes <= 3; peak RSS < 256 MB; wall time per 10,000 invoices flat from 10k
 * to 100k (linear total).
 */
const exec = promisify(execFile);
const SIZES = (process.env.STORE_BENCH_SIZES ?? '10000,50000,100000').split(',').map(Number);
const RUNS = Number(process.env.STORE_BENCH_RUNS ?? 3);
/** A provider function's memory by default (a config without provider settings). */
const FUNCTION_MEMORY_MB = providerSettings({ providers: {} } as unknown as Config, 'amazon-ads').memoryMb;

/** A TCP relay to a stand-in that counts the bytes each way. */
async function countingRelay(
  target: string,
): Promise<{ url: string; bytes: () => number; close: () => Promise<void> }> {
  const { hostname, port } = new URL(target);
  let bytes = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    client.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    upstream.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port: own } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${own}`,
    bytes: () => bytes,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const stat = (xs: number[], digits = 0) => {
  const s = [...xs].sort((a, b) => a - b);
  const med = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return `${s[0]!.toFixed(digits)} / ${med.toFixed(digits)} / ${s.at(-1)!.toFixed(digits)}`;
};

/**
 * The child bundled by esbuild, as the functions are (Lambda loads a bundle, not TypeScript through tsx,
 * whose transpiler would add its own memory to the figure).
 */
async function buildChild(): Promise<string> {
  const outfile = join(process.cwd(), '.local', 'bench', 'invoice-store-child.mjs');
  await build({
    entryPoints: [join(import.meta.dirname, 'invoice-store-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'warning',
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  return outfile;
}

/** Fresh stand-ins a run (dynalite slows as it fills; a run should not pay for the runs before it). */
async function oneRun(
  size: number,
  child: string,
): Promise<{
  ratio: number;
  rssMb: number;
  upsertRssMb: number;
  per10k: number;
  up: number;
  pub: number;
  fileMb: number;
}> {
  const standins = await startStandins();
  const ddbRelay = await countingRelay(standins.env.AWS_ENDPOINT_URL_DYNAMODB!);
  const s3Relay = await countingRelay(standins.env.AWS_ENDPOINT_URL_S3!);
  const env = { ...standins.env, AWS_ENDPOINT_URL_DYNAMODB: ddbRelay.url, AWS_ENDPOINT_URL_S3: s3Relay.url };
  const ddb = localDynamoClient(standins.env);
  const s3 = localS3Client(standins.env);
  try {
    const table = 'bench';
    const bucket = 'bench';
    await createStateTable(ddb, table);

    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const before = ddbRelay.bytes() + s3Relay.bytes();
    // As the provider functions run on Lambda (512 MB by default), unless STORE_BENCH_NODE_FLAGS says.
    const flags =
      process.env.STORE_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? lambdaNodeFlags(FUNCTION_MEMORY_MB);
    const { stdout } = await exec(
      process.execPath,
      [...flags, child, String(size), table, bucket, JSON.stringify(env)],
      {
        maxBuffer: 1 << 20,
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      },
    );
    const out = JSON.parse(stdout) as {
      upsertMs: number;
      publishMs: number;
      wallMs: number;
      maxRssKb: number;
      upsertRssKb: number;
    };
    const moved = ddbRelay.bytes() + s3Relay.bytes() - before;
    const head = await s3.send(
      new HeadObjectCommand({
        Bucket: bucket,
        Key: 'invoices/provider=amazon-ads/issue_month=2026-03/ads-bench-profile-1.jsonl',
      }),
    );
    const fileBytes = head.ContentLength ?? 0;
    return {
      ratio: moved / fileBytes,
      rssMb: out.maxRssKb / 1024,
      upsertRssMb: out.upsertRssKb / 1024,
      per10k: (out.wallMs / size) * 10_000,
      up: out.upsertMs,
      pub: out.publishMs,
      fileMb: fileBytes / 1e6,
    };
  } finally {
    ddb.destroy();
    s3.destroy();
    await ddbRelay.close();
    await s3Relay.close();
    await standins.close();
  }
}

export async function run(): Promise<void> {
  const child = await buildChild();
  console.log(
    `node ${process.version}; ${RUNS} runs a size, min / median / max; invoices of one month, pages of 100 (a flush a page), one publish; fresh stand-ins a run; the store bundled by esbuild, run with ${(process.env.STORE_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? lambdaNodeFlags(FUNCTION_MEMORY_MB)).join(' ')}`,
  );
  console.log(
    `${'invoices'.padStart(8)}  ${'moved/file'.padEnd(20)} ${'file MB'.padEnd(8)} ${'peak RSS MB'.padEnd(20)} ${'ms per 10k (wall)'.padEnd(24)} upsert / publish ms (median)`,
  );
  for (const size of SIZES) {
    const runs = [];
    for (let r = 0; r < RUNS; r++) runs.push(await oneRun(size, child));
    const med = (xs: number[]) => stat(xs).split(' / ')[1];
    console.log(
      `${String(size).padStart(8)}  ${stat(
        runs.map((x) => x.ratio),
        2,
      ).padEnd(
        20,
      )} ${runs[0]!.fileMb.toFixed(1).padEnd(8)} ${stat(runs.map((x) => x.rssMb)).padEnd(20)} ${stat(runs.map((x) => x.per10k)).padEnd(24)} ${med(runs.map((x) => x.up))} / ${med(runs.map((x) => x.pub))}; peak RSS when the upserts end ${med(runs.map((x) => x.upsertRssMb))} MB`,
    );
  }
  console.log('targets: moved/file <= 3; peak RSS < 256 MB; ms per 10k flat from 10k to 100k');
}
