import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../infra/local/stack.ts';
import { amazonAdsSimulator } from '../../infra/sandbox/amazon-ads/index.ts';
import type { Sandbox } from '../../infra/sandbox/index.ts';
import type { DynamoStateStore, RunRecord } from '../../shared/aws/state-store.ts';
import { parseConfig } from '../../shared/config/load.ts';
import type { NormalizedInvoice } from '../../shared/invoice/model.ts';
import { normalizedInvoiceSchema } from '../../shared/invoice/model.ts';
import { addDecimals, minorUnits, withMinorUnits } from '../../shared/invoice/money.ts';
import { listKeys as bucketKeys, getText as bucketText } from '../helpers/bucket.ts';
import {
  keysAfterRerun,
  type ProviderStack,
  simulatorAdmin,
  startProviderStack,
} from '../helpers/provider-stack.ts';

const exactAmounts = (text: string) => text.replace(/("amount"\s*:\s*)(-?\d+(?:\.\d+)?)/g, '$1"$2"');

/**
 * Amazon Ads end to end on the local stack: the real handlers in worker threads, S3/SQS/DynamoDB
 * stand-ins, the Amazon Ads simulator and the sandbox LWA server. Data is small (size 0.1: 31 invoices
 * over three billing profiles) and pages are short (4 summaries) so paging is exercised in seconds.
 */

const CONNECTION = 'ads-main';
const ACCOUNT = 'amzn1.ads-account.g.sandbox0001';
const TODAY = new Date().toISOString().slice(0, 10);
const ALL_TIME = { from: '2000-01-01', to: TODAY };
const LOOKBACK_DAYS = 60;

interface SimDocument {
  type: string;
  sha256: string;
  bytes: number;
}
interface SimInvoiceView {
  id: string;
  status: string;
  invoiceDate: string;
  amountDue: { amount: number | string; currencyCode: string };
  government: boolean;
  documents: SimDocument[];
}
interface SimData {
  profiles: Array<{ profileId: string; billing: boolean; countryCode: string; invoices: SimInvoiceView[] }>;
}
interface SimStatement {
  id: string;
  startDate: string;
  endDate: string;
  rows: number;
  bytes: number;
  sha256: string;
  fails: boolean;
}

const iso = (compact: string) => `${compact.slice(0, 4)}-${compact.slice(4, 6)}-${compact.slice(6, 8)}`;

/** A connection of its own against the Amazon Ads simulator, with every Amazon Ads function on the local stack. */
function adsStack(id: string, seed: number, options: Record<string, unknown>): Promise<ProviderStack> {
  const config = parseConfig({
    connections: [
      {
        id,
        provider: 'amazon-ads',
        region: 'NA',
        secretName: `test/amazon-ads/${id}`,
        scopes: 'discover',
        schedule: 'rate(1 day)',
        lookbackDays: LOOKBACK_DAYS,
        globalAccountId: ACCOUNT,
        locale: 'en_US',
      },
    ],
  });
  return startProviderStack({
    config,
    sandbox: {
      seed,
      timeScale: 60,
      size: 0.1,
      simulators: [amazonAdsSimulator],
      options: { 'amazon-ads': options },
    },
    functions: ['amazon-ads-invoices', 'amazon-ads-billing-statements', 'export-poller'],
    // At the real 5 a second, the 8 fresh links asked for each document that stays expired took most of a
    // minute while the simulator, 60 times faster, waited (README "Function settings", RATE_PLAN_SCALE).
    ratePlansAtTimeScale: true,
  });
}

/** A run for the connection, sent to the queue (the invoices function's by default), once every queue is idle. */
async function runOn(
  provider: ProviderStack,
  connection: string,
  message: Record<string, unknown>,
  queue = 'amazon-ads-invoices',
): Promise<RunRecord> {
  const runId = `test-${randomUUID()}`;
  await provider.stack.send(queue, {
    v: 1,
    type: 'run',
    runId,
    provider: 'amazon-ads',
    connection,
    ...message,
  });
  await provider.stack.waitForIdle({ timeoutMs: 180_000 });
  const record = await provider.state.getRun(runId);
  if (!record) throw new Error(`no run record for ${runId}`);
  return record;
}

