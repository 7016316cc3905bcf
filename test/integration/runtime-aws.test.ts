import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDynamoClient, localS3Client, localSqsClient } from '../../infra/local/clients.ts';
import { createLocalResources, type LocalResources } from '../../infra/local/resources.ts';
import { type Standins, startStandins } from '../../infra/local/standins.ts';
import { ByteCountError, S3Sink } from '../../shared/aws/sink.ts';
import { DynamoStateStore, exportKey } from '../../shared/aws/state-store.ts';
import { defaultConfigPath, loadConfig } from '../../shared/config/load.ts';
import { pollExport } from '../../shared/engine/poll-export.ts';
import type { ExportJob, ProviderSpec } from '../../shared/engine/provider-spec.ts';
import { ExpiredUrlError } from '../../shared/http/errors.ts';
import type { PollMessage } from '../../shared/jobs/messages.ts';
import { MAX_DELAY_SECONDS, moveToDlq, SqsJobQueue } from '../../shared/jobs/queue.ts';
import type { Counter, ExportCheck, ProviderContext } from '../../shared/providers/types.ts';
import { MessageCounters } from '../../shared/runtime/steps/message-counters.ts';

let standins: Standins;
let resources: LocalResources;
let s3: S3Client;
let sqs: SQSClient;
let state: DynamoStateStore;

beforeAll(async () => {
  standins = await startStandins();
  const configPath = defaultConfigPath();
  resources = await createLocalResources({
    config: loadConfig(configPath),
    configPath,
    standinEnv: standins.env,
  });
  s3 = localS3Client(standins.env);
  sqs = localSqsClient(standins.env);
  state = new DynamoStateStore(DynamoDBDocumentClient.from(localDynamoClient(standins.env)), resources.table);
});

afterAll(async () => {
  s3?.destroy();
  sqs?.destroy();
  await standins?.close();
});

async function receiveAll(queueUrl: string) {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      AttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  return out.Messages ?? [];
}

