import { randomUUID } from 'node:crypto';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../infra/local/stack.ts';
import type { Cm360GroundTruth, ExpectedInvoice } from '../../infra/sandbox/cm360/data.ts';
import { cm360Simulator } from '../../infra/sandbox/cm360/index.ts';
import type { Sandbox } from '../../infra/sandbox/index.ts';
import type { DynamoStateStore, RunRecord } from '../../shared/aws/state-store.ts';
import { parseConfig } from '../../shared/config/load.ts';
import { type NormalizedInvoice, normalizedInvoiceSchema } from '../../shared/invoice/model.ts';
import { addDecimals } from '../../shared/invoice/money.ts';
import { CONSOLIDATED_BILLING } from '../../shared/providers/cm360/spec.ts';
import { listKeys as bucketKeys, getText as bucketText } from '../helpers/bucket.ts';
import {
  keysAfterRerun,
  type ProviderStack,
  simulatorAdmin,
  startProviderStack,
} from '../helpers/provider-stack.ts';

/**
 * CM360 end to end on the local stack: the real cm360-invoices handler in a worker thread, the
 * S3/SQS/DynamoDB stand-ins, the CM360 simulator and the sandbox Google token server. Three connections:
 * a service account discovering its advertisers, a refresh-token client naming its advertisers, and a
 * service account run under faults, and one served with control-totals gaps. Data is small (three advertisers, one billed at a consolidated
 * level, three issue months) and pages hold two invoices, so months page in a few calls.
 */

const SA = 'cm-sa';
const RT = 'cm-rt';
const FAULTY = 'cm-faulty';
const GAPS = 'cm-gaps';
const WINDOW = { from: '2024-03-01', to: '2024-05-31' };
/**
 * Calls are paced at Google's rate (1 request/s per operation): a run takes seconds of wall time whatever
 * the machine, and many more on a machine the whole suite shares. Time enough for waitForIdle's own limit.
 */
const SLOW_MS = 150_000;

const sameDecimal = (a: string | null, b: string) =>
  a !== null && addDecimals(a, b.startsWith('-') ? b.slice(1) : `-${b}`) === '0';

