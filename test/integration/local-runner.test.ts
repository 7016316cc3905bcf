import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localSqsClient } from '../../infra/local/clients.ts';
import type { FailedEvent, InvokedEvent, WarningEvent } from '../../infra/local/runner.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { readRecords, writeTestConfig } from '../fixtures/handlers/records.ts';

// Two functions run the controllable fixture handler: one with batches of 3 and redrive after 2 receives,
// one with a 3 s timeout and redrive after 3 receives.
const BATCHED = 'amazon-business-invoices';
const TIMED = 'cm360-invoices';
const HANDLER = 'test/fixtures/handlers/behaviour.ts';

describe('local runner: the SQS trigger on the local stack', () => {
  let dir: string;
  let recordFile: string;
  let stack: LocalStack;
  const failed: FailedEvent[] = [];
  const invoked: InvokedEvent[] = [];
  const warnings: WarningEvent[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'local-runner-test-'));
    recordFile = join(dir, 'records.jsonl');
    const { config, configPath } = writeTestConfig(dir, {
      'amazon-business': { maxReceiveCount: 2 },
      cm360: { maxReceiveCount: 3 },
    });
    stack = await startLocalStack({
      config,
      configPath,
      quiet: true,
      functionOutput: 'ignore',
      // Short, but with room for a slow worker on a busy machine: a retry must finish before it reappears.
      visibilityTimeoutSeconds: 2,
      functions: [
        { name: BATCHED, handler: HANDLER, batchSize: 3, env: { RECORD_FILE: recordFile } },
        { name: TIMED, handler: HANDLER, timeoutSeconds: 3, env: { RECORD_FILE: recordFile } },
      ],
    });
    stack.runner.on('failed', (e) => failed.push(e));
    stack.runner.on('invoked', (e) => invoked.push(e));
    stack.runner.on('warning', (e) => warnings.push(e));
  });

  afterAll(async () => {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs each function in its own worker with the environment the CDK stack would give it', async () => {
    await stack.send(BATCHED, { id: 'env-a' });
    await stack.send(TIMED, { id: 'env-b' });
    await stack.waitForIdle();

    const [a] = readRecords(recordFile, 'env-a');
    const [b] = readRecords(recordFile, 'env-b');
    expect(a?.functionName).toBe(BATCHED);
    expect(b?.functionName).toBe(TIMED);
    expect(a?.env).toMatchObject({
      OWN_QUEUE: BATCHED,
      MAX_RECEIVE_COUNT: '2',
      INVOICE_BUCKET: stack.bucket,
    });
    expect(b?.env).toMatchObject({ OWN_QUEUE: TIMED, MAX_RECEIVE_COUNT: '3' });
    expect(a?.env.AWS_ENDPOINT_URL_SQS).toBe(stack.env.AWS_ENDPOINT_URL_SQS);
    // Lambda runs the esbuild bundle, from its task root, with source maps on: so does the local stack.
    expect(a?.moduleUrl).toMatch(/\/\.local\/bundles\/[0-9a-f]{64}\/index\.mjs$/);
    expect(pathToFileURL(join(a!.env.LAMBDA_TASK_ROOT!, 'index.mjs')).href).toBe(a?.moduleUrl);
    // As the stack: source maps are a build artifact, not loaded at init.
    expect(a?.env.NODE_OPTIONS).toBeUndefined();
    expect(a?.threadId).not.toBe(b?.threadId);
    // The runner's own process is not pointed at the stand-ins.
    expect(process.env.OWN_QUEUE).toBeUndefined();
    // The record has the Lambda SQS event's shape.
    expect(a).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: expect.stringMatching(new RegExp(`^arn:aws:sqs:${stack.region}:\\d{12}:${BATCHED}$`)),
      awsRegion: stack.region,
      receiveCount: 1,
    });
    expect(b?.remainingMs).toBeGreaterThan(0);
    expect(b?.remainingMs).toBeLessThanOrEqual(3000);
  });

  it('passes message attributes in the Lambda shape', async () => {
    await stack.send(BATCHED, { id: 'attrs' }, { messageAttributes: { runId: 'r-1' } });
    await stack.waitForIdle();
    const [r] = readRecords(recordFile, 'attrs');
    expect(r?.messageAttributes.runId).toEqual({
      stringValue: 'r-1',
      stringListValues: [],
      binaryListValues: [],
      dataType: 'String',
    });
  });

  it('on a partial batch failure deletes the others and redelivers only the failed record', async () => {
    const sqs = localSqsClient(stack.env);
    try {
      // One call, so the three land in the same receive.
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: stack.queueUrls[BATCHED],
          Entries: [
            { Id: '1', MessageBody: JSON.stringify({ id: 'pb-ok-1' }) },
            { Id: '2', MessageBody: JSON.stringify({ id: 'pb-bad', fail: 1 }) },
            { Id: '3', MessageBody: JSON.stringify({ id: 'pb-ok-2' }) },
          ],
        }),
      );
    } finally {
      sqs.destroy();
    }
    await stack.waitForIdle();

    const bad = readRecords(recordFile, 'pb-bad');
    expect(bad.map((r) => r.receiveCount)).toEqual([1, 2]);
    expect(bad[0]?.batchSize).toBe(3);
    expect(readRecords(recordFile, 'pb-ok-1').map((r) => r.receiveCount)).toEqual([1]);
    expect(readRecords(recordFile, 'pb-ok-2').map((r) => r.receiveCount)).toEqual([1]);
    const failure = failed.find((f) => f.messageIds.includes(bad[0]!.messageId));
    expect(failure).toMatchObject({
      function: BATCHED,
      reason: 'batch-item-failures',
      messageIds: [bad[0]!.messageId],
    });
    expect((await stack.runner.dlqDepths())[BATCHED]).toBe(0);
  });

  it('moves a record that keeps failing to the DLQ after the configured receive count', async () => {
    const messageId = await stack.send(BATCHED, { id: 'doomed', fail: 99 });
    await stack.waitForIdle();

    // maxReceiveCount 2 for amazon-business: two attempts, then the redrive.
    expect(readRecords(recordFile, 'doomed').map((r) => r.receiveCount)).toEqual([1, 2]);
    const attempts = failed.filter((f) => f.messageIds.includes(messageId));
    expect(attempts.map((f) => f.lastAttempt.includes(messageId))).toEqual([false, true]);
    expect((await stack.runner.dlqDepths())[BATCHED]).toBe(1);
    const dead = await stack.runner.dlqMessages(BATCHED);
    expect(dead).toEqual([
      expect.objectContaining({
        queueId: BATCHED,
        messageId,
        reason: expect.stringContaining('batch-item-failures'),
      }),
    ]);
    expect(JSON.parse(dead[0]!.body)).toMatchObject({ id: 'doomed' });
  });

  it('retries a batch whose handler threw, and reports the error', async () => {
    const messageId = await stack.send(TIMED, { id: 'thrower', throw: 1 });
    await stack.waitForIdle();

    expect(readRecords(recordFile, 'thrower').map((r) => r.receiveCount)).toEqual([1, 2]);
    const failure = failed.find((f) => f.messageIds.includes(messageId));
    expect(failure).toMatchObject({ function: TIMED, reason: 'error' });
    expect(failure?.error).toContain('fixture failure for thrower on receive 1');
    expect((await stack.runner.dlqDepths())[TIMED]).toBe(0);
  });

  it('fails a batch that outlives the timeout, replaces the container and retries the record', async () => {
    const messageId = await stack.send(TIMED, { id: 'slow', sleepMs: 10_000, sleepWhile: 1 });
    await stack.waitForIdle();

    const runs = readRecords(recordFile, 'slow');
    expect(runs.map((r) => r.receiveCount)).toEqual([1, 2]);
    expect(failed.find((f) => f.messageIds.includes(messageId))).toMatchObject({ reason: 'timeout' });
    // The retry ran in a fresh worker (module state started over): a timed-out container is not reused.
    expect(runs[1]?.threadId).not.toBe(runs[0]?.threadId);
    expect(runs[1]?.invocationsInThisWorker).toBe(1);
    expect(invoked.find((e) => e.messageIds.includes(messageId) && e.receiveCounts[0] === 2)?.coldStart).toBe(
      true,
    );
    // It ran past the 2 s visibility timeout, which the runner points out.
    expect(warnings.some((w) => w.function === TIMED && w.message.includes('visibility timeout'))).toBe(true);
  });

  it('does not deliver a delayed message before its delay', async () => {
    await stack.send(TIMED, { id: 'later' }, { delaySeconds: 2 });
    expect((await stack.runner.queueDepths())[TIMED]).toMatchObject({ delayed: 1 });
    await stack.waitForIdle();

    const [r] = readRecords(recordFile, 'later');
    expect(r).toBeDefined();
    // Timers may fire a few ms early against Date.now(); the delay itself is 2000 ms.
    expect(r!.invokedAt - r!.sentTimestamp).toBeGreaterThanOrEqual(1990);
  });

  it('resolves waitForIdle only after the delayed continuations a handler sent have run', async () => {
    await stack.send(BATCHED, { id: 'chain', defer: { times: 2, delaySeconds: 1 } });
    await stack.waitForIdle();

    // Two delayed copies, each sent by the previous invocation: all three ran before idle.
    expect(readRecords(recordFile, 'chain').map((r) => r.deferred)).toEqual([0, 1, 2]);
    const depths = await stack.runner.queueDepths();
    expect(depths[BATCHED]).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });
});
