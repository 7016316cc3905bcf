import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { QUEUE_FED_FUNCTIONS } from '../../shared/aws/resources.ts';
import type { Config } from '../../shared/config/schema.ts';
import { localS3Client, localSqsClient } from './clients.ts';
import { LocalConsumer } from './consumer.ts';
import type { FunctionOutput } from './container.ts';
import { type MirrorResult, mirrorBucket } from './mirror.ts';
import { forwardS3Notifications } from './notifications.ts';
import { createLocalResources, type LocalResources, type QueueFedName } from './resources.ts';
import { EventSourceRunner, type RunnerFunction } from './runner.ts';
import { type Endpoints, startStandins } from './standins.ts';

/**
 * The whole stack on one machine: stand-ins, resources built from the shared description, the runner
 * invoking the real handlers, S3 notifications reaching a local consumer, and a mirror of the bucket.
 */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A function to run: its name (real handler), or the name with local overrides (tests, experiments). */
export type LocalFunctionSpec =
  | QueueFedName
  | {
      name: QueueFedName;
      /** Module exporting the handler: absolute, or relative to the repo root (default functions/<name>/handler.ts). */
      handler?: string;
      handlerExport?: string;
      batchSize?: number;
      timeoutSeconds?: number;
      concurrency?: number;
      /** Added to (or replacing) the function's environment. */
      env?: Record<string, string>;
    };

export interface LocalStackOptions {
  config: Config;
  /** The connections file the functions read (CONNECTIONS_FILE). */
  configPath: string;
  /** Secret name -> value, served by the local Secrets Manager endpoint. */
  secrets?: Record<string, unknown>;
  /** Or a JSON file of the same shape. */
  secretsFile?: string;
  /** Which functions to run (default: every queue-fed function with its real handler). */
  functions?: readonly LocalFunctionSpec[];
  /** How long a failed record stays hidden before it is retried (default 3 s). */
  visibilityTimeoutSeconds?: number;
  /** Long-poll wait of the runner's receives (default 1 s). */
  waitTimeSeconds?: number;
  /** No progress or per-object lines. */
  quiet?: boolean;
  /** Where the functions' own stdout/stderr go ('stderr': both to stderr; 'ignore': dropped; default 'inherit'). */
  functionOutput?: FunctionOutput;
  /** Where progress lines go (default stdout). */
  log?: (line: string) => void;
}

export interface SendOptions {
  delaySeconds?: number;
  messageAttributes?: Record<string, string>;
}

export interface LocalStack {
  /** The stand-ins' endpoints, region and credentials as SDK environment variables. */
  env: Record<string, string>;
  endpoints: Endpoints;
  region: string;
  accountId: string;
  bucket: string;
  table: string;
  queueUrls: Record<string, string>;
  dlqUrls: Record<string, string>;
  /** Each function's whole environment (as its worker gets it). */
  functionEnv: LocalResources['functionEnv'];
  runner: EventSourceRunner;
  consumer: LocalConsumer;
  /** Sends one message to a queue by id; an object body is sent as JSON. Returns the message id. */
  send(queueId: string, body: string | object, options?: SendOptions): Promise<string>;
  waitForIdle(options?: { intervalMs?: number; timeoutMs?: number }): Promise<void>;
  /** Copies the bucket into `dir` (default ./out). */
  mirror(dir?: string, options?: { prefix?: string }): Promise<MirrorResult>;
  close(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const say = options.quiet ? () => {} : log;
  const standins = await startStandins({
    ...(options.secrets ? { secrets: options.secrets } : {}),
    ...(options.secretsFile ? { secretsFile: options.secretsFile } : {}),
  });
  const cleanups: Array<() => Promise<void> | void> = [() => standins.close()];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  };

