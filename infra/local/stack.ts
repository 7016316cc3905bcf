import { randomUUID } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { QUEUE_FED_FUNCTIONS, RECONCILER_FUNCTION } from '../../shared/aws/resources.ts';
import type { Config } from '../../shared/config/schema.ts';
import type { ReconcileReport } from '../../shared/runtime/reconcile-runs.ts';
import { RECONCILER_SETTINGS } from '../aws/settings.ts';
import { lambdaBundles, taskRootOf, workerBundle } from './bundles.ts';
import { localS3Client, localSqsClient } from './clients.ts';
import { LocalConsumer } from './consumer.ts';
import { FunctionContainer, type FunctionOutput, type OutputListener } from './container.ts';
import { type MirrorResult, mirrorBucket } from './mirror.ts';
import { forwardS3Notifications } from './notifications.ts';
import { createLocalResources, type LocalResources, type QueueFedName } from './resources.ts';
import { RunEventForwarder } from './run-events.ts';
import { EventSourceRunner, type FunctionOutputListener, type RunnerFunction } from './runner.ts';
import { type Endpoints, startStandins } from './standins.ts';

/**
 * The whole stack on one machine: stand-ins, resources built from the shared description, the runner
 * invoking the real handlers, S3 notifications and run-completed events reaching a local consumer, and a
 * mirror of the bucket.
 */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A function to run: its name (real handler), or the name with local overrides (tests, experiments). */
export type LocalFunctionSpec =
  | QueueFedName
  | {
      name: QueueFedName;
      /**
       * Module exporting the handler, bundled like the stack's: absolute, or relative to the repo root
       * (default functions/<name>/handler.ts).
       */
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
  /** Where the functions' own stdout/stderr go ('stderr': both to stderr; 'ignore': dropped; a listener gets each line; default 'inherit'). */
  functionOutput?: Exclude<FunctionOutput, OutputListener> | FunctionOutputListener;
  /** Where progress lines go (default stdout). */
  log?: (line: string) => void;
  /**
   * Where the bucket and the state table are kept between runs (a directory locked by state-dir.ts).
   * Default: neither is kept; every stack starts empty.
   */
  stateDir?: string;
  /** Bundle runs-api too (for --serve): `runsApiModule`. */
  runsApi?: boolean;
  /** Where bundles are cached (default .local/bundles in the repo). */
  bundleCacheDir?: string;
}

