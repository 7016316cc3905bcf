import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { dynamoClient, sqsClient } from '../aws/clients.ts';
import { METRICS } from '../aws/resources.ts';
import { RunLedger } from '../aws/run-ledger.ts';
import { peekDlq } from '../jobs/peek-dlq.ts';
import { asLog, createLogger } from '../log/logger.ts';
import { describeError } from './errors.ts';
import { type DeadLetter, type ReconcileReport, reconcileRuns } from './reconcile-runs.ts';
import { reconcilerEnv } from './reconciler-env.ts';

/**
 * The run-reconciler function (functions/run-reconciler): on its schedule, settles the runs whose messages
 * stopped moving (reconcile-runs.ts), emits RunsReconciled per run it settled under {cause} (DLQ or
 * STOPPED), and answers its report (the local stack prints it).
 */
export function reconcilerHandler(name = 'run-reconciler') {
  const logger = createLogger(name);
  const metrics = new Metrics({ namespace: METRICS.namespace, serviceName: name });
  return async (): Promise<ReconcileReport> => {
    const env = reconcilerEnv();
    const sqs = sqsClient();
    const deadLetters = async (): Promise<DeadLetter[]> => {
      const peeked = await Promise.all(
        env.queues.map(async (q) =>
          (
            await peekDlq(sqs, q.dlqUrl, {
              onReleaseError: (err) =>
                logger.warn('DLQ messages not made visible again', {
                  queue: q.queue,
                  reason: describeError(err),
                }),
            })
          ).map(
            (m): DeadLetter => ({
              queue: q.queue,
              messageId: m.messageId,
              body: m.body,
              ...(m.attributes.reason !== undefined ? { reason: m.attributes.reason } : {}),
            }),
          ),
        ),
      );
      return peeked.flat();
    };
    const report = await reconcileRuns({
      ledger: new RunLedger(dynamoClient(), env.table),
      deadLetters,
      staleAfterMs: env.staleAfterMs,
      log: asLog(logger),
    });
    countSettled(metrics, report);
    logger.info('runs reconciled', {
      running: report.running,
      deadMessages: report.deadMessages.length,
      stopped: report.stopped.length,
      settled: report.settled.length,
      markersDropped: report.markersDropped,
    });
    return report;
  };
}

/** One RunsReconciled data point per cause, without Powertools' `service` dimension (see METRICS). */
function countSettled(metrics: Metrics, report: ReconcileReport): void {
  for (const cause of ['DLQ', 'STOPPED'] as const) {
    const n = report.settled.filter((s) => s.cause === cause).length;
    if (!n) continue;
    metrics.clearDefaultDimensions();
    try {
      metrics.setDefaultDimensions({ [METRICS.dimensions.cause]: cause });
      metrics.addMetric(METRICS.names.runsReconciled, MetricUnit.Count, n);
      metrics.publishStoredMetrics();
    } finally {
      metrics.clearDefaultDimensions();
    }
  }
}
