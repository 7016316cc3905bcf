import { randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { RUN_COMPLETED, type RunCompletedDetail } from '../../shared/aws/run-completed.ts';

/**
 * In AWS a pipe takes each message off the run-events queue and puts it on the default bus as an
 * "Invoice run completed" event (infra/aws/run-events.ts). This is that pipe, locally: it polls the same
 * queue and hands the consumer the event EventBridge would deliver.
 */

export interface RunCompletedEvent {
  version: '0';
  id: string;
  'detail-type': typeof RUN_COMPLETED.detailType;
  source: typeof RUN_COMPLETED.source;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: RunCompletedDetail;
}

export function runCompletedEvent(
  detail: RunCompletedDetail,
  where: { account: string; region: string },
  now: Date = new Date(),
): RunCompletedEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': RUN_COMPLETED.detailType,
    source: RUN_COMPLETED.source,
    account: where.account,
    time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: where.region,
    resources: [],
    detail,
  };
}

export interface RunEventForwarderOptions {
  sqs: SQSClient;
  queueUrl: string;
  where: { account: string; region: string };
  deliver: (event: RunCompletedEvent) => void;
  /** A message that is not a run-completed detail (it stays on the queue for its DLQ). */
  warn: (message: string) => void;
  /** Pause after a receive that found nothing. Default 200 ms. */
  pollIntervalMs?: number;
}

export class RunEventForwarder {
  readonly #o: RunEventForwarderOptions;
  readonly #abort = new AbortController();
  /** Flushes waiting for a receive that starts after they asked: each gets how many messages it found. */
  #waiters: Array<(found: number) => void> = [];
  #closed = false;
  readonly #loop: Promise<void>;

  constructor(options: RunEventForwarderOptions) {
    this.#o = options;
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      const waiting = this.#waiters.splice(0);
      let found: number;
      try {
        found = await this.#forward();
      } catch (err) {
        found = -1;
        if (!this.#closed) this.#o.warn(`run-events: receive failed: ${(err as Error).message}`);
      }
      for (const w of waiting) w(found);
      if (found <= 0 && !this.#closed) await this.#pause(this.#o.pollIntervalMs ?? 200);
    }
    for (const w of this.#waiters.splice(0)) w(0);
  }

  #pause(ms: number): Promise<void> {
    const signal = this.#abort.signal;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * One short receive (no long poll: a long poll may hold a message a flush is looking for), delivering and
   * deleting what came; returns how many messages came.
   */
  async #forward(): Promise<number> {
    const out = await this.#o.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: this.#o.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      { abortSignal: this.#abort.signal },
    );
    const messages = out.Messages ?? [];
    const done: Message[] = [];
    for (const m of messages) {
      let detail: RunCompletedDetail;
      try {
        detail = JSON.parse(m.Body ?? '') as RunCompletedDetail;
      } catch {
        this.#o.warn(`run-events: message ${m.MessageId} is not JSON; left for the DLQ`);
        continue;
      }
      this.#o.deliver(runCompletedEvent(detail, this.#o.where));
      done.push(m);
    }
    if (done.length) {
      await this.#o.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.#o.queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
    return messages.length;
  }

  /**
   * Forwards everything sent so far. Called once the functions are idle, when every event they will send is
   * on the queue: returns after a receive that started after the call found the queue empty.
   */
  async flush(): Promise<void> {
    while (!this.#closed) {
      const found = await new Promise<number>((resolve) => this.#waiters.push(resolve));
      if (found === 0) return;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    await this.#loop;
  }
}
