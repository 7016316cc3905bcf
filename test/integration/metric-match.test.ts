import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/aws/build.ts';
import { localDynamoClient, localSqsClient } from '../../infra/local/clients.ts';
import { sandboxConfig } from '../../infra/local/sandbox-config.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { type Sandbox, startSandbox } from '../../infra/sandbox/index.ts';
import { spApiSimulator } from '../../infra/sandbox/sp-api/index.ts';
import { METRICS } from '../../shared/aws/resources.ts';
import { DynamoStateStore } from '../../shared/aws/state-store.ts';
import { parseConfig } from '../../shared/config/load.ts';
import { type CfnTemplate, metricsRead, type ReadMetric } from '../infra/template.ts';

/**
 * The alarms and the dashboard read metrics by namespace, name and exact dimension set; CloudWatch gives a
 * metric read under another set no data, silently. So the functions run here as on AWS (the real sp-api
 * handlers in worker threads, against the simulator with throttles and server errors injected), their EMF
 * lines are collected from their output, and every custom metric the synthesized template reads must be
 * among the data points they emitted. Two small runs: one that succeeds (invoices, documents, bytes,
 * retries, throttles, defers, export age) and one whose export passes its deadline (failed and expired
 * exports, a FAILED run); then the run reconciler settles two runs that lost a message (RunsReconciled for
 * each cause).
 */

const MP = 'A2Q3Y263D00KWC';
const CONNECTION = 'sp-metrics';
const TODAY = new Date().toISOString().slice(0, 10);

/**
 * Metrics alarms wait on before anything emits them. Each must still use a dimension set the functions
 * use for its kind, so it has data the day it is emitted the way METRICS says.
 */
const DECLARED_AHEAD: Array<{ name: string; status?: string; emittedLike: string; why: string }> = [
  { name: METRICS.names.loopGuarded, emittedLike: METRICS.names.records, why: 'the frame counts it later' },
];

