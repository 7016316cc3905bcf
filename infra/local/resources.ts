import { resolve } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import {
  dlqUrlEnv,
  ENV,
  type FunctionName,
  METRICS,
  QUEUE_FED_FUNCTIONS,
  type QueueFedFunction,
  queueUrlEnv,
  RECONCILER_FUNCTION,
  runsApiQueues,
  STATE_TABLE,
  sendsTo,
} from '../../shared/aws/resources.ts';
import { RUN_COMPLETED } from '../../shared/aws/run-completed.ts';
import type { Config, ProviderSettings } from '../../shared/config/schema.ts';
import { RECONCILE_QUEUES_ENV } from '../../shared/runtime/reconciler-env.ts';
import type { ReconciledQueue } from '../../shared/runtime/stale-after.ts';
import { RECONCILER_SETTINGS, RUNS_API_SETTINGS, settingsFor } from '../aws/settings.ts';
import { localDynamoClient, localS3Client, localSqsClient } from './clients.ts';

/**
 * The local counterparts of the CDK stack's bucket, queues (each with its DLQ and redrive) and state table,
 * built from the same description (shared/aws/resources.ts) and the same settings (infra/aws/settings.ts).
 * Only the visibility timeout differs: short, so a failed record comes back in seconds, not minutes.
 */

export const DEFAULT_LOCAL_VISIBILITY_TIMEOUT_SECONDS = 3;
export const LOCAL_BUCKET = 'invoice-ingest-local';
export const LOCAL_TABLE = 'invoice-ingest-state';
const DLQ_RETENTION_SECONDS = 14 * 24 * 3600;

export type QueueFedName = QueueFedFunction['name'];

export interface LocalQueue {
  id: string;
  url: string;
  arn: string;
  dlqUrl: string;
  dlqArn: string;
  maxReceiveCount: number;
  visibilityTimeoutSeconds: number;
}

export interface LocalResourcesOptions {
  config: Config;
  /** The connections file the functions read (CONNECTIONS_FILE); made absolute. */
  configPath: string;
  /** The stand-ins' env (endpoints, region, credentials); every function env starts from it. */
  standinEnv: Record<string, string>;
  visibilityTimeoutSeconds?: number;
  bucket?: string;
  table?: string;
}

export interface LocalResources {
  bucket: string;
  table: string;
  queues: Record<string, LocalQueue>;
  queueUrls: Record<string, string>;
  dlqUrls: Record<string, string>;
  /** Concurrency, redrive count, timeout and memory per queue-fed function (as the CDK stack sets them). */
  settings: Record<QueueFedName, ProviderSettings>;
  /** Everything a function's process.env holds, as the CDK stack sets it plus the stand-ins' endpoints. */
  functionEnv: Record<FunctionName, Record<string, string>>;
  /** Where settling functions send run-completed events (the local stack forwards them to its consumer). */
  runEvents: { url: string; dlqUrl: string };
}

export { runsApiQueues, sendsTo };