describe('amazon-ads on the local stack', () => {
  let sandbox: Sandbox;
  let stack: LocalStack;
  let s3: S3Client;
  let state: DynamoStateStore;
  let provider: ProviderStack;
  let sim: string;

  // Amounts are exact digits in the simulator's JSON; read them as text.
  const admin = simulatorAdmin(() => sim, exactAmounts);
  const simData = () => admin<SimData>('GET', `/data?connection=${CONNECTION}`);
  const simStatements = async () =>
    (await admin<{ statements: SimStatement[] }>('GET', '/statements')).statements;
  const simCalls = (operation: string) =>
    (sandbox.stats()['amazon-ads'] as { operations: Record<string, { requests: number }> }).operations[
      operation
    ]?.requests ?? 0;

  const listKeys = (prefix: string) => bucketKeys(s3, stack.bucket, prefix);
  const getText = (key: string) => bucketText(s3, stack.bucket, key);
  const normalized = async (): Promise<NormalizedInvoice[]> => {
    const lines: NormalizedInvoice[] = [];
    for (const key of await listKeys('invoices/provider=amazon-ads/')) {
      for (const line of (await getText(key)).split('\n')) {
        if (line.trim()) lines.push(normalizedInvoiceSchema.parse(JSON.parse(line)));
      }
    }
    return lines;
  };

  const run = (message: Record<string, unknown>, queue?: string) =>
    runOn(provider, CONNECTION, message, queue);

  beforeAll(async () => {
    provider = await adsStack(CONNECTION, 11, { pageSize: 4, statementSeconds: 120 });
    ({ sandbox, stack, s3, state } = provider);
    sim = sandbox.endpoints['amazon-ads']!;
  });

  afterAll(async () => {
    await provider?.close();
  });

  it('lands every invoice of every billing profile once, raw and normalized, with its documents; and the billing statement', async () => {
    const record = await run({ window: ALL_TIME });
    const data = await simData();
    const billing = data.profiles.filter((p) => p.billing);
    const expected = billing.flatMap((p) => p.invoices.map((i) => ({ ...i, profileId: p.profileId })));
    expect(billing.length).toBe(3);
    expect(expected.length).toBeGreaterThan(20);

    const lines = await normalized();
    const ids = lines.map((l) => l.invoiceId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(expected.map((i) => i.id).sort());
    // The campaign-only profile is not a billing profile: nothing is fetched for it.
    const campaignOnly = data.profiles.find((p) => !p.billing)!;
    expect(await listKeys(`raw/amazon-ads/${CONNECTION}/${campaignOnly.profileId}/`)).toEqual([]);

    for (const inv of expected) {
      const line = lines.find((l) => l.invoiceId === inv.id)!;
      expect(line.account).toBe(inv.profileId);
      expect(line.status).toBe(inv.status);
      expect(line.issuedOn).toBe(iso(inv.invoiceDate));
      // The digits the API wrote, with at least the currency's minor units.
      expect(line.total).toBe(withMinorUnits(String(inv.amountDue.amount), inv.amountDue.currencyCode));
      expect(line.currency).toBe(inv.amountDue.currencyCode);
      expect(line.rawKey).toBe(
        `raw/amazon-ads/${CONNECTION}/${inv.profileId}/${inv.invoiceDate.slice(0, 4)}/${inv.invoiceDate.slice(4, 6)}/${inv.id}.json`,
      );
      const raw = JSON.parse(await getText(line.rawKey)) as {
        payload?: { invoiceSummary?: { id?: string } };
      };
      expect(raw.payload?.invoiceSummary?.id).toBe(inv.id);
      expect(
        line.documents
          .map(({ type, sha256, bytes }) => ({ type, sha256, bytes }))
          .sort((a, b) => a.type.localeCompare(b.type)),
      ).toEqual([...inv.documents].sort((a, b) => a.type.localeCompare(b.type)));
      for (const doc of line.documents) {
        const head = await s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: doc.key }));
        expect(head.ContentLength).toBe(doc.bytes);
        expect(head.Metadata?.sha256).toBe(doc.sha256);
      }
    }
    // Statuses the list filter does not name are kept; an amount no double can hold arrives exact.
    expect(lines.some((l) => l.status === 'ACCUMULATING' || l.status === 'PROCESSING')).toBe(true);
    expect(lines.map((l) => l.total)).toContain('12345678901234567.89');
    expect(lines.some((l) => l.kind === 'CREDIT_NOTE')).toBe(true);
    expect(lines.some((l) => l.documents.some((d) => d.type === 'GOVERNMENT_INVOICE_XML'))).toBe(true);

    expect(record.failures).toEqual([]);
    expect(record.problems).toEqual([]);
    expect(record.connections[CONNECTION]?.invoices).toBe(expected.length);
    expect(await stack.runner.dlqMessages()).toEqual([]);

    // The run forwarded the billing statements job: one statement, polled, copied byte for byte.
    const statements = await simStatements();
    expect(statements).toHaveLength(1);
    const st = statements[0]!;
    expect({ from: st.startDate, to: st.endDate }).toEqual(ALL_TIME);
    const key = `reports/amazon-ads/${CONNECTION}/billing-statements/${ALL_TIME.from}_${ALL_TIME.to}/${st.id}.csv`;
    const head = await s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: key }));
    expect(head.ContentLength).toBe(st.bytes);
    expect(head.Metadata?.sha256).toBe(st.sha256);
    expect(st.rows).toBeGreaterThan(expected.length);
    expect(record.connections[CONNECTION]?.rows).toBe(st.rows);
    expect(record.connections[CONNECTION]?.reports).toBe(1);

    // The default simulator reconciles: the statement and the invoices agree, every promised PDF landed.
    expect(record.reconciliations?.[CONNECTION]).toMatchObject({
      invoices: expected.length,
      gaps: 0,
      gapsByCode: {},
    });
    expect(record.status).toBe('SUCCEEDED');
  });

  it('a rerun of the same window overwrites: same objects, same lines, no second statement', async () => {
    const before = await listKeys('');
    const linesBefore = (await normalized()).map((l) => l.invoiceId).sort();
    const record = await run({ window: ALL_TIME });
    expect(record.failures).toEqual([]);
    expect(await listKeys('')).toEqual(keysAfterRerun(before, record));
    expect((await normalized()).map((l) => l.invoiceId).sort()).toEqual(linesBefore);
    expect(await simStatements()).toHaveLength(1);
  });

  it('a watermark run re-reads only the lookback, and picks up a status change inside it', async () => {
    const data = await simData();
    const since = new Date(Date.now() - LOOKBACK_DAYS * 86_400_000)
      .toISOString()
      .slice(0, 10)
      .replace(/-/g, '');
    const recent = data.profiles
      .flatMap((p) => (p.billing ? p.invoices : []))
      .filter((i) => i.invoiceDate >= since);
    const changed = recent.find((i) => i.status !== 'PAID_IN_FULL');
    expect(changed, 'the seeded data has an unpaid invoice inside the lookback').toBeDefined();
    const open = recent.filter((i) => i.status !== 'PAID_IN_FULL' && i.status !== 'WRITTEN_OFF');
    await admin('POST', `/invoices/${changed!.id}/status`, { status: 'PAID_IN_FULL' });

    const detailsBefore = simCalls('getInvoice');
    const documentCallsBefore = simCalls('GetDocument');
    const linesBefore = new Map((await normalized()).map((l) => [l.invoiceId, l]));
    const record = await run({});
    expect(record.failures).toEqual([]);
    // Every invoice of the lookback is seen once: the open ones (the one just paid among them) are worked
    // again, each with its detail call, those already final and unchanged since they landed are left alone.
    const worked = record.connections[CONNECTION]?.invoices ?? 0;
    const unchanged = record.connections[CONNECTION]?.unchanged ?? 0;
    expect(worked + unchanged).toBe(recent.length);
    expect(worked).toBeGreaterThanOrEqual(open.length);
    expect(simCalls('getInvoice') - detailsBefore).toBeGreaterThanOrEqual(worked);
    expect(unchanged).toBeGreaterThan(0);
    // Open invoices whose summary did not change keep the documents they landed with, without asking
    // GetDocument for new links to them: only the invoice just paid may list its documents again.
    expect(simCalls('GetDocument') - documentCallsBefore).toBeLessThanOrEqual(1);
    const lines = await normalized();
    for (const invoice of open.filter((i) => i.id !== changed!.id)) {
      const line = lines.find((l) => l.invoiceId === invoice.id);
      expect(line?.documents).toEqual(linesBefore.get(invoice.id)?.documents);
    }
    const line = lines.find((l) => l.invoiceId === changed!.id)!;
    expect(line.status).toBe('PAID_IN_FULL');
    expect(line.remainingDue).toBe(withMinorUnits('0', line.currency));
  });

  it('reads the unwrapped (model) answer shape the same way', async () => {
    await admin('POST', '/settings', { answerShape: 'unwrapped' });
    try {
      const before = (await normalized()).map((l) => [l.invoiceId, l.total, l.status]);
      const record = await run({ window: ALL_TIME, job: undefined });
      expect(record.failures).toEqual([]);
      expect(record.problems).toEqual([]);
      expect((await normalized()).map((l) => [l.invoiceId, l.total, l.status])).toEqual(before);
    } finally {
      await admin('POST', '/settings', { answerShape: 'wrapped' });
    }
  });

  it('429 storms (short and long Retry-After) and 5xx lose and duplicate no page', async () => {
    const before = await simData();
    const total = before.profiles.reduce((n, p) => n + (p.billing ? p.invoices.length : 0), 0);
    const biggest = before.profiles.reduce((a, b) => (b.invoices.length > a.invoices.length ? b : a));
    await admin('POST', '/faults', {
      operations: ['getAdvertiserInvoices', 'getInvoice', 'GetDocument'],
      serverErrorRate: 0.1,
      throttleBurst: { every: 15, length: 2, retryAfterSeconds: 1 },
    });
    try {
      // A full run: every invoice is worked again under the faults, not only those that changed.
      const record = await run({ window: ALL_TIME, full: true });
      expect(record.failures).toEqual([]);
      expect(record.connections[CONNECTION]?.throttles ?? 0).toBeGreaterThan(0);
      expect(record.connections[CONNECTION]?.retries ?? 0).toBeGreaterThan(0);
      // Each invoice was finished exactly once: none lost to a failed call, none redone.
      expect(record.connections[CONNECTION]?.invoices).toBe(total);

      // Retry-After longer than the client sleeps: the rest of the profile goes on in a continuation.
      await admin('POST', '/faults', {
        operations: ['getAdvertiserInvoices'],
        throttleBurst: { every: 3, length: 1, retryAfterSeconds: 6 },
      });
      const long = await run({ window: ALL_TIME, scopes: [biggest.profileId], full: true });
      expect(long.failures).toEqual([]);
      expect(long.connections[CONNECTION]?.defers ?? 0).toBeGreaterThan(0);
      expect(long.connections[CONNECTION]?.invoices).toBe(biggest.invoices.length);
      // One raw listing per page, as many as the profile has pages: none skipped, none added.
      const pages = await listKeys(
        `raw/amazon-ads/${CONNECTION}/${biggest.profileId}/_payloads/invoices_${ALL_TIME.from}_${ALL_TIME.to}_p`,
      );
      expect(pages).toHaveLength(Math.ceil(biggest.invoices.length / 4));
    } finally {
      await admin('POST', '/faults', {});
    }
    const lines = await normalized();
    const ids = lines.map((l) => l.invoiceId);
    expect(new Set(ids).size).toBe(ids.length);
    const data = await simData();
    expect(ids.sort()).toEqual(
      data.profiles.flatMap((p) => (p.billing ? p.invoices.map((i) => i.id) : [])).sort(),
    );
    expect(await stack.runner.dlqMessages()).toEqual([]);
  });

  it('refuses a link to a host off the allowlist, and one that stays expired, with a clear problem', async () => {
    const data = await simData();
    const gov = data.profiles.find((p) => p.billing && p.invoices.some((i) => i.government))!;
    await admin('POST', '/settings', { foreignLinks: true });
    let record: RunRecord;
    try {
      record = await run({ window: ALL_TIME, scopes: [gov.profileId], full: true });
    } finally {
      await admin('POST', '/settings', { foreignLinks: false });
    }
    const govIds = gov.invoices
      .filter((i) => i.government)
      .map((i) => i.id)
      .sort();
    // Problems are keyed by document: which invoices had a link refused (the run record may fold two
    // problems logged in the same millisecond into one).
    const invoicesOf = (code: string) =>
      [...new Set(record.problems.filter((p) => p.code === code).map((p) => p.key?.split('/')[4]))].sort();
    const refused = record.problems.filter((p) => p.code === 'DOCUMENT_LINK_REFUSED');
    expect(invoicesOf('DOCUMENT_LINK_REFUSED')).toEqual(govIds);
    expect(refused[0]?.message).toMatch(
      /download refused for host "downloads\.sandbox-elsewhere\.example": host not on the allowlist/,
    );
    expect(JSON.stringify(record.problems)).not.toMatch(/X-Amz-Signature|X-Amz-Credential/);
    expect(record.failures).toEqual([]);

    await admin('POST', '/faults', { expiredUrlRate: 1 });
    try {
      record = await run({ window: ALL_TIME, scopes: [gov.profileId], full: true });
    } finally {
      await admin('POST', '/faults', {});
    }
    const expired = record.problems.filter((p) => p.code === 'DOCUMENT_LINK_EXPIRED');
    expect(invoicesOf('DOCUMENT_LINK_EXPIRED')).toEqual(
      gov.invoices
        .filter((i) => i.documents.length)
        .map((i) => i.id)
        .sort(),
    );
    expect(expired[0]?.message).toMatch(/still expired after 8 fresh/);
    expect(JSON.stringify(record.problems)).not.toMatch(/X-Amz-Signature/);
    // The invoices still land, without the documents that could not be fetched.
    const lines = (await normalized()).filter((l) => l.account === gov.profileId);
    expect(lines).toHaveLength(gov.invoices.length);
    // Each is pending in the state table, with no link in it.
    const pending = await state.listPendingDocuments('amazon-ads', CONNECTION, gov.profileId);
    expect([...new Set(pending.map((d) => d.invoiceId))].sort()).toEqual(invoicesOf('DOCUMENT_LINK_EXPIRED'));
    // Government links were refused by the first run and expired in this one; the others only expired.
    for (const d of pending) expect(d.attempts, d.key).toBe(d.type.startsWith('GOVERNMENT') ? 2 : 1);
    expect(JSON.stringify(pending)).not.toMatch(/https?:|X-Amz/);

    // Links work again, and a window that holds none of the profile's invoices: the next run fetches each
    // again by its id and lands its documents, and the run SUCCEEDS with nothing left pending.
    const later = await run({ window: { from: '2000-01-01', to: '2000-01-02' }, scopes: [gov.profileId] });
    expect(later.problems).toEqual([]);
    expect(later.failures).toEqual([]);
    expect(later.status).toBe('SUCCEEDED');
    expect(await state.listPendingDocuments('amazon-ads', CONNECTION, gov.profileId)).toEqual([]);
    const healed = (await normalized()).filter((l) => l.account === gov.profileId);
    for (const inv of gov.invoices) {
      const line = healed.find((l) => l.invoiceId === inv.id)!;
      expect(
        line.documents
          .map(({ type, sha256, bytes }) => ({ type, sha256, bytes }))
          .sort((a, b) => a.type.localeCompare(b.type)),
        inv.id,
      ).toEqual([...inv.documents].sort((a, b) => a.type.localeCompare(b.type)));
    }
  });

  it('sends statement dates as yyyyMMdd, falls back to YYYY-MM-DD when refused, and reads either id field', async () => {
    const statuses = () =>
      (sandbox.stats()['amazon-ads'] as { operations: Record<string, { statuses: Record<string, number> }> })
        .operations.CreateBillingStatement?.statuses ?? {};
    const before = statuses();
    const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
    const window = { from: daysAgo(300), to: daysAgo(100) };
    await admin('POST', '/settings', {
      statementDateFormat: 'yyyy-MM-dd',
      statementIdField: 'billingStatementId',
    });
    let record: RunRecord;
    try {
      record = await run({ window, job: 'billing-statements' }, 'amazon-ads-billing-statements');
    } finally {
      await admin('POST', '/settings', {
        statementDateFormat: 'yyyyMMdd',
        statementIdField: 'billingStatementRequestId',
      });
    }
    const after = statuses();
    expect((after['400'] ?? 0) - (before['400'] ?? 0)).toBe(1);
    expect((after['202'] ?? 0) - (before['202'] ?? 0)).toBe(1);
    expect(record.failures).toEqual([]);
    const st = (await simStatements()).find((x) => x.startDate === window.from && x.endDate === window.to)!;
    const key = `reports/amazon-ads/${CONNECTION}/billing-statements/${window.from}_${window.to}/${st.id}.csv`;
    const head = await s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: key }));
    expect(head.Metadata?.sha256).toBe(st.sha256);
    expect(st.rows).toBeGreaterThan(0);
    expect(record.connections[CONNECTION]?.rows).toBe(st.rows);
  });

  it('records a FAILED billing statement with its code, and counts it for the ExportsFailed alarm', async () => {
    await admin('POST', '/faults', { exportFailureRate: 1 });
    let record: RunRecord;
    try {
      record = await run(
        { window: { from: '2024-01-01', to: '2024-03-31' }, job: 'billing-statements' },
        'amazon-ads-billing-statements',
      );
    } finally {
      await admin('POST', '/faults', {});
    }
    const failed = (await simStatements()).filter((s) => s.fails);
    expect(failed).toHaveLength(1);
    expect(record.failures).toHaveLength(1);
    expect(record.failures[0]?.reason).toMatch(/INTERNAL_SERVER_ERROR/);
    expect(record.connections[CONNECTION]?.exportsFailed).toBe(1);
    expect(
      await listKeys(`reports/amazon-ads/${CONNECTION}/billing-statements/2024-01-01_2024-03-31/`),
    ).toEqual([]);
  });
  it('refuses a statement link off the allowlist: the poll goes to the DLQ naming the host, not the signature', async () => {
    const window = { from: '2022-01-01', to: '2022-01-31' };
    await admin('POST', '/settings', { foreignLinks: true });
    try {
      await run({ window, job: 'billing-statements' }, 'amazon-ads-billing-statements');
    } finally {
      await admin('POST', '/settings', { foreignLinks: false });
    }
    const dead = await stack.runner.dlqMessages('export-poll');
    expect(dead).toHaveLength(1);
    expect(dead[0]?.reason).toMatch(
      /DownloadRefusedError: downloadBillingStatement: download refused for host "downloads\.sandbox-elsewhere\.example"/,
    );
    expect(dead[0]?.reason).not.toMatch(/X-Amz-Signature|X-Amz-Credential/);
    expect(
      await listKeys(`reports/amazon-ads/${CONNECTION}/billing-statements/${window.from}_${window.to}/`),
    ).toEqual([]);
  });
});

