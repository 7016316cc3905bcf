import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { dynamoClient, s3Client, sqsClient } from '../aws/clients.ts';
import { METRICS } from '../aws/resources.ts';
import { S3Sink } from '../aws/sink.ts';
import { DynamoStateStore, ExportBusyError } from '../aws/state-store.ts';
import { findConnection, runtimeConfig } from '../config/load.ts';
import type { Connection, ProviderId } from '../config/schema.ts';
import type { ProviderSpec } from '../engine/provider-spec.ts';
import { specHttp } from '../engine/spec-http.ts';
import { lambdaBudget } from '../http/budget.ts';
import {
  InvalidMessageError,
  type JobMessage,
  type JobMessageInput,
  parseJobMessage,
} from '../jobs/messages.ts';
import { moveToDlq, SqsJobQueue } from '../jobs/queue.ts';
import { asLog, createLogger } from '../log/logger.ts';
import type { Counter, ProviderContext } from '../providers/types.ts';
import { type FunctionEnv, functionEnv } from './env.ts';
import { describeError, isDefer, isPermanent } from './errors.ts';

/** Stop starting new provider calls this long before the Lambda's own timeout. */
const BUDGET_MARGIN_MS = 10_000;

export type Processor = (message: JobMessage, ctx: ProviderContext, spec: ProviderSpec) => Promise<void>;

export interface FrameOptions {
  functionName: string;
  specs: Partial<Record<ProviderId, ProviderSpec>>;
  process: Processor;
  /** False while the provider is not built: messages are validated, logged and settled, nothing is fetched. */
  implemented?: boolean;
}

interface Frame {
  env: FunctionEnv;
  logger: Logger;
  metrics: Metrics;
  state: DynamoStateStore;
  sqs: ReturnType<typeof sqsClient>;
}

/** Secret JSON by name, cached briefly per container (rotations show up within the max age), checked against the spec's schema. */
async function loadSecret(spec: ProviderSpec, connection: Connection): Promise<Record<string, string>> {
  const { getSecretJson, parseSecret } = await import('../aws/secrets.ts');
  return parseSecret(spec.secret, await getSecretJson(connection.secretName), connection.secretName);
}

/**
 * The one wrapper every SQS-fed function uses: records are processed one at a time (rate limits are
 * per connection, parallel records would only fight over them), and each record's outcome is one of
 * done, deferred (a delayed continuation was sent), moved to the DLQ at once (it can never succeed),
 * or failed (SQS redelivers it; after maxReceiveCount its redrive moves it to the DLQ).
 */
