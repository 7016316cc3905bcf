import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Stack, Stage } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
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
  sendsTo,
} from '../../shared/aws/resources.ts';
import { RUN_COMPLETED } from '../../shared/aws/run-completed.ts';
import type { Config, ProviderId } from '../../shared/config/schema.ts';
import { RECONCILE_QUEUES_ENV } from '../../shared/runtime/reconciler-env.ts';
import type { ReconciledQueue } from '../../shared/runtime/stale-after.ts';
import { BUNDLED_CONFIG_NAME, BUNDLED_CONFIG_PATH, shellQuote } from './bundled-config.ts';
import { acknowledge, wildcardResourceFinding } from './nag.ts';
import type { JobQueue, JobQueues } from './queues.ts';
import type { RunEvents } from './run-events.ts';
import type { ConnectionSecrets } from './secrets.ts';
import { RECONCILER_SETTINGS, RUNS_API_SETTINGS, settingsFor } from './settings.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Beside the cloud assembly (cdk.out/source-maps/<function>.mjs.map): each deployed bundle's source map. */
export const SOURCE_MAPS_DIR = 'source-maps';

/**
 * Item operations on the state table. DeleteItem releases the claim on an export whose creation failed, so
 * the retry can create it; refused (the error is swallowed), the claim blocked retries until it went stale.
 * Not narrowed by a dynamodb:LeadingKeys condition: a change of key layout would silently break the release
 * again, and every role may already overwrite any item with PutItem.
 */
const TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
  // The invoice table's upserts and its publish read pointers and write items 100 and 25 a call.
  'dynamodb:BatchGetItem',
  'dynamodb:BatchWriteItem',
];
const WRITE_ACTIONS = ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'];
/** The reconciler reads run records and markers, records failures, settles runs and drops markers. */
const RECONCILER_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
];

export interface IngestFunction {
  name: FunctionName;
  /** The handler source the function is bundled from. */
  entry: string;
  fn: NodejsFunction;
  role: Role;
  /** The queue that feeds it (none for runs-api). */
  queue?: JobQueue;
}

export interface FunctionsProps {
  config: Config;
  /** The validated config written as JSON; copied into every bundle. */
  bundledConfigFile: string;
  bucket: Bucket;
  table: Table;
  queues: JobQueues;
  secrets: ConnectionSecrets;
  /** Every function may settle a run (the last message done, or runs-api's send failing), and so announce it. */
  runEvents: RunEvents;
}

/**
 * The Lambdas: one per queue-fed function in shared/aws/resources.ts, runs-api behind the API, and the run
 * reconciler on its schedule.
 */
