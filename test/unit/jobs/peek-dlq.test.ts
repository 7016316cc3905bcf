import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peekDlq } from '../../../shared/jobs/peek-dlq.ts';
import { type SqsServer, startSqsServer } from '../../helpers/sqs-server.ts';

/** Reading a DLQ without taking anything off it, on local-aws-sqs (the local stack's SQS). */

let server: SqsServer;
beforeAll(async () => {
  server = await startSqsServer();
});
afterAll(() => server?.close());

const depth = async (url: string) => {
  const out = await server.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    messages: Number(out.Attributes?.ApproximateNumberOfMessages),
    hidden: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
};

describe('peekDlq', () => {
  it('reads every message with its attributes, more than one receive holds, and leaves each visible', async () => {
    const url = await server.queue('peek-dlq');
    for (let i = 0; i < 23; i++) {
      await server.sqs.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: JSON.stringify({ n: i }),
          ...(i === 0
            ? { MessageAttributes: { reason: { DataType: 'String', StringValue: 'invalid message' } } }
            : {}),
        }),
      );
    }

    const read = await peekDlq(server.sqs, url, { waitTimeSeconds: 0 });

    expect(read).toHaveLength(23);
    expect(new Set(read.map((m) => JSON.parse(m.body).n)).size).toBe(23);
    expect(read.find((m) => m.body === '{"n":0}')?.attributes).toEqual({ reason: 'invalid message' });
    expect(read.find((m) => m.body === '{"n":1}')?.attributes).toEqual({});
    // Nothing deleted, and nothing left hidden: an operator (or a redrive) sees them all at once.
    expect(await depth(url)).toEqual({ messages: 23, hidden: 0 });
    const again = await server.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
    );
    expect(again.Messages?.length).toBe(10);
    expect(await peekDlq(server.sqs, url, { waitTimeSeconds: 0 })).toHaveLength(23);
  });

  it('reads at most `max` messages', async () => {
    const url = await server.queue('peek-max');
    for (let i = 0; i < 5; i++) {
      await server.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: String(i) }));
    }
    expect(await peekDlq(server.sqs, url, { waitTimeSeconds: 0, max: 3 })).toHaveLength(3);
    expect(await peekDlq(server.sqs, url, { waitTimeSeconds: 0 })).toHaveLength(5);
  });

  it('answers an empty DLQ with nothing', async () => {
    expect(await peekDlq(server.sqs, await server.queue('peek-empty'), { waitTimeSeconds: 0 })).toEqual([]);
  });
});
