import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ConditionalCheckFailedException, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { localDynamoClient, localS3Client, localSqsClient } from '../../infra/local/clients.ts';
import { mirrorPath } from '../../infra/local/mirror.ts';
import type { ObjectCreatedEvent } from '../../infra/local/notifications.ts';
import { type LocalStack, REPO_ROOT, startLocalStack } from '../../infra/local/stack.ts';
import { dlqUrlEnv, queueUrlEnv } from '../../shared/aws/resources.ts';
import { RUN_COMPLETED } from '../../shared/aws/run-completed.ts';
import { readRecords, writeTestConfig } from '../fixtures/handlers/records.ts';

const CLOSE_FIXTURE = new URL('../fixtures/local-stack-close.ts', import.meta.url);
const SECRET = { clientId: 'id-1', refreshToken: 'not-a-real-token' };

function portRefuses(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

const ours = (types: string[]) => types.filter((t) => /TCP|Worker|MessagePort|Pipe/.test(t)).sort();

describe('local stack: stand-ins, resources, notifications, mirror, shutdown', () => {
  let dir: string;
  let recordFile: string;
  let stack: LocalStack;
  let handlesBefore: string[];
  const landed: ObjectCreatedEvent[] = [];
  const lines: string[] = [];

  beforeAll(async () => {
    handlesBefore = ours(process.getActiveResourcesInfo());
    dir = mkdtempSync(join(tmpdir(), 'local-stack-test-'));
    recordFile = join(dir, 'records.jsonl');
    const { config, configPath } = writeTestConfig(dir);
    stack = await startLocalStack({
      config,
      configPath,
      secrets: { 'test/ads': SECRET },
      functionOutput: 'ignore',
      visibilityTimeoutSeconds: 1,
      log: (line) => lines.push(line),
      functions: [
        {
          name: 'cm360-invoices',
          handler: 'test/fixtures/handlers/behaviour.ts',
          env: { RECORD_FILE: recordFile },
        },
        // The real handler, bundled as the stack bundles it, to show a whole function loads in a worker.
        'export-poller',
      ],
    });
    stack.consumer.on('object', (e) => landed.push(e));
  });

  afterAll(async () => {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves secrets by name through the Secrets Manager API, and names an unknown one as not found', async () => {
    const sm = new SecretsManagerClient({
      region: stack.region,
      endpoint: stack.endpoints.secretsManager,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    try {
      const got = await sm.send(new GetSecretValueCommand({ SecretId: 'test/ads' }));
      expect(JSON.parse(got.SecretString ?? '')).toEqual(SECRET);
      expect(got.Name).toBe('test/ads');
      expect(got.ARN).toMatch(/^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:test\/ads-\w{6}$/);
      const byArn = await sm.send(new GetSecretValueCommand({ SecretId: got.ARN }));
      expect(byArn.SecretString).toBe(got.SecretString);
      await expect(sm.send(new GetSecretValueCommand({ SecretId: 'test/none' }))).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });
    } finally {
      sm.destroy();
    }
  });

  it('creates the state table with pk/sk keys, and conditional writes are enforced', async () => {
    const ddb = localDynamoClient(stack.env);
    try {
      const put = () =>
        ddb.send(
          new PutItemCommand({
            TableName: stack.table,
            Item: { pk: { S: 'export#1' }, sk: { S: 'meta' } },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      await put();
      await expect(put()).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    } finally {
      ddb.destroy();
    }
  });

  it('gives each function the environment the CDK stack sets', () => {
    const sp = stack.functionEnv['sp-api-invoices'];
    expect(sp).toMatchObject({
      OWN_QUEUE: 'sp-api-invoices',
      MAX_RECEIVE_COUNT: '5',
      INVOICE_BUCKET: stack.bucket,
      STATE_TABLE: stack.table,
      ALLOW_LOOPBACK_DOWNLOADS: '1',
      POWERTOOLS_SERVICE_NAME: 'sp-api-invoices',
      [queueUrlEnv('sp-api-invoices')]: stack.queueUrls['sp-api-invoices'],
      [queueUrlEnv('export-poll')]: stack.queueUrls['export-poll'],
      [dlqUrlEnv('sp-api-invoices')]: stack.dlqUrls['sp-api-invoices'],
      AWS_ENDPOINT_URL_S3: stack.endpoints.s3,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: stack.endpoints.secretsManager,
    });
    expect(sp?.CONNECTIONS_FILE).toBe(join(dir, 'connections.json'));
    // Only the queues it sends to.
    expect(sp?.[queueUrlEnv('cm360-invoices')]).toBeUndefined();
    const api = stack.functionEnv['runs-api'];
    expect(api?.[queueUrlEnv('cm360-invoices')]).toBe(stack.queueUrls['cm360-invoices']);
    expect(api?.[queueUrlEnv('export-poll')]).toBeUndefined();
    // Any function may settle a run, and so announce it.
    for (const env of Object.values(stack.functionEnv)) {
      expect(env[RUN_COMPLETED.queueUrlEnv]).toBe(stack.runEvents.url);
    }
  });

  it('forwards what reaches the run-events queue to the consumer as the "Invoice run completed" event', async () => {
    const detail = {
      runId: 'run-ev-1',
      outcome: 'FAILED',
      connections: ['ads-1'],
      counts: {},
      monthFiles: [],
    };
    const sqs = localSqsClient(stack.env);
    try {
      await sqs.send(
        new SendMessageCommand({ QueueUrl: stack.runEvents.url, MessageBody: JSON.stringify(detail) }),
      );
    } finally {
      sqs.destroy();
    }
    // Idle includes the events sent so far having reached the consumer.
    await stack.waitForIdle();
    const events = stack.consumer.runsCompleted().filter((e) => e.detail.runId === 'run-ev-1');
    expect(events).toEqual([
      {
        version: '0',
        id: expect.any(String),
        'detail-type': 'Invoice run completed',
        source: 'invoice-ingest',
        account: stack.accountId,
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        region: stack.region,
        resources: [],
        detail,
      },
    ]);
    expect(lines).toContain(
      'event "Invoice run completed": run run-ev-1 FAILED (ads-1: 0 invoices, 0 documents)',
    );
  });

  it('runs the real handler module: an invalid message goes to the DLQ with the reason the frame gives', async () => {
    const messageId = await stack.send('export-poll', 'not json');
    await stack.waitForIdle();
    const dead = await stack.runner.dlqMessages('export-poll');
    const entry = dead.find((d) => d.body === 'not json');
    expect(entry, `DLQ holds ${JSON.stringify(dead)}`).toBeDefined();
    expect(entry?.reason).toMatch(/json/i);
    expect(entry?.messageId).not.toBe('');
    expect(messageId).not.toBe('');
  });

  it('delivers every created object to the consumer as an EventBridge "Object Created" event', async () => {
    // One object written by a function through its own SDK settings, others by a client.
    await stack.send('cm360-invoices', {
      id: 'writer',
      put: { key: 'runs/run-1.json', body: '{"ok":true}' },
    });
    await stack.waitForIdle();
    const s3 = localS3Client(stack.env);
    try {
      await s3.send(
        new PutObjectCommand({ Bucket: stack.bucket, Key: 'raw/cm360/c/s/2024/05/inv 1+a.json', Body: '{}' }),
      );
      await s3.send(
        new PutObjectCommand({
          Bucket: stack.bucket,
          Key: 'invoices/provider=cm360/x.jsonl',
          Body: 'a\nb\n',
        }),
      );
    } finally {
      s3.destroy();
    }
    expect(readRecords(recordFile, 'writer')).toHaveLength(1);

    const run = landed.find((e) => e.detail.object.key === 'runs/run-1.json');
    expect(run).toEqual({
      version: '0',
      id: expect.any(String),
      'detail-type': 'Object Created',
      source: 'aws.s3',
      account: stack.accountId,
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      region: stack.region,
      resources: [`arn:aws:s3:::${stack.bucket}`],
      detail: {
        version: '0',
        bucket: { name: stack.bucket },
        object: {
          key: 'runs/run-1.json',
          size: 11,
          etag: createHash('md5').update('{"ok":true}').digest('hex'),
          sequencer: expect.any(String),
        },
        'request-id': expect.any(String),
        requester: stack.accountId,
        'source-ip-address': expect.any(String),
        reason: 'PutObject',
      },
    });
    // Keys arrive as stored, not URL-encoded.
    expect(landed.map((e) => e.detail.object.key)).toContain('raw/cm360/c/s/2024/05/inv 1+a.json');
    expect(stack.consumer.counts()).toMatchObject({
      'runs/': { objects: 1, bytes: 11 },
      'raw/': { objects: 1, bytes: 2 },
      'invoices/': { objects: 1, bytes: 4 },
    });
    expect(lines).toContain(`landed s3://${stack.bucket}/runs/run-1.json (11 B)`);
  });

  it('mirrors the bucket into a directory, streaming multipart objects, and refuses keys that escape it', async () => {
    const s3 = localS3Client(stack.env);
    const big = Buffer.alloc(11 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    try {
      await new Upload({
        client: s3,
        partSize: 5 * 1024 * 1024,
        params: { Bucket: stack.bucket, Key: 'exports/sp-api/c/m/e1/d1.zip', Body: Readable.from([big]) },
      }).done();
      await s3.send(
        new PutObjectCommand({ Bucket: stack.bucket, Key: 'documents/cm360/c/s/i/a.pdf', Body: '%PDF' }),
      );
    } finally {
      s3.destroy();
    }
    expect(landed.find((e) => e.detail.object.key === 'exports/sp-api/c/m/e1/d1.zip')?.detail.reason).toBe(
      'CompleteMultipartUpload',
    );

    const out = join(dir, 'out');
    writeFileSync(join(dir, 'keep.txt'), 'outside');
    const result = await stack.mirror(out);
    expect(result.failed).toEqual([]);
    expect(readFileSync(join(out, 'exports/sp-api/c/m/e1/d1.zip')).equals(big)).toBe(true);
    expect(readFileSync(join(out, 'documents/cm360/c/s/i/a.pdf'), 'utf8')).toBe('%PDF');
    expect(readFileSync(join(out, 'raw/cm360/c/s/2024/05/inv 1+a.json'), 'utf8')).toBe('{}');
    expect(readFileSync(join(out, 'runs/run-1.json'), 'utf8')).toBe('{"ok":true}');
    expect(result.objects).toBe(5);
    expect(result.bytes).toBe(big.length + 4 + 2 + 4 + 11);
    expect(readFileSync(join(dir, 'keep.txt'), 'utf8')).toBe('outside');

    for (const key of ['../x', 'a/../../x', '/etc/passwd', 'a//b', 'a/./b', 'dir/']) {
      expect(mirrorPath(out, key), key).toHaveProperty('refused');
    }
    expect(mirrorPath(out, 'a/b..c/d.json')).toEqual({ path: join(out, 'a/b..c/d.json') });
    expect(existsSync(join(out, '..', 'x'))).toBe(false);
  });

  it('close() ends every worker and server: ports refuse connections and none of our handles remain', async () => {
    const endpoints = Object.values(stack.endpoints);
    // Both functions have run by now, so both workers are warm.
    expect(stack.runner.activeWorkers).toBe(2);
    await stack.close();
    expect(stack.runner.activeWorkers).toBe(0);
    // Checked before probing the ports: a refused probe's own socket is released a moment later.
    expect(ours(process.getActiveResourcesInfo())).toEqual(handlesBefore);
    for (const url of endpoints) expect(await portRefuses(url), url).toBe(true);
    await stack.close();
  });
});

// What a user relies on is that the process can end, not how many threads it has: the libuv threadpool
// (UV_THREADPOOL_SIZE, 4 threads) starts on the first fs, dns or crypto call and lives until exit, so a
// thread count taken before the stack starts is right on Node 20 (its ESM loader reads files through the
// pool) and 4 short on Node 24 (which loads modules synchronously, so the stack is the pool's first user).
describe('local stack: close() lets the process end', () => {
  it('a process that started the stack and warmed a worker exits by itself once close() returns', async () => {
    const child = spawn(
      process.execPath,
      ['--openssl-legacy-provider', '--import', 'tsx', fileURLToPath(CLOSE_FIXTURE)],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // A leftover worker, server, socket or timer keeps the child alive: the test's timeout then fails it.
    onTestFinished(() => {
      child.kill();
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const [code, signal] = await once(child, 'exit');
    expect({ code, signal, out }, err).toEqual({
      code: 0,
      signal: null,
      out: 'closed with 1 warm worker(s)\n',
    });
  });
});