describe('state store on DynamoDB', () => {
  it('creates an export once even when two invocations race for it', async () => {
    const key = exportKey('sp-api', 'sp-br', 'A2Q3Y263D00KWC', { from: '2026-01-01', to: '2026-01-31' });
    let creates = 0;
    const create = async () => {
      creates++;
      await new Promise((r) => setTimeout(r, 50));
      return { exportId: `exp-${creates}` };
    };
    const input = {
      key,
      provider: 'sp-api' as const,
      connection: 'sp-br',
      scope: 'A2Q3Y263D00KWC',
      runId: 'r1',
      deadlineMs: 3_600_000,
    };
    const results = await Promise.allSettled([
      state.findOrCreateExport(input, create),
      state.findOrCreateExport(input, create),
    ]);
    expect(creates).toBe(1);
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok.length).toBeGreaterThanOrEqual(1);
    // The loser either saw the winner's export or was told to come back (never a second create).
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as Error).name).toBe('ExportBusyError');
    }
    const rerun = await state.findOrCreateExport(input, create);
    expect(rerun).toMatchObject({ created: false, record: { exportId: 'exp-1', state: 'PENDING' } });
    expect(creates).toBe(1);
  });

  it('releases the claim when the provider refuses the create, and replaces a failed export on a rerun', async () => {
    const key = exportKey('amazon-ads', 'ads-na', 'g', { from: '2026-02-01', to: '2026-02-28' });
    const input = {
      key,
      provider: 'amazon-ads' as const,
      connection: 'ads-na',
      scope: 'g',
      runId: 'r2',
      deadlineMs: 60_000,
    };
    await expect(
      state.findOrCreateExport(input, async () => Promise.reject(new Error('503'))),
    ).rejects.toThrow('503');
    const made = await state.findOrCreateExport(input, async () => ({ exportId: 'A' }));
    expect(made.created).toBe(true);
    await state.updateExport(key, { state: 'FAILED', error: { code: 'X', message: 'failed' } });
    const again = await state.findOrCreateExport(input, async () => ({ exportId: 'B' }));
    expect(again).toMatchObject({ created: true, record: { exportId: 'B', state: 'PENDING' } });
  });

  it('keeps the claim after a create whose outcome is unknown, so no retry creates a second export', async () => {
    const key = exportKey('sp-api', 'sp-br', 'M', { ambiguous: 'yes' });
    const input = {
      key,
      provider: 'sp-api' as const,
      connection: 'sp-br',
      scope: 'M',
      runId: 'r9',
      deadlineMs: 60_000,
    };
    const unknown = Object.assign(new Error('503 after the POST was sent'), { ambiguous: true });
    await expect(state.findOrCreateExport(input, async () => Promise.reject(unknown))).rejects.toThrow('503');
    let created = 0;
    await expect(
      state.findOrCreateExport(input, async () => {
        created += 1;
        return { exportId: 'second' };
      }),
    ).rejects.toMatchObject({ name: 'ExportBusyError' });
    expect(created).toBe(0);
    expect(await state.getExport(key)).toMatchObject({ state: 'CREATING' });
  });

  it('a creator whose stale claim was taken over keeps the export the other one made', async () => {
    const key = exportKey('sp-api', 'sp-br', 'M', { stale: 'yes' });
    const input = {
      key,
      provider: 'sp-api' as const,
      connection: 'sp-br',
      scope: 'M',
      runId: 'r3',
      deadlineMs: 60_000,
    };
    const start = Date.parse('2026-01-01T00:00:00Z');
    const ddb = DynamoDBDocumentClient.from(localDynamoClient(standins.env));
    const slow = new DynamoStateStore(ddb, resources.table, () => new Date(start));
    const later = new DynamoStateStore(ddb, resources.table, () => new Date(start + 21 * 60_000));
    let releaseSlow!: () => void;
    const slowCreate = slow.findOrCreateExport(input, async () => {
      await new Promise<void>((r) => {
        releaseSlow = r;
      });
      return { exportId: 'from-the-slow-one' };
    });
    // The slow creator's claim is in the table before the later one comes (however busy the machine is).
    while ((await state.getExport(key))?.state !== 'CREATING') await new Promise((r) => setTimeout(r, 20));
    const taken = await later.findOrCreateExport(input, async () => ({ exportId: 'from-the-later-one' }));
    expect(taken).toMatchObject({ created: true, record: { exportId: 'from-the-later-one' } });
    releaseSlow();
    expect(await slowCreate).toMatchObject({ created: false, record: { exportId: 'from-the-later-one' } });
    expect((await state.getExport(key))?.exportId).toBe('from-the-later-one');
  });

  it('moves a watermark forward only', async () => {
    await state.setWatermark('cm360', 'c', 'adv', '2026-03-10');
    await state.setWatermark('cm360', 'c', 'adv', '2026-03-01');
    expect(await state.getWatermark('cm360', 'c', 'adv')).toBe('2026-03-10');
    await state.setWatermark('cm360', 'c', 'adv', '2026-03-12');
    expect(await state.getWatermark('cm360', 'c', 'adv')).toBe('2026-03-12');
  });

  it('settles a run PARTIAL when a problem left something out, and SUCCEEDED when its problems are only notes', async () => {
    await state.ensureRun('run-gap', { connections: ['a'], source: 'local' }, 1);
    // Reported again by work done again (a redelivered receive): recorded and counted once.
    for (let i = 0; i < 2; i++)
      await state.addProblem('run-gap', { connection: 'a', code: 'DOCUMENT_LINK_EXPIRED', message: 'x' });
    await state.addProblem('run-gap', { connection: 'a', code: 'DOCUMENT_LINK_EXPIRED', message: 'z' });
    await state.addPending('run-gap', -1);
    const gap = await state.getRun('run-gap');
    expect(gap?.status).toBe('PARTIAL');
    expect(gap?.problems.map((p) => p.message)).toEqual(['x', 'z']);
    await state.ensureRun('run-note', { connections: ['a'], source: 'local' }, 1);
    await state.addProblem('run-note', {
      connection: 'a',
      code: 'NOT_INVOICED_YET',
      message: 'y',
      note: true,
    });
    await state.addPending('run-note', -1);
    const noted = await state.getRun('run-note');
    expect(noted?.status).toBe('SUCCEEDED');
    expect(noted?.problems).toEqual([expect.objectContaining({ code: 'NOT_INVOICED_YET', note: true })]);
  });

  it('settles a run when its last message is done, FAILED when one failed', async () => {
    await state.ensureRun('run-ok', { connections: ['a'], source: 'local' }, 0);
    await state.addPending('run-ok', 2);
    await state.addCounts('run-ok', 'a', { invoices: 3, bytes: 100 });
    await state.addPending('run-ok', -1);
    expect((await state.getRun('run-ok'))?.status).toBe('RUNNING');
    await state.addCounts('run-ok', 'a', { invoices: 2 });
    await state.addPending('run-ok', -1);
    const ok = await state.getRun('run-ok');
    expect(ok).toMatchObject({
      status: 'SUCCEEDED',
      pending: 0,
      connections: { a: { invoices: 5, bytes: 100 } },
    });

    await state.ensureRun('run-bad', { connections: ['a'], source: 'local' }, 1);
    await state.addFailure(
      'run-bad',
      { at: new Date().toISOString(), connection: 'a', messageType: 'fetch', reason: 'ProviderError: 403' },
      'm1',
    );
    await state.addPending('run-bad', -1);
    const bad = await state.getRun('run-bad');
    expect(bad?.status).toBe('FAILED');
    expect(bad?.failures[0]?.reason).toBe('ProviderError: 403');
    expect(await state.getRun('no-such-run')).toBeUndefined();
  });
});

