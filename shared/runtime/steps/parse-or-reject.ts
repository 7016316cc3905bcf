import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import { METRICS } from '../../aws/resources.ts';
import { InvalidMessageError, type JobMessage, parseJobMessage } from '../../jobs/messages.ts';
import { describeError } from '../errors.ts';
import type { FrameDeps } from './frame-deps.ts';
import { rejectToDlq, safeRunId } from './reject-to-dlq.ts';

/** The record's message, or undefined once a message that cannot be valid was moved to the DLQ with the field at fault. */
export async function parseOrReject(deps: FrameDeps, record: SQSRecord): Promise<JobMessage | undefined> {
  try {
    return parseJobMessage(record.body);
  } catch (err) {
    if (!(err instanceof InvalidMessageError)) throw err;
    const runId = safeRunId(record.body);
    await rejectToDlq(deps, record, undefined, describeError(err), async () => {
      if (runId) await deps.state.addPending(runId, -1);
    });
    deps.metrics.addMetric(METRICS.names.failures, MetricUnit.Count, 1);
    if (deps.metrics.hasStoredMetrics()) deps.metrics.publishStoredMetrics();
    return undefined;
  }
}
