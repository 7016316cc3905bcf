import type { Server } from 'node:http';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createSqsServer } from 'local-aws-sqs';
import { closeServer } from '../../infra/local/servers.ts';

export interface SqsServer {
  sqs: SQSClient;
  /** The server's URL (AWS_ENDPOINT_URL_SQS for code that builds its own client). */
  endpoint: string;
  /** Creates a queue (attributes as SQS takes them) and answers its URL. */
  queue(name: string, attributes?: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}

/** local-aws-sqs (the local stack's SQS) on a free loopback port, with a client for it. */
export async function startSqsServer(): Promise<SqsServer> {
  const server: Server = await createSqsServer({
    port: 0,
    hostname: '127.0.0.1',
    region: 'us-east-1',
    accountId: '000000000000',
    emulateQueueCreationLifecycle: false,
  });
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const sqs = new SQSClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  return {
    sqs,
    endpoint,
    queue: async (name, attributes = {}) =>
      (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl!,
    close: async () => {
      sqs.destroy();
      await closeServer(server);
    },
  };
}
