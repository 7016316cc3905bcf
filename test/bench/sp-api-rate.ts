import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { localDynamoClient } from '../../infra/local/clients.ts';
import { sandboxConfig } from '../../infra/local/sandbox-config.ts';
import { type LocalFunctionSpec, startLocalStack } from '../../infra/local/stack.ts';
import { startSandbox } from '../../infra/sandbox/index.ts';
import { SP_RATES, spApiSimulator } from '../../infra/sandbox/sp-api/index.ts';
import { DynamoStateStore } from '../../shared/aws/state-store.ts';
import { parseConfig } from '../../shared/config/load.ts';

/**
 * SP-API at its real rate plan, time-scaled: one run fetching SP_BENCH_INVOICES (10,000) invoices in
 * pages of 100 from the simulator, with its export (ZIPs of NF-e XMLs, one document a minute) on the side.
 *
 * Prints the wall time against the floor the rate plan allows (getInvoices: 0.1/s after a burst of 20;
 * the export: its generation time plus one document a minute), the 429s the simulator answered, and the
 * summed handler time against the wall time: waits belong in the queue, not in the Lambda.
 * SP_BENCH_TIME_SCALE (default 10) keeps the run near a minute and a half on two cores.
 */

const MP = 'A2Q3Y263D00KWC';

export async function run(): Promise<void> {
  const invoices = Number(process.env.SP_BENCH_INVOICES ?? 10_000);
  const timeScale = Number(process.env.SP_BENCH_TIME_SCALE ?? 10);
  const pageSize = 100;
  const perDocument = 2_500;
  const exportSeconds = 120;

  const config = parseConfig({
    connections: [
      {
        id: 'sp-bench',
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
    { name: 'export-poller', handler: 'test/integration/sp-api-poller.fixture.ts', env },
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
  const onDone = (e: { function: string; durationMs: number }) => {
    handlerMs[e.function] = (handlerMs[e.function] ?? 0) + e.durationMs;
    invocations[e.function] = (invocations[e.function] ?? 0) + 1;
  };
  stack.runner.on('succeeded', onDone);
  stack.runner.on('failed', onDone);

  try {
    const state = new DynamoStateStore(
      DynamoDBDocumentClient.from(localDynamoClient(stack.env), {
        marshallOptions: { removeUndefinedValues: true },
      }),
      stack.table,
    );
    const runId = `bench-${randomUUID()}`;
    const window = { from: '2000-01-01', to: new Date().toISOString().slice(0, 10) };
    const started = Date.now();
    await stack.send('sp-api-invoices', {
      v: 1,
      type: 'run',
      runId,
      provider: 'sp-api',
      connection: 'sp-bench',
      window,
    });
    await stack.waitForIdle({ intervalMs: 250, timeoutMs: 900_000 });
    const wallMs = Date.now() - started;

    const record = await state.getRun(runId);
    const counts = record?.connections['sp-bench'] ?? {};
    const stats = sandbox.stats()['sp-api']!;
    const pages = Math.max(1, Math.ceil(invoices / pageSize));
    const listingFloor = (Math.max(0, pages - SP_RATES.getInvoices.burst) / SP_RATES.getInvoices.rate) * 1000;
    const documents = Math.ceil(invoices / perDocument);
    const exportFloor =
      (exportSeconds +
        Math.max(0, documents - SP_RATES.getInvoicesDocument.burst) / SP_RATES.getInvoicesDocument.rate) *
      1000;
    const floorMs = Math.max(listingFloor, exportFloor) / timeScale;
    const totalHandler = Object.values(handlerMs).reduce((a, b) => a + b, 0);
    const pct = (n: number) => `${((100 * n) / wallMs).toFixed(1)}%`;
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

    console.log(
      `invoices ${counts.invoices ?? 0}/${invoices} (${pages} pages of ${pageSize}), time scale ${timeScale}`,
    );
    console.log(
      `wall ${s(wallMs)}  floor ${s(floorMs)} (listing ${s(listingFloor / timeScale)}, export ${s(exportFloor / timeScale)})  ratio ${(wallMs / floorMs).toFixed(3)} (target <= 1.05)`,
    );
    console.log(
      `429 answers ${stats.throttled} (target 0)  getInvoices requests ${stats.operations.getInvoices?.requests ?? 0}  defers ${counts.defers ?? 0}`,
    );
    console.log(
      `handler time ${s(totalHandler)} = ${pct(totalHandler)} of wall (target < 5%): ` +
        Object.entries(handlerMs)
          .map(([f, ms]) => `${f} ${s(ms)} in ${invocations[f]} invocations (${pct(ms)})`)
          .join(', '),
    );
    console.log(
      `documents ${counts.documents ?? 0} (${documents} ZIPs + XMLs), failures ${record?.failures.length ?? '?'}, problems ${record?.problems.length ?? '?'}`,
    );
  } finally {
    await stack.close();
    await sandbox.close();
    rmSync(dirname(local.path), { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