describe('job queue', () => {
  it('routes messages to their queue, chains long delays and counts what it sends', async () => {
    const sent: number[] = [];
    const queue = new SqsJobQueue(sqs, resources.functionEnv['runs-api'], async (_m, n) => {
      sent.push(n);
    });
    const base = { v: 1 as const, runId: 'q1', provider: 'cm360' as const, connection: 'cm360-main' };
    await queue.sendBatch(
      Array.from({ length: 12 }, (_, i) => ({ ...base, type: 'run' as const, scopes: [`s${i}`] })),
    );
    await queue.send({ ...base, type: 'run' }, { delaySeconds: 3600 });
    expect(sent).toEqual(Array(13).fill(1));
    const url = resources.queueUrls['cm360-invoices']!;
    const got = [...(await receiveAll(url)), ...(await receiveAll(url))];
    expect(got).toHaveLength(12);
    const poll = new SqsJobQueue(sqs, resources.functionEnv['runs-api']);
    await expect(
      poll.send({
        ...base,
        type: 'poll',
        scope: 's',
        exportKey: 'k',
        exportId: 'e',
        createdAt: new Date().toISOString(),
        deadline: new Date().toISOString(),
        attempt: 0,
      }),
    ).rejects.toThrow(/may not send to queue export-poll/);
    expect(MAX_DELAY_SECONDS).toBe(900);
  });

  it('moves a message to the DLQ with its reason', async () => {
    const dlq = resources.dlqUrls['sp-api-invoices']!;
    await moveToDlq(sqs, dlq, '{"broken":true}', 'invalid message: runId: Required');
    const [m] = await receiveAll(dlq);
    expect(m?.Body).toBe('{"broken":true}');
    expect(m?.MessageAttributes?.reason?.StringValue).toBe('invalid message: runId: Required');
  });
});

function meta() {
  return { sourceOperation: 'test', runId: 'r', fetchedAt: '2026-01-01T00:00:00.000Z' };
}

function patterned(bytes: number, chunk = 256 * 1024): Readable {
  let left = bytes;
  let i = 0;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(chunk, left);
      left -= n;
      this.push(Buffer.alloc(n, i++ % 251));
    },
  });
}

async function sha256Of(
  key: string,
): Promise<{ sha: string; meta: Record<string, string> | undefined; bytes: number }> {
  const out = await s3.send(new GetObjectCommand({ Bucket: resources.bucket, Key: key }));
  const body = Buffer.from(await out.Body!.transformToByteArray());
  return { sha: createHash('sha256').update(body).digest('hex'), meta: out.Metadata, bytes: body.length };
}

