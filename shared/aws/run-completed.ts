import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { ProviderId } from '../config/schema.ts';
import { createLogger } from '../log/logger.ts';
import type { Counter } from '../providers/types.ts';
import { describeError } from '../runtime/errors.ts';
import { sqsClient } from './clients.ts';
import { METRICS } from './resources.ts';
import type { RunRecord, RunRequest } from './run-ledger.ts';

/**
 * What happens when a run settles: one RunsCompleted data point with the status it settled with, and one
 * "Invoice run completed" event for consumers. The settling function sends the event's detail to the
 * run-events queue; an EventBridge pipe (infra/aws/run-events.ts) puts it on the default bus with this source
 * and detail-type, and the local stack forwards it to its consumer the same way (infra/local/run-events.ts).
 */
export const RUN_COMPLETED = {
  source: 'invoice-ingest',
  detailType: 'Invoice run completed',
  /** Logical id of the queue between the functions and the pipe. */
  queue: 'run-events',
  /** Where a function finds that queue; without it the event is not sent (tests, the local CLI process). */
  queueUrlEnv: 'RUN_EVENTS_QUEUE_URL',
  /** Receives before a message the pipe cannot deliver goes to the queue's DLQ. */
  maxReceiveCount: 5,
} as const;

export interface RunCompletedDetail {
  runId: string;
  /** The status the run settled with: SUCCEEDED, FAILED (and PARTIAL once runs can end so). */
  outcome: string;
  provider?: ProviderId;
  connections: string[];
  window?: { from: string; to: string };
  invoiceId?: string;
  source: RunRequest['source'];
  startedAt: string;
  completedAt: string;
  /** Counters per connection, as in GET /runs/{runId}. */
  counts: Record<string, Partial<Record<Counter, number>>>;
  /** The same counters summed over the connections. */
  totals: Partial<Record<Counter, number>>;
  failures: number;
  problems: number;
  /** Keys of the month files the run published (invoices/provider=…/issue_month=…/<connection>-<scope>.jsonl). */
  monthFiles: string[];
  /** Each connection's control totals: gaps by code and the reconciliation file that itemises them. */
  reconciliations: Record<string, { gaps: number; gapsByCode: Record<string, number>; key: string }>;
}

export function runCompletedDetail(run: RunRecord, outcome: string, completedAt: Date): RunCompletedDetail {
  const totals: Partial<Record<Counter, number>> = {};
  for (const counts of Object.values(run.connections)) {
    for (const [c, n] of Object.entries(counts)) {
      totals[c as Counter] = (totals[c as Counter] ?? 0) + Number(n);
    }
  }
  const { request } = run;
  return {
    runId: run.runId,
    outcome,
    ...(request.provider ? { provider: request.provider } : {}),
    connections: request.connections,
    ...(request.window ? { window: request.window } : {}),
    ...(request.invoiceId ? { invoiceId: request.invoiceId } : {}),
    source: request.source,
    startedAt: run.createdAt,
    completedAt: completedAt.toISOString(),
    counts: run.connections,
    totals,
    failures: run.failures.length,
    problems: run.problems.length,
    monthFiles: run.monthFiles ?? [],
    reconciliations: Object.fromEntries(
      Object.entries(run.reconciliations ?? {}).map(([c, r]) => [
        c,
        { gaps: r.gaps, gapsByCode: r.gapsByCode, key: r.key },
      ]),
    ),
  };
}

let metrics: Metrics | undefined;
let logger: ReturnType<typeof createLogger> | undefined;

/** RunsCompleted under {status} and {provider, status}; only inside a function, whose stdout is its log stream. */
function countOutcome(outcome: string, provider: ProviderId | undefined, env: NodeJS.ProcessEnv): void {
  if (!env.AWS_LAMBDA_FUNCTION_NAME) return;
  metrics ??= new Metrics({ namespace: METRICS.namespace });
  metrics.clearDefaultDimensions();
  try {
    metrics.setDefaultDimensions({ [METRICS.dimensions.status]: outcome });
    metrics.addDimensions({});
    if (provider) metrics.addDimensions({ [METRICS.dimensions.provider]: provider });
    metrics.addMetric(METRICS.names.runsCompleted, MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
  } finally {
    metrics.clearDefaultDimensions();
  }
}

/**
 * Called once per settling (the ledger's conditional update guarantees it). Never throws: the run has
 * settled whatever happens here, and a thrown error would send its message back to be counted again. A run
 * that reopens and settles again announces again; consumers key on runId.
 */
export async function announceRunCompleted(
  ledger: { getRun(runId: string): Promise<RunRecord | undefined> },
  runId: string,
  outcome: string,
  options: { env?: NodeJS.ProcessEnv; now?: () => Date } = {},
): Promise<void> {
  const env = options.env ?? process.env;
  logger ??= createLogger(env.POWERTOOLS_SERVICE_NAME || 'invoice-ingest');
  const run = await ledger.getRun(runId).catch((err: unknown) => {
    logger?.error('run record not read for its run-completed event', { runId, reason: describeError(err) });
    return undefined;
  });
  try {
    // The alarm reads {status}: it is counted even when the record could not be read.
    countOutcome(outcome, run?.request.provider, env);
    const url = env[RUN_COMPLETED.queueUrlEnv];
    if (!run || !url) return;
    const detail = runCompletedDetail(run, outcome, (options.now ?? (() => new Date()))());
    await sqsClient().send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(detail) }));
    logger.info('run completed', { runId, outcome });
  } catch (err) {
    logger.error('run-completed event not sent', { runId, outcome, reason: describeError(err) });
  }
}