/** Building (or finding in the cache) the bundles the functions run. */
export interface BundleTiming {
  ms: number;
  /** Bundles built now; 0 when all came from the cache. */
  built: number;
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
  /** The run-events queue (forwarded to the consumer as "Invoice run completed" events) and its DLQ. */
  runEvents: { url: string; dlqUrl: string };
  /** Each function's whole environment (as its worker gets it). */
  functionEnv: LocalResources['functionEnv'];
  runner: EventSourceRunner;
  consumer: LocalConsumer;
  bundles: BundleTiming;
  /** The worker runtime every container runs (for containers outside the runner: --serve). */
  workerModule: string;
  /** runs-api's bundle, when `runsApi` was asked for. */
  runsApiModule?: string;
  /**
   * Runs the run reconciler's bundle once, in a container of its own, as its schedule does on AWS; `env` is
   * added to its environment (settings). Answers its report; a failed invocation throws.
   */
  reconcile(env?: Record<string, string>): Promise<ReconcileReport>;
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
  const specs = (options.functions ?? QUEUE_FED_FUNCTIONS.map((f) => f.name)).map(specOf);
  const entries = specs.map(entryOf);
  const runsApiEntry = resolve(REPO_ROOT, 'functions/runs-api/handler.ts');
  if (options.runsApi) entries.push(runsApiEntry);
  // Every stack may need to settle a run that lost a message (npm start does at idle).
  const reconcilerEntry = resolve(REPO_ROOT, `functions/${RECONCILER_FUNCTION}/handler.ts`);
  entries.push(reconcilerEntry);
  // Built (or found in the cache) while the stand-ins start.
  const bundleStarted = performance.now();
  const bundling = Promise.all([
    lambdaBundles(entries, options.bundleCacheDir),
    workerBundle(options.bundleCacheDir),
  ]).then(([lambda, worker]) => ({ lambda, worker, ms: Math.round(performance.now() - bundleStarted) }));
  bundling.catch(() => {});
  const standins = await startStandins({
    ...(options.stateDir ? { stateDir: options.stateDir } : {}),
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
    const runEventsSqs = localSqsClient(standins.env);
    const runEvents = new RunEventForwarder({
      sqs: runEventsSqs,
      queueUrl: resources.runEvents.url,
      where: { account: standins.accountId, region: standins.region },
      deliver: (e) => consumer.handleRunCompleted(e),
      warn: (line) => say(`warning: ${line}`),
    });
    cleanups.push(async () => {
      await runEvents.close();
      runEventsSqs.destroy();
    });

    const { lambda, worker, ms } = await bundling;
    const bundles = { ms, built: lambda.built + worker.built };
    const runner = new EventSourceRunner({
      functions: runnerFunctions(specs, resources, lambda.modules),
      workerModule: worker.module,
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
      runEvents: resources.runEvents,
      functionEnv: resources.functionEnv,
      runner,
      consumer,
      bundles,
      workerModule: worker.module,
      ...(options.runsApi ? { runsApiModule: lambda.modules.get(runsApiEntry)! } : {}),
      reconcile: async (env = {}) => {
        const module = lambda.modules.get(reconcilerEntry)!;
        const container = new FunctionContainer({
          workerModule: worker.module,
          init: {
            handlerModule: module,
            handlerExport: 'handler',
            functionName: RECONCILER_FUNCTION,
            memoryMb: RECONCILER_SETTINGS.memoryMb,
            region: standins.region,
            accountId: standins.accountId,
          },
          env: {
            ...resources.functionEnv[RECONCILER_FUNCTION],
            LAMBDA_TASK_ROOT: taskRootOf(module),
            ...env,
          },
          output: oneOffOutput(RECONCILER_FUNCTION, options.functionOutput ?? 'inherit'),
          initTimeoutMs: 60_000,
        });
        // Kept until the stack closes: a thread ended at once would lose the output it has not flushed yet.
        cleanups.push(() => container.stop());
        // What EventBridge Scheduler's LambdaInvoke sends without an input.
        const outcome = await container.invoke(randomUUID(), {}, RECONCILER_SETTINGS.timeoutSeconds * 1000);
        if (outcome.kind === 'ok') return outcome.value as ReconcileReport;
        const why = 'error' in outcome ? `${outcome.error.name}: ${outcome.error.message}` : outcome.kind;
        throw new Error(`${RECONCILER_FUNCTION} failed (${outcome.kind}): ${why}`);
      },
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
      // Idle means the functions are done, and the run-completed events they sent have reached the consumer.
      waitForIdle: async (waitOptions) => {
        await runner.waitForIdle(waitOptions);
        await runEvents.flush();
      },
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

type FunctionSpec = Exclude<LocalFunctionSpec, QueueFedName>;

/** A container's output setting from the stack's: a stack-wide listener hears which function spoke. */
function oneOffOutput(
  name: string,
  output: NonNullable<LocalStackOptions['functionOutput']>,
): FunctionOutput {
  if (typeof output !== 'function') return output;
  return (stream, line) => output({ function: name, stream, line });
}

function specOf(spec: LocalFunctionSpec): FunctionSpec {
  const s = typeof spec === 'string' ? { name: spec } : spec;
  if (!QUEUE_FED_FUNCTIONS.some((f) => f.name === s.name)) {
    const names = QUEUE_FED_FUNCTIONS.map((f) => f.name).join(', ');
    throw new Error(`functions: "${s.name}" is not a queue-fed function (one of ${names})`);
  }
  return s;
}

/** The handler module a function is bundled from. */
function entryOf(s: FunctionSpec): string {
  const handler = s.handler ?? `functions/${s.name}/handler.ts`;
  return isAbsolute(handler) ? handler : resolve(REPO_ROOT, handler);
}

function runnerFunctions(
  specs: readonly FunctionSpec[],
  resources: LocalResources,
  bundles: ReadonlyMap<string, string>,
): RunnerFunction[] {
  return specs.map((s) => {
    const fn = QUEUE_FED_FUNCTIONS.find((f) => f.name === s.name)!;
    const queue = resources.queues[fn.queue]!;
    const settings = resources.settings[fn.name];
    const module = bundles.get(entryOf(s))!;
    return {
      name: fn.name,
      queueId: fn.queue,
      queueUrl: queue.url,
      queueArn: queue.arn,
      handlerModule: module,
      ...(s.handlerExport ? { handlerExport: s.handlerExport } : {}),
      env: { ...resources.functionEnv[fn.name], LAMBDA_TASK_ROOT: taskRootOf(module), ...(s.env ?? {}) },
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
