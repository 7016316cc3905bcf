import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { peekDlq } from '../../shared/jobs/peek-dlq.ts';
import { localSqsClient } from './clients.ts';
import {
  FunctionContainer,
  type FunctionOutput,
  type InvokeOutcome,
  type OutputListener,
} from './container.ts';
import { readBatchResponse, sqsEvent } from './sqs-event.ts';

/**
 * What the Lambda SQS trigger does, locally: for each function, poll its queue, hand batches to the real
 * handler running in its own worker thread, delete what succeeded, and leave what failed to reappear after
 * the visibility timeout, so the queue's own redrive moves it to the DLQ after maxReceiveCount receives.
 * Invocations of one function are sequential per container (`concurrency` containers); functions run
 * side by side. A handler that throws, times out or crashes is reported, never fatal to the runner.
 */

export interface RunnerFunction {
  name: string;
  queueId: string;
  queueUrl: string;
  queueArn: string;
  /** Absolute path of the module exporting the handler (the function's bundle). */
  handlerModule: string;
  handlerExport?: string;
  /** The function's whole process.env. */
  env: Record<string, string>;
  batchSize: number;
  timeoutSeconds: number;
  memoryMb: number;
  /** Receives before the queue's redrive moves a record to its DLQ (for reporting a last attempt). */
  maxReceiveCount: number;
  visibilityTimeoutSeconds: number;
  /** Containers polling in parallel (default 1). */
  concurrency?: number;
}

export interface RunnerOptions {
  functions: readonly RunnerFunction[];
  /** The worker runtime's bundled module (bundles.ts workerBundle). */
  workerModule: string;
  /** The stand-ins' env: the runner's own SQS client is built from it. */
  standinEnv: Record<string, string>;
  region: string;
  accountId: string;
  /** DLQ URL per queue id, for depths and the summary (defaults to none). */
  dlqUrls?: Record<string, string>;
  /** Long-poll wait per receive; short so close() is quick. Default 1. */
  waitTimeSeconds?: number;
  /** Where the functions' own stdout/stderr go ('stderr': both to stderr; 'ignore': dropped; a listener gets each line). Default 'inherit'. */
  functionOutput?: Exclude<FunctionOutput, OutputListener> | FunctionOutputListener;
  /** Limit on a cold start (loading the handler module). Default 60 s. */
  initTimeoutMs?: number;
}

/** A line a function wrote (its log stream in Lambda: JSON log lines, EMF metric lines). */
export interface FunctionOutputLine {
  function: string;
  stream: 'stdout' | 'stderr';
  line: string;
}
export type FunctionOutputListener = (line: FunctionOutputLine) => void;

export type FailureReason =
  | 'batch-item-failures'
  | 'error'
  | 'timeout'
  | 'crash'
  | 'init-error'
  | 'invalid-response';

export interface InvokedEvent {
  function: string;
  requestId: string;
  messageIds: string[];
  receiveCounts: number[];
  coldStart: boolean;
}
export interface SucceededEvent {
  function: string;
  requestId: string;
  /** The records deleted from the queue. */
  messageIds: string[];
  durationMs: number;
}
export interface FailedEvent {
  function: string;
  requestId: string;
  /** The records left on the queue to reappear (or be redriven). */
  messageIds: string[];
  reason: FailureReason;
  /** The error's name and message (never its stack). */
  error?: string;
  durationMs: number;
  /** Records received maxReceiveCount times: the queue's redrive moves them to the DLQ next. */
  lastAttempt: string[];
}
export interface WarningEvent {
  function?: string;
  message: string;
}

export interface RunnerEvents {
  invoked: [InvokedEvent];
  succeeded: [SucceededEvent];
  failed: [FailedEvent];
  warning: [WarningEvent];
  idle: [];
}

export interface QueueDepth {
  visible: number;
  inFlight: number;
  delayed: number;
}

export interface DlqMessage {
  queueId: string;
  messageId: string;
  body: string;
  /** The reason the frame attached when it moved the message, else the runner's last failure for it. */
  reason: string;
  messageAttributes: Record<string, string>;
}

export interface FunctionStats {
  invocations: number;
  succeededRecords: number;
  failedRecords: number;
  timeouts: number;
  errors: number;
  /** Containers started (cold starts) and the time they spent loading the handler module. */
  coldStarts: number;
  initMs: number;
}

