import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDynamoClient } from '../../infra/local/clients.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { DynamoStateStore } from '../../shared/aws/state-store.ts';
import { defaultConfigPath, loadConfig } from '../../shared/config/load.ts';

/** The real handler frame, run by the local stack's SQS runner, with a provider stand-in (test/fixtures/frame). */
let stack: LocalStack;
let state: DynamoStateStore;
const base = { v: 1, provider: 'cm360', connection: 'cm360-main' } as const;
const fetch = (runId: string, scope: string) => ({
  ...base,
  runId,
  type: 'fetch',
  scope,
  window: { from: '2026-01-01', to: '2026-01-31' },
});

beforeAll(async () => {
  const configPath = defaultConfigPath();
  const config = loadConfig(configPath);
  stack = await startLocalStack({
    config,
    configPath,
    secrets: { [config.connections.find((c) => c.id === 'cm360-main')!.secretName]: { clientEmail: 'x' } },
    functions: [
      {
        name: 'cm360-invoices',
        handler: 'test/fixtures/frame/handler.ts',
        env: { POWERTOOLS_LOG_LEVEL: 'CRITICAL', POWERTOOLS_METRICS_DISABLED: 'true' },
      },
    ],
    visibilityTimeoutSeconds: 1,
    quiet: true,
    functionOutput: 'ignore',
  });
  state = new DynamoStateStore(DynamoDBDocumentClient.from(localDynamoClient(stack.env)), stack.table);
});

afterAll(async () => {
  await stack?.close();
});

async function objectExists(key: string): Promise<boolean> {
  const { S3Client, HeadObjectCommand } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client({
    region: stack.region,
    endpoint: stack.endpoints.s3,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    await s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: key }));
    return true;
  } catch {
    return false;
  } finally {
    s3.destroy();
  }
}

