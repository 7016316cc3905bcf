import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { localDynamoClient, localS3Client } from '../../infra/local/clients.ts';
import { sandboxConfig } from '../../infra/local/sandbox-config.ts';
import { type LocalFunctionSpec, type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { startSandbox } from '../../infra/sandbox/index.ts';
import { SP_RATES, spApiSimulator } from '../../infra/sandbox/sp-api/index.ts';
import { DynamoStateStore } from '../../shared/aws/state-store.ts';
import { parseConfig } from '../../shared/config/load.ts';
import { windowBounds } from '../../shared/providers/sp-api/bounds.ts';

/**
 * SP-API at its real rate plan, time-scaled: SP_BENCH_INVOICES (10,000) invoices listed in pages of 100
 * from the simulator. By default the listing alone (the fetch message a run sends: what getInvoices'
 * plan paces, 0.1/s after a burst of 20); SP_BENCH_EXPORT=1 sends the whole run, its export included
 * (ZIPs of NF-e XMLs at one document a minute, each XML stored and linked).
 *
 * Prints the wall time against the floor the rate plan allows, the 429s the simulator answered, and the
 * summed handler time against the wall time (waits belong in the queue, not in the Lambda). Targets (issue
 * 15): wall at most 1.02 times the floor, no 429, handler time under 2% of the wall at the real rate plan.
 * The worker is warmed first (module load and LWA token), as a scheduled Lambda's container mostly is.
 * SP_BENCH_TIME_SCALE (default 10) keeps the listing near a minute and a half on two cores.
 */

const MP = 'A2Q3Y263D00KWC';
const CONNECTION = 'sp-bench';

async function countLines(stack: LocalStack): Promise<{ lines: number; ids: number }> {
  const s3 = localS3Client(stack.env);
  try {
    const ids = new Set<string>();
    let lines = 0;
    let token: string | undefined;
    do {
      const out = await s3.send(
        new ListObjectsV2Command({
          Bucket: stack.bucket,
          Prefix: 'invoices/provider=sp-api/',
          ContinuationToken: token,
        }),
      );
      for (const o of out.Contents ?? []) {
        const body = await s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: o.Key }));
        for (const line of ((await body.Body?.transformToString('utf8')) ?? '').split('\n')) {
          if (!line.trim()) continue;
          lines += 1;
          ids.add((JSON.parse(line) as { invoiceId: string }).invoiceId);
        }
      }
      token = out.NextContinuationToken;
    } while (token);
    return { lines, ids: ids.size };
  } finally {
    s3.destroy();
  }
}