describe('cm360 on the local stack', () => {
  let sandbox: Sandbox;
  let stack: LocalStack;
  let s3: S3Client;
  let state: DynamoStateStore;
  let provider: ProviderStack;
  let sim: string;
  const truth: Record<string, Cm360GroundTruth> = {};

  const admin = simulatorAdmin(() => sim);
  const listKeys = (prefix: string) => bucketKeys(s3, stack.bucket, prefix);
  const getText = (key: string) => bucketText(s3, stack.bucket, key);
  const normalized = async (connection: string): Promise<NormalizedInvoice[]> => {
    const lines: NormalizedInvoice[] = [];
    for (const key of await listKeys('invoices/provider=cm360/')) {
      if (!key.split('/').at(-1)!.startsWith(`${connection}-`)) continue;
      for (const line of (await getText(key)).split('\n')) {
        if (line.trim()) lines.push(normalizedInvoiceSchema.parse(JSON.parse(line)));
      }
    }
    return lines;
  };
  const run = async (connection: string, message: Record<string, unknown> = {}): Promise<RunRecord> => {
    const runId = `test-${randomUUID()}`;
    await stack.send('cm360-invoices', {
      v: 1,
      type: 'run',
      runId,
      provider: 'cm360',
      connection,
      window: WINDOW,
      ...message,
    });
    await stack.waitForIdle({ timeoutMs: 120_000 });
    const record = await state.getRun(runId);
    if (!record) throw new Error(`no run record for ${runId}`);
    return record;
  };
  const expectedOf = (connection: string) =>
    truth[connection]!.advertisers.flatMap((a) =>
      Object.values(a.invoices ?? {}).flatMap((list) =>
        list.map((e): ExpectedInvoice & { advertiserId: string } => ({ ...e, advertiserId: a.advertiserId })),
      ),
    );
  const consolidatedOf = (connection: string) =>
    truth[connection]!.advertisers.find((a) => a.billingLevel === 'CONSOLIDATED')!.advertiserId;

  /** Every invoice once, its amounts to the micro, its PDF stored with the simulator's sha256. */
  const expectLanded = async (connection: string) => {
    const lines = await normalized(connection);
    const expected = expectedOf(connection);
    const ids = lines.map((l) => l.invoiceId);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(expected.map((e) => e.id).sort());
    for (const e of expected) {
      const line = lines.find((l) => l.invoiceId === e.id)!;
      expect(line.account).toBe(e.advertiserId);
      expect(line.kind).toBe(e.kind === 'credit' ? 'CREDIT_NOTE' : 'INVOICE');
      expect(sameDecimal(line.subtotal, e.subtotal), `${e.id} subtotal ${line.subtotal}`).toBe(true);
      expect(sameDecimal(line.tax, e.totalTax), `${e.id} tax ${line.tax}`).toBe(true);
      expect(sameDecimal(line.total, e.total), `${e.id} total ${line.total}`).toBe(true);
      expect(line.correctsInvoiceId).toBe(e.correctedInvoiceId ?? null);
      expect(line.replacesInvoiceIds).toEqual(e.replacedInvoiceIds ?? []);
      expect(JSON.parse(await getText(line.rawKey))).toMatchObject({
        id: e.id,
        totalAmountMicros: e.totalAmountMicros,
      });
      const doc = line.documents[0]!;
      expect(doc).toEqual({
        type: 'INVOICE_PDF',
        key: `documents/cm360/${connection}/${e.advertiserId}/${e.id}/invoice.pdf`,
        sha256: e.pdf.sha256,
        bytes: e.pdf.bytes,
      });
      const head = await s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: doc.key }));
      expect(head.Metadata?.sha256).toBe(e.pdf.sha256);
      expect(head.ContentLength).toBe(e.pdf.bytes);
    }
    return { lines, expected };
  };

  beforeAll(async () => {
    const connection = (id: string, scopes: 'discover' | string[], profileId: string) => ({
      id,
      provider: 'cm360',
      secretName: `test/cm360/${id}`,
      scopes,
      schedule: 'rate(1 day)',
      lookbackDays: 62,
      profileId,
    });
    // The refresh-token connection names its advertisers: they are known once the simulator runs, so the
    // run message carries them (as a connection's scopes list would).
    const config = parseConfig({
      connections: [
        connection(SA, 'discover', '7000001'),
        connection(RT, 'discover', '7000002'),
        connection(FAULTY, 'discover', '7000003'),
        connection(GAPS, 'discover', '7000004'),
      ],
    });
    provider = await startProviderStack({
      config,
      sandbox: {
        seed: 41,
        size: 0.5,
        timeScale: 60,
        simulators: [cm360Simulator],
        googleAuth: { [RT]: 'refresh-token' },
        options: { cm360: { lastIssueMonth: '202405', months: 3, advertisers: 3, maxPageSize: 2 } },
      },
      functions: ['cm360-invoices'],
      // Not at the real quota of 1 request a second, which the simulator, 60 times faster, never comes near
      // (README "Function settings", RATE_PLAN_SCALE).
      ratePlansAtTimeScale: true,
    });
    ({ sandbox, stack, s3, state } = provider);
    sim = sandbox.endpoints.cm360!;
    for (const id of [SA, RT, FAULTY, GAPS]) {
      truth[id] = await admin<Cm360GroundTruth>('GET', `/cm360/ground-truth?connection=${id}`);
    }
  }, SLOW_MS);

  afterAll(async () => {
    await provider?.close();
  });

  it(
    'lands every invoice of every advertiser and month once with its PDF, for a service account and a refresh token; the consolidated advertiser is recorded, not failed',
    async () => {
      const discovered = await run(SA);
      const named = await run(RT, { scopes: truth[RT]!.advertisers.map((a) => a.advertiserId) });
      for (const [id, record] of [
        [SA, discovered],
        [RT, named],
      ] as const) {
        expect(record.status).toBe('SUCCEEDED');
        expect(record.failures).toEqual([]);
        const { lines, expected } = await expectLanded(id);
        expect(record.connections[id]).toMatchObject({
          invoices: expected.length,
          documents: expected.length,
        });
        // Credits point at invoices that landed too.
        const credits = lines.filter((l) => l.kind === 'CREDIT_NOTE');
        expect(credits.length).toBeGreaterThan(0);
        for (const c of credits) expect(lines.map((l) => l.invoiceId)).toContain(c.correctsInvoiceId);
        const consolidated = consolidatedOf(id);
        expect(record.problems.map(({ at: _a, ...p }) => p)).toEqual([
          {
            connection: id,
            code: CONSOLIDATED_BILLING,
            message: expect.stringContaining(`advertiser ${consolidated}:`),
            note: true,
          },
        ]);
        // A normal state, not a gap: the run is complete, and its control totals find nothing missing.
        expect(record.status).toBe('SUCCEEDED');
        expect(record.reconciliations?.[id]).toMatchObject({
          invoices: expected.length,
          documentsMissing: 0,
          gaps: 0,
          gapsByCode: {},
        });
        expect(await listKeys(`raw/cm360/${id}/${consolidated}/2`)).toEqual([]);
      }
      expect(await listKeys(`raw/cm360/${SA}/_discovery/_payloads/`)).toEqual([
        `raw/cm360/${SA}/_discovery/_payloads/advertisers_p0000.json`,
        `raw/cm360/${SA}/_discovery/_payloads/advertisers_p0001.json`,
      ]);
      // The one invoice whose micros a double cannot hold, to the last digit.
      const huge = (await normalized(SA)).find((l) => l.subtotal === '1234567890123.456789');
      expect(huge?.total).toBeDefined();
      expect(await stack.runner.dlqMessages()).toEqual([]);
    },
    SLOW_MS,
  );

  it(
    'a rerun of the same window adds nothing and rewrites the same objects',
    async () => {
      const before = await listKeys('');
      const linesBefore = await normalized(SA);
      const record = await run(SA);
      expect(record.failures).toEqual([]);
      expect(await listKeys('')).toEqual(keysAfterRerun(before, record));
      const after = await normalized(SA);
      expect(after.map(({ fetchedAt: _f, ...l }) => l)).toEqual(
        linesBefore.map(({ fetchedAt: _f, ...l }) => l),
      );
    },
    SLOW_MS,
  );

  it(
    '5xx, 429 bursts, reset connections and quota 403s lose nothing and duplicate nothing',
    async () => {
      const stats = () =>
        sandbox.stats().cm360 as {
          faults: { total: Record<string, number> };
          operations: Record<string, { statuses: Record<string, number> }>;
        };
      const answered = (status: string) =>
        Object.values(stats().operations).reduce((n, o) => n + (o.statuses[status] ?? 0), 0);
      const quotaBefore = answered('403');
      await admin('POST', '/faults', {
        serverErrorRate: 0.15,
        resetRate: 0.05,
        throttleBurst: { every: 6, length: 1, retryAfterSeconds: 0 },
      });
      // A user quota of 3 requests a real second (time scale 60), burst 3: the client's own burst of 10
      // meets 403 userRateLimitExceeded.
      await admin('POST', '/settings', { userQuota: { rate: 0.05, burst: 3 } });
      let record: RunRecord;
      try {
        record = await run(FAULTY);
      } finally {
        await admin('POST', '/faults', {});
        await admin('POST', '/settings', { userQuota: { rate: 10, burst: 40 } });
      }
      const faults = stats().faults.total;
      expect(faults.serverError).toBeGreaterThan(0);
      expect(faults.throttleBurst).toBeGreaterThan(0);
      expect(answered('403') - quotaBefore).toBeGreaterThan(0);
      expect(record.failures).toEqual([]);
      expect(record.connections[FAULTY]?.retries ?? 0).toBeGreaterThan(0);
      expect(record.connections[FAULTY]?.throttles ?? 0).toBeGreaterThan(0);
      const { expected } = await expectLanded(FAULTY);
      expect(record.connections[FAULTY]?.invoices).toBe(expected.length);
      expect(record.problems.map((p) => p.code)).toEqual([CONSOLIDATED_BILLING]);
      expect(await stack.runner.dlqMessages()).toEqual([]);
    },
    SLOW_MS,
  );

  it(
    'names each gap the simulator is switched to serve, itemised in the reconciliation file, and a run without them reconciles to none',
    async () => {
      await admin('POST', '/settings', { campaignSumOff: 1, pdfMissing: 1 });
      let record: RunRecord;
      let flawed: Cm360GroundTruth;
      try {
        flawed = await admin<Cm360GroundTruth>('GET', `/cm360/ground-truth?connection=${GAPS}`);
        record = await run(GAPS);
      } finally {
        await admin('POST', '/settings', { campaignSumOff: 0, pdfMissing: 0 });
      }
      const invoices = flawed.advertisers.flatMap((a) =>
        Object.values(a.invoices ?? {})
          .flat()
          .map((e) => ({ ...e, advertiserId: a.advertiserId })),
      );
      const sumOff = invoices.find((e) => e.flaw === 'campaign-sum-off')!;
      const noPdf = invoices.find((e) => e.flaw === 'pdf-missing')!;
      expect(record.failures).toEqual([]);
      expect(record.status).toBe('PARTIAL');
      const summary = record.reconciliations?.[GAPS];
      expect(summary).toMatchObject({
        gaps: 2,
        documentsMissing: 1,
        gapsByCode: { 'campaign-sum-differs': 1, 'document-missing': 1 },
      });
      const lines = (await getText(summary!.key))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { record: string } & Record<string, unknown>);
      expect(lines.filter((l) => l.record === 'gap')).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            code: 'campaign-sum-differs',
            scope: sumOff.advertiserId,
            invoiceId: sumOff.id,
            field: 'totalAmountMicros',
            expected: sumOff.totalAmountMicros,
            found: (BigInt(sumOff.totalAmountMicros) + 1n).toString(),
          }),
          expect.objectContaining({
            code: 'document-missing',
            scope: noPdf.advertiserId,
            invoiceId: noPdf.id,
            field: 'INVOICE_PDF',
            expected: `documents/cm360/${GAPS}/${noPdf.advertiserId}/${noPdf.id}/invoice.pdf`,
            found: null,
          }),
        ]),
      );
      expect(lines.at(-1)).toMatchObject({ record: 'summary', gaps: 2 });
      // The invoice with a gap is worked again and the pending PDF tried again: both land right now.
      const again = await run(GAPS);
      expect(again.status).toBe('SUCCEEDED');
      expect(again.reconciliations?.[GAPS]).toMatchObject({ gaps: 0, documentsMissing: 0, gapsByCode: {} });
      await expectLanded(GAPS);
    },
    SLOW_MS,
  );

  it('keeps access tokens and link signatures out of the run records', async () => {
    for (const key of await listKeys('runs/')) expect(await getText(key)).not.toMatch(/ya29\.|sig=/);
  });
});
