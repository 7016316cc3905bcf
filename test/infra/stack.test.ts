import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/aws/build.ts';
import { SOURCE_MAPS_DIR } from '../../infra/aws/functions.ts';
import { POLLER_SETTINGS, RECONCILER_SETTINGS } from '../../infra/aws/settings.ts';
import {
  dlqUrlEnv,
  ENV,
  functionForRun,
  METRICS,
  QUEUE_FED_FUNCTIONS,
  queueUrlEnv,
  RECONCILER_FUNCTION,
  STATE_TABLE,
  visibilityTimeoutSeconds,
} from '../../shared/aws/resources.ts';
import { RUN_COMPLETED } from '../../shared/aws/run-completed.ts';
import { parseConfig } from '../../shared/config/load.ts';
import { type Config, PROVIDERS, providerSettings } from '../../shared/config/schema.ts';
import { RECONCILE_QUEUES_ENV } from '../../shared/runtime/reconciler-env.ts';
import { iamNeedsOf, type ResourceKind } from './iam-needs.ts';
import { sdkImportsOf } from './sdk-imports.ts';
import {
  allows,
  type CfnTemplate,
  flatten,
  type Json,
  joinedText,
  logicalIdAt,
  metricsRead,
  resourcesOfType,
  statementsOfRole,
} from './template.ts';

const STACK = 'InvoiceIngest';

// The example connections, plus: amazon-business with settings unlike the defaults (so the stack is seen
// to follow the config), and a disabled sp-api connection whose secret already exists.
const example = JSON.parse(readFileSync('config/connections.example.json', 'utf8'));
const config: Config = parseConfig({
  ...example,
  providers: {
    ...example.providers,
    'amazon-business': { maxConcurrency: 3, maxReceiveCount: 3, timeoutSeconds: 200, memoryMb: 768 },
  },
  connections: [
    ...example.connections,
    {
      id: 'sp-old',
      provider: 'sp-api',
      region: 'NA',
      secretName: 'invoice-ingest/sp-old',
      existingSecret: true,
      scopes: ['A2Q3Y263D00KWC'],
      schedule: 'rate(1 day)',
      lookbackDays: 30,
      enabled: false,
    },
  ],
});

let outdir: string;
let built: ReturnType<typeof buildApp>;
let template: Template;
let t: CfnTemplate;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'infra-stack-'));
  built = buildApp(config, { outdir });
  // Synthesizes the app (bundling included) and runs the registered cdk-nag pack: a finding throws here.
  template = Template.fromStack(built.stack);
  t = template.toJSON() as CfnTemplate;
}, 180_000);
afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

/** Logical id of the CloudFormation resource under a construct path, e.g. `Queues/export-poll`. */
const id = (path: string) => logicalIdAt(built.stack, `${STACK}/${path}/Resource`);
const props = (logicalId: string) => t.Resources[logicalId]?.Properties as Json;
const functionId = (name: string) => id(`Functions/${name}`);
const roleStatements = (name: string) => statementsOfRole(t, id(`Functions/${name}-role`));
const queueArn = (queue: string) => `<${id(`Queues/${queue}`)}.Arn>`;
const dlqArn = (queue: string) => `<${id(`Queues/${queue}-dlq`)}.Arn>`;
const objectArn = (key: string) => `<${id('Storage/Invoices')}.Arn>/${key}`;
const settingsOf = (fn: (typeof QUEUE_FED_FUNCTIONS)[number]) =>
  fn.provider === 'all' ? POLLER_SETTINGS : providerSettings(config, fn.provider);

/** True when the statements deny plain-HTTP access (the enforceSSL / enforce TLS bucket, queue, topic policy). */
function deniesInsecureTransport(statements: Array<Json>): boolean {
  return statements.some(
    (s) =>
      s.Effect === 'Deny' &&
      JSON.stringify(s.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } }),
  );
}
function policyStatementsFor(type: string, targetKey: string, logicalId: string): Array<Json> {
  return resourcesOfType(t, type)
    .filter(([, r]) => JSON.stringify(r.Properties?.[targetKey]).includes(`"${logicalId}"`))
    .flatMap(([, r]) => (r.Properties!.PolicyDocument as { Statement: Json[] }).Statement);
}

describe('storage', () => {
  it('keeps invoices private, encrypted, versioned, TLS-only, logged, and announced on EventBridge', () => {
    const bucket = props(id('Storage/Invoices'));
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(bucket.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(bucket.NotificationConfiguration).toEqual({
      EventBridgeConfiguration: { EventBridgeEnabled: true },
    });
    // Old versions of the providers' bytes are kept 90 days; those of derived month files 3 days; every
    // prefix the functions write has its rule.
    const rules = (bucket.LifecycleConfiguration as { Rules: Json[] }).Rules;
    const noncurrentDays = (prefix: string) =>
      (rules.find((r) => r.Prefix === prefix)?.NoncurrentVersionExpiration as { NoncurrentDays?: number })
        ?.NoncurrentDays;
    for (const p of ['raw/', 'documents/', 'reports/', 'exports/']) expect(noncurrentDays(p), p).toBe(90);
    expect(noncurrentDays('invoices/')).toBe(3);
    expect(rules).toContainEqual(
      expect.objectContaining({
        Status: 'Enabled',
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      }),
    );
    for (const fn of QUEUE_FED_FUNCTIONS) {
      for (const prefix of fn.writes) {
        expect(
          rules.some((r) => r.Prefix && prefix.startsWith(String(r.Prefix))),
          `${fn.name} ${prefix}`,
        ).toBe(true);
      }
    }
    expect(bucket.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: id('Storage/AccessLogs') },
      LogFilePrefix: 'invoices/',
    });
    expect(
      deniesInsecureTransport(policyStatementsFor('AWS::S3::BucketPolicy', 'Bucket', id('Storage/Invoices'))),
    ).toBe(true);
  });

  it('gives the access-log bucket the same protection', () => {
    const logs = props(id('Storage/AccessLogs'));
    expect(logs.PublicAccessBlockConfiguration).toMatchObject({
      BlockPublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(logs.BucketEncryption).toBeDefined();
    expect(logs.AccessControl).toBeUndefined();
    expect(
      deniesInsecureTransport(
        policyStatementsFor('AWS::S3::BucketPolicy', 'Bucket', id('Storage/AccessLogs')),
      ),
    ).toBe(true);
  });

  it('has one state table with pk/sk, TTL, PITR, encryption and on-demand billing', () => {
    expect(resourcesOfType(t, 'AWS::DynamoDB::Table')).toHaveLength(1);
    const table = props(id('Storage/State'));
    expect(table.KeySchema).toEqual([
      { AttributeName: STATE_TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: STATE_TABLE.sortKey, KeyType: 'RANGE' },
    ]);
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: STATE_TABLE.ttlAttribute, Enabled: true });
    expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.SSESpecification).toEqual({ SSEEnabled: true });
    expect(table.BillingMode).toBe('PAY_PER_REQUEST');
  });
});

