import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { dynamoClient, sqsClient } from '../aws/clients.ts';
import { METRICS } from '../aws/resources.ts';
import { DynamoStateStore } from '../aws/state-store.ts';
import type { ProviderId } from '../config/schema.ts';
import type { ProviderSpec } from '../engine/provider-spec.ts';
import { InvalidMessageError, type JobMessage } from '../jobs/messages.ts';
import { SqsJobQueue } from '../jobs/queue.ts';
import { createLogger } from '../log/logger.ts';
import type { ProviderContext } from '../providers/types.ts';
import { functionEnv } from './env.ts';
import { describeError, isPermanent } from './errors.ts';
import { deferToQueue, isDeferral } from './steps/defer-to-queue.ts';
import type { FrameDeps } from './steps/frame-deps.ts';
import { loopGuardReason, loopLimits } from './steps/loop-guard.ts';
import { MessageCounters } from './steps/message-counters.ts';
import { parseOrReject } from './steps/parse-or-reject.ts';
import { providerContext } from './steps/provider-context.ts';
import { rejectToDlq } from './steps/reject-to-dlq.ts';
import { startReconcile } from './steps/start-reconcile.ts';
import { throttleAsDeferral } from './steps/throttle-as-deferral.ts';

export type Processor = (message: JobMessage, ctx: ProviderContext, spec: ProviderSpec) => Promise<void>;

export interface FrameOptions {
  functionName: string;
  specs: Partial<Record<ProviderId, ProviderSpec>>;
  process: Processor;
  /** False while the provider is not built: messages are validated, logged and settled, nothing is fetched. */
  implemented?: boolean;
}

/**
 * The one wrapper every SQS-fed function uses, as small steps (shared/runtime/steps/): parse or reject
 * to the DLQ, run accounting, the provider context, defer to the queue, counters and metrics. Records
 * are processed one at a time (rate limits are per connection, parallel records would only fight over
 * them), and each record's outcome is one of done, deferred (a delayed continuation was sent), moved to
 * the DLQ at once (it can never succeed), or failed (SQS redelivers it; after maxReceiveCount its redrive
 * moves it to the DLQ).
 */
export function sqsHandler(options: FrameOptions) {
  let deps: FrameDeps | undefined;
  const limits = loopLimits();
  const logger = createLogger(options.functionName);
  const metrics = new Metrics({ namespace: METRICS.namespace, serviceName: options.functionName });
  const init = (): FrameDeps => {
    if (!deps) {
      const env = functionEnv();
      deps = {
        env,
        logger,
        metrics,
        state: new DynamoStateStore(dynamoClient(), env.table, undefined, {
          startReconcile: (run) => startReconcile(new SqsJobQueue(sqsClient(), process.env), run),
        }),
        sqs: sqsClient(),
      };
    }
    return deps;
  };

  /** The work itself; returns when the message is done or deferred, throws otherwise. */
  const work = async (
    d: FrameDeps,
    message: JobMessage,
    context: Context,
    queue: SqsJobQueue,
    counters: MessageCounters,
  ): Promise<void> => {
    if (message.notBefore && Date.parse(message.notBefore) > Date.now()) {
      const { notBefore: _drop, ...rest } = message;
      await queue.send(rest, { delaySeconds: (Date.parse(message.notBefore) - Date.now()) / 1000 });
      return;
    }
    if (message.type === 'run') {
      const created = await d.state.ensureRun(
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
      if (created) d.logger.info('run started by schedule');
    }
    if (options.implemented === false) {
      d.logger.warn('provider not implemented yet: message validated and logged only', {
        type: message.type,
      });
      return;
    }
    const spec = options.specs[message.provider];
    if (!spec)
      throw new InvalidMessageError(`${options.functionName} does not handle provider ${message.provider}`);

    const { ctx, settled } = await providerContext(d, spec, message, context, queue, counters);
    let deferral: unknown;
    try {
      await options.process(message, ctx, spec);
    } catch (thrown) {
      const err = throttleAsDeferral(thrown, ctx.http);
      if (!isDeferral(err)) {
        await settled().catch(() => undefined);
        throw err;
      }
      deferral = err;
    }
    await settled();
    if (deferral !== undefined) await deferToQueue(d, deferral, message, queue, counters.count);
  };

  /**
   * Every path ends in exactly one of: done, deferred, moved to the DLQ, or thrown for SQS to redeliver.
   * `settle` takes the message off its run's pending count at most once, and any error on the last
   * receive, wherever it came from, is recorded in the run before the redrive moves it.
   */
  const handleRecord = async (record: SQSRecord, context: Context): Promise<void> => {
    const d = init();
    const message = await parseOrReject(d, record);
    if (!message) return;
    const looping = loopGuardReason(message, limits);
    const finalAttempt = Number(record.attributes?.ApproximateReceiveCount ?? 1) >= d.env.maxReceiveCount;
    d.logger.appendKeys({ runId: message.runId, connection: message.connection, provider: message.provider });
    const counters = new MessageCounters();
    const queue = new SqsJobQueue(d.sqs, process.env, (m, n) => d.state.addPending(m.runId, n));
    let settledOnce = false;
    const settle = async () => {
      if (settledOnce) return;
      settledOnce = true;
      await d.state.addPending(message.runId, -1);
    };
    try {
      if (looping) {
        counters.count('loopGuarded');
        await counters.record(d, message);
        await rejectToDlq(d, record, message, looping, settle);
        return;
      }
      await work(d, message, context, queue, counters);
      await counters.record(d, message);
      await settle();
    } catch (err) {
      counters.count('failures');
      const redelivered = !(isPermanent(err) || finalAttempt);
      // What this receive landed is landed again, and counted, by the receive SQS delivers next (its writes
      // are idempotent): counted now too, a redelivered page would count its invoices twice.
      if (redelivered) counters.forgetLanded();
      await counters.record(d, message).catch(() => undefined);
      const reason = describeError(err);
      // No retry fixes it, or this is the last receive SQS allows: the frame moves it to the DLQ itself, with
      // the real cause as the reason (a redrive would carry none), and the run learns why now.
      if (!redelivered) {
        const receives = record.attributes?.ApproximateReceiveCount;
        const why = isPermanent(err) ? reason : `after ${receives} receives: ${reason}`;
        await rejectToDlq(d, record, message, why, settle);
        return;
      }
      d.logger.error('record failed, SQS delivers it again', {
        reason,
        receiveCount: record.attributes?.ApproximateReceiveCount,
      });
      throw err;
    } finally {
      if (d.metrics.hasStoredMetrics()) d.metrics.publishStoredMetrics();
      d.logger.removeKeys(['runId', 'connection', 'provider']);
    }
  };

  const processor = new BatchProcessor(EventType.SQS);
  const base = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, (record: SQSRecord) => handleRecord(record, context), processor, {
      context,
      processInParallel: false,
    });

  return middy(base).use(injectLambdaContext(logger));
}
