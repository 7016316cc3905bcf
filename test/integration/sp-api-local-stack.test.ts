import { randomUUID } from 'node:crypto';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../infra/local/stack.ts';
import { formatMinorUnits } from '../../infra/sandbox/framework/seed.ts';
import type { Sandbox } from '../../infra/sandbox/index.ts';
import { spApiSimulator } from '../../infra/sandbox/sp-api/index.ts';
import type { DynamoStateStore, RunRecord } from '../../shared/aws/state-store.ts';
import { parseConfig } from '../../shared/config/load.ts';
import { type NormalizedInvoice, normalizedInvoiceSchema } from '../../shared/invoice/model.ts';
import { addDecimals, toDecimal } from '../../shared/invoice/money.ts';
import { brazilDay } from '../../shared/providers/sp-api/normalize.ts';
import { listKeys as bucketKeys, getText as bucketText } from '../helpers/bucket.ts';
import { countAwsCalls } from '../helpers/count-aws-calls.ts';
import {
  keysAfterRerun,
  type ProviderStack,
  simulatorAdmin,
  startProviderStack,
} from '../helpers/provider-stack.ts';

/**
 * SP-API (Brazil) end to end on the local stack: the real sp-api-invoices and export-poller handlers in
 * worker threads, the S3/SQS/DynamoDB stand-ins, the SP-API simulator and the
 * sandbox LWA server, at time scale 60. Listings are long on purpose (2 invoices a page, every third page
 * empty: more pages than getInvoices' burst, so the listing goes on in continuations), and the exports'
 * ZIPs hold 25 XMLs each (several documents at one a minute: deferred polls).
 */

const MP = 'A2Q3Y263D00KWC';
const MAIN = 'sp-main';
const FAST = 'sp-fast';
const BAD = 'sp-bad-filter';
const GAPS = 'sp-gaps';
const TODAY = new Date().toISOString().slice(0, 10);
const ALL_TIME = { from: '2000-01-01', to: TODAY };

interface SimInvoice {
  id: string;
  date: string;
  status: string;
  series: string;
  number: number;
  accessKey: string;
  vProdCents: number;
  vNFCents: number;
}
interface SimExport {
  exportId: string;
  connection: string;
  status: string;
  documentIds: string[];
}

