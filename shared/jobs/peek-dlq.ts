import {
  ChangeMessageVisibilityBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface PeekedMessage {
  messageId: string;
  body: string;
  /** String message attributes (the frame's `reason` and `movedAt` when it moved the message itself). */
  attributes: Record<string, string>;
}

export interface PeekOptions {
  /** How long a read message stays hidden should releasing it fail (default 30 s). */
  visibilityTimeoutSeconds?: number;
  /** Long-poll wait of each receive: SQS's short poll samples a few servers and may miss messages (default 1). */
  waitTimeSeconds?: number;
  /** Most messages read (default 1,000); a DLQ holding more is read in part. */
  max?: number;
  /** Told when releasing the messages failed (they reappear after the visibility timeout anyway). */
  onReleaseError?: (err: unknown) => void;
}

/**
 * Reads every message of a dead-letter queue without taking any off it: operators read the DLQ's messages and
 * redrive them, so nothing here deletes. Each receive hides what it returned, so the next returns others; the
 * read stops when a receive brings nothing new. The messages are then made visible again at once
 * (ChangeMessageVisibility 0), so the console and a redrive see them as before. The DLQ alarms read the maximum
 * of ApproximateNumberOfMessagesVisible over five minutes, which a read of a few seconds does not lower.
 */
export async function peekDlq(
  sqs: SQSClient,
  url: string,
  options: PeekOptions = {},
): Promise<PeekedMessage[]> {
  const max = options.max ?? 1000;
  const read = new Map<string, Message>();
  try {
    while (read.size < max) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: Math.min(10, max - read.size),
          WaitTimeSeconds: options.waitTimeSeconds ?? 1,
          VisibilityTimeout: options.visibilityTimeoutSeconds ?? 30,
          MessageAttributeNames: ['All'],
        }),
      );
      const fresh = (out.Messages ?? []).filter((m) => m.MessageId && !read.has(m.MessageId));
      if (!fresh.length) break;
      for (const m of fresh) read.set(m.MessageId!, m);
    }
  } finally {
    await release(sqs, url, [...read.values()]).catch((err: unknown) => options.onReleaseError?.(err));
  }
  return [...read.values()].map((m) => {
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) {
      if (v.StringValue !== undefined) attributes[k] = v.StringValue;
    }
    return { messageId: m.MessageId!, body: m.Body ?? '', attributes };
  });
}

async function release(sqs: SQSClient, url: string, messages: Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10).filter((m) => m.ReceiptHandle);
    if (!chunk.length) continue;
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: chunk.map((m, j) => ({
          Id: String(j),
          ReceiptHandle: m.ReceiptHandle!,
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
}
