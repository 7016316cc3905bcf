import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { functionForRun, POLL_QUEUE, queueUrlEnv } from '../aws/resources.ts';
import type { JobQueue } from '../providers/types.ts';
import { type JobMessage, type JobMessageInput, jobMessageSchema } from './messages.ts';

/** SQS caps DelaySeconds at 900; longer waits set notBefore and are re-enqueued by the frame until then. */
export const MAX_DELAY_SECONDS = 900;

/**
 * The queue a message belongs on: polls go to the poller, a connection's control totals to its provider's
 * main function, runs and fetches to their provider job's queue.
 */
export function queueFor(message: JobMessage): string {
  if (message.type === 'poll') return POLL_QUEUE;
  if (message.type === 'reconcile') return functionForRun(message.provider).queue;
  return functionForRun(message.provider, message.job).queue;
}

/** Splits a wait into what SQS can delay now and, when longer, the time the message may run. */
export function planDelay(delaySeconds: number, now: Date): { delaySeconds: number; notBefore?: string } {
  const whole = Math.max(0, Math.ceil(delaySeconds));
  if (whole <= MAX_DELAY_SECONDS) return { delaySeconds: whole };
  return { delaySeconds: MAX_DELAY_SECONDS, notBefore: new Date(now.getTime() + whole * 1000).toISOString() };
}

/** Called once per message sent (the run's pending count goes up with it). */
export type OnSend = (message: JobMessage, count: number) => Promise<void>;

export class SqsJobQueue implements JobQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly onSend?: OnSend,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private urlOf(queue: string): string {
    const url = this.env[queueUrlEnv(queue)];
    if (!url)
      throw new Error(`this function may not send to queue ${queue} (${queueUrlEnv(queue)} is not set)`);
    return url;
  }

  async send(input: JobMessageInput, opts: { delaySeconds?: number } = {}): Promise<void> {
    const message = jobMessageSchema.parse(input);
    const plan = planDelay(opts.delaySeconds ?? 0, this.now());
    const body: JobMessage = plan.notBefore ? { ...message, notBefore: plan.notBefore } : message;
    const url = this.urlOf(queueFor(body));
    // Counted before the send: a run that shows pending work too long is safer than one marked done early.
    await this.onSend?.(body, 1);
    try {
      await this.sqs.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: JSON.stringify(body),
          DelaySeconds: plan.delaySeconds,
        }),
      );
    } catch (err) {
      await this.onSend?.(body, -1);
      throw err;
    }
  }

  async sendBatch(inputs: readonly JobMessageInput[]): Promise<void> {
    const messages = inputs.map((m) => jobMessageSchema.parse(m));
    const byQueue = new Map<string, JobMessage[]>();
    for (const m of messages) {
      const q = queueFor(m);
      byQueue.set(q, [...(byQueue.get(q) ?? []), m]);
    }
    for (const [queue, list] of byQueue) {
      for (let i = 0; i < list.length; i += 10) {
        const chunk = list.slice(i, i + 10);
        const url = this.urlOf(queue);
        for (const m of chunk) await this.onSend?.(m, 1);
        await this.sendChunk(url, chunk);
      }
    }
  }

  /** One batch call, then the entries SQS refused once more each (a refusal is per entry, often throttling). */
  private async sendChunk(url: string, chunk: readonly JobMessage[]): Promise<void> {
    let entries = chunk.map((m, j) => ({ Id: String(j), MessageBody: JSON.stringify(m) }));
    for (let round = 0; ; round++) {
      const out = await this.sqs
        .send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }))
        .catch(async (err: unknown) => {
          for (const e of entries) await this.onSend?.(chunk[Number(e.Id)]!, -1);
          throw err;
        });
      const failed = out.Failed ?? [];
      if (!failed.length) return;
      const refused = new Set(failed.map((f) => f.Id));
      entries = entries.filter((e) => refused.has(e.Id));
      if (round >= 2) {
        for (const e of entries) await this.onSend?.(chunk[Number(e.Id)]!, -1);
        const first = failed[0]!;
        throw new Error(
          `SQS refused ${failed.length} of ${chunk.length} messages: ${first.Code} ${first.Message}`,
        );
      }
    }
  }
}

/** Moves a message that can never succeed to the DLQ at once, with the reason as a message attribute. */
export async function moveToDlq(sqs: SQSClient, dlqUrl: string, body: string, reason: string): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: dlqUrl,
      MessageBody: body,
      MessageAttributes: {
        reason: { DataType: 'String', StringValue: reason.slice(0, 4000) },
        movedAt: { DataType: 'String', StringValue: new Date().toISOString() },
      },
    }),
  );
}