describe('queues', () => {
  it.each(QUEUE_FED_FUNCTIONS.map((f) => [f.queue, f] as const))(
    '%s has its own DLQ with the configured redrive count, TLS-only, encrypted, visibility >= 6x timeout',
    (queue, fn) => {
      const q = props(id(`Queues/${queue}`));
      const dlq = props(id(`Queues/${queue}-dlq`));
      expect(q.RedrivePolicy).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [id(`Queues/${queue}-dlq`), 'Arn'] },
        maxReceiveCount: settingsOf(fn).maxReceiveCount,
      });
      const timeout = props(functionId(fn.name)).Timeout as number;
      expect(timeout).toBe(settingsOf(fn).timeoutSeconds);
      expect(q.VisibilityTimeout).toBe(visibilityTimeoutSeconds(timeout));
      expect(q.VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * timeout);
      expect(dlq.MessageRetentionPeriod).toBe(14 * 24 * 3600);
      for (const [name, qid] of [
        [queue, id(`Queues/${queue}`)],
        [`${queue}-dlq`, id(`Queues/${queue}-dlq`)],
      ]) {
        expect(props(qid as string).SqsManagedSseEnabled, name).toBe(true);
        expect(
          deniesInsecureTransport(policyStatementsFor('AWS::SQS::QueuePolicy', 'Queues', qid as string)),
          name,
        ).toBe(true);
      }
    },
  );

  it('uses the provider settings from the config (amazon-business overrides the defaults)', () => {
    const q = props(id('Queues/amazon-business-invoices'));
    expect(q.RedrivePolicy).toMatchObject({ maxReceiveCount: 3 });
    expect(q.VisibilityTimeout).toBe(1200);
    expect(props(functionId('amazon-business-invoices')).MemorySize).toBe(768);
  });

  it('every queue in the stack is encrypted and refuses plain HTTP', () => {
    const queues = resourcesOfType(t, 'AWS::SQS::Queue');
    expect(queues).toHaveLength(QUEUE_FED_FUNCTIONS.length * 2 + 3);
    for (const [qid, q] of queues) {
      expect(q.Properties?.SqsManagedSseEnabled, qid).toBe(true);
      expect(deniesInsecureTransport(policyStatementsFor('AWS::SQS::QueuePolicy', 'Queues', qid)), qid).toBe(
        true,
      );
    }
  });
});