  try {
    const resources = await createLocalResources({
      config: options.config,
      configPath: options.configPath,
      standinEnv: standins.env,
      ...(options.visibilityTimeoutSeconds !== undefined
        ? { visibilityTimeoutSeconds: options.visibilityTimeoutSeconds }
        : {}),
    });

    const consumer = new LocalConsumer({ quiet: options.quiet ?? false, log });
    const stopForwarding = forwardS3Notifications(standins.s3Events, (e) => consumer.handle(e), {
      account: standins.accountId,
      region: standins.region,
    });
    cleanups.push(stopForwarding);

    const runner = new EventSourceRunner({
      functions: runnerFunctions(options.functions ?? QUEUE_FED_FUNCTIONS.map((f) => f.name), resources),
      standinEnv: standins.env,
      region: standins.region,
      accountId: standins.accountId,
      dlqUrls: resources.dlqUrls,
      ...(options.waitTimeSeconds !== undefined ? { waitTimeSeconds: options.waitTimeSeconds } : {}),
      ...(options.functionOutput ? { functionOutput: options.functionOutput } : {}),
    });
    cleanups.push(() => runner.close());
    reportProgress(runner, say);
    runner.start();

    const sqs = localSqsClient(standins.env);
    const s3 = localS3Client(standins.env);
    cleanups.push(() => {
      sqs.destroy();
      s3.destroy();
    });

    let closed = false;
    return {
      env: standins.env,
      endpoints: standins.endpoints,
      region: standins.region,
      accountId: standins.accountId,
      bucket: resources.bucket,
      table: resources.table,
      queueUrls: resources.queueUrls,
      dlqUrls: resources.dlqUrls,
      functionEnv: resources.functionEnv,
      runner,
      consumer,
      send: async (queueId, body, sendOptions = {}) => {
        const url = resources.queueUrls[queueId];
        if (!url)
          throw new Error(
            `no local queue "${queueId}"; queues: ${Object.keys(resources.queueUrls).join(', ')}`,
          );
        const out = await sqs.send(
          new SendMessageCommand({
            QueueUrl: url,
            MessageBody: typeof body === 'string' ? body : JSON.stringify(body),
            ...(sendOptions.delaySeconds !== undefined ? { DelaySeconds: sendOptions.delaySeconds } : {}),
            ...(sendOptions.messageAttributes
              ? {
                  MessageAttributes: Object.fromEntries(
                    Object.entries(sendOptions.messageAttributes).map(([k, v]) => [
                      k,
                      { DataType: 'String', StringValue: v },
                    ]),
                  ),
                }
              : {}),
          }),
        );
        return out.MessageId ?? '';
      },
      waitForIdle: (waitOptions) => runner.waitForIdle(waitOptions),
      mirror: (dir = 'out', mirrorOptions = {}) =>
        mirrorBucket({ s3, bucket: resources.bucket, dir, ...mirrorOptions }),
      close: async () => {
        if (closed) return;
        closed = true;
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup().catch(() => {});
    throw err;
  }
}

function runnerFunctions(specs: readonly LocalFunctionSpec[], resources: LocalResources): RunnerFunction[] {
  return specs.map((spec) => {
    const s = typeof spec === 'string' ? { name: spec } : spec;
    const fn = QUEUE_FED_FUNCTIONS.find((f) => f.name === s.name);
    if (!fn) {
      const names = QUEUE_FED_FUNCTIONS.map((f) => f.name).join(', ');
      throw new Error(`functions: "${s.name}" is not a queue-fed function (one of ${names})`);
    }
    const queue = resources.queues[fn.queue]!;
    const settings = resources.settings[fn.name];
    const handler = s.handler ?? `functions/${fn.name}/handler.ts`;
    return {
      name: fn.name,
      queueId: fn.queue,
      queueUrl: queue.url,
      queueArn: queue.arn,
      handlerModule: isAbsolute(handler) ? handler : resolve(REPO_ROOT, handler),
      ...(s.handlerExport ? { handlerExport: s.handlerExport } : {}),
      env: { ...resources.functionEnv[fn.name], ...(s.env ?? {}) },
      batchSize: s.batchSize ?? fn.batchSize,
      timeoutSeconds: s.timeoutSeconds ?? settings.timeoutSeconds,
      memoryMb: settings.memoryMb,
      maxReceiveCount: queue.maxReceiveCount,
      visibilityTimeoutSeconds: queue.visibilityTimeoutSeconds,
      concurrency: s.concurrency ?? 1,
    };
  });
}

function reportProgress(runner: EventSourceRunner, say: (line: string) => void): void {
  runner.on('succeeded', (e) =>
    say(`${e.function}: ${e.messageIds.length} record(s) done in ${e.durationMs} ms`),
  );
  runner.on('failed', (e) => {
    const dlq = e.lastAttempt.length
      ? `; ${e.lastAttempt.length} on their last receive go to the DLQ`
      : '; will retry';
    say(
      `${e.function}: ${e.messageIds.length} record(s) failed (${e.reason}${e.error ? `: ${e.error}` : ''})${dlq}`,
    );
  });
  runner.on('warning', (e) => say(`${e.function ? `${e.function}: ` : ''}warning: ${e.message}`));
}
