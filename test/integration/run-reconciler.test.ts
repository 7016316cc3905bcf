import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDynamoClient } from '../../infra/local/clients.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { DynamoStateStore } from '../../shared/aws/state-store.ts';
import { defaultConfigPath, loadConfig } from '../../shared/config/load.ts';

/**
 * A function that times out on every receive of a message (the frame never gets to record it): the local
 * queue's redrive moves it to the DLQ and its run stays RUNNING, until the run reconciler's bundle settles it.
 */

let stack: LocalStack;
let state: DynamoStateStore;
const QUIET = { POWERTOOLS_LOG_LEVEL: 'CRITICAL', POWERTOOLS_METRICS_DISABLED: 'true' };

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
        env: QUIET,
        timeoutSeconds: 2,
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

describe('run reconciler on the local stack', () => {
  it('settles FAILED a run whose message timed out into the DLQ, naming it, once, and leaves the DLQ as it was', async () => {
    await state.ensureRun('hung', { provider: 'cm360', connections: ['cm360-main'], source: 'local' }, 1);
    await stack.send('cm360-invoices', {
      v: 1,
      type: 'fetch',
      runId: 'hung',
      provider: 'cm360',
      connection: 'cm360-main',
      scope: 'hang-1',
      window: { from: '2026-01-01', to: '2026-01-31' },
    });
    await stack.waitForIdle({ timeoutMs: 120_000 });
    const dead = (await stack.runner.dlqMessages('cm360-invoices')).filter((m) => m.body.includes('"hung"'));
    expect(dead).toHaveLength(1);
    expect(dead[0]?.messageAttributes.reason).toBeUndefined();
    expect(await state.getRun('hung')).toMatchObject({ status: 'RUNNING', pending: 1, failures: [] });

    const report = await stack.reconcile({ ...QUIET, RUN_STALE_AFTER_MINUTES: '0' });
    await stack.waitForIdle({ timeoutMs: 60_000 });

    expect(report.deadMessages).toEqual([
      {
        runId: 'hung',
        queue: 'cm360-invoices',
        messageId: dead[0]!.messageId,
        messageType: 'fetch',
        connection: 'cm360-main',
      },
    ]);
    expect(report.settled).toEqual([{ runId: 'hung', status: 'FAILED', cause: 'DLQ' }]);
    const run = await state.getRun('hung');
    expect(run).toMatchObject({ status: 'FAILED', pending: 0 });
    expect(run?.failures.map((f) => [f.connection, f.messageType, f.reason])).toEqual([
      [
        'cm360-main',
        'fetch',
        'fetch message (scope hang-1) reached the cm360-invoices DLQ without being settled (timeout or out of memory?)',
      ],
    ]);

    expect(await stack.reconcile({ ...QUIET, RUN_STALE_AFTER_MINUTES: '0' })).toMatchObject({
      deadMessages: [],
      settled: [],
    });
    await stack.waitForIdle({ timeoutMs: 60_000 });
    const events = stack.consumer.runsCompleted().filter((e) => e.detail.runId === 'hung');
    expect(events.map((e) => [e.detail.outcome, e.detail.failures])).toEqual([['FAILED', 1]]);
    expect(
      (await stack.runner.dlqMessages('cm360-invoices')).filter((m) => m.body.includes('"hung"')),
    ).toHaveLength(1);
  }, 180_000);
});