export async function createLocalResources(options: LocalResourcesOptions): Promise<LocalResources> {
  const visibility = options.visibilityTimeoutSeconds ?? DEFAULT_LOCAL_VISIBILITY_TIMEOUT_SECONDS;
  if (!Number.isInteger(visibility) || visibility < 1 || visibility > 43200) {
    throw new Error(
      `visibilityTimeoutSeconds must be a whole number of seconds from 1 to 43200, got ${visibility}`,
    );
  }
  const bucket = options.bucket ?? LOCAL_BUCKET;
  const table = options.table ?? LOCAL_TABLE;
  const env = options.standinEnv;
  const s3 = localS3Client(env);
  const sqs = localSqsClient(env);
  const ddb = localDynamoClient(env);
  try {
    // A kept state directory has them from an earlier run.
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: unknown) => {
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((err as Error).name)) throw err;
    });

    const settings = {} as Record<QueueFedName, ProviderSettings>;
    const queues: Record<string, LocalQueue> = {};
    for (const fn of QUEUE_FED_FUNCTIONS) {
      const s = settingsFor(options.config, fn);
      settings[fn.name] = s;
      const dlqUrl = await createQueue(sqs, `${fn.queue}-dlq`, {
        MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS),
      });
      const dlqArn = await queueArn(sqs, dlqUrl);
      const url = await createQueue(sqs, fn.queue, {
        VisibilityTimeout: String(visibility),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: s.maxReceiveCount }),
      });
      queues[fn.queue] = {
        id: fn.queue,
        url,
        arn: await queueArn(sqs, url),
        dlqUrl,
        dlqArn,
        maxReceiveCount: s.maxReceiveCount,
        visibilityTimeoutSeconds: visibility,
      };
    }

    // As in the CDK stack (infra/aws/run-events.ts): a message the pipe cannot deliver ends in the DLQ.
    const runEventsDlqUrl = await createQueue(sqs, `${RUN_COMPLETED.queue}-dlq`, {
      MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS),
    });
    const runEventsUrl = await createQueue(sqs, RUN_COMPLETED.queue, {
      VisibilityTimeout: String(visibility),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: await queueArn(sqs, runEventsDlqUrl),
        maxReceiveCount: RUN_COMPLETED.maxReceiveCount,
      }),
    });

    await createStateTable(ddb, table);
    await waitForTable(ddb, table);
    // dynalite has no UpdateTimeToLive: records past STATE_TABLE.ttlAttribute stay, in a kept state directory
    // across runs too (readers that depend on expiry, like idempotency keys, check it themselves).

    const common = (name: FunctionName, memoryMb: number): Record<string, string> => ({
      ...env,
      // What the Lambda runtime itself sets and libraries (Powertools, the SDK) read; LAMBDA_TASK_ROOT is
      // the bundle's directory, set where the bundle is known (stack.ts).
      AWS_LAMBDA_FUNCTION_NAME: name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${name}`,
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      _HANDLER: 'index.handler',
      // What infra/aws/functions.ts sets on every function.
      [ENV.bucket]: bucket,
      [ENV.table]: table,
      [ENV.connectionsFile]: resolve(options.configPath),
      POWERTOOLS_SERVICE_NAME: name,
      POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
      [RUN_COMPLETED.queueUrlEnv]: runEventsUrl,
      [ENV.allowLoopback]: '1',
    });
    const queueOf = (id: string): LocalQueue => {
      const q = queues[id];
      if (!q) throw new Error(`queue "${id}" is not in shared/aws/resources.ts`);
      return q;
    };

    const functionEnv = {} as Record<FunctionName, Record<string, string>>;
    for (const fn of QUEUE_FED_FUNCTIONS) {
      const s = settings[fn.name];
      const own = queueOf(fn.queue);
      const fnEnv = common(fn.name, s.memoryMb);
      fnEnv[ENV.ownQueue] = fn.queue;
      fnEnv[ENV.maxReceiveCount] = String(own.maxReceiveCount);
      fnEnv[queueUrlEnv(fn.queue)] = own.url;
      fnEnv[dlqUrlEnv(fn.queue)] = own.dlqUrl;
      for (const q of sendsTo(fn)) fnEnv[queueUrlEnv(q)] = queueOf(q).url;
      functionEnv[fn.name] = fnEnv;
    }
    const apiEnv = common('runs-api', RUNS_API_SETTINGS.memoryMb);
    for (const q of runsApiQueues()) apiEnv[queueUrlEnv(q)] = queueOf(q).url;
    functionEnv['runs-api'] = apiEnv;
    // As infra/aws/functions.ts: every function queue's DLQ, with the settings its stale limit derives from.
    const reconciled: ReconciledQueue[] = Object.values(queues).map((q) => ({
      queue: q.id,
      dlqUrl: q.dlqUrl,
      maxReceiveCount: q.maxReceiveCount,
      visibilityTimeoutSeconds: q.visibilityTimeoutSeconds,
    }));
    functionEnv[RECONCILER_FUNCTION] = {
      ...common(RECONCILER_FUNCTION, RECONCILER_SETTINGS.memoryMb),
      [RECONCILE_QUEUES_ENV]: JSON.stringify(reconciled),
    };

    return {
      bucket,
      table,
      queues,
      queueUrls: Object.fromEntries(Object.values(queues).map((q) => [q.id, q.url])),
      dlqUrls: Object.fromEntries(Object.values(queues).map((q) => [q.id, q.dlqUrl])),
      settings,
      functionEnv,
      runEvents: { url: runEventsUrl, dlqUrl: runEventsDlqUrl },
    };
  } finally {
    s3.destroy();
    sqs.destroy();
    ddb.destroy();
  }
}

async function createQueue(
  sqs: ReturnType<typeof localSqsClient>,
  name: string,
  attributes: Record<string, string>,
): Promise<string> {
  const out = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (!out.QueueUrl) throw new Error(`creating local queue ${name} returned no URL`);
  return out.QueueUrl;
}

async function queueArn(sqs: ReturnType<typeof localSqsClient>, url: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`local queue ${url} has no ARN`);
  return arn;
}

/** The state table (pk, sk, on demand) as the stack defines it; one kept from an earlier run is reused. */
export async function createStateTable(ddb: Pick<DynamoDBClient, 'send'>, table: string): Promise<void> {
  try {
    await ddb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: STATE_TABLE.partitionKey, AttributeType: 'S' },
          { AttributeName: STATE_TABLE.sortKey, AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: STATE_TABLE.partitionKey, KeyType: 'HASH' },
          { AttributeName: STATE_TABLE.sortKey, KeyType: 'RANGE' },
        ],
      }),
    );
  } catch (err) {
    // Kept from an earlier run (a state directory).
    if ((err as Error).name !== 'ResourceInUseException') throw err;
  }
}

async function waitForTable(ddb: ReturnType<typeof localDynamoClient>, table: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const out = await ddb.send(new DescribeTableCommand({ TableName: table }));
    if (out.Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`local table ${table} did not become ACTIVE`);
}