export async function run(): Promise<void> {
  const invoices = Number(process.env.SP_BENCH_INVOICES ?? 10_000);
  const timeScale = Number(process.env.SP_BENCH_TIME_SCALE ?? 10);
  const withExport = process.env.SP_BENCH_EXPORT === '1';
  const pageSize = 100;
  const perDocument = 2_500;
  const exportSeconds = 120;

  const config = parseConfig({
    connections: [
      {
        id: CONNECTION,
        provider: 'sp-api',
        region: 'NA',
        secretName: 'bench/sp-api',
        scopes: [MP],
        schedule: 'rate(1 day)',
        lookbackDays: 30,
        pageSize,
      },
    ],
  });
  const sandbox = await startSandbox({
    seed: 3,
    timeScale,
    simulators: [spApiSimulator],
    connections: config.connections,
    options: { 'sp-api': { invoices, invoicesPerDocument: perDocument, exportSeconds, days: 40 } },
    log: () => {},
  });
  const local = await sandboxConfig(config, sandbox);
  // Production's settings, time-scaled like the simulator: a 5 s defer threshold and 30 s first poll.
  const env = {
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
    HTTP_DEFER_THRESHOLD_MS: String(Math.round(5_000 / timeScale)),
    POLL_FIRST_DELAY_SECONDS: String(Math.max(1, Math.round(30 / timeScale))),
    POLL_FACTOR: '1.5',
    POLL_MAX_DELAY_SECONDS: String(Math.max(1, Math.round(900 / timeScale))),
  };
  const functions: LocalFunctionSpec[] = [
    { name: 'sp-api-invoices', env },
    { name: 'export-poller', env },
  ];
  const stack = await startLocalStack({
    config: local.config,
    configPath: local.path,
    secrets: local.secrets,
    functions,
    functionOutput: 'ignore',
    quiet: true,
  });
  const handlerMs: Record<string, number> = {};
  const invocations: Record<string, number> = {};
  let measuring = false;
  const onDone = (e: { function: string; durationMs: number }) => {
    if (!measuring) return;
    handlerMs[e.function] = (handlerMs[e.function] ?? 0) + e.durationMs;
    invocations[e.function] = (invocations[e.function] ?? 0) + 1;
  };
  stack.runner.on('succeeded', onDone);
  stack.runner.on('failed', onDone);
  // As a run's fan-out sends it: with the listing's bounds fixed once (what prepare() returns), so every
  // page sends the arguments the first did; getInvoices refuses a nextToken that comes with others.
  const fetchMessage = (runId: string, window: { from: string; to: string }) => ({
    v: 1,
    type: 'fetch',
    runId,
    provider: 'sp-api',
    connection: CONNECTION,
    scope: MP,
    window,
    state: { job: 'invoices', args: windowBounds(window, new Date()) },
    continuation: 0,
  });

  try {
    const state = new DynamoStateStore(
      DynamoDBDocumentClient.from(localDynamoClient(stack.env), {
        marshallOptions: { removeUndefinedValues: true },
      }),
      stack.table,
    );
    // Warm-up: a listing of a window with no invoices (one request, one token, back within a second).
    await stack.send(
      'sp-api-invoices',
      fetchMessage('bench-warmup', { from: '1990-01-01', to: '1990-01-02' }),
    );
    await stack.waitForIdle({ intervalMs: 250, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, Math.ceil(1000 / (SP_RATES.getInvoices.rate * timeScale)) + 500));
    const before = sandbox.stats()['sp-api']!;
    const requestsBefore = before.operations.getInvoices?.requests ?? 0;

    const runId = `bench-${randomUUID()}`;
    const window = { from: '2000-01-01', to: new Date().toISOString().slice(0, 10) };
    measuring = true;
    const started = Date.now();
    await stack.send(
      'sp-api-invoices',
      withExport
        ? { v: 1, type: 'run', runId, provider: 'sp-api', connection: CONNECTION, window }
        : fetchMessage(runId, window),
    );
    await stack.waitForIdle({ intervalMs: 250, timeoutMs: 900_000 });
    const wallMs = Date.now() - started;
    measuring = false;

    const record = withExport ? await state.getRun(runId) : undefined;
    const stats = sandbox.stats()['sp-api']!;
    const landed = await countLines(stack);
    const pages = Math.max(1, Math.ceil(invoices / pageSize));
    const listingFloor = (Math.max(0, pages - SP_RATES.getInvoices.burst) / SP_RATES.getInvoices.rate) * 1000;
    const documents = Math.ceil(invoices / perDocument);
    const exportFloor =
      (exportSeconds +
        Math.max(0, documents - SP_RATES.getInvoicesDocument.burst) / SP_RATES.getInvoicesDocument.rate) *
      1000;
    const floorMs = (withExport ? Math.max(listingFloor, exportFloor) : listingFloor) / timeScale;
    const totalHandler = Object.values(handlerMs).reduce((a, b) => a + b, 0);
    const pct = (n: number, of = wallMs) => `${((100 * n) / of).toFixed(1)}%`;
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

    console.log(
      `${withExport ? 'run with export' : 'listing'}: ${landed.ids} invoices landed (${landed.lines} lines) of ${invoices}, ` +
        `${pages} pages of ${pageSize}, time scale ${timeScale}`,
    );
    console.log(
      `wall ${s(wallMs)}  floor ${s(floorMs)}${withExport ? ` (listing ${s(listingFloor / timeScale)}, export ${s(exportFloor / timeScale)})` : ''}  ` +
        `ratio ${(wallMs / floorMs).toFixed(3)} (target <= 1.02)`,
    );
    // What the wall has over the floor is the functions' work after the last page (and before the first),
    // and the queue's whole-second delays: neither is time-scaled, so at the real plan it is the same seconds
    // over a floor timeScale times longer.
    console.log(
      `  over the floor ${s(wallMs - floorMs)}; at the real rate plan (floor x ${timeScale}) the same is ratio ` +
        `${(1 + (wallMs - floorMs) / (floorMs * timeScale)).toFixed(3)}`,
    );
    console.log(
      `429 answers ${stats.throttled - before.throttled} (target 0)  getInvoices requests ${(stats.operations.getInvoices?.requests ?? 0) - requestsBefore}`,
    );
    console.log(
      `handler time ${s(totalHandler)} = ${pct(totalHandler)} of wall: ` +
        Object.entries(handlerMs)
          .map(([f, ms]) => `${f} ${s(ms)} in ${invocations[f]} invocations (${pct(ms)})`)
          .join(', '),
    );
    // Only the provider's waits are time-scaled, not the handlers' own work (S3 writes, parsing): at the
    // real rate plan the same work is spread over the floor timeScale times longer, plus the same overhead.
    const realWallMs = floorMs * timeScale + (wallMs - floorMs);
    console.log(
      `  at the real rate plan (wall ${s(realWallMs)}): ${pct(totalHandler, realWallMs)} of wall (target < 2%)`,
    );
    if (record) {
      console.log(
        `run record: invoices ${record.connections[CONNECTION]?.invoices ?? 0}, documents ${record.connections[CONNECTION]?.documents ?? 0}, ` +
          `defers ${record.connections[CONNECTION]?.defers ?? 0}, failures ${record.failures.length}, problems ${record.problems.length}`,
      );
    }
  } finally {
    await stack.close();
    await sandbox.close();
    rmSync(dirname(local.path), { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