export function sqsHandler(options: FrameOptions) {
  let frame: Frame | undefined;
  const logger = createLogger(options.functionName);
  const metrics = new Metrics({ namespace: METRICS.namespace, serviceName: options.functionName });

  const init = (): Frame => {
    frame ??= {
      env: functionEnv(),
      logger,
      metrics,
      state: new DynamoStateStore(dynamoClient(), functionEnv().table),
      sqs: sqsClient(),
    };
    return frame;
  };

  const handleRecord = async (record: SQSRecord, context: Context): Promise<void> => {
    const f = init();
    const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? 1);
    const finalAttempt = receiveCount >= f.env.maxReceiveCount;
    let message: JobMessage;
    try {
      message = parseJobMessage(record.body);
    } catch (err) {
      if (!(err instanceof InvalidMessageError)) throw err;
      const runId = safeRunId(record.body);
      await rejectMessage(f, record, undefined, describeError(err), async () => {
        if (runId) await f.state.addPending(runId, -1);
      });
      f.metrics.addMetric(METRICS.names.failures, MetricUnit.Count, 1);
      if (f.metrics.hasStoredMetrics()) f.metrics.publishStoredMetrics();
      return;
    }
    f.logger.appendKeys({ runId: message.runId, connection: message.connection, provider: message.provider });
    try {
      await processMessage(f, message, record, context, finalAttempt);
    } finally {
      f.logger.removeKeys(['runId', 'connection', 'provider']);
    }
  };

  /**
   * Every path ends in exactly one of: done, deferred (continuation sent), moved to the DLQ, or thrown for
   * SQS to redeliver. `settle` takes the message off its run's pending count at most once, and any error
   * on the last receive, wherever it came from, is recorded in the run before the redrive moves it.
   */
  const processMessage = async (
    f: Frame,
    message: JobMessage,
    record: SQSRecord,
    context: Context,
    finalAttempt: boolean,
  ): Promise<void> => {
    const counts: Partial<Record<Counter, number>> = {};
    const count = (c: Counter, n = 1) => {
      counts[c] = (counts[c] ?? 0) + n;
    };
    const queue = new SqsJobQueue(f.sqs, process.env, (m, n) => f.state.addPending(m.runId, n));
    let settled = false;
    const settle = async () => {
      if (settled) return;
      settled = true;
      await f.state.addPending(message.runId, -1);
    };
    const flush = async () => {
      f.metrics.addDimension(METRICS.dimension, message.provider);
      f.metrics.addMetric(METRICS.names.records, MetricUnit.Count, 1);
      for (const [c, n] of Object.entries(counts)) {
        const name = METRICS.names[c as Counter];
        if (name && n) f.metrics.addMetric(name, c === 'bytes' ? MetricUnit.Bytes : MetricUnit.Count, n);
      }
      await f.state.addCounts(message.runId, message.connection, counts);
    };

    try {
      await attempt(f, message, record, context, { queue, count, settle });
      await flush();
      await settle();
    } catch (err) {
      count('failures');
      await flush().catch(() => undefined);
      const reason = describeError(err);
      if (isPermanent(err)) {
        await rejectMessage(f, record, message, reason, settle);
        return;
      }
      f.logger.error('record failed', {
        reason,
        receiveCount: record.attributes?.ApproximateReceiveCount,
        finalAttempt,
      });
      if (finalAttempt && !settled) {
        // SQS's redrive moves it to the DLQ after this receive: the run learns why now.
        await f.state
          .addFailure(
            message.runId,
            {
              at: new Date().toISOString(),
              connection: message.connection,
              messageType: message.type,
              reason,
            },
            record.messageId,
          )
          .then(settle)
          .catch((e: unknown) =>
            f.logger.error('could not record the failure in the run', { reason: describeError(e) }),
          );
      }
      throw err;
    } finally {
      if (f.metrics.hasStoredMetrics()) f.metrics.publishStoredMetrics();
    }
  };

  /** The work itself; returns when the message is done or deferred, throws otherwise. */
  const attempt = async (
    f: Frame,
    message: JobMessage,
    record: SQSRecord,
    context: Context,
    tools: { queue: SqsJobQueue; count: (c: Counter, n?: number) => void; settle: () => Promise<void> },
  ): Promise<void> => {
    const { queue, count } = tools;
    if (message.notBefore && Date.parse(message.notBefore) > Date.now()) {
      const wait = (Date.parse(message.notBefore) - Date.now()) / 1000;
      const { notBefore: _drop, ...rest } = message;
      await queue.send(rest, { delaySeconds: wait });
      return;
    }

    if (message.type === 'run') {
      const created = await f.state.ensureRun(
        message.runId,
        {
          provider: message.provider,
          connections: [message.connection],
          ...(message.window ? { window: message.window } : {}),
          ...(message.invoiceId ? { invoiceId: message.invoiceId } : {}),
          source: 'schedule',
        },
        1,
      );
      if (created) f.logger.info('run started by schedule');
    }

    if (options.implemented === false) {
      f.logger.warn('provider not implemented yet: message validated and logged only', {
        type: message.type,
      });
      return;
    }

    const spec = options.specs[message.provider];
    if (!spec)
      throw new InvalidMessageError(`${options.functionName} does not handle provider ${message.provider}`);
    // An unknown connection is a ConfigError: no retry can fix it, so it goes to the DLQ at once.
    const connection = findConnection(runtimeConfig(), message.connection, message.provider);

    const budget = lambdaBudget(context, BUDGET_MARGIN_MS);
    const ctxLog = asLog(f.logger);
    const problems: Promise<void>[] = [];
    let problemError: unknown;
    const secret = await loadSecret(spec, connection);
    const http = specHttp(spec.id, spec.client, connection, secret, {
      budget,
      log: ctxLog,
      onEvent: (e) => {
        if (e.type === 'retry') count('retries');
        if (e.type === 'throttle') count('throttles');
      },
      allowLoopback: f.env.allowLoopback,
      extraDownloadHosts: [...f.env.extraDownloadHosts, ...(connection.endpoints?.downloadHosts ?? [])],
      deferThresholdMs: f.env.deferThresholdMs,
    });
    const ctx: ProviderContext = {
      connection,
      runId: message.runId,
      secret,
      http,
      // Bytes count what was copied from the provider (documents, reports, ZIPs), not our own JSON.
      sink: new S3Sink(s3Client(), f.env.bucket, { onStored: (stored) => count('bytes', stored.bytes) }),
      state: f.state,
      queue,
      log: ctxLog,
      count,
      reportProblem: (p) => {
        ctxLog.warn('problem', { code: p.code, problem: p.message, key: p.key });
        problems.push(
          // Numbered per message: two problems in the same millisecond must not overwrite each other.
          f.state
            .addProblem(
              message.runId,
              { connection: message.connection, ...p },
              `${record.messageId}#${problems.length}`,
            )
            .catch((err: unknown) => {
              problemError ??= err;
            }),
        );
      },
      budget,
      now: () => new Date(),
    };

    let deferral: { next: JobMessageInput; delaySeconds: number; reason: string } | undefined;
    try {
      await options.process(message, ctx, spec);
    } catch (err) {
      if (!isDefer(err) && !(err instanceof ExportBusyError)) throw err;
      const retryAt = isDefer(err) ? err.retryAt.getTime() : Date.now() + 30_000;
      deferral = {
        next: (isDefer(err) && err.continuation) || message,
        delaySeconds: Math.max(1, (retryAt - Date.now()) / 1000),
        reason: isDefer(err) ? err.reason : 'export-busy',
      };
    } finally {
      await Promise.all(problems);
    }
    if (problemError) throw problemError;
    if (deferral) {
      count('defers');
      f.logger.info('deferred', { reason: deferral.reason, delaySeconds: Math.ceil(deferral.delaySeconds) });
      await queue.send(deferral.next, { delaySeconds: deferral.delaySeconds }).catch((err: unknown) => {
        // A continuation that does not fit the message schema is the provider's bug: retrying repeats it.
        if ((err as Error)?.name === 'ZodError') {
          throw Object.assign(new Error(`invalid continuation: ${describeError(err)}`), { retryable: false });
        }
        throw err;
      });
    }
  };

  const rejectMessage = async (
    f: Frame,
    record: SQSRecord,
    message: JobMessage | undefined,
    reason: string,
    settle: () => Promise<void>,
  ) => {
    f.logger.error('message moved to the DLQ', { reason });
    if (!f.env.dlqUrl) throw new Error(`no DLQ configured for ${f.env.ownQueue}: ${reason}`);
    await moveToDlq(f.sqs, f.env.dlqUrl, record.body, reason);
    const runId = message?.runId ?? safeRunId(record.body);
    if (runId) {
      await f.state.addFailure(
        runId,
        {
          at: new Date().toISOString(),
          connection: message?.connection ?? 'unknown',
          messageType: message?.type ?? 'invalid',
          reason,
        },
        record.messageId,
      );
    }
    await settle();
  };

  const processor = new BatchProcessor(EventType.SQS);
  const base = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, (record: SQSRecord) => handleRecord(record, context), processor, {
      context,
      processInParallel: false,
    });

  return middy(base).use(injectLambdaContext(logger));
}

/** Best effort: an invalid message may still say which run it belongs to. */
function safeRunId(body: string): string | undefined {
  try {
    const v = JSON.parse(body) as { runId?: unknown };
    return typeof v.runId === 'string' && v.runId.length <= 100 ? v.runId : undefined;
  } catch {
    return undefined;
  }
}