describe('functions', () => {
  it('runs every function on nodejs24.x, arm64, JSON logs in its own log group', () => {
    const fns = resourcesOfType(t, 'AWS::Lambda::Function');
    expect(fns).toHaveLength(QUEUE_FED_FUNCTIONS.length + 2);
    for (const [fid, fn] of fns) {
      expect(fn.Properties?.Runtime, fid).toBe('nodejs24.x');
      expect(fn.Properties?.Architectures, fid).toEqual(['arm64']);
      expect(fn.Properties?.LoggingConfig, fid).toMatchObject({
        LogFormat: 'JSON',
        LogGroup: { Ref: expect.any(String) },
      });
    }
    for (const [, lg] of resourcesOfType(t, 'AWS::Logs::LogGroup')) {
      expect(lg.Properties?.RetentionInDays).toBe(90);
    }
  });

  it.each(QUEUE_FED_FUNCTIONS.map((f) => [f.name, f] as const))(
    '%s gets the environment it needs',
    (name, fn) => {
      const env = (props(functionId(name)).Environment as { Variables: Json }).Variables;
      const ref = (path: string) => ({ Ref: id(path) });
      const expected: Json = {
        [ENV.bucket]: ref('Storage/Invoices'),
        [ENV.table]: ref('Storage/State'),
        [ENV.connectionsFile]: '/var/task/connections.json',
        [ENV.ownQueue]: fn.queue,
        [ENV.maxReceiveCount]: String(settingsOf(fn).maxReceiveCount),
        [queueUrlEnv(fn.queue)]: ref(`Queues/${fn.queue}`),
        [dlqUrlEnv(fn.queue)]: ref(`Queues/${fn.queue}-dlq`),
        POWERTOOLS_SERVICE_NAME: name,
        POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
        [RUN_COMPLETED.queueUrlEnv]: ref('RunEvents/run-events'),
      };
      for (const q of fn.alsoSendsTo) expected[queueUrlEnv(q)] = ref(`Queues/${q}`);
      expect(env).toEqual(expected);
    },
  );

  it('gives runs-api the URL of every queue a run can go to, and not the poller', () => {
    const env = (props(functionId('runs-api')).Environment as { Variables: Json }).Variables;
    for (const fn of QUEUE_FED_FUNCTIONS.filter((f) => f.provider !== 'all')) {
      expect(env[queueUrlEnv(fn.queue)]).toEqual({ Ref: id(`Queues/${fn.queue}`) });
    }
    expect(env[queueUrlEnv('export-poll')]).toBeUndefined();
    expect(env.POWERTOOLS_SERVICE_NAME).toBe('runs-api');
  });

  it('feeds each queue-fed function from its queue with partial batch failures and bounded concurrency', () => {
    const mappings = resourcesOfType(t, 'AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(QUEUE_FED_FUNCTIONS.length);
    for (const fn of QUEUE_FED_FUNCTIONS) {
      const m = mappings.find(
        ([, r]) =>
          JSON.stringify(r.Properties?.FunctionName) === JSON.stringify({ Ref: functionId(fn.name) }),
      );
      expect(m, fn.name).toBeDefined();
      expect(m?.[1].Properties).toMatchObject({
        EventSourceArn: { 'Fn::GetAtt': [id(`Queues/${fn.queue}`), 'Arn'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: fn.batchSize,
        ScalingConfig: { MaximumConcurrency: settingsOf(fn).maxConcurrency },
      });
    }
  });

  it('bundles each handler as ESM with a require shim and the validated config as connections.json', () => {
    for (const [fid, fn] of resourcesOfType(t, 'AWS::Lambda::Function')) {
      const key = ((fn.Properties!.Code as Json).S3Key as string).replace(/\.zip$/, '');
      const dir = join(outdir, `asset.${key}`);
      const bundled = JSON.parse(readFileSync(join(dir, 'connections.json'), 'utf8'));
      expect(parseConfig(bundled, `${fid} connections.json`), fid).toEqual(config);
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      expect(
        code.startsWith("import { createRequire } from 'node:module'; const require = createRequire("),
        fid,
      ).toBe(true);
      expect(fn.Properties?.Handler, fid).toBe('index.handler');
    }
  });

  it('ships no source map, and keeps each function map beside the cloud assembly for stack traces', () => {
    for (const { name } of built.stack.functions.all()) {
      const key = (props(functionId(name)).Code as Json).S3Key as string;
      const dir = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
      expect(readdirSync(dir).sort(), name).toEqual(['connections.json', 'index.mjs']);
      expect(readFileSync(join(dir, 'index.mjs'), 'utf8'), name).not.toContain('sourceMappingURL');
      const map = JSON.parse(readFileSync(join(outdir, SOURCE_MAPS_DIR, `${name}.mjs.map`), 'utf8'));
      expect(
        map.sources.some((s: string) => s.endsWith(`functions/${name}/handler.ts`)),
        name,
      ).toBe(true);
    }
  });

  it('uses an explicit role per function with no managed policies', () => {
    for (const name of [...QUEUE_FED_FUNCTIONS.map((f) => f.name), 'runs-api', RECONCILER_FUNCTION]) {
      const role = props(id(`Functions/${name}-role`));
      expect(role.ManagedPolicyArns, name).toBeUndefined();
      const logGroup = `<${id(`Functions/${name}-logs`)}.Arn>`;
      expect(allows(roleStatements(name), 'logs:PutLogEvents', logGroup), name).toBe(true);
      expect(allows(roleStatements(name), 'logs:PutLogEvents', `<${id('Api/AccessLogs')}.Arn>`), name).toBe(
        false,
      );
    }
  });
});

describe('least privilege', () => {
  const allPrefixes = [...new Set(QUEUE_FED_FUNCTIONS.flatMap((f) => f.writes))];

  it('sp-api-invoices cannot write under another provider, nor send to another provider queue', () => {
    const s = roleStatements('sp-api-invoices');
    expect(allows(s, 's3:PutObject', objectArn('raw/sp-api/sp-br/A2Q3Y263D00KWC/2024/05/1.json'))).toBe(true);
    expect(allows(s, 's3:PutObject', objectArn('raw/amazon-ads/ads-na/p1/2024/05/1.json'))).toBe(false);
    expect(allows(s, 's3:GetObject', objectArn('raw/amazon-ads/ads-na/p1/2024/05/1.json'))).toBe(false);
    expect(allows(s, 's3:PutObject', objectArn('reports/amazon-ads/ads-na/x.csv'))).toBe(false);
    expect(allows(s, 'sqs:SendMessage', queueArn('export-poll'))).toBe(true);
    expect(allows(s, 'sqs:SendMessage', queueArn('cm360-invoices'))).toBe(false);
    expect(allows(s, 'sqs:ReceiveMessage', queueArn('cm360-invoices'))).toBe(false);
  });

  it.each(QUEUE_FED_FUNCTIONS.map((f) => [f.name, f] as const))(
    '%s sends only to its own queue, its DLQ and alsoSendsTo, and consumes only its own queue',
    (name, fn) => {
      const s = roleStatements(name);
      for (const other of QUEUE_FED_FUNCTIONS) {
        const mayTarget = other.queue === fn.queue || fn.alsoSendsTo.includes(other.queue);
        expect(allows(s, 'sqs:SendMessage', queueArn(other.queue)), other.queue).toBe(mayTarget);
        expect(allows(s, 'sqs:ReceiveMessage', queueArn(other.queue)), other.queue).toBe(
          other.queue === fn.queue,
        );
        expect(allows(s, 'sqs:SendMessage', dlqArn(other.queue)), `${other.queue}-dlq`).toBe(
          other.queue === fn.queue,
        );
      }
      expect(allows(s, 'sqs:SendMessage', `<${id('Schedules/undelivered-runs')}.Arn>`)).toBe(false);
    },
  );

  it.each(QUEUE_FED_FUNCTIONS.map((f) => [f.name, f] as const))(
    '%s writes objects only under its own prefixes',
    (name, fn) => {
      const s = roleStatements(name);
      for (const prefix of allPrefixes) {
        const key = `${prefix}probe/2024/05/x.json`;
        const own = fn.writes.some((p) => key.startsWith(p));
        expect(allows(s, 's3:PutObject', objectArn(key)), key).toBe(own);
        expect(allows(s, 's3:AbortMultipartUpload', objectArn(key)), key).toBe(own);
      }
      expect(allows(s, 's3:DeleteObject', objectArn(`${fn.writes[0]}x`))).toBe(false);
      const list = s.find((st) => JSON.stringify(st.Action) === '"s3:ListBucket"');
      expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': fn.writes.map((p) => `${p}*`) } });
    },
  );

  it('runs-api may enqueue runs, use the table and read run records, nothing else in the bucket', () => {
    const s = roleStatements('runs-api');
    for (const fn of QUEUE_FED_FUNCTIONS) {
      expect(allows(s, 'sqs:SendMessage', queueArn(fn.queue)), fn.queue).toBe(fn.provider !== 'all');
      expect(allows(s, 'sqs:ReceiveMessage', queueArn(fn.queue)), fn.queue).toBe(false);
    }
    // Run records live in the state table: runs-api reads no object at all.
    expect(allows(s, 's3:GetObject', objectArn('runs/r-1.json'))).toBe(false);
    expect(allows(s, 's3:PutObject', objectArn('runs/r-1.json'))).toBe(false);
    expect(allows(s, 's3:GetObject', objectArn('raw/sp-api/x.json'))).toBe(false);
    expect(allows(s, 'dynamodb:PutItem', `<${id('Storage/State')}.Arn>`)).toBe(true);
  });

  it('limits table access to item operations and PutMetricData to the app namespace', () => {
    for (const name of [...QUEUE_FED_FUNCTIONS.map((f) => f.name), 'runs-api']) {
      const s = roleStatements(name);
      const table = `<${id('Storage/State')}.Arn>`;
      for (const action of [
        'GetItem',
        'PutItem',
        'UpdateItem',
        'DeleteItem',
        'Query',
        'ConditionCheckItem',
        'BatchGetItem',
        'BatchWriteItem',
      ]) {
        expect(allows(s, `dynamodb:${action}`, table), `${name} ${action}`).toBe(true);
      }
      for (const action of ['DeleteTable', 'Scan', 'UpdateTable', 'PartiQLUpdate']) {
        expect(allows(s, `dynamodb:${action}`, table), `${name} ${action}`).toBe(false);
      }
      const metrics = s.filter((st) => allows([st], 'cloudwatch:PutMetricData', '*'));
      expect(metrics.length, name).toBe(1);
      expect(metrics[0]?.Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': METRICS.namespace } });
      // '*' is only ever the PutMetricData resource.
      for (const st of s) {
        const resources = Array.isArray(st.Resource) ? st.Resource : [st.Resource];
        if (resources.includes('*')) expect(st.Action, name).toBe('cloudwatch:PutMetricData');
      }
    }
  });

  // A call the role refuses fails only on AWS (the local stack has no IAM), and often quietly: a swallowed
  // error, a retry that never succeeds. So each SDK call a function's code can make is matched against its role.
  it('lets every function make each AWS call its code can make', async () => {
    const existingSecretArn = (name: string) =>
      `arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${name}-AbC123`;
    const resourcesOf: Record<ResourceKind, string[]> = {
      table: [`<${id('Storage/State')}.Arn>`],
      bucket: [`<${id('Storage/Invoices')}.Arn>`],
      object: allPrefixes.map((p) => objectArn(`${p}probe/x.json`)),
      queue: resourcesOfType(t, 'AWS::SQS::Queue').map(([qid]) => `<${qid}.Arn>`),
      secret: config.connections.map((c) =>
        c.existingSecret ? existingSecretArn(c.secretName) : `<${id(`Secrets/${c.id}`)}>`,
      ),
    };
    const functions = built.stack.functions.all();
    expect(functions.map((f) => f.name).sort()).toEqual(
      [...QUEUE_FED_FUNCTIONS.map((f) => f.name), 'runs-api', RECONCILER_FUNCTION].sort(),
    );
    const missing: string[] = [];
    for (const fn of functions) {
      const s = roleStatements(fn.name);
      let needs = 0;
      for (const call of await sdkImportsOf(fn.entry)) {
        for (const need of await iamNeedsOf(call)) {
          needs++;
          if (!resourcesOf[need.on].some((r) => allows(s, need.action, r))) {
            missing.push(`${fn.name}: ${call.name} (${call.module}) needs ${need.action} on the ${need.on}`);
          }
        }
      }
      // Every function at least uses the table: finding nothing means the discovery broke, not the code.
      expect(needs, `no AWS call found in ${fn.name}`).toBeGreaterThan(0);
    }
    expect(missing).toEqual([]);
  });

  it('lets only the provider function(s), and the poller for providers with exports, read a secret', () => {
    const exportProviders = new Set(
      QUEUE_FED_FUNCTIONS.filter((f) => f.startsExports).map((f) => f.provider),
    );
    const readers = [...QUEUE_FED_FUNCTIONS.map((f) => f.name), 'runs-api'];
    for (const c of config.connections) {
      const arn = c.existingSecret
        ? `arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${c.secretName}-AbC123`
        : `<${id(`Secrets/${c.id}`)}>`;
      for (const name of readers) {
        const fn = QUEUE_FED_FUNCTIONS.find((f) => f.name === name);
        const expected =
          fn?.provider === c.provider || (fn?.provider === 'all' && exportProviders.has(c.provider));
        expect(
          allows(roleStatements(name), 'secretsmanager:GetSecretValue', arn),
          `${name} reads ${c.id}`,
        ).toBe(expected);
      }
    }
  });

  it('creates missing secrets empty and kept, and references existing ones by name', () => {
    const created = config.connections.filter((c) => !c.existingSecret);
    expect(resourcesOfType(t, 'AWS::SecretsManager::Secret')).toHaveLength(created.length);
    for (const c of created) {
      const secretId = id(`Secrets/${c.id}`);
      expect(props(secretId).Name).toBe(c.secretName);
      expect(props(secretId).GenerateSecretString).toBeUndefined();
      expect(props(secretId).SecretString).toBeUndefined();
      expect(t.Resources[secretId]).toMatchObject({ DeletionPolicy: 'Retain' });
    }
  });
});

describe('schedules', () => {
  it('has exactly one schedule per enabled connection, sending a run to its primary queue', () => {
    const enabled = config.connections.filter((c) => c.enabled);
    expect(enabled.length).toBeLessThan(config.connections.length);
    const schedules = resourcesOfType(t, 'AWS::Scheduler::Schedule');
    // And the run reconciler's.
    expect(schedules).toHaveLength(enabled.length + 1);
    for (const c of enabled) {
      const s = props(id(`Schedules/${c.id}`));
      const target = s.Target as Json;
      expect(s.ScheduleExpression).toBe(c.schedule);
      expect(target.Arn).toEqual({ 'Fn::GetAtt': [id(`Queues/${functionForRun(c.provider).queue}`), 'Arn'] });
      expect(JSON.parse(target.Input as string)).toEqual({
        v: 1,
        type: 'run',
        runId: '<aws.scheduler.execution-id>',
        provider: c.provider,
        connection: c.id,
      });
      expect(target.DeadLetterConfig).toEqual({
        Arn: { 'Fn::GetAtt': [id('Schedules/undelivered-runs'), 'Arn'] },
      });

      const roleId = (target.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const s2 = statementsOfRole(t, roleId);
      for (const fn of QUEUE_FED_FUNCTIONS) {
        expect(allows(s2, 'sqs:SendMessage', queueArn(fn.queue)), `${c.id} -> ${fn.queue}`).toBe(
          fn.queue === functionForRun(c.provider).queue,
        );
      }
    }
  });
});

describe('run reconciler', () => {
  const s = () => roleStatements(RECONCILER_FUNCTION);

  it('runs every 15 minutes from EventBridge Scheduler, invoking only the reconciler', () => {
    const [scheduleId, schedule] = resourcesOfType(t, 'AWS::Scheduler::Schedule').find(
      ([sid]) => sid === id('Reconciler/schedule'),
    )!;
    expect(scheduleId).toBeDefined();
    expect(schedule.Properties?.ScheduleExpression).toBe(`rate(${RECONCILER_SETTINGS.everyMinutes} minutes)`);
    const target = schedule.Properties?.Target as Json;
    expect(target.Arn).toEqual({ 'Fn::GetAtt': [functionId(RECONCILER_FUNCTION), 'Arn'] });
    const roleId = (target.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const statements = statementsOfRole(t, roleId);
    expect(allows(statements, 'lambda:InvokeFunction', `<${functionId(RECONCILER_FUNCTION)}.Arn>`)).toBe(
      true,
    );
    for (const fn of QUEUE_FED_FUNCTIONS) {
      expect(allows(statements, 'lambda:InvokeFunction', `<${functionId(fn.name)}.Arn>`), fn.name).toBe(
        false,
      );
    }
  });

  it('is told every function DLQ with the settings its stale limit derives from', () => {
    const env = (props(functionId(RECONCILER_FUNCTION)).Environment as { Variables: Json }).Variables;
    expect(JSON.parse(joinedText(env[RECONCILE_QUEUES_ENV]))).toEqual(
      QUEUE_FED_FUNCTIONS.map((fn) => ({
        queue: fn.queue,
        dlqUrl: `<${id(`Queues/${fn.queue}-dlq`)}>`,
        maxReceiveCount: settingsOf(fn).maxReceiveCount,
        visibilityTimeoutSeconds: visibilityTimeoutSeconds(settingsOf(fn).timeoutSeconds),
      })),
    );
    expect(env[ENV.table]).toEqual({ Ref: id('Storage/State') });
    expect(env[RUN_COMPLETED.queueUrlEnv]).toEqual({ Ref: id('RunEvents/run-events') });
    expect(props(functionId(RECONCILER_FUNCTION)).Timeout).toBe(RECONCILER_SETTINGS.timeoutSeconds);
  });

  it('reads and puts back every function DLQ, deleting nothing; sends only run-completed events', () => {
    for (const fn of QUEUE_FED_FUNCTIONS) {
      for (const action of ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility']) {
        expect(allows(s(), action, dlqArn(fn.queue)), `${action} ${fn.queue}-dlq`).toBe(true);
        expect(allows(s(), action, queueArn(fn.queue)), `${action} ${fn.queue}`).toBe(false);
      }
      for (const action of ['sqs:DeleteMessage', 'sqs:SendMessage', 'sqs:PurgeQueue']) {
        expect(allows(s(), action, dlqArn(fn.queue)), `${action} ${fn.queue}-dlq`).toBe(false);
        expect(allows(s(), action, queueArn(fn.queue)), `${action} ${fn.queue}`).toBe(false);
      }
    }
    expect(allows(s(), 'sqs:SendMessage', `<${id('RunEvents/run-events')}.Arn>`)).toBe(true);
    expect(allows(s(), 'sqs:ReceiveMessage', `<${id('Schedules/undelivered-runs')}.Arn>`)).toBe(false);
  });

  it('uses the table through item operations and queries only, and no object or secret', () => {
    const table = `<${id('Storage/State')}.Arn>`;
    for (const action of ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query']) {
      expect(allows(s(), `dynamodb:${action}`, table), action).toBe(true);
    }
    for (const action of ['Scan', 'BatchWriteItem', 'ConditionCheckItem', 'DeleteTable']) {
      expect(allows(s(), `dynamodb:${action}`, table), action).toBe(false);
    }
    for (const prefix of [...new Set(QUEUE_FED_FUNCTIONS.flatMap((f) => f.writes))]) {
      expect(allows(s(), 's3:GetObject', objectArn(`${prefix}x`)), prefix).toBe(false);
      expect(allows(s(), 's3:PutObject', objectArn(`${prefix}x`)), prefix).toBe(false);
    }
    for (const c of config.connections.filter((x) => !x.existingSecret)) {
      expect(allows(s(), 'secretsmanager:GetSecretValue', `<${id(`Secrets/${c.id}`)}>`), c.id).toBe(false);
    }
  });
});

describe('api', () => {
  it('requires IAM auth on every method and validates requests', () => {
    const methods = resourcesOfType(t, 'AWS::ApiGateway::Method');
    expect(methods.map(([, m]) => m.Properties?.HttpMethod).sort()).toEqual(['GET', 'POST']);
    for (const [, m] of methods) {
      expect(m.Properties?.AuthorizationType).toBe('AWS_IAM');
      expect(m.Properties?.RequestValidatorId).toBeDefined();
    }
    const [, get] = methods.find(([, m]) => m.Properties?.HttpMethod === 'GET')!;
    expect(get.Properties?.RequestParameters).toEqual({ 'method.request.path.runId': true });
    const [, validator] = resourcesOfType(t, 'AWS::ApiGateway::RequestValidator')[0]!;
    expect(validator.Properties).toMatchObject({
      ValidateRequestBody: true,
      ValidateRequestParameters: true,
    });
  });

  it('checks a POST /runs body against a schema: provider enum required, dates as YYYY-MM-DD', () => {
    const [, post] = resourcesOfType(t, 'AWS::ApiGateway::Method').find(
      ([, m]) => m.Properties?.HttpMethod === 'POST',
    )!;
    const [modelId, model] = resourcesOfType(t, 'AWS::ApiGateway::Model')[0]!;
    expect(post.Properties?.RequestModels).toEqual({ 'application/json': { Ref: modelId } });
    const schema = model.Properties?.Schema as Json & { properties: Record<string, Json> };
    expect(schema.required).toEqual(['provider']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.provider?.enum).toEqual([...PROVIDERS]);
    const date = new RegExp(schema.properties.from?.pattern as string);
    expect(date.test('2024-05-01')).toBe(true);
    expect(date.test('2024-5-1')).toBe(false);
    expect(Object.keys(schema.properties).sort()).toEqual([
      'connection',
      'from',
      'full',
      'invoiceId',
      'job',
      'provider',
      'to',
    ]);
  });

  it('throttles the stage and logs access as JSON', () => {
    const [, stage] = resourcesOfType(t, 'AWS::ApiGateway::Stage')[0]!;
    const settings = (stage.Properties!.MethodSettings as Json[])[0];
    expect(settings).toMatchObject({
      ThrottlingRateLimit: 5,
      ThrottlingBurstLimit: 10,
      LoggingLevel: 'INFO',
    });
    expect(settings?.DataTraceEnabled).toBe(false);
    const access = stage.Properties?.AccessLogSetting as Json;
    expect(access.DestinationArn).toEqual({ 'Fn::GetAtt': [id('Api/AccessLogs'), 'Arn'] });
    expect(() => JSON.parse(access.Format as string)).not.toThrow();
  });
});

describe('monitoring', () => {
  const alarms = () => resourcesOfType(t, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties as Json);
  const alarmOn = (metric: string, dimension: Json) =>
    alarms().filter(
      (a) =>
        a.MetricName === metric &&
        JSON.stringify(a.Dimensions) === JSON.stringify([dimension]) &&
        a.Threshold === 0 &&
        a.ComparisonOperator === 'GreaterThanThreshold' &&
        (a.AlarmActions as unknown[]).length === 1,
    );
  const providers = [...new Set(config.connections.map((c) => c.provider))];

  it('alarms on every DLQ holding a message, pointing at the runbook', () => {
    const dlqs = [
      ...QUEUE_FED_FUNCTIONS.map((f) => id(`Queues/${f.queue}-dlq`)),
      id('Schedules/undelivered-runs'),
      id('RunEvents/run-events-dlq'),
    ];
    for (const dlq of dlqs) {
      const a = alarmOn('ApproximateNumberOfMessagesVisible', {
        Name: 'QueueName',
        Value: { 'Fn::GetAtt': [dlq, 'QueueName'] },
      });
      expect(a, dlq).toHaveLength(1);
      expect(flatten(a[0]?.AlarmDescription), dlq).toContain('runbook R1');
    }
    // A provider queue's DLQ alarm names the log group of the function it feeds.
    const [spDlq] = alarmOn('ApproximateNumberOfMessagesVisible', {
      Name: 'QueueName',
      Value: { 'Fn::GetAtt': [id('Queues/sp-api-invoices-dlq'), 'QueueName'] },
    });
    expect(flatten(spDlq?.AlarmDescription)).toContain(`<${id('Functions/sp-api-invoices-logs')}>`);
  });

  it('alarms on every function error and throttle, each naming where to look', () => {
    for (const name of [...QUEUE_FED_FUNCTIONS.map((f) => f.name), 'runs-api', RECONCILER_FUNCTION]) {
      const dim = { Name: 'FunctionName', Value: { Ref: functionId(name) } };
      const [errors] = alarmOn('Errors', dim);
      expect(flatten(errors?.AlarmDescription), name).toContain(`<${id(`Functions/${name}-logs`)}>`);
      expect(flatten(errors?.AlarmDescription), name).toContain('runbook R2');
      expect(alarmOn('Throttles', dim), name).toHaveLength(1);
    }
  });

  it('alarms per provider on failed and expired exports, loop-guarded messages and reconciliation gaps', () => {
    const exporting = ['amazon-ads', 'sp-api'];
    for (const provider of providers) {
      const dim = { Name: METRICS.dimensions.provider, Value: provider };
      const expected = [
        [METRICS.names.exportsFailed, exporting.includes(provider), 'R5'],
        [METRICS.names.exportsExpired, exporting.includes(provider), 'R6'],
        [METRICS.names.loopGuarded, true, 'R7'],
        [METRICS.names.reconciliationGaps, true, 'R8'],
      ] as const;
      for (const [metric, present, entry] of expected) {
        const a = alarmOn(metric, dim);
        expect(a, `${provider} ${metric}`).toHaveLength(present ? 1 : 0);
        if (present) {
          expect(a[0]?.Namespace).toBe(METRICS.namespace);
          expect(flatten(a[0]?.AlarmDescription)).toContain(`runbook ${entry}`);
        }
      }
    }
  });

  it('alarms on any run the reconciler settled, for either cause, pointing at its log group', () => {
    const reads = metricsRead(t).filter(
      (m) => m.where.startsWith('alarm') && m.name === METRICS.names.runsReconciled,
    );
    expect(reads.map((m) => m.dimensions)).toEqual([
      { [METRICS.dimensions.cause]: 'DLQ' },
      { [METRICS.dimensions.cause]: 'STOPPED' },
    ]);
    const reconciled = alarms().filter((a) => JSON.stringify(a.Metrics ?? []).includes('RunsReconciled'));
    expect(reconciled).toHaveLength(1);
    expect(reconciled[0]).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    const description = flatten(reconciled[0]!.AlarmDescription);
    expect(description).toContain('runbook R9');
    expect(description).toContain(`<${id(`Functions/${RECONCILER_FUNCTION}-logs`)}>`);
  });

  it('alarms on any run that ends FAILED or PARTIAL', () => {
    const runs = alarms().filter((a) =>
      (a.Metrics as Json[] | undefined)?.some(
        (m) =>
          (m.MetricStat as Json | undefined)?.Metric &&
          JSON.stringify(m).includes(METRICS.names.runsCompleted),
      ),
    );
    expect(runs).toHaveLength(1);
    const stats = (runs[0]!.Metrics as Json[]).filter((m) => m.MetricStat);
    expect(stats.map((m) => (m.MetricStat as { Metric: Json }).Metric)).toEqual([
      {
        Namespace: METRICS.namespace,
        MetricName: METRICS.names.runsCompleted,
        Dimensions: [{ Name: METRICS.dimensions.status, Value: 'FAILED' }],
      },
      {
        Namespace: METRICS.namespace,
        MetricName: METRICS.names.runsCompleted,
        Dimensions: [{ Name: METRICS.dimensions.status, Value: 'PARTIAL' }],
      },
    ]);
    expect(flatten(runs[0]!.AlarmDescription)).toContain(`<${id('RunEvents/completed-runs')}>`);
  });

  it('sends alarms to a TLS-only topic', () => {
    const [topicId] = resourcesOfType(t, 'AWS::SNS::Topic')[0]!;
    expect(deniesInsecureTransport(policyStatementsFor('AWS::SNS::TopicPolicy', 'Topics', topicId))).toBe(
      true,
    );
    for (const a of alarms()) expect(a.AlarmActions).toEqual([{ Ref: topicId }]);
  });

  it('has a dashboard with a line per connection, run outcomes per provider, and every DLQ depth', () => {
    const read = metricsRead(t).filter((m) => m.where.startsWith('dashboard'));
    const reads = (name: string, dimensions: Record<string, string>) =>
      read.some(
        (m) =>
          m.namespace === METRICS.namespace && m.name === name && isDeepStrictEqual(m.dimensions, dimensions),
      );
    const { provider: P, connection: C, status: S } = METRICS.dimensions;
    for (const c of config.connections) {
      for (const metric of ['invoices', 'documents', 'bytes', 'retries', 'throttles', 'defers'] as const) {
        expect(reads(METRICS.names[metric], { [P]: c.provider, [C]: c.id }), `${c.id} ${metric}`).toBe(true);
      }
    }
    for (const provider of providers) {
      for (const status of ['SUCCEEDED', 'FAILED', 'PARTIAL']) {
        expect(reads(METRICS.names.runsCompleted, { [S]: status, [P]: provider }), provider).toBe(true);
      }
    }
    expect(reads(METRICS.names.exportAge, { [P]: 'sp-api', [C]: 'sp-br' })).toBe(true);
    const dlqDepths = read.filter((m) => m.name === 'ApproximateNumberOfMessagesVisible');
    for (const f of QUEUE_FED_FUNCTIONS) {
      expect(dlqDepths.map((m) => m.dimensions.QueueName)).toContain(
        `<${id(`Queues/${f.queue}-dlq`)}.QueueName>`,
      );
    }
  });
});

describe('run-completed events', () => {
  it('pipes the run-events queue to the default bus with the project as source and the detail-type', () => {
    const pipes = resourcesOfType(t, 'AWS::Pipes::Pipe');
    expect(pipes).toHaveLength(1);
    const pipe = pipes[0]![1].Properties as Json;
    expect(pipe.Source).toEqual({ 'Fn::GetAtt': [id('RunEvents/run-events'), 'Arn'] });
    expect(flatten(pipe.Target)).toMatch(/:events:<AWS::Region>:<AWS::AccountId>:event-bus\/default$/);
    expect(pipe.TargetParameters).toEqual({
      InputTemplate: '<$.body>',
      EventBridgeEventBusParameters: { Source: RUN_COMPLETED.source, DetailType: RUN_COMPLETED.detailType },
    });
    const s = statementsOfRole(t, (pipe.RoleArn as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]);
    expect(allows(s, 'events:PutEvents', flatten(pipe.Target))).toBe(true);
    expect(allows(s, 'events:PutEvents', 'arn:aws:events:eu-west-1:123456789012:event-bus/other')).toBe(
      false,
    );
    expect(allows(s, 'sqs:ReceiveMessage', `<${id('RunEvents/run-events')}.Arn>`)).toBe(true);
    expect(allows(s, 'sqs:ReceiveMessage', queueArn('sp-api-invoices'))).toBe(false);
  });

  it('lets every function send to the run-events queue, which has its DLQ', () => {
    const queue = `<${id('RunEvents/run-events')}.Arn>`;
    for (const name of [...QUEUE_FED_FUNCTIONS.map((f) => f.name), 'runs-api', RECONCILER_FUNCTION]) {
      expect(allows(roleStatements(name), 'sqs:SendMessage', queue), name).toBe(true);
      const env = (props(functionId(name)).Environment as { Variables: Json }).Variables;
      expect(env[RUN_COMPLETED.queueUrlEnv], name).toEqual({ Ref: id('RunEvents/run-events') });
    }
    expect(props(id('RunEvents/run-events')).RedrivePolicy).toMatchObject({
      deadLetterTargetArn: { 'Fn::GetAtt': [id('RunEvents/run-events-dlq'), 'Arn'] },
    });
  });

  it('keeps every run-completed event in a log group through a rule on source and detail-type', () => {
    const rule = props(id('RunEvents/completed-runs-rule'));
    expect(rule.EventPattern).toEqual({
      source: [RUN_COMPLETED.source],
      'detail-type': [RUN_COMPLETED.detailType],
    });
    const targets = rule.Targets as Json[];
    expect(targets).toHaveLength(1);
    expect(flatten(targets[0]!.Arn)).toContain(`:log-group:<${id('RunEvents/completed-runs')}>`);
    const [, policy] = resourcesOfType(t, 'AWS::Logs::ResourcePolicy')[0]!;
    const doc = JSON.parse(joinedText(policy.Properties?.PolicyDocument)) as { Statement: Json[] };
    expect(doc.Statement).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      }),
    ]);
  });
});

describe('invoices table', () => {
  // test/infra/invoice-table.test.ts checks the table, the workgroup and the policy themselves.
  it('puts the Glue table over the invoice bucket, with its workgroup and analyst policy, and exports them', () => {
    const table = props(logicalIdAt(built.stack, `${STACK}/InvoiceTable/Invoices/Table`));
    const location = (table.TableInput as { StorageDescriptor: { Location: unknown } }).StorageDescriptor
      .Location;
    expect(joinedText(location)).toBe(`s3://<${id('Storage/Invoices')}>/invoices/`);
    const outputs = t.Outputs ?? {};
    expect(outputs.InvoiceDatabase?.Value).toEqual({ Ref: id('InvoiceTable/Database') });
    expect(outputs.QueryWorkGroup?.Value).toBe('invoice-ingest');
    expect(outputs.QueryResultsBucket?.Value).toEqual({ Ref: id('InvoiceQueries/Results') });
    expect(outputs.AnalystPolicyArn?.Value).toEqual({ Ref: id('InvoiceQueries/AnalystPolicy') });
  });
});

describe('outputs and cdk-nag', () => {
  it('exports the bucket, table, API URL and queue URLs', () => {
    const outputs = t.Outputs ?? {};
    expect(outputs.BucketName?.Value).toEqual({ Ref: id('Storage/Invoices') });
    expect(outputs.TableName?.Value).toEqual({ Ref: id('Storage/State') });
    expect(flatten(outputs.ApiUrl?.Value)).toContain('.execute-api.');
    for (const f of QUEUE_FED_FUNCTIONS) {
      const out = Object.values(outputs).find(
        (o) => JSON.stringify(o.Value) === JSON.stringify({ Ref: id(`Queues/${f.queue}`) }),
      );
      expect(out, f.queue).toBeDefined();
    }
  });

  it('leaves no unacknowledged AwsSolutions finding', () => {
    const report = new AwsSolutionsChecks().validateScope(built.app);
    const findings = report.violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`),
    );
    expect(findings).toEqual([]);
  });
});