describe('handler frame on the local stack', () => {
  it('a run fans out, its fetches land, its control totals are checked, and it settles SUCCEEDED with its counts', async () => {
    await stack.send('cm360-invoices', { ...base, runId: 'fan', type: 'run' });
    await stack.waitForIdle({ timeoutMs: 60_000 });
    expect(await objectExists('raw/cm360/cm360-main/ok-1/x.json')).toBe(true);
    expect(await objectExists('raw/cm360/cm360-main/ok-2/x.json')).toBe(true);
    const run = await state.getRun('fan');
    expect(run).toMatchObject({ status: 'SUCCEEDED', pending: 0, request: { source: 'schedule' } });
    expect(run?.connections['cm360-main']?.invoices).toBe(2);
    // Settled only after the connection's control totals were checked (a message of its own).
    expect(run?.reconciliations?.['cm360-main']).toMatchObject({ gaps: 0, runId: 'fan' });
    expect(await objectExists(run!.reconciliations!['cm360-main']!.key)).toBe(true);
  });

  it('turns a defer into a delayed continuation that carries the cursor', async () => {
    await state.ensureRun('defer', { connections: ['cm360-main'], source: 'local' }, 1);
    await stack.send('cm360-invoices', fetch('defer', 'defer-1'));
    await stack.waitForIdle({ timeoutMs: 60_000 });
    expect(await objectExists('raw/cm360/cm360-main/defer-1/page-2.json')).toBe(true);
    const run = await state.getRun('defer');
    expect(run).toMatchObject({ status: 'SUCCEEDED', connections: { 'cm360-main': { defers: 1 } } });
  });

  it('moves an invalid message to the DLQ at once, with the field in the reason', async () => {
    const before = stack.runner.stats()['cm360-invoices']?.invocations ?? 0;
    await stack.send('cm360-invoices', { ...base, runId: 'bad', type: 'fetch', scope: 'ok-x' });
    await stack.waitForIdle({ timeoutMs: 60_000 });
    const dlq = (await stack.runner.dlqMessages('cm360-invoices')).filter((m) => m.body.includes('"bad"'));
    expect(dlq).toHaveLength(1);
    expect(dlq[0]!.reason).toMatch(/window/);
    expect((stack.runner.stats()['cm360-invoices']?.invocations ?? 0) - before).toBe(1);
  });

  it('sends a provider 4xx to the DLQ without retrying, and fails the run with the provider code', async () => {
    await state.ensureRun('denied', { connections: ['cm360-main'], source: 'local' }, 1);
    await stack.send('cm360-invoices', fetch('denied', 'forbidden-1'));
    await stack.waitForIdle({ timeoutMs: 60_000 });
    const dlq = (await stack.runner.dlqMessages('cm360-invoices')).filter((m) => m.body.includes('"denied"'));
    expect(dlq).toHaveLength(1);
    expect(dlq[0]!.reason).toMatch(/PERMISSION_DENIED/);
    const run = await state.getRun('denied');
    expect(run?.status).toBe('FAILED');
    expect(run?.failures[0]?.reason).toMatch(/PERMISSION_DENIED/);
  });

  it('moves a message whose continuation is not a valid message to the DLQ at once, not after retries', async () => {
    await state.ensureRun('badcont', { connections: ['cm360-main'], source: 'local' }, 1);
    await stack.send('cm360-invoices', fetch('badcont', 'badcont-1'));
    await stack.waitForIdle({ timeoutMs: 60_000 });
    const dlq = (await stack.runner.dlqMessages('cm360-invoices')).filter((m) =>
      m.body.includes('"badcont"'),
    );
    expect(dlq).toHaveLength(1);
    expect(dlq[0]!.reason).toMatch(/invalid continuation[\s\S]*scope/);
    expect((await state.getRun('badcont'))?.status).toBe('FAILED');
  });

  it('retries a transient failure until the last receive, then moves it to the DLQ with its real cause and records it in the run', async () => {
    await state.ensureRun('flaky', { connections: ['cm360-main'], source: 'local' }, 1);
    await stack.send('cm360-invoices', fetch('flaky', 'flaky-1'));
    await stack.waitForIdle({ timeoutMs: 90_000 });
    const dlq = (await stack.runner.dlqMessages('cm360-invoices')).filter((m) => m.body.includes('"flaky"'));
    expect(dlq).toHaveLength(1);
    // The DLQ says why, not "All records failed processing".
    expect(dlq[0]!.reason).toMatch(/after 5 receives: .*transient failure of flaky-1/);
    const run = await state.getRun('flaky');
    expect(run?.status).toBe('FAILED');
    expect(run?.failures).toHaveLength(1);
    expect(run?.failures[0]?.reason).toMatch(/transient failure of flaky-1/);
    expect(run?.connections['cm360-main']?.failures).toBe(5);
  });

  it('hands a message throttled past the client back to the queue, without spending its receives, until it lands', async () => {
    await state.ensureRun('throttled', { connections: ['cm360-main'], source: 'local' }, 1);
    await stack.send('cm360-invoices', fetch('throttled', 'throttled-1'));
    await stack.waitForIdle({ timeoutMs: 60_000 });
    expect(await objectExists('raw/cm360/cm360-main/throttled-1/x.json')).toBe(true);
    const run = await state.getRun('throttled');
    expect(run?.status).toBe('SUCCEEDED');
    expect(run?.connections['cm360-main']).toMatchObject({ invoices: 1, defers: 3 });
    expect(run?.connections['cm360-main']?.failures).toBeUndefined();
  });

  it('counts what a redelivered message landed once: the failed receive counts its failure, not its invoices', async () => {
    await state.ensureRun('once', { connections: ['cm360-main'], source: 'local' }, 1);
    await stack.send('cm360-invoices', fetch('once', 'once-1'));
    await stack.waitForIdle({ timeoutMs: 60_000 });
    const run = await state.getRun('once');
    expect(run?.connections['cm360-main']).toMatchObject({ invoices: 1, failures: 1 });
    expect(run?.status).toBe('SUCCEEDED');
  });
});