describe('S3 sink', () => {
  const sink = () => new S3Sink(s3, resources.bucket, { partSize: 5 * 1024 * 1024, concurrency: 2 });

  it('writes JSON with the sha256, source, run and time as metadata', async () => {
    const stored = await sink().putJson('raw/x.json', { a: 1 }, meta());
    const got = await sha256Of('raw/x.json');
    expect(stored.sha256).toBe(got.sha);
    expect(got.meta).toMatchObject({
      sha256: got.sha,
      'source-operation': 'test',
      'run-id': 'r',
      'fetched-at': '2026-01-01T00:00:00.000Z',
    });
  });

  it('streams a small and a multipart body with the right bytes and hash, each object created once', async () => {
    const created = new Map<string, number>();
    const count = (event: { Records?: Array<{ eventName: string; s3: { object: { key: string } } }> }) => {
      for (const r of event.Records ?? []) {
        if (r.eventName.startsWith('ObjectCreated:'))
          created.set(r.s3.object.key, (created.get(r.s3.object.key) ?? 0) + 1);
      }
    };
    standins.s3Events.on('event', count);
    // With and without an announced size: the part buffer starts small and grows through its doublings.
    try {
      for (const [size, announced] of [
        [1234, true],
        [300 * 1024 + 5, false],
        [12 * 1024 * 1024 + 7, true],
        [6 * 1024 * 1024 + 3, false],
      ] as const) {
        const key = `documents/big-${size}.bin`;
        const stored = await sink().putStream(key, patterned(size, 100_000), {
          ...meta(),
          ...(announced ? { expectedBytes: size } : {}),
        });
        const got = await sha256Of(key);
        expect(got.bytes).toBe(size);
        expect(stored).toEqual({ key, sha256: got.sha, bytes: size });
        // A body held whole (up to one part) carries its hash as metadata; a larger one, uploaded in parts
        // as s3rver needs, carries none rather than a placeholder (with S3's checksums on, see s3-sink.test.ts).
        expect(got.meta?.sha256).toBe(size <= 5 * 1024 * 1024 ? got.sha : undefined);
        expect(got.meta).toMatchObject({ 'source-operation': 'test', 'run-id': 'r' });
      }
    } finally {
      standins.s3Events.off('event', count);
    }
    // No second write (a self-copy to attach the hash was one): one creation per object.
    expect([...created.values()]).toEqual([1, 1, 1, 1]);
  });

  it('refuses a body shorter than announced and leaves no object or upload behind', async () => {
    const key = 'documents/short.bin';
    await expect(
      sink().putStream(key, patterned(6 * 1024 * 1024), { ...meta(), expectedBytes: 7 * 1024 * 1024 }),
    ).rejects.toThrow(ByteCountError);
    await expect(s3.send(new HeadObjectCommand({ Bucket: resources.bucket, Key: key }))).rejects.toThrow();
    const uploads = await s3
      .send(new ListMultipartUploadsCommand({ Bucket: resources.bucket }))
      .catch(() => ({ Uploads: [] }));
    expect((uploads.Uploads ?? []).filter((u) => u.Key === key)).toHaveLength(0);
  });

  it('merges month files by id instead of replacing them', async () => {
    const key = 'invoices/provider=cm360/issue_month=2026-01/c-a.jsonl';
    await sink().mergeJsonl(
      key,
      [
        { invoiceId: 'b', v: 1 },
        { invoiceId: 'a', v: 1 },
      ],
      'invoiceId',
      meta(),
    );
    await sink().mergeJsonl(
      key,
      [
        { invoiceId: 'c', v: 1 },
        { invoiceId: 'a', v: 2 },
      ],
      'invoiceId',
      meta(),
    );
    const text = await sink().getText(key);
    expect(
      text
        ?.trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { invoiceId: 'a', v: 2 },
      { invoiceId: 'b', v: 1 },
      { invoiceId: 'c', v: 1 },
    ]);
    expect(await sink().getText('invoices/none.jsonl')).toBeUndefined();
  });
});