/**
 * Control totals on the local stack: each simulator gap switch makes the gap it should, named and itemised
 * in the run's reconciliation file, and the run PARTIAL; with them off the next run reconciles to zero.
 * A connection of its own, so that an invoice kept from the API has never landed before.
 */
describe('amazon-ads control totals on the local stack', () => {
  const GAPS = 'ads-gaps';
  let provider: ProviderStack;
  let sim: string;

  // Amounts are exact digits in the simulator's JSON; read them as text.
  const admin = simulatorAdmin(() => sim, exactAmounts);
  const run = (window: { from: string; to: string }) => runOn(provider, GAPS, { window });
  /** The gaps the run's reconciliation file itemises, one per line. */
  const gapLines = async (record: RunRecord) => {
    const key = record.reconciliations?.[GAPS]?.key;
    if (!key) throw new Error('the run has no reconciliation');
    return (await bucketText(provider.s3, provider.stack.bucket, key))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { record: string; code?: string; invoiceId?: string })
      .filter((l) => l.record === 'gap')
      .map(({ code, invoiceId, field, expected, found }: Record<string, unknown>) => ({
        code,
        invoiceId,
        field,
        expected,
        found,
      }));
  };
  /** One minor unit of the currency, as a decimal. */
  const unit = (currency: string) => {
    const n = minorUnits(currency);
    return n === 0 ? '1' : `0.${'0'.repeat(n - 1)}1`;
  };

  beforeAll(async () => {
    provider = await adsStack(GAPS, 12, { pageSize: 20, statementSeconds: 60 });
    sim = provider.sandbox.endpoints['amazon-ads']!;
  });
  afterAll(async () => {
    await provider?.close();
  });

  it('names each gap a switch makes: which invoice, which field, what the report says and what landed; the run is PARTIAL', async () => {
    const data = await admin<SimData>('GET', `/data?connection=${GAPS}`);
    const issued = data.profiles
      .filter((p) => p.billing)
      .flatMap((p) => p.invoices)
      // Issued: a PDF is promised, and the statement must list it.
      .filter((i) => i.documents.some((d) => !d.type.startsWith('GOVERNMENT')));
    expect(issued.length).toBeGreaterThanOrEqual(7);
    const [notInApi, notInReport, amountOff, taxOff, currencyOff, missingPdf, unofferedPdf] = issued.map(
      (i) => i as SimInvoiceView & { taxAmountDue: { amount: string } },
    );
    await admin('POST', '/settings', {
      gaps: {
        notInApi: [notInApi!.id],
        notInReport: [notInReport!.id],
        amountOff: [amountOff!.id],
        taxOff: [taxOff!.id],
        currencyOff: [currencyOff!.id],
        missingPdf: [missingPdf!.id],
        unofferedPdf: [unofferedPdf!.id],
      },
    });
    let record: RunRecord;
    try {
      record = await run(ALL_TIME);
    } finally {
      await admin('POST', '/settings', { gaps: {} });
    }
    expect(record.failures).toEqual([]);
    expect(record.status).toBe('PARTIAL');
    const summary = record.reconciliations?.[GAPS];
    expect(summary?.gapsByCode).toEqual({
      'not-in-api': 1,
      'not-in-report': 1,
      'amount-differs': 3,
      'document-missing': 1,
      'document-not-offered': 1,
    });
    expect(summary?.gaps).toBe(7);

    const money = (i: SimInvoiceView, amount: string) => withMinorUnits(amount, i.amountDue.currencyCode);
    const other = (c: string) => (c === 'USD' ? 'EUR' : 'USD');
    const billingDoc = (i: SimInvoiceView) => i.documents.find((d) => !d.type.startsWith('GOVERNMENT'))!;
    const missingDoc = billingDoc(missingPdf!);
    const promised = billingDoc(unofferedPdf!).type === 'CREDIT_MEMO' ? 'CREDIT_NOTE' : 'INVOICE';
    const gaps = await gapLines(record);
    expect(gaps).toEqual(
      expect.arrayContaining([
        {
          code: 'not-in-api',
          invoiceId: notInApi!.id,
          field: 'invoiceId',
          expected: notInApi!.id,
          found: null,
        },
        {
          code: 'not-in-report',
          invoiceId: notInReport!.id,
          field: 'invoiceId',
          expected: null,
          found: notInReport!.id,
        },
        {
          code: 'amount-differs',
          invoiceId: amountOff!.id,
          field: 'total',
          expected: expect.anything(),
          found: money(amountOff!, String(amountOff!.amountDue.amount)),
        },
        {
          code: 'amount-differs',
          invoiceId: taxOff!.id,
          field: 'tax',
          expected: expect.anything(),
          found: money(taxOff!, taxOff!.taxAmountDue.amount),
        },
        {
          code: 'amount-differs',
          invoiceId: currencyOff!.id,
          field: 'currency',
          expected: other(currencyOff!.amountDue.currencyCode),
          found: currencyOff!.amountDue.currencyCode,
        },
        {
          code: 'document-missing',
          invoiceId: missingPdf!.id,
          field: missingDoc.type,
          expected: expect.stringMatching(new RegExp(`^documents/amazon-ads/${GAPS}/.+/${missingPdf!.id}/`)),
          found: null,
        },
        {
          code: 'document-not-offered',
          invoiceId: unofferedPdf!.id,
          field: promised,
          expected: promised,
          found: null,
        },
      ]),
    );
    // The report's figures are one minor unit off what landed: exact decimals, no float in between.
    const total = gaps.find((g) => g.field === 'total')!;
    expect(total.expected).toBe(
      withMinorUnits(
        addDecimals(String(total.found), unit(amountOff!.amountDue.currencyCode)),
        amountOff!.amountDue.currencyCode,
      ),
    );
    const tax = gaps.find((g) => g.field === 'tax')!;
    expect(tax.expected).toBe(
      withMinorUnits(
        addDecimals(String(tax.found), unit(taxOff!.amountDue.currencyCode)),
        taxOff!.amountDue.currencyCode,
      ),
    );
    // Named in the run's problems too, readable, without links.
    expect(record.problems.filter((p) => p.code.startsWith('gap.')).map((p) => p.code)).toEqual(
      expect.arrayContaining(['gap.not-in-api', 'gap.amount-differs', 'gap.document-not-offered']),
    );
    expect(JSON.stringify(record.problems)).not.toMatch(/X-Amz-Signature|https?:/);
  });

  it('with the switches off, the next run lands what was missing and reconciles to zero gaps: SUCCEEDED', async () => {
    // Another window, so another statement: the one the first run copied keeps its wrong figures.
    const record = await run({ from: '2000-01-02', to: TODAY });
    expect(record.failures).toEqual([]);
    expect(record.reconciliations?.[GAPS]).toMatchObject({ gaps: 0, gapsByCode: {}, documentsMissing: 0 });
    expect(record.status).toBe('SUCCEEDED');
  });

  it('a rerun whose statement CSV is gone from the bucket says the report was not available: PARTIAL', async () => {
    // A statement that FAILED fails its run, which settles FAILED without control totals (the core's rule);
    // what is left to see here is a statement registered DONE whose copy is no longer there.
    const window = { from: '2000-01-02', to: TODAY };
    const [csvKey] = await bucketKeys(
      provider.s3,
      provider.stack.bucket,
      `reports/amazon-ads/${GAPS}/billing-statements/${window.from}_${window.to}/`,
    );
    expect(csvKey).toBeDefined();
    await provider.s3.send(new DeleteObjectCommand({ Bucket: provider.stack.bucket, Key: csvKey }));
    const record = await run(window);
    expect(record.failures).toEqual([]);
    expect(record.reconciliations?.[GAPS]?.gapsByCode).toEqual({ 'report-missing': 1 });
    const [gap] = await gapLines(record);
    expect(gap).toEqual({
      code: 'report-missing',
      invoiceId: undefined,
      field: 'billingStatement',
      expected: `${window.from}..${window.to}`,
      found: 'DONE',
    });
    expect(record.status).toBe('PARTIAL');
  });
});