interface Slot {
  fn: RunnerFunction;
  container: FunctionContainer;
  loop?: Promise<void>;
}

const MAX_RECEIVE_BATCH = 10;
const REMEMBERED_FAILURES = 10_000;

export class EventSourceRunner extends EventEmitter<RunnerEvents> {
  private readonly sqs: SQSClient;
  private readonly slots: Slot[] = [];
  private readonly abort = new AbortController();
  private readonly lastFailure = new Map<string, string>();
  private readonly statsByFunction = new Map<string, FunctionStats>();
  private inFlight = 0;
  private started = false;
  private closed = false;

  constructor(private readonly options: RunnerOptions) {
    super();
    this.sqs = localSqsClient(options.standinEnv);
    const names = new Set<string>();
    for (const fn of options.functions) {
      if (names.has(fn.name)) throw new Error(`function ${fn.name} is listed twice`);
      names.add(fn.name);
      if (!Number.isInteger(fn.batchSize) || fn.batchSize < 1) {
        throw new Error(
          `function ${fn.name}: batchSize must be a positive whole number, got ${fn.batchSize}`,
        );
      }
      const concurrency = fn.concurrency ?? 1;
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        throw new Error(
          `function ${fn.name}: concurrency must be a positive whole number, got ${concurrency}`,
        );
      }
      this.statsByFunction.set(fn.name, {
        invocations: 0,
        succeededRecords: 0,
        failedRecords: 0,
        timeouts: 0,
        errors: 0,
        coldStarts: 0,
        initMs: 0,
      });
      for (let i = 0; i < concurrency; i++) {
        this.slots.push({
          fn,
          container: new FunctionContainer({
            workerModule: options.workerModule,
            init: {
              handlerModule: fn.handlerModule,
              handlerExport: fn.handlerExport ?? 'handler',
              functionName: fn.name,
              memoryMb: fn.memoryMb,
              region: options.region,
              accountId: options.accountId,
            },
            env: fn.env,
            output: containerOutput(fn.name, options.functionOutput ?? 'inherit'),
            initTimeoutMs: options.initTimeoutMs ?? 60_000,
          }),
        });
      }
    }
  }

  /** Worker threads currently alive (warm containers). */
  get activeWorkers(): number {
    return this.slots.filter((s) => s.container.warm).length;
  }

  get functions(): readonly RunnerFunction[] {
    return this.options.functions;
  }

  start(): void {
    if (this.closed) throw new Error('the runner is closed');
    if (this.started) return;
    this.started = true;
    for (const slot of this.slots) slot.loop = this.poll(slot);
  }

  stats(): Record<string, FunctionStats> {
    const out = Object.fromEntries([...this.statsByFunction].map(([name, s]) => [name, { ...s }]));
    for (const slot of this.slots) {
      const s = out[slot.fn.name]!;
      for (const [from, to] of slot.container.inits) {
        s.coldStarts++;
        s.initMs += Math.round(to - from);
      }
    }
    return out;
  }

  /**
   * Wall time during which at least one container was cold-starting. Containers start side by side, so
   * this is less than the summed init times: it is what the run waited, not what the containers spent.
   */
  coldStartWallMs(): number {
    const spans = this.slots.flatMap((s) => s.container.inits).sort((a, b) => a[0] - b[0]);
    let total = 0;
    let end = Number.NEGATIVE_INFINITY;
    for (const [from, to] of spans) {
      if (to <= end) continue;
      total += to - Math.max(from, end);
      end = to;
    }
    return Math.round(total);
  }

  private async poll(slot: Slot): Promise<void> {
    const { fn } = slot;
    while (!this.closed) {
      let messages: Message[];
      try {
        messages = await this.receiveBatch(fn);
      } catch (err) {
        if (this.closed) return;
        this.emit('warning', {
          function: fn.name,
          message: `receive from ${fn.queueId} failed: ${errorText(err)}`,
        });
        await sleep(500, this.abort.signal);
        continue;
      }
      if (!messages.length || this.closed) continue;
      this.inFlight++;
      try {
        await this.invoke(slot, messages);
      } catch (err) {
        // Deleting or reporting failed; the records reappear after the visibility timeout.
        if (!this.closed) this.emit('warning', { function: fn.name, message: errorText(err) });
      } finally {
        this.inFlight--;
      }
    }
  }

  /**
   * A long poll for the first record, then an immediate top-up to the batch size. local-aws-sqs answers a
   * long poll only when the batch is full or the wait is over, and a record's visibility timeout runs from
   * the moment it is taken, so one long poll for a whole batch would spend the short local timeout waiting.
   */
  private async receiveBatch(fn: RunnerFunction): Promise<Message[]> {
    const receive = async (max: number, wait: number) =>
      (
        await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: fn.queueUrl,
            MaxNumberOfMessages: max,
            WaitTimeSeconds: wait,
            AttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: this.abort.signal },
        )
      ).Messages ?? [];
    const batch = await receive(1, this.options.waitTimeSeconds ?? 1);
    const room = Math.min(fn.batchSize, MAX_RECEIVE_BATCH) - batch.length;
    if (batch.length && room > 0 && !this.closed) batch.push(...(await receive(room, 0)));
    return batch;
  }

  private async invoke(slot: Slot, messages: Message[]): Promise<void> {
    const { fn, container } = slot;
    const stats = this.statsByFunction.get(fn.name)!;
    const requestId = randomUUID();
    const event = sqsEvent(messages, fn.queueArn, this.options.region);
    const messageIds = event.Records.map((r) => r.messageId);
    const receiveCounts = event.Records.map((r) => Number(r.attributes.ApproximateReceiveCount));
    const coldStart = !container.warm;
    stats.invocations++;
    this.emit('invoked', { function: fn.name, requestId, messageIds, receiveCounts, coldStart });

    const startedAt = Date.now();
    const outcome = await container.invoke(requestId, event, fn.timeoutSeconds * 1000);
    const durationMs = Date.now() - startedAt;
    if (this.closed) return;
    if (durationMs > fn.visibilityTimeoutSeconds * 1000) {
      this.emit('warning', {
        function: fn.name,
        message:
          `an invocation took ${durationMs} ms, longer than the local visibility timeout ` +
          `(${fn.visibilityTimeoutSeconds} s): its records became visible again meanwhile, and one on its last ` +
          'receive may have been redriven to the DLQ; raise visibilityTimeoutSeconds',
      });
    }

    const verdict = judge(outcome, messageIds, fn.timeoutSeconds);
    const failed = new Set(verdict.failed);
    const succeeded = messageIds.filter((id) => !failed.has(id));
    if (succeeded.length) {
      await this.deleteRecords(
        fn,
        messages.filter((m) => succeeded.includes(m.MessageId!)),
      );
      for (const id of succeeded) this.lastFailure.delete(id);
      stats.succeededRecords += succeeded.length;
      this.emit('succeeded', { function: fn.name, requestId, messageIds: succeeded, durationMs });
    }
    if (failed.size) {
      const reasonText = verdict.error ? `${verdict.reason}: ${verdict.error}` : verdict.reason;
      for (const id of failed) this.rememberFailure(id, `${fn.name} ${reasonText}`);
      stats.failedRecords += failed.size;
      if (verdict.reason === 'timeout') stats.timeouts++;
      else if (verdict.reason !== 'batch-item-failures') stats.errors++;
      const lastAttempt = event.Records.filter(
        (r) => failed.has(r.messageId) && Number(r.attributes.ApproximateReceiveCount) >= fn.maxReceiveCount,
      ).map((r) => r.messageId);
      this.emit('failed', {
        function: fn.name,
        requestId,
        messageIds: [...failed],
        reason: verdict.reason as FailureReason,
        ...(verdict.error ? { error: verdict.error } : {}),
        durationMs,
        lastAttempt,
      });
    }
  }

  private rememberFailure(messageId: string, reason: string): void {
    this.lastFailure.delete(messageId);
    this.lastFailure.set(messageId, reason);
    if (this.lastFailure.size > REMEMBERED_FAILURES) {
      const oldest = this.lastFailure.keys().next().value;
      if (oldest !== undefined) this.lastFailure.delete(oldest);
    }
  }

  private async deleteRecords(fn: RunnerFunction, messages: Message[]): Promise<void> {
    for (let i = 0; i < messages.length; i += MAX_RECEIVE_BATCH) {
      const chunk = messages.slice(i, i + MAX_RECEIVE_BATCH);
      const out = await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: fn.queueUrl,
          Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
      for (const f of out.Failed ?? []) {
        this.emit('warning', {
          function: fn.name,
          message: `deleting a processed record failed: ${f.Message ?? f.Code}`,
        });
      }
    }
  }

  /** Message counts of every polled queue, by queue id. */
  async queueDepths(): Promise<Record<string, QueueDepth>> {
    const urls = new Map(this.options.functions.map((f) => [f.queueId, f.queueUrl]));
    const out: Record<string, QueueDepth> = {};
    for (const [id, url] of urls) out[id] = await this.depth(url);
    return out;
  }

  /** Messages waiting in each DLQ, by queue id. */
  async dlqDepths(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [id, url] of Object.entries(this.options.dlqUrls ?? {})) {
      const d = await this.depth(url);
      out[id] = d.visible + d.inFlight + d.delayed;
    }
    return out;
  }

  private async depth(url: string): Promise<QueueDepth> {
    const out = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const a = out.Attributes ?? {};
    const inFlight = Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
    const delayed = Number(a.ApproximateNumberOfMessagesDelayed ?? 0);
    // local-aws-sqs counts in-flight messages in ApproximateNumberOfMessages too; AWS does not.
    const visible = Math.max(0, Number(a.ApproximateNumberOfMessages ?? 0) - inFlight);
    return { visible, inFlight, delayed };
  }

  /**
   * Reads every DLQ's messages without removing them, and makes them visible again at once (peekDlq), so the
   * run reconciler and a later read see them too. The reason is the `reason` attribute the frame sets when it
   * moves a message itself, else the runner's last recorded failure of that message (a redrive keeps the
   * message id).
   */
  async dlqMessages(queueId?: string): Promise<DlqMessage[]> {
    const out: DlqMessage[] = [];
    for (const [id, url] of Object.entries(this.options.dlqUrls ?? {})) {
      if (queueId && id !== queueId) continue;
      for (const m of await peekDlq(this.sqs, url, { waitTimeSeconds: 0, visibilityTimeoutSeconds: 2 })) {
        out.push({
          queueId: id,
          messageId: m.messageId,
          body: m.body,
          reason: m.attributes.reason ?? this.lastFailure.get(m.messageId) ?? 'unknown (no reason recorded)',
          messageAttributes: m.attributes,
        });
      }
    }
    return out;
  }

  /**
   * Resolves once every polled queue has no visible, in-flight or delayed message and no invocation is
   * running, on two checks in a row (a handler's last send lands between them otherwise).
   */
  async waitForIdle(options: { intervalMs?: number; timeoutMs?: number } = {}): Promise<void> {
    if (!this.started) throw new Error('the runner has not been started');
    const interval = options.intervalMs ?? 200;
    const deadline =
      options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
    let quietChecks = 0;
    for (;;) {
      if (this.closed) throw new Error('the runner was closed before it became idle');
      const depths = await this.queueDepths();
      const busy =
        this.inFlight > 0 || Object.values(depths).some((d) => d.visible || d.inFlight || d.delayed);
      quietChecks = busy ? 0 : quietChecks + 1;
      if (quietChecks >= 2) {
        this.emit('idle');
        return;
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `the local queues did not drain within ${options.timeoutMs} ms: ${JSON.stringify(depths)}, ` +
            `${this.inFlight} invocation(s) running`,
        );
      }
      await sleep(interval);
    }
  }

  /** Stops polling and ends every worker; records in flight stay on their queues. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    await Promise.all(this.slots.map((s) => s.container.stop()));
    await Promise.all(this.slots.map((s) => s.loop));
    this.sqs.destroy();
    this.removeAllListeners();
  }
}

function containerOutput(name: string, output: NonNullable<RunnerOptions['functionOutput']>): FunctionOutput {
  if (typeof output !== 'function') return output;
  return (stream, line) => output({ function: name, stream, line });
}

type Verdict = { failed: string[]; reason: FailureReason | 'ok'; error?: string };

function judge(outcome: InvokeOutcome, messageIds: string[], timeoutSeconds: number): Verdict {
  switch (outcome.kind) {
    case 'ok': {
      const batch = readBatchResponse(outcome.value, messageIds);
      if (!batch.ok) return { failed: messageIds, reason: 'invalid-response', error: batch.reason };
      return { failed: batch.failed, reason: batch.failed.length ? 'batch-item-failures' : 'ok' };
    }
    case 'timeout':
      return {
        failed: messageIds,
        reason: 'timeout',
        error: `Task timed out after ${timeoutSeconds} seconds`,
      };
    default:
      return {
        failed: messageIds,
        reason: outcome.kind,
        error: `${outcome.error.name}: ${outcome.error.message}`,
      };
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