describe('export poller', () => {
  const schedule = { firstDelaySeconds: 1, factor: 2, maxDelaySeconds: 4 };

  function setup(checks: ExportCheck[], opens: Array<'ok' | 'expired'>) {
    const counts: Partial<Record<Counter, number>> = {};
    const sent: Array<{ m: unknown; delay?: number }> = [];
    let opened = 0;
    const exportJob: ExportJob = {
      kind: 'export',
      name: 'exports',
      identity: () => ({}),
      deadlineMs: () => 3_600_000,
      create: async () => ({ exportId: 'E' }),
      check: async () => checks.shift() ?? { state: 'PENDING' },
      open: async (_m, documentId) => {
        const mode = opens[opened++] ?? 'ok';
        if (mode === 'expired') throw new ExpiredUrlError('getInvoicesDocument', 403);
        return {
          key: `exports/sp-api/sp-br/M/E/${documentId}.zip`,
          operation: 'getInvoicesDocument',
          counter: 'documents',
          response: {
            status: 200,
            stream: patterned(1000 + documentId.length),
            contentLength: 1000 + documentId.length,
          },
        };
      },
    };
    const spec = {
      id: 'sp-api',
      client: { baseUrl: () => '', auth: 'lwa-x-amz-access-token', operations: {}, downloadHosts: [] },
      secret: {} as never,
      discoverScopes: async () => [],
      jobs: [exportJob],
    } as ProviderSpec;
    const ctx = {
      connection: {} as never,
      runId: 'poll-run',
      secret: {},
      http: {} as never,
      sink: new S3Sink(s3, resources.bucket),
      state,
      invoices: state.invoices,
      queue: {
        send: async (m: unknown, o?: { delaySeconds?: number }) => {
          sent.push({ m, ...(o?.delaySeconds !== undefined ? { delay: o.delaySeconds } : {}) });
        },
        sendBatch: async () => {},
      },
      log: { debug() {}, info() {}, warn() {}, error() {} },
      count: (c: Counter, n = 1) => {
        counts[c] = (counts[c] ?? 0) + n;
      },
      reportProblem: () => {},
      budget: { deadline: Date.now() + 60_000, remainingMs: () => 60_000 },
      now: () => new Date(),
    } satisfies ProviderContext;
    return { spec, ctx, counts, sent, opened: () => opened };
  }

  async function register(name: string, deadlineMs = 3_600_000): Promise<PollMessage> {
    const key = exportKey('sp-api', 'sp-br', 'M', { name });
    const { record } = await state.findOrCreateExport(
      { key, provider: 'sp-api', connection: 'sp-br', scope: 'M', runId: 'poll-run', deadlineMs },
      async () => ({ exportId: `E-${name}` }),
    );
    return {
      v: 1,
      continuation: 0,
      type: 'poll',
      runId: 'poll-run',
      provider: 'sp-api',
      connection: 'sp-br',
      scope: 'M',
      exportKey: key,
      exportId: record.exportId!,
      createdAt: record.createdAt,
      deadline: record.deadline,
      attempt: 0,
    };
  }

  it('re-enqueues itself with a growing delay while the export is pending', async () => {
    const msg = await register('pending');
    const t = setup([{ state: 'PENDING' }], []);
    expect(await pollExport(msg, t.ctx, t.spec, { state, schedule })).toBe('pending');
    expect(t.sent).toEqual([{ m: { ...msg, attempt: 1 }, delay: 2 }]);
  });

  it('copies each document once, renewing an expired URL, and a repeated poll copies nothing again', async () => {
    const msg = await register('done');
    const t = setup([{ state: 'DONE', documentIds: ['d1', 'd22'] }], ['expired', 'ok', 'ok']);
    expect(await pollExport(msg, t.ctx, t.spec, { state, schedule })).toBe('done');
    expect(t.opened()).toBe(3);
    expect(t.counts.documents).toBe(2);
    const record = await state.getExport(msg.exportKey);
    expect(record?.state).toBe('DONE');
    expect(Object.keys(record?.copied ?? {}).sort()).toEqual(['d1', 'd22']);
    expect(record?.copied.d22?.bytes).toBe(1003);
    const again = setup([], []);
    expect(await pollExport(msg, again.ctx, again.spec, { state, schedule })).toBe('done');
    expect(again.opened()).toBe(0);
  });

  it('counts what a copy stored on the way only from the try that lands: cut short, tried again, counted once', async () => {
    const msg = await register('cut-short');
    const t = setup([{ state: 'DONE', documentIds: ['z'] }], []);
    const counters = new MessageCounters();
    let tries = 0;
    (t.spec.jobs[0] as ExportJob).open = async (_m, documentId, ctx) => {
      tries += 1;
      // What SP-API's ZIP does: each XML stored on the way counts as a document of its own.
      ctx.count('documents');
      return {
        key: `exports/sp-api/sp-br/M/E/${documentId}.zip`,
        operation: 'getInvoicesDocument',
        counter: 'documents',
        response: { status: 200, stream: patterned(tries === 1 ? 600 : 1000), contentLength: 1000 },
      };
    };
    const ctx = {
      ...t.ctx,
      count: counters.count,
      tallied: counters.tallied,
      sink: new S3Sink(s3, resources.bucket, { onStored: (s) => counters.count('bytes', s.bytes) }),
    };
    expect(await pollExport(msg, ctx, t.spec, { state, schedule })).toBe('done');
    expect(tries).toBe(2);
    expect(counters.counts.documents).toBe(2);
    expect(counters.counts.bytes).toBe(1000);
  });

  it('records a failed export in the export and the run, and counts it for the alarm', async () => {
    const msg = await register('failed');
    await state.ensureRun('poll-run', { connections: ['sp-br'], source: 'local' }, 1);
    const t = setup([{ state: 'FAILED', code: 'ERROR', message: 'export failed upstream' }], []);
    expect(await pollExport(msg, t.ctx, t.spec, { state, schedule })).toBe('failed');
    expect((await state.getExport(msg.exportKey))?.error).toEqual({
      code: 'ERROR',
      message: 'export failed upstream',
    });
    expect(t.counts.exportsFailed).toBe(1);
    const run = await state.getRun('poll-run');
    expect(run?.failures.some((f) => f.reason.includes('export failed upstream'))).toBe(true);
  });

  it('a rerun that reused a failed export learns of the failure in its own run', async () => {
    const msg = await register('failed-twice');
    const first = setup([{ state: 'FAILED', code: 'ERROR', message: 'upstream' }], []);
    await pollExport(msg, first.ctx, first.spec, { state, schedule });
    await state.ensureRun('rerun', { connections: ['sp-br'], source: 'local' }, 1);
    const second = setup([], []);
    expect(await pollExport({ ...msg, runId: 'rerun' }, second.ctx, second.spec, { state, schedule })).toBe(
      'failed',
    );
    expect((await state.getRun('rerun'))?.failures.map((f) => f.reason)).toEqual(['ERROR: upstream']);
  });

  it('drops a poll for an export a rerun has since replaced', async () => {
    const msg = await register('replaced');
    await state.updateExport(msg.exportKey, { exportId: 'a-newer-export' });
    const t = setup([{ state: 'DONE', documentIds: ['x'] }], []);
    expect(await pollExport(msg, t.ctx, t.spec, { state, schedule })).toBe('replaced');
    expect(t.opened()).toBe(0);
    expect((await state.getExport(msg.exportKey))?.state).toBe('PENDING');
  });

  it('gives up at the deadline counted from creation, not from this poll', async () => {
    const msg = await register('late', 1);
    await new Promise((r) => setTimeout(r, 20));
    const t = setup([{ state: 'PENDING' }], []);
    expect(await pollExport(msg, t.ctx, t.spec, { state, schedule })).toBe('expired');
    expect((await state.getExport(msg.exportKey))?.state).toBe('EXPIRED');
    expect(t.sent).toHaveLength(0);
  });
});
