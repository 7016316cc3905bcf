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
import { lambdaBudget } from '../http/budget.ts';
import { InvalidMessageError, type JobMessage, parseJobMessage } from '../jobs/messages.ts';
import { moveToDlq, planDelay, SqsJobQueue } from '../jobs/queue.ts';
import { asLog, createLogger } from '../log/logger.ts';
import type { Counter, ProviderContext, ProviderModule } from '../providers/types.ts';
import { type FunctionEnv, functionEnv } from './env.ts';
import { describeError, isDefer, isPermanent } from './errors.ts';

/** Stop starting new provider calls this long before the Lambda's own timeout. */
const BUDGET_MARGIN_MS = 10_000;

export type Processor = (message: JobMessage, ctx: ProviderContext, module: ProviderModule) => Promise<void>;

export interface FrameOptions {
  functionName: string;
  modules: Partial<Record<ProviderId, ProviderModule>>;
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

/** Secret JSON by name, cached briefly per container (rotations show up within the max age). */
async function loadSecret(module: ProviderModule, connection: Connection): Promise<Record<string, string>> {
  const { getSecretJson } = await import('../aws/secrets.ts');
  return module.parseSecret(await getSecretJson(connection.secretName));
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
      await rejectMessage(f, record.body, undefined, err.message);
      return;
    }
    f.logger.appendKeys({ runId: message.runId, connection: message.connection, provider: message.provider });
    try {
      await processMessage(f, message, record, context, finalAttempt);
    } finally {
      f.logger.removeKeys(['runId', 'connection', 'provider']);
    }
  };

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
    const flush = async () => {
      f.metrics.addDimension(METRICS.dimension, message.provider);
      f.metrics.addMetric(METRICS.names.records, MetricUnit.Count, 1);
      for (const [c, n] of Object.entries(counts)) {
        const name = METRICS.names[c as Counter];
        if (name && n) f.metrics.addMetric(name, c === 'bytes' ? MetricUnit.Bytes : MetricUnit.Count, n);
      }
      await f.state.addCounts(message.runId, message.connection, counts);
    };

    if (message.notBefore && Date.parse(message.notBefore) > Date.now()) {
      const wait = (Date.parse(message.notBefore) - Date.now()) / 1000;
      const { notBefore: _drop, ...rest } = message;
      await queue.send(rest, { delaySeconds: wait });
      await f.state.addPending(message.runId, -1);
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
      await f.state.addPending(message.runId, -1);
      return;
    }

    const module = options.modules[message.provider];
    let connection: Connection;
    try {
      if (!module)
        throw new InvalidMessageError(`${options.functionName} does not handle provider ${message.provider}`);
      connection = findConnection(runtimeConfig(), message.connection, message.provider);
    } catch (err) {
      await rejectMessage(f, record.body, message, describeError(err));
      return;
    }

    const budget = lambdaBudget(context, BUDGET_MARGIN_MS);
    const ctxLog = asLog(f.logger);
    const problems: Promise<void>[] = [];
    try {
      const secret = await loadSecret(module, connection);
      const http = module.http(connection, secret, {
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
        sink: new S3Sink(s3Client(), f.env.bucket, {
          onStored: (stored) => count('bytes', stored.bytes),
        }),
        state: f.state,
        queue,
        log: ctxLog,
        count,
        reportProblem: (p) => {
          ctxLog.warn('problem', { code: p.code, problem: p.message, key: p.key });
          problems.push(
            // Numbered per message: two problems in the same millisecond must not overwrite each other.
            f.state.addProblem(
              message.runId,
              { connection: message.connection, ...p },
              `${record.messageId}#${problems.length}`,
            ),
          );
        },
        budget,
        now: () => new Date(),
      };
      await options.process(message, ctx, module);
      await Promise.all(problems);
      await flush();
      await f.state.addPending(message.runId, -1);
    } catch (err) {
      await Promise.allSettled(problems);
      if (isDefer(err) || err instanceof ExportBusyError) {
        const retryAt = isDefer(err) ? err.retryAt.getTime() : Date.now() + 30_000;
        const next = (isDefer(err) && err.continuation) || message;
        const delaySeconds = Math.max(1, (retryAt - Date.now()) / 1000);
        count('defers');
        f.logger.info('deferred', {
          reason: isDefer(err) ? err.reason : 'export-busy',
          delaySeconds: Math.ceil(delaySeconds),
        });
        await queue.send(next, { delaySeconds });
        await flush();
        await f.state.addPending(message.runId, -1);
        return;
      }
      count('failures');
      await flush();
      const reason = describeError(err);
      if (isPermanent(err)) {
        await rejectMessage(f, record.body, message, reason);
        return;
      }
      f.logger.error('record failed', {
        reason,
        receiveCount: record.attributes?.ApproximateReceiveCount,
        finalAttempt,
      });
      if (finalAttempt) {
        // SQS's redrive moves it to the DLQ after this receive: the run learns why now.
        await f.state.addFailure(
          message.runId,
          { at: new Date().toISOString(), connection: message.connection, messageType: message.type, reason },
          record.messageId,
        );
        await f.state.addPending(message.runId, -1);
      }
      throw err;
    } finally {
      if (f.metrics.hasStoredMetrics()) f.metrics.publishStoredMetrics();
    }
  };

  const rejectMessage = async (f: Frame, body: string, message: JobMessage | undefined, reason: string) => {
    f.logger.error('message moved to the DLQ', { reason });
    if (!f.env.dlqUrl) throw new Error(`no DLQ configured for ${f.env.ownQueue}: ${reason}`);
    await moveToDlq(f.sqs, f.env.dlqUrl, body, reason);
    const runId = message?.runId ?? safeRunId(body);
    if (runId) {
      await f.state.addFailure(
        runId,
        {
          at: new Date().toISOString(),
          connection: message?.connection ?? 'unknown',
          messageType: message?.type ?? 'invalid',
          reason,
        },
        `${Date.now()}`,
      );
      await f.state.addPending(runId, -1);
    }
    f.metrics.addMetric(METRICS.names.failures, MetricUnit.Count, 1);
    if (f.metrics.hasStoredMetrics()) f.metrics.publishStoredMetrics();
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

export { planDelay };
