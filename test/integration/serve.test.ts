import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { localDynamoClient } from '../../infra/local/clients.ts';
import { scheduleReconciler } from '../../infra/local/reconciler-schedule.ts';
import { GATEWAY_MAX_BODY_BYTES, type ServedApi, serveRunsApi } from '../../infra/local/serve.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { RunLedger } from '../../shared/aws/run-ledger.ts';
import type { ReconcileReport } from '../../shared/runtime/reconcile-runs.ts';
import { RUN_REQUEST_MAX_BYTES, requestFingerprint } from '../../shared/runtime/runs.ts';
import { writeTestConfig } from '../fixtures/handlers/records.ts';

/**
 * `npm start -- --serve`: the runs API answers as API Gateway in front of the runs-api Lambda would,
 * concurrency, limits, content types, malformed paths and Idempotency-Key included.
 */

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: Record<string, unknown>;
}

const JSON_TYPE = { 'content-type': 'application/json' };

describe('runs API on the local stack', () => {
  let dir: string;
  let stack: LocalStack;
  let api: ServedApi;
  let ledger: RunLedger;

  /** A raw HTTP request (no client-side path normalization or body checks). */
  const call = (
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: string | Buffer | Buffer[] } = {},
  ): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(`${api.url}${path}`, { method, headers: options.headers ?? {} }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(body) as Record<string, unknown>;
          } catch {
            json = {};
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      });
      req.on('error', reject);
      const body = options.body;
      if (Array.isArray(body)) for (const chunk of body) req.write(chunk);
      else if (body !== undefined) req.write(body);
      req.end();
    });
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    call('POST', '/runs', { headers: { ...JSON_TYPE, ...headers }, body: JSON.stringify(body) });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'serve-test-'));
    const { config, configPath } = writeTestConfig(dir);
    // No queue-fed function runs: the runs stay queued, which is all these requests need.
    stack = await startLocalStack({ config, configPath, functions: [], runsApi: true, quiet: true });
    api = await serveRunsApi(stack, 0, {
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    ledger = new RunLedger(DynamoDBDocumentClient.from(localDynamoClient(stack.env)), stack.table);
  });

  afterAll(async () => {
    await api?.close();
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts a run and answers its record', async () => {
    const started = await post({ provider: 'amazon-ads', from: '2026-01-01', to: '2026-01-31' });
    expect(started.status).toBe(202);
    expect(started.json).toEqual({
      runId: expect.any(String),
      connections: ['ads-test'],
      status: `/runs/${started.json.runId}`,
    });
    const record = await call('GET', `/runs/${started.json.runId}`);
    expect(record.status).toBe(200);
    expect(record.json).toMatchObject({ runId: started.json.runId, status: 'RUNNING', pending: 1 });
    expect((await call('GET', '/runs/no-such-run')).status).toBe(404);
  });

  it('gives concurrent requests each their own answer', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => post({ provider: 'cm360' })));
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(202));
    expect(new Set(answers.map((a) => a.json.runId)).size).toBe(6);
  });

  it('refuses a body over the limit with 413: the handler past its own limit, the gateway past 10 MiB', async () => {
    const padded = `{"provider":"cm360"${' '.repeat(1024 * 1024)}}`;
    const big = await call('POST', '/runs', { headers: JSON_TYPE, body: padded });
    expect(big.status).toBe(413);
    expect(big.json).toEqual({
      error: `body is ${Buffer.byteLength(padded)} bytes, over ${RUN_REQUEST_MAX_BYTES}`,
      field: '(body)',
    });

    // Answered, not reset, whether the size is announced or the body is sent in chunks.
    const huge = Buffer.alloc(GATEWAY_MAX_BODY_BYTES + 1, 0x20);
    const announced = await call('POST', '/runs', { headers: JSON_TYPE, body: huge });
    expect(announced.status).toBe(413);
    expect(announced.json).toEqual({ message: 'Request Too Long' });
    const chunked = await call('POST', '/runs', {
      headers: { ...JSON_TYPE, 'transfer-encoding': 'chunked' },
      body: [huge.subarray(0, 6 * 1024 * 1024), huge.subarray(6 * 1024 * 1024)],
    });
    expect(chunked.status).toBe(413);
  });

  it('refuses a body that is not JSON by its Content-Type with 415', async () => {
    const body = JSON.stringify({ provider: 'cm360' });
    const types: Array<Record<string, string>> = [
      { 'content-type': 'text/plain' },
      {},
      { 'content-type': 'application/x-www-form-urlencoded' },
    ];
    for (const headers of types) {
      const answer = await call('POST', '/runs', { headers, body });
      expect(answer.status, JSON.stringify(headers)).toBe(415);
      expect(answer.json.field).toBe('(headers).Content-Type');
    }
    const charset = await call('POST', '/runs', {
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      body,
    });
    expect(charset.status).toBe(202);
  });

  it('answers 400 for a path whose percent-escapes do not decode', async () => {
    for (const path of ['/runs/%zz', '/runs/abc%', '/runs/%E0%A4%A']) {
      const answer = await call('GET', path);
      expect(answer.status, path).toBe(400);
      expect(answer.json.message).toMatch(/percent-encoding/);
    }
    // A well-formed escape is decoded into the run id.
    expect((await call('GET', '/runs/a%20b')).json).toEqual({ error: 'no run a b' });
  });

  it('answers a retried POST with an Idempotency-Key with the same run, and starts nothing more', async () => {
    const request = { provider: 'amazon-ads', from: '2026-02-01', to: '2026-02-28' };
    const first = await post(request, { 'Idempotency-Key': 'retry-1' });
    expect(first.status).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const retry = await post(
      { to: '2026-02-28', from: '2026-02-01', provider: 'amazon-ads' },
      {
        'idempotency-key': 'retry-1',
      },
    );
    expect(retry.status).toBe(202);
    expect(retry.json).toEqual(first.json);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    // One message was sent for the run, not two.
    expect((await call('GET', `/runs/${first.json.runId}`)).json).toMatchObject({ pending: 1 });

    const other = await post({ provider: 'cm360' }, { 'Idempotency-Key': 'retry-1' });
    expect(other.status).toBe(422);
    expect(other.json.field).toBe('(headers).Idempotency-Key');
    for (const bad of ['has space', 'x'.repeat(256)]) {
      expect((await post(request, { 'Idempotency-Key': bad })).status, bad).toBe(400);
    }
  });

  it('gives concurrent requests with one key one run between them', async () => {
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => post({ provider: 'cm360' }, { 'Idempotency-Key': 'race-1' })),
    );
    // Each is either the run or "still starting, retry" (409), never a second run.
    const started = answers.filter((a) => a.status === 202);
    expect(started.length).toBeGreaterThan(0);
    expect(answers.every((a) => a.status === 202 || a.status === 409)).toBe(true);
    expect(new Set(started.map((a) => a.json.runId)).size).toBe(1);
    expect((await call('GET', `/runs/${started[0]!.json.runId}`)).json).toMatchObject({ pending: 1 });
  });

  it('finishes the run of a request that died after claiming its key; waits out one still starting', async () => {
    const request = { provider: 'cm360' as const };
    const fingerprint = requestFingerprint(request);

    const busy = new RunLedger(DynamoDBDocumentClient.from(localDynamoClient(stack.env)), stack.table);
    expect(await busy.claimRunKey('starting-1', { runId: 'run-starting', fingerprint })).toBe(true);
    const conflict = await post(request, { 'Idempotency-Key': 'starting-1' });
    expect(conflict.status).toBe(409);

    const past = new RunLedger(
      DynamoDBDocumentClient.from(localDynamoClient(stack.env)),
      stack.table,
      () => new Date(Date.now() - 5 * 60_000),
    );
    expect(await past.claimRunKey('died-1', { runId: 'run-of-dead-request', fingerprint })).toBe(true);
    const takenOver = await post(request, { 'Idempotency-Key': 'died-1' });
    expect(takenOver.status).toBe(202);
    expect(takenOver.json.runId).toBe('run-of-dead-request');
    expect(await ledger.getRunKey('died-1')).toMatchObject({ state: 'STARTED', connections: ['cm360-test'] });
  });

  it("settles a run that stopped moving on the run reconciler's schedule, as on AWS", async () => {
    const started = await post({ provider: 'amazon-ads', from: '2026-02-01', to: '2026-02-28' });
    const runId = String(started.json.runId);
    const reports: Array<ReconcileReport | Error> = [];
    // No function runs here, so the run's message never moves; stale after 0 minutes, every 200 ms.
    const stop = scheduleReconciler(
      stack,
      { POWERTOOLS_LOG_LEVEL: 'ERROR', RUN_STALE_AFTER_MINUTES: '0' },
      (r) => reports.push(r),
      200,
    );
    try {
      await vi.waitFor(async () => expect((await call('GET', `/runs/${runId}`)).json.status).toBe('FAILED'), {
        timeout: 60_000,
        interval: 250,
      });
    } finally {
      await stop();
    }
    expect(reports.filter((r) => r instanceof Error)).toEqual([]);
    const settled = reports.flatMap((r) => (r instanceof Error ? [] : r.settled));
    expect(settled.filter((s) => s.runId === runId)).toHaveLength(1);
  });
});