export class Functions extends Construct {
  readonly queueFed: IngestFunction[] = [];
  readonly runsApi: IngestFunction;
  readonly reconciler: IngestFunction;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: FunctionsProps,
  ) {
    super(scope, id);

    // Providers whose exports the poller follows: it needs their credentials to ask for status and downloads.
    const exportProviders = new Set(
      QUEUE_FED_FUNCTIONS.filter((f) => f.startsExports && f.provider !== 'all').map(
        (f) => f.provider as ProviderId,
      ),
    );

    for (const spec of QUEUE_FED_FUNCTIONS) {
      const settings = settingsFor(props.config, spec);
      const own = props.queues.get(spec.queue);
      const sendsToQueues = sendsTo(spec).map((q) => props.queues.get(q));

      const environment: Record<string, string> = {
        [ENV.ownQueue]: spec.queue,
        [ENV.maxReceiveCount]: String(own.maxReceiveCount),
        [queueUrlEnv(spec.queue)]: own.queue.queueUrl,
        [dlqUrlEnv(spec.queue)]: own.dlq.queueUrl,
      };
      for (const q of sendsToQueues) environment[queueUrlEnv(q.id)] = q.queue.queueUrl;

      const made = this.makeFunction(spec.name, settings.timeoutSeconds, settings.memoryMb, environment);
      made.queue = own;

      // Continuations and fan-out go to its own queue; invalid messages are moved to its DLQ at once.
      for (const q of [own.queue, own.dlq, ...sendsToQueues.map((s) => s.queue)])
        q.grantSendMessages(made.role);
      made.fn.addEventSource(
        new SqsEventSource(own.queue, {
          batchSize: spec.batchSize,
          reportBatchItemFailures: true,
          maxConcurrency: settings.maxConcurrency,
        }),
      );
      this.grantObjects(made.role, spec.writes, WRITE_ACTIONS, 'writes');
      this.grantSecrets(made.role, spec, exportProviders);
      this.queueFed.push(made);
    }

    // runs-api enqueues runs for any provider job, never polls: every queue but the poller's.
    const runQueues = runsApiQueues().map((q) => props.queues.get(q));
    const apiEnv: Record<string, string> = {};
    for (const q of runQueues) apiEnv[queueUrlEnv(q.id)] = q.queue.queueUrl;
    this.runsApi = this.makeFunction(
      'runs-api',
      RUNS_API_SETTINGS.timeoutSeconds,
      RUNS_API_SETTINGS.memoryMb,
      apiEnv,
    );
    for (const q of runQueues) q.queue.grantSendMessages(this.runsApi.role);

    // The reconciler reads every function's DLQ and puts back what it read; it deletes nothing (operators
    // redrive) and sends only run-completed events.
    const reconciled: ReconciledQueue[] = props.queues.all().map((q) => ({
      queue: q.id,
      dlqUrl: q.dlq.queueUrl,
      maxReceiveCount: q.maxReceiveCount,
      visibilityTimeoutSeconds: q.visibilityTimeoutSeconds,
    }));
    this.reconciler = this.makeFunction(
      RECONCILER_FUNCTION,
      RECONCILER_SETTINGS.timeoutSeconds,
      RECONCILER_SETTINGS.memoryMb,
      { [RECONCILE_QUEUES_ENV]: Stack.of(this).toJsonString(reconciled) },
      RECONCILER_TABLE_ACTIONS,
    );
    for (const q of props.queues.all()) {
      q.dlq.grant(this.reconciler.role, 'sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility');
    }
  }

  all(): IngestFunction[] {
    return [...this.queueFed, this.runsApi, this.reconciler];
  }

  private makeFunction(
    name: FunctionName,
    timeoutSeconds: number,
    memoryMb: number,
    extraEnv: Record<string, string>,
    tableActions: readonly string[] = TABLE_ACTIONS,
  ): IngestFunction {
    const { bucket, table, bundledConfigFile, runEvents } = this.props;
    const logGroup = new LogGroup(this, `${name}-logs`, { retention: RetentionDays.THREE_MONTHS });

    // An explicit role instead of AWSLambdaBasicExecutionRole: logs only to its own log group.
    const role = new Role(this, `${name}-role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `invoice-ingest ${name}`,
    });
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    role.addToPolicy(new PolicyStatement({ actions: [...tableActions], resources: [table.tableArn] }));
    role.addToPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRICS.namespace } },
      }),
    );
    acknowledge(
      role,
      'IAM5',
      'cloudwatch:PutMetricData has no resource-level permissions; the statement is conditioned on ' +
        `cloudwatch:namespace = ${METRICS.namespace}.`,
      ['Resource::*'],
    );

    const entry = join(REPO_ROOT, 'functions', name, 'handler.ts');
    const sourceMaps = join(Stage.of(this)?.outdir ?? REPO_ROOT, SOURCE_MAPS_DIR);
    const fn = new NodejsFunction(this, name, {
      entry,
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      description: `invoice-ingest ${name}`,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      timeout: Duration.seconds(timeoutSeconds),
      memorySize: memoryMb,
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      environment: {
        [ENV.bucket]: bucket.bucketName,
        [ENV.table]: table.tableName,
        [ENV.connectionsFile]: BUNDLED_CONFIG_PATH,
        POWERTOOLS_SERVICE_NAME: name,
        POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
        [RUN_COMPLETED.queueUrlEnv]: runEvents.queue.queueUrl,
        ...extraEnv,
      },
      bundling: {
        minify: true,
        // The map is a build artifact, not shipped: loaded by --enable-source-maps it cost 30-60 ms of every
        // init on Node 20, and Node 24 defers that to the first stack trace, which then takes about 100 ms
        // and 50 MB (npm run bench cold-start). A trace's index.mjs:line:column resolves offline with it.
        sourceMap: true,
        sourceMapMode: SourceMapMode.EXTERNAL,
        format: OutputFormat.ESM,
        target: 'node24',
        mainFields: ['module', 'main'],
        // CommonJS dependencies bundled into ESM call require(); ESM has none, so give it one.
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        // Ship the SDK versions package-lock pins (and the tests ran against), not whatever the runtime carries.
        bundleAwsSDK: true,
        esbuildArgs: {
          // Lambda hands a function its role's credentials in environment variables; the SDK's default chain
          // (profiles, SSO, web identity, ECS, IMDS and the STS/SSO clients they need) is 100 KB never run.
          '--alias': [
            `@aws-sdk/credential-provider-node=${join(REPO_ROOT, 'shared/aws/env-credentials.ts')}`,
          ],
        },
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => [
            `cp ${shellQuote(bundledConfigFile)} ${shellQuote(join(outputDir, BUNDLED_CONFIG_NAME))}`,
            `mkdir -p ${shellQuote(sourceMaps)}`,
            `mv ${shellQuote(join(outputDir, 'index.mjs.map'))} ${shellQuote(join(sourceMaps, `${name}.mjs.map`))}`,
          ],
        },
      },
    });
    runEvents.grantSend(role);
    return { name, entry, fn, role };
  }

  /**
   * Object access under the given prefixes only. ListBucket is limited to the same prefixes: S3 answers a
   * missing key with 404 (not 403) only to a caller that may list it, evaluating s3:prefix as the key, and the
   * sink relies on that 404 to tell a new month file from an existing one.
   */
  private grantObjects(role: Role, prefixes: readonly string[], actions: string[], what: string): void {
    const { bucket } = this.props;
    for (const prefix of prefixes) {
      const arn = bucket.arnForObjects(`${prefix}*`);
      role.addToPolicy(new PolicyStatement({ actions, resources: [arn] }));
      acknowledge(
        role,
        'IAM5',
        `The function ${what} objects under the ${prefix} prefix, with keys (connection, scope, month, ` +
          'invoice id) known only at run time; the wildcard is limited to that prefix.',
        [wildcardResourceFinding(role, arn)],
      );
    }
    role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
      }),
    );
  }

  private grantSecrets(role: Role, spec: QueueFedFunction, exportProviders: ReadonlySet<ProviderId>): void {
    if (!spec.readsSecrets) return;
    const providers = spec.provider === 'all' ? exportProviders : new Set([spec.provider]);
    for (const secret of this.props.secrets.ofProviders(providers)) secret.grantRead(role);
  }
}