describe('sp-api on the local stack', () => {
  let sandbox: Sandbox;
  let stack: LocalStack;
  let s3: S3Client;
  let state: DynamoStateStore;
  let provider: ProviderStack;
  let sim: string;

  const admin = simulatorAdmin(() => sim);
  const simInvoices = async (connection: string) =>
    (
      await admin<{ invoices: SimInvoice[] }>(
        'GET',
        `/sp-api/invoices?connection=${connection}&marketplaceId=${MP}`,
      )
    ).invoices;
  const simExports = async (connection: string) =>
    (await admin<{ exports: SimExport[] }>('GET', '/sp-api/exports')).exports.filter(
      (e) => e.connection === connection,
    );
  const simStats = () =>
    sandbox.stats()['sp-api'] as {
      throttled: number;
      operations: Record<string, { requests: number; throttled: number }>;
      faults: { total: Record<string, number> };
    };

  const listKeys = (prefix: string) => bucketKeys(s3, stack.bucket, prefix);
  const getText = (key: string) => bucketText(s3, stack.bucket, key);
  const normalized = async (connection: string): Promise<NormalizedInvoice[]> => {
    const lines: NormalizedInvoice[] = [];
    for (const key of await listKeys('invoices/provider=sp-api/')) {
      if (!key.endsWith(`/${connection}-${MP}.jsonl`)) continue;
      for (const line of (await getText(key)).split('\n')) {
        if (line.trim()) lines.push(normalizedInvoiceSchema.parse(JSON.parse(line)));
      }
    }
    return lines;
  };

  const run = async (connection: string, message: Record<string, unknown>): Promise<RunRecord> => {
    const runId = `test-${randomUUID()}`;
    await stack.send('sp-api-invoices', {
      v: 1,
      type: 'run',
      runId,
      provider: 'sp-api',
      connection,
      ...message,
    });
    await stack.waitForIdle({ timeoutMs: 180_000 });
    const record = await state.getRun(runId);
    if (!record) throw new Error(`no run record for ${runId}`);
    return record;
  };

  beforeAll(async () => {
    const connection = (id: string, extra: Record<string, unknown>) => ({
      id,
      provider: 'sp-api',
      region: 'NA',
      secretName: `test/sp-api/${id}`,
      scopes: [MP],
      schedule: 'rate(1 day)',
      lookbackDays: 30,
      ...extra,
    });
    const config = parseConfig({
      connections: [
        connection(MAIN, { pageSize: 2 }),
        connection(FAST, { pageSize: 100 }),
        connection(BAD, { filters: { statuses: ['AUTHORIZED', 'PAID'] } }),
        connection(GAPS, { pageSize: 100 }),
      ],
    });
    provider = await startProviderStack({
      config,
      sandbox: {
        seed: 23,
        timeScale: 60,
        simulators: [spApiSimulator],
        options: {
          'sp-api': {
            invoices: 60,
            emptyPageEvery: 3,
            invoicesPerDocument: 25,
            exportSeconds: 120,
            extraEntries: 600,
          },
        },
      },
      functions: ['sp-api-invoices', 'export-poller'],
      env: {
        // At time scale 60 every provider wait shrinks 60 times: keep the longer ones in the queue.
        HTTP_DEFER_THRESHOLD_MS: '100',
        SP_API_ZIP_MAX_ENTRIES: '500',
      },
    });
    ({ sandbox, stack, s3, state } = provider);
    sim = sandbox.endpoints['sp-api']!;
  });

  afterAll(async () => {
    await provider?.close();
  });

  it('fetches one invoice by id (getInvoice), raw and normalized, without starting an export', async () => {
    const inv = (await simInvoices(MAIN))[7]!;
    const record = await run(MAIN, { invoiceId: inv.id });
    expect(record.failures).toEqual([]);
    const lines = await normalized(MAIN);
    expect(lines.map((l) => l.invoiceId)).toEqual([inv.id]);
    const raw = JSON.parse(await getText(lines[0]!.rawKey)) as { id: string; externalInvoiceId: string };
    expect(raw).toMatchObject({ id: inv.id, externalInvoiceId: String(inv.number) });
    expect(await simExports(MAIN)).toEqual([]);
  });

  it('lands every invoice of the window once, raw and normalized, linked to its NF-e XML with its totals in BRL', async () => {
    const record = await run(MAIN, { window: ALL_TIME });
    const expected = await simInvoices(MAIN);
    expect(expected.length).toBe(60);
    expect(record.failures).toEqual([]);
    expect(record.problems).toEqual([]);
    // 30 pages of 2 plus empty ones. Whether the burst of 20 runs out (and the listing continues in the
    // queue) depends on how fast this machine is at the time scale, so that is asserted in the unit tests
    // (test/unit/providers/sp-api/fetch.test.ts), where the throttle is scripted.
    expect(simStats().operations.getInvoices!.requests).toBeGreaterThan(40);

    const lines = await normalized(MAIN);
    const ids = lines.map((l) => l.invoiceId);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(expected.map((i) => i.id).sort());
    for (const inv of expected) {
      const line = lines.find((l) => l.invoiceId === inv.id)!;
      // The day in Brazil (the simulator writes UTC date-times).
      expect(line.issuedOn).toBe(brazilDay(inv.date));
      expect(line.status).toBe(inv.status);
      expect(line.invoiceNumber).toBe(String(inv.number));
      expect(line.currency).toBe('BRL');
      expect(line.subtotal).toBe(toDecimal(formatMinorUnits(inv.vProdCents)));
      expect(line.total).toBe(toDecimal(formatMinorUnits(inv.vNFCents)));
      // Filed under the month of that day: a UTC date-time early on the 1st is the month before in Brazil.
      const day = brazilDay(inv.date);
      expect(line.rawKey).toBe(
        `raw/sp-api/${MAIN}/${MP}/${day.slice(0, 4)}/${day.slice(5, 7)}/${inv.id}.json`,
      );
      expect(JSON.parse(await getText(line.rawKey))).toMatchObject({ id: inv.id, series: inv.series });
      expect(line.documents).toHaveLength(1);
      const doc = line.documents[0]!;
      expect(doc.key).toBe(`documents/sp-api/${MAIN}/${MP}/${inv.accessKey}/${inv.accessKey}-nfe.xml`);
      const xml = await getText(doc.key);
      expect(xml).toContain(`<chNFe>${inv.accessKey}</chNFe>`);
      const head = await s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: doc.key }));
      expect(head.ContentLength).toBe(doc.bytes);
      expect(head.Metadata?.sha256).toBe(doc.sha256);
    }
    expect(lines.some((l) => l.kind === 'CREDIT_NOTE')).toBe(true);
    expect(lines.some((l) => l.kind === 'INVOICE')).toBe(true);

    // Control totals: every listed NF-e has its XML, every XML its invoice; rejected and cancelled apart.
    expect(record.status).toBe('SUCCEEDED');
    const recon = record.reconciliations?.[MAIN];
    expect(recon).toMatchObject({ invoices: 60, gaps: 0, gapsByCode: {}, documentsMissing: 0 });
    // Money as the month files have it (the NF-e's vNF): the listing itself carries none.
    const byStatus = new Map<string, { invoices: number; cents: number }>();
    for (const i of expected) {
      const row = byStatus.get(i.status) ?? { invoices: 0, cents: 0 };
      byStatus.set(i.status, { invoices: row.invoices + 1, cents: row.cents + i.vNFCents });
    }
    expect([...byStatus.keys()].sort()).toEqual(['AUTHORIZED', 'CANCELED', 'REJECTED']);
    expect(recon!.totals.map((r) => [r.currency, r.status, r.invoices, r.total])).toEqual(
      [...byStatus]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([status, row]) => ['BRL', status, row.invoices, addDecimals(formatMinorUnits(row.cents))]),
    );
    expect(
      (await getText(recon!.key))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).record),
    ).toEqual(['summary']);

    // One export, its three ZIPs copied to exports/ (one document a minute: the polls were deferred).
    const exports = await simExports(MAIN);
    expect(exports).toHaveLength(1);
    const zips = await listKeys(`exports/sp-api/${MAIN}/${MP}/${exports[0]!.exportId}/`);
    expect(zips).toEqual(
      exports[0]!.documentIds
        .map((d) => `exports/sp-api/${MAIN}/${MP}/${exports[0]!.exportId}/${d}.zip`)
        .sort(),
    );
    expect(zips).toHaveLength(3);
    // The attributes answer is kept raw.
    expect(
      JSON.parse(await getText(`raw/sp-api/${MAIN}/${MP}/_payloads/invoices-attributes.json`)),
    ).toHaveProperty('invoicesAttributes.invoiceStatusOptions');
    expect(await stack.runner.dlqMessages()).toEqual([]);
    // Paced by the usage plans (corrected by x-amzn-RateLimit-Limit): no 429 at all without injected faults.
    expect(simStats().throttled).toBe(0);
  });

  it('a rerun of the same window reuses the export and rewrites the same objects', async () => {
    const before = await listKeys('');
    const linesBefore = await normalized(MAIN);
    const record = await run(MAIN, { window: ALL_TIME });
    expect(record.failures).toEqual([]);
    expect(await simExports(MAIN)).toHaveLength(1);
    expect(simStats().operations.createInvoicesExport!.requests).toBe(1);
    expect(await listKeys('')).toEqual(keysAfterRerun(before, record));
    const after = await normalized(MAIN);
    expect(after.map(({ fetchedAt: _f, ...l }) => l)).toEqual(
      linesBefore.map(({ fetchedAt: _f, ...l }) => l),
    );
  });

  it('asks for a fresh URL when a document URL has expired, and still copies every document', async () => {
    await admin('POST', '/faults', { expiredUrlRate: 0.5 });
    let record: RunRecord;
    try {
      record = await run(FAST, { window: ALL_TIME });
    } finally {
      await admin('POST', '/faults', {});
    }
    expect(simStats().faults.total.expiredUrl).toBeGreaterThan(0);
    expect(record.failures).toEqual([]);
    const exports = await simExports(FAST);
    expect(exports).toHaveLength(1);
    const zips = await listKeys(`exports/sp-api/${FAST}/${MP}/${exports[0]!.exportId}/`);
    expect(zips).toHaveLength(exports[0]!.documentIds.length);
    const lines = await normalized(FAST);
    expect(lines).toHaveLength(60);
    expect(lines.every((l) => l.documents.length === 1 && l.total !== null)).toBe(true);
  });

  it("a later window's export finds its XMLs in the index: none asked for again, written or counted", async () => {
    const exportsBefore = await simExports(FAST);
    const xmls = (await listKeys(`documents/sp-api/${FAST}/${MP}/`)).filter((k) => k.endsWith('.xml'));
    expect(xmls).toHaveLength(60);
    const counter = countAwsCalls(stack.endpoints);
    let record: RunRecord;
    try {
      record = await run(FAST, { window: { from: '2000-01-06', to: TODAY } });
    } finally {
      counter.stop();
    }
    const calls = counter.snapshot();
    expect(record.failures).toEqual([]);
    const made = (await simExports(FAST)).filter(
      (e) => !exportsBefore.some((b) => b.exportId === e.exportId),
    );
    expect(made).toHaveLength(1);
    expect(await listKeys(`exports/sp-api/${FAST}/${MP}/${made[0]!.exportId}/`)).toHaveLength(
      made[0]!.documentIds.length,
    );
    // Each XML of the new export's ZIPs was indexed by the first one with these bytes: no HEAD for it (a
    // HEAD an XML a day before), no PUT, and the run counts the ZIPs it copied, not the XMLs it already had.
    expect(calls.s3.requests.HeadObject ?? 0).toBeLessThan(10);
    expect(calls.s3.writes.document ?? 0).toBeLessThan(10);
    expect(record.connections[FAST]?.documents).toBe(made[0]!.documentIds.length);
  });

  it('records an export that ends in ERROR with its errorMessage, and still lists the invoices', async () => {
    await admin('POST', '/settings', { failExports: true });
    let record: RunRecord;
    try {
      record = await run(FAST, { window: { from: '2000-01-02', to: TODAY }, full: true });
    } finally {
      await admin('POST', '/settings', { failExports: false });
    }
    expect(record.failures).toHaveLength(1);
    expect(record.failures[0]!.reason).toMatch(/EXPORT_ERROR: The export could not be generated/);
    expect(record.connections[FAST]?.exportsFailed).toBe(1);
    expect(record.connections[FAST]?.invoices).toBe(60);
    const failed = (await simExports(FAST)).filter((e) => e.status === 'ERROR');
    expect(failed).toHaveLength(1);
    expect(await listKeys(`exports/sp-api/${FAST}/${MP}/${failed[0]!.exportId}/`)).toEqual([]);
  });

  it.each([
    ['traversal', 'UNSAFE_ENTRY_NAME', '2000-01-03'],
    ['bomb', 'COMPRESSION_RATIO', '2000-01-04'],
    ['entries', 'TOO_MANY_ENTRIES', '2000-01-05'],
  ])('refuses an unsafe ZIP (%s) and writes nothing outside its prefixes', async (kind, code, from) => {
    const linesBefore = await normalized(FAST);
    await admin('POST', '/settings', { unsafeZip: kind });
    let record: RunRecord;
    try {
      record = await run(FAST, { window: { from, to: TODAY } });
    } finally {
      await admin('POST', '/settings', { unsafeZip: 'none' });
    }
    const unsafe = record.problems.filter((p) => p.code === 'UNSAFE_ZIP');
    expect(unsafe.length).toBeGreaterThan(0);
    expect(unsafe[0]!.message).toContain(`(${code})`);
    expect(record.failures).toEqual([]);
    const keys = await listKeys('');
    const allowed = [
      `raw/sp-api/${FAST}/${MP}/`,
      `raw/sp-api/${MAIN}/${MP}/`,
      `documents/sp-api/${FAST}/${MP}/`,
      `documents/sp-api/${MAIN}/${MP}/`,
      'invoices/provider=sp-api/',
      `exports/sp-api/${FAST}/${MP}/`,
      `exports/sp-api/${MAIN}/${MP}/`,
      'runs/',
      'reconciliation/provider=sp-api/',
    ];
    expect(keys.filter((k) => !allowed.some((p) => k.startsWith(p)))).toEqual([]);
    expect(keys.filter((k) => /evil|escaped|bomb|extra/.test(k))).toEqual([]);
    // The refused archive links nothing: the normalized lines are as before.
    const after = await normalized(FAST);
    expect(after.map((l) => [l.invoiceId, l.documents, l.total])).toEqual(
      linesBefore.map((l) => [l.invoiceId, l.documents, l.total]),
    );
  });

  it('stops a run whose filter the marketplace does not know, naming the filter and its allowed values', async () => {
    const record = await run(BAD, { window: ALL_TIME });
    expect(record.failures).toHaveLength(1);
    expect(record.failures[0]!.reason).toMatch(
      /field "filters\.statuses": "PAID" is not among the invoice statuses .*AUTHORIZED, REJECTED, CANCELED/,
    );
    expect(await listKeys(`raw/sp-api/${BAD}/${MP}/2`)).toEqual([]);
    expect(await simExports(BAD)).toEqual([]);
  });

  it('names each gap the simulator makes in the control totals, invoice by invoice, and the run is PARTIAL', async () => {
    await admin('POST', '/settings', { gaps: { missingXml: 2, nfeTotalOff: 2, unlisted: 2 } });
    let record: RunRecord;
    try {
      record = await run(GAPS, { window: ALL_TIME });
    } finally {
      await admin('POST', '/settings', { gaps: { missingXml: 0, nfeTotalOff: 0, unlisted: 0 } });
    }
    expect(record.failures).toEqual([]);
    expect(record.status).toBe('PARTIAL');
    const recon = record.reconciliations?.[GAPS];
    expect(recon).toMatchObject({
      invoices: 58,
      gaps: 6,
      gapsByCode: { 'xml-missing': 2, 'nfe-total-differs': 2, 'not-listed': 2 },
    });
    // The simulator takes them from the oldest authorized invoices, two of each kind in this order.
    const [m1, m2, t1, t2, u1, u2] = (await simInvoices(GAPS)).filter((i) => i.status === 'AUTHORIZED');
    const money = (cents: number) => toDecimal(formatMinorUnits(cents));
    const gaps = (await getText(recon!.key))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.record === 'gap')
      .map(({ record: _r, runId: _i, provider: _p, connection: _c, message: _m, ...g }) => g);
    expect(gaps).toEqual(
      expect.arrayContaining([
        ...[m1!, m2!].map((i) => ({
          code: 'xml-missing',
          scope: MP,
          invoiceId: i.id,
          field: 'nfe-xml',
          expected: String(i.number),
          found: null,
        })),
        ...[t1!, t2!].map((i) => ({
          code: 'nfe-total-differs',
          scope: MP,
          invoiceId: i.id,
          field: 'vNF',
          expected: money(i.vNFCents),
          found: money(i.vNFCents + 1),
        })),
        ...[u1!, u2!].map((i) => ({
          code: 'not-listed',
          scope: MP,
          invoiceId: i.accessKey,
          field: 'invoice',
          expected: `documents/sp-api/${GAPS}/${MP}/${i.accessKey}/${i.accessKey}-nfe.xml`,
          found: null,
        })),
      ]),
    );
    expect(gaps).toHaveLength(6);
    // Each is named in the run's problems too.
    expect(
      record.problems
        .filter((p) => p.code.startsWith('gap.'))
        .map((p) => p.code)
        .sort(),
    ).toEqual([
      'gap.nfe-total-differs',
      'gap.nfe-total-differs',
      'gap.not-listed',
      'gap.not-listed',
      'gap.xml-missing',
      'gap.xml-missing',
    ]);
  });

  it('keeps access tokens and URL signatures out of the run records', async () => {
    const runs = await listKeys('runs/');
    for (const key of runs) expect(await getText(key)).not.toMatch(/Atza\||X-Amz-Signature|X-Amz-Credential/);
  });
});