interface DataPoint {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

/** The data points of one EMF line: each metric under each of its dimension sets. */
function dataPoints(line: string): DataPoint[] {
  if (!line.includes('"_aws"')) return [];
  let emf: {
    _aws?: {
      CloudWatchMetrics?: Array<{
        Namespace: string;
        Dimensions: string[][];
        Metrics: Array<{ Name: string }>;
      }>;
    };
    [key: string]: unknown;
  };
  try {
    emf = JSON.parse(line);
  } catch {
    return [];
  }
  return (emf._aws?.CloudWatchMetrics ?? []).flatMap((d) =>
    d.Metrics.flatMap((m) =>
      d.Dimensions.map((set) => ({
        namespace: d.Namespace,
        name: m.Name,
        dimensions: Object.fromEntries(set.map((k) => [k, String(emf[k])])),
      })),
    ),
  );
}

const keysOf = (d: Record<string, string>) => Object.keys(d).sort().join(',');
const show = (m: { name: string; dimensions: Record<string, string> }) =>
  `${m.name} ${JSON.stringify(m.dimensions)}`;

describe('the metrics alarms and dashboard read are the metrics the functions emit', () => {
  const config = parseConfig({
    connections: [
      {
        id: CONNECTION,
        provider: 'sp-api',
        region: 'NA',
        secretName: `test/sp-api/${CONNECTION}`,
        scopes: [MP],
        schedule: 'rate(1 day)',
        lookbackDays: 30,
        pageSize: 2,
      },
    ],
  });
  let sandbox: Sandbox;
  let stack: LocalStack;
  let configDir: string | undefined;
  let outdir: string;
  let read: ReadMetric[];
  const emitted: DataPoint[] = [];

  const run = async (window: { from: string; to: string }) => {
    await stack.send('sp-api-invoices', {
      v: 1,
      type: 'run',
      runId: `metrics-${randomUUID()}`,
      provider: 'sp-api',
      connection: CONNECTION,
      window,
    });
    await stack.waitForIdle({ timeoutMs: 120_000 });
  };

  beforeAll(async () => {
    // The template for this same config; bundling skipped, the functions' code is not what is read here.
    outdir = mkdtempSync(join(tmpdir(), 'metric-match-'));
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const built = buildApp(config, { app });
    read = metricsRead(Template.fromStack(built.stack).toJSON() as CfnTemplate).filter(
      (m) => m.namespace === METRICS.namespace,
    );

    // Time scale 10: the second document download waits about 6 s for the next token of
    // getInvoicesDocument (burst 1), far above the defer threshold, so it is deferred to the queue however
    // slow the machine; a retry's backoff (at most 0.5 s, then 1 s) stays within it and is retried in the
    // invocation. Every other listing request is throttled.
    sandbox = await startSandbox({
      seed: 19,
      timeScale: 10,
      simulators: [spApiSimulator],
      connections: config.connections,
      // One invoice the export leaves out: the first run's control totals find the gap, and it ends PARTIAL.
      options: {
        'sp-api': { invoices: 6, invoicesPerDocument: 3, exportSeconds: 5, gaps: { missingXml: 1 } },
      },
      faults: { 'sp-api': { throttleBurst: { every: 2, length: 1 }, operations: ['getInvoices'] } },
      log: () => {},
    });
    const local = await sandboxConfig(config, sandbox);
    configDir = dirname(local.path);
    const env = {
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'false',
      POLL_FIRST_DELAY_SECONDS: '1',
      POLL_FACTOR: '1',
      POLL_MAX_DELAY_SECONDS: '1',
      HTTP_DEFER_THRESHOLD_MS: '1000',
      // About 11 s: ample for the first run's export (done in half a second), never for the second's.
      SP_API_EXPORT_DEADLINE_HOURS: '0.003',
    };
    stack = await startLocalStack({
      config: local.config,
      configPath: local.path,
      secrets: local.secrets,
      functions: (['sp-api-invoices', 'export-poller'] as const).map((name) => ({ name, env })),
      visibilityTimeoutSeconds: 2,
      functionOutput: ({ line }) => emitted.push(...dataPoints(line)),
      quiet: true,
    });

    await run({ from: '2000-01-01', to: TODAY });
    const admin = `${sandbox.endpoints['sp-api']}/__sandbox/settings`;
    const res = await request(admin, {
      method: 'POST',
      body: JSON.stringify({ exportSeconds: 1_000_000 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBeLessThan(300);
    await res.body.dump();
    await run({ from: '2000-01-02', to: TODAY });
    // And a run with nothing to miss: an empty window, its export quick again.
    const quick = await request(admin, {
      method: 'POST',
      body: JSON.stringify({ exportSeconds: 5 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(quick.statusCode).toBeLessThan(300);
    await quick.body.dump();
    await run({ from: '2000-01-01', to: '2000-01-02' });

    // One run whose message sits unrecorded in its DLQ (its function died on the last receive), one whose
    // count no message will take back (a send failed after counting).
    const state = new DynamoStateStore(
      DynamoDBDocumentClient.from(localDynamoClient(stack.env)),
      stack.table,
    );
    const stuck = { provider: 'sp-api' as const, connections: [CONNECTION], source: 'local' as const };
    await state.ensureRun('stuck-dlq', stuck, 1);
    await state.ensureRun('stuck-stopped', stuck, 1);
    const sqs = localSqsClient(stack.env);
    try {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: stack.dlqUrls['sp-api-invoices'],
          MessageBody: JSON.stringify({
            v: 1,
            type: 'fetch',
            runId: 'stuck-dlq',
            provider: 'sp-api',
            connection: CONNECTION,
            scope: MP,
            window: { from: '2000-01-01', to: TODAY },
          }),
        }),
      );
    } finally {
      sqs.destroy();
    }
    await stack.reconcile({ ...env, RUN_STALE_AFTER_MINUTES: '0' });
    await stack.waitForIdle({ timeoutMs: 60_000 });
  }, 240_000);

  afterAll(async () => {
    await stack?.close();
    await sandbox?.close();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  });

  it('finds every metric an alarm or a widget reads among the data points the functions emitted', () => {
    expect(read.length).toBeGreaterThan(10);
    const seen = (m: { name: string; dimensions: Record<string, string> }) =>
      emitted.some(
        (p) =>
          p.namespace === METRICS.namespace &&
          p.name === m.name &&
          isDeepStrictEqual(p.dimensions, m.dimensions),
      );
    const missing = read
      .filter(
        (m) =>
          !DECLARED_AHEAD.some((d) => d.name === m.name && (!d.status || d.status === m.dimensions.status)),
      )
      .filter((m) => !seen(m))
      .map((m) => `${m.where}: ${show(m)}`);
    const emittedNames = [...new Set(emitted.map(show))].sort();
    expect(missing, `emitted:\n${emittedNames.join('\n')}`).toEqual([]);
  });

  it('reads each metric declared ahead under a dimension set its kind is emitted with', () => {
    for (const ahead of DECLARED_AHEAD) {
      const reads = read.filter(
        (m) => m.name === ahead.name && (!ahead.status || ahead.status === m.dimensions.status),
      );
      expect(reads.length, `${ahead.name} (${ahead.why})`).toBeGreaterThan(0);
      const sets = new Set(
        emitted.filter((p) => p.name === ahead.emittedLike).map((p) => keysOf(p.dimensions)),
      );
      for (const m of reads) expect([...sets], `${m.where}: ${show(m)}`).toContain(keysOf(m.dimensions));
    }
  });

  it('emits no data point with the service dimension, nor outside the sets METRICS names', () => {
    const allowed = new Set(['provider', 'connection,provider', 'status', 'provider,status', 'cause']);
    const ours = emitted.filter((p) => p.namespace === METRICS.namespace);
    expect(ours.length).toBeGreaterThan(0);
    expect([...new Set(ours.map((p) => keysOf(p.dimensions)))].filter((k) => !allowed.has(k))).toEqual([]);
  });

  it('forwards one "Invoice run completed" event per run to the consumer, with its outcome and counts', () => {
    const all = stack.consumer.runsCompleted();
    // The reconciler's settlings are announced as any other.
    expect(
      all
        .filter((e) => e.detail.runId.startsWith('stuck-'))
        .map((e) => [e.detail.runId, e.detail.outcome, e.detail.failures])
        .sort(),
    ).toEqual([
      ['stuck-dlq', 'FAILED', 1],
      ['stuck-stopped', 'FAILED', 1],
    ]);
    const events = all.filter((e) => !e.detail.runId.startsWith('stuck-'));
    expect(events.map((e) => [e.source, e['detail-type'], e.detail.outcome])).toEqual([
      ['invoice-ingest', 'Invoice run completed', 'PARTIAL'],
      ['invoice-ingest', 'Invoice run completed', 'FAILED'],
      ['invoice-ingest', 'Invoice run completed', 'SUCCEEDED'],
    ]);
    const [ok, failed] = events.map((e) => e.detail);
    expect(ok?.reconciliations[CONNECTION]).toMatchObject({ gaps: 1, gapsByCode: { 'xml-missing': 1 } });
    expect(ok).toMatchObject({
      connections: [CONNECTION],
      window: { from: '2000-01-01', to: TODAY },
      failures: 0,
    });
    // The month files the run published, by key (the run landed 6 invoices of one marketplace).
    expect(ok!.monthFiles.length).toBeGreaterThan(0);
    for (const key of ok!.monthFiles)
      expect(key).toMatch(/^invoices\/provider=sp-api\/issue_month=\d{4}-\d{2}\//);
    expect(ok!.counts[CONNECTION]?.invoices).toBe(6);
    expect(ok!.totals.documents).toBeGreaterThan(0);
    expect(ok!.totals.bytes).toBeGreaterThan(0);
    expect(failed!.totals.exportsFailed).toBe(1);
    expect(failed!.failures).toBe(1);
  });
});
