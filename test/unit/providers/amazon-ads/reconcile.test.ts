import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Gap, ReconcileInput, RunScope } from '../../../../shared/engine/reconciliation.ts';
import type { NormalizedInvoice } from '../../../../shared/invoice/model.ts';
import type { Window } from '../../../../shared/jobs/messages.ts';
import { reconcileAds } from '../../../../shared/providers/amazon-ads/reconcile.ts';
import type { AdsConnection } from '../../../../shared/providers/amazon-ads/spec.ts';
import { readStatementInvoices } from '../../../../shared/providers/amazon-ads/statement-invoices.ts';
import type { ExportRecord, ProviderHttp } from '../../../../shared/providers/types.ts';
import { MemorySink, memoryContext } from '../../../helpers/memory-context.ts';
import { normalizedInvoice } from '../../../helpers/normalized-invoice.ts';

const ACCOUNT = 'amzn1.ads-account.g.test';
const WINDOW: Window = { from: '2025-01-01', to: '2025-03-31' };
const KEY = `reports/amazon-ads/ads/billing-statements/${WINDOW.from}_${WINDOW.to}/st-1.csv`;
const US = '1111';
const DE = '2222';

const HEADER =
  'Invoice ID,Invoice date,Country,Status,Currency,Campaign,Program,Cost,Invoice total,Tax,Remaining';

/**
 * The report as it comes: a row per invoice line repeating the invoice's fields, campaign names with
 * quoted commas, doubled quotes and a line break inside a quoted field, CRLF line ends.
 */
const CLEAN_ROWS = [
  'US01,2025-01-10,US,ISSUED,USD,"Spring, ""big"" sale",SPONSORED PRODUCT,60.00,100.00,0.00,100.00',
  'US01,2025-01-10,US,ISSUED,USD,"brand\nfirst (continued)",SPONSORED BRANDS,40.00,100.00,0.00,100.00',
  'US02,2025-02-03,US,PAID_IN_FULL,USD,plain campaign,SPONSORED DISPLAY,12345678901234567.89,12345678901234567.89,0,0',
  'DE01,2025-03-01,DE,PAID_IN_PART,EUR,"Herbst, ""groß""",SPONSORED PRODUCT,10,11.90,1.9,5.00',
  'DE02,2025-03-02,DE,ISSUED,EUR,credit,SPONSORED PRODUCT,-10,-11.90,-1.90,-11.90',
];
const csv = (rows: readonly string[], header = HEADER) => `\uFEFF${[header, ...rows].join('\r\n')}\r\n`;

const inv = (
  account: string,
  invoiceId: string,
  issuedOn: string,
  total: string,
  tax: string,
  currency: string,
  status = 'ISSUED',
) =>
  normalizedInvoice({
    provider: 'amazon-ads',
    connection: 'ads',
    account,
    invoiceId,
    issuedOn,
    rawKey: `raw/${invoiceId}.json`,
    fetchedAt: '2025-04-01T00:00:00Z',
    total,
    tax,
    currency,
    status,
  });

const LANDED: NormalizedInvoice[] = [
  inv(US, 'US01', '2025-01-10', '100.00', '0.00', 'USD'),
  inv(US, 'US02', '2025-02-03', '12345678901234567.89', '0.00', 'USD', 'PAID_IN_FULL'),
  inv(DE, 'DE01', '2025-03-01', '11.90', '1.90', 'EUR', 'PAID_IN_PART'),
  inv(DE, 'DE02', '2025-03-02', '-11.90', '-1.90', 'EUR'),
];

interface Setup {
  rows?: readonly string[];
  report?: string;
  landed?: NormalizedInvoice[];
  connection?: Partial<AdsConnection>;
  scopes?: RunScope[];
  record?: Partial<ExportRecord> | null;
  profiles?: Array<{ profileId: number | string; countryCode?: string }>;
}

const DEFAULT_SCOPES: RunScope[] = [
  { job: 'invoices', scope: US, window: WINDOW },
  { job: 'invoices', scope: DE, window: WINDOW },
  { job: 'billing-statements', scope: ACCOUNT, window: WINDOW },
];

async function reconcile(setup: Setup = {}): Promise<{ gaps: Gap[]; profileCalls: number }> {
  const connection = {
    id: 'ads',
    provider: 'amazon-ads',
    region: 'NA',
    secretName: 's',
    scopes: 'discover',
    schedule: 'rate(1 day)',
    lookbackDays: 30,
    globalAccountId: ACCOUNT,
    locale: 'en_US',
    ...setup.connection,
  } as AdsConnection;
  let profileCalls = 0;
  const profiles = setup.profiles ?? [
    { profileId: Number(US), countryCode: 'US' },
    { profileId: Number(DE), countryCode: 'DE' },
  ];
  const http = {
    request: async (operation: string) => {
      expect(operation).toBe('listProfiles');
      profileCalls++;
      const rawBody = JSON.stringify(profiles);
      return { status: 200, headers: {}, data: JSON.parse(rawBody), rawBody };
    },
    download: async () => {
      throw new Error('no downloads here');
    },
  } as unknown as ProviderHttp;
  const sink = new MemorySink();
  sink.objects.set(KEY, Buffer.from(setup.report ?? csv(setup.rows ?? CLEAN_ROWS), 'utf8'));
  const { ctx } = memoryContext(connection, { http, sink });
  const landed = setup.landed ?? LANDED;
  const record: ExportRecord | undefined =
    setup.record === null
      ? undefined
      : {
          key: 'export-key',
          provider: 'amazon-ads',
          connection: 'ads',
          scope: ACCOUNT,
          exportId: 'st-1',
          state: 'DONE',
          createdAt: '2025-04-01T00:00:00Z',
          deadline: '2025-04-01T06:00:00Z',
          attempts: 1,
          copied: { 'st-1': { key: KEY, sha256: 'x', bytes: 1 } },
          runId: 'run-test',
          ...setup.record,
        };
  const input: ReconcileInput<AdsConnection> = {
    ctx,
    scopes: setup.scopes ?? DEFAULT_SCOPES,
    async *invoices(scope, window) {
      for (const i of landed) {
        if (i.account === scope && i.issuedOn >= window.from && i.issuedOn <= window.to) yield { invoice: i };
      }
    },
    async exportOf(job, scope, window) {
      expect(job).toBe('billing-statements');
      expect({ scope, window }).toEqual({ scope: ACCOUNT, window: WINDOW });
      return record;
    },
  };
  const gaps: Gap[] = [];
  for await (const g of reconcileAds(input)) gaps.push(g);
  return { gaps, profileCalls };
}

const brief = (gaps: Gap[]) =>
  gaps.map(({ code, scope, invoiceId, field, expected, found }) => ({
    code,
    scope,
    invoiceId,
    field,
    expected,
    found,
  }));

describe('amazon-ads reconcile: billing statement against landed invoices', () => {
  it('a report that agrees with what landed reconciles to zero gaps (quoted commas, quotes, a line break in a field)', async () => {
    const { gaps, profileCalls } = await reconcile();
    expect(gaps).toEqual([]);
    expect(profileCalls).toBe(1);
  });

  it('names an invoice in the report that did not land: not-in-api', async () => {
    const { gaps } = await reconcile({ landed: LANDED.filter((i) => i.invoiceId !== 'DE01') });
    expect(brief(gaps)).toEqual([
      { code: 'not-in-api', scope: DE, invoiceId: 'DE01', field: 'invoiceId', expected: 'DE01', found: null },
    ]);
  });

  it('names a landed invoice the report does not list: not-in-report (one not yet invoiced is no gap)', async () => {
    const { gaps } = await reconcile({
      landed: [
        ...LANDED,
        inv(US, 'US03', '2025-03-30', '5.00', '0.00', 'USD'),
        inv(US, 'US04', '2025-03-30', '1.00', '0.00', 'USD', 'ACCUMULATING'),
      ],
    });
    expect(brief(gaps)).toEqual([
      {
        code: 'not-in-report',
        scope: US,
        invoiceId: 'US03',
        field: 'invoiceId',
        expected: null,
        found: 'US03',
      },
    ]);
  });

  it('names each field that differs, expected the report, found what landed; 10.5 and 10.50 are the same', async () => {
    const { gaps } = await reconcile({
      landed: [
        inv(US, 'US01', '2025-01-10', '100.01', '0', 'USD'),
        inv(US, 'US02', '2025-02-03', '12345678901234567.88', '0.00', 'USD', 'PAID_IN_FULL'),
        inv(DE, 'DE01', '2025-03-01', '11.9', '2.00', 'EUR'),
        inv(DE, 'DE02', '2025-03-02', '-11.90', '-1.90', 'GBP'),
      ],
    });
    expect(brief(gaps)).toEqual([
      {
        code: 'amount-differs',
        scope: US,
        invoiceId: 'US01',
        field: 'total',
        expected: '100.00',
        found: '100.01',
      },
      {
        code: 'amount-differs',
        scope: US,
        invoiceId: 'US02',
        field: 'total',
        expected: '12345678901234567.89',
        found: '12345678901234567.88',
      },
      { code: 'amount-differs', scope: DE, invoiceId: 'DE01', field: 'tax', expected: '1.9', found: '2.00' },
      {
        code: 'amount-differs',
        scope: DE,
        invoiceId: 'DE02',
        field: 'currency',
        expected: 'EUR',
        found: 'GBP',
      },
    ]);
  });

  it("leaves out countries not asked for, and what the run's profiles do not cover", async () => {
    // Only DE asked for: the US rows and the US profile's invoices are outside the reconciliation.
    const onlyDe = await reconcile({
      connection: { countryCodes: ['DE'] },
      landed: LANDED.filter((i) => i.invoiceId !== 'US01'),
    });
    expect(onlyDe.gaps).toEqual([]);
    // A run for the US profile alone says nothing about DE's invoices.
    const usOnly = await reconcile({
      scopes: DEFAULT_SCOPES.filter((s) => s.scope !== DE),
      landed: LANDED.filter((i) => i.account === US),
    });
    expect(usOnly.gaps).toEqual([]);
    // Every profile listed, and an invoice of a country none of them has: the API could not give it.
    const noProfile = await reconcile({
      rows: [...CLEAN_ROWS, 'FR01,2025-03-03,FR,ISSUED,EUR,x,SPONSORED PRODUCT,1,1,0,1'],
    });
    expect(brief(noProfile.gaps)).toEqual([
      {
        code: 'not-in-api',
        scope: ACCOUNT,
        invoiceId: 'FR01',
        field: 'invoiceId',
        expected: 'FR01',
        found: null,
      },
    ]);
  });

  it('a run without its statement, or with a failed one, says the report is missing; none configured, nothing', async () => {
    const failed = await reconcile({
      record: { state: 'FAILED', error: { code: 'INTERNAL_SERVER_ERROR', message: 'generation failed' } },
    });
    expect(brief(failed.gaps)).toEqual([
      {
        code: 'report-missing',
        scope: ACCOUNT,
        invoiceId: undefined,
        field: 'billingStatement',
        expected: `${WINDOW.from}..${WINDOW.to}`,
        found: 'FAILED',
      },
    ]);
    expect(failed.gaps[0]?.message).toMatch(/INTERNAL_SERVER_ERROR: generation failed/);
    expect(failed.profileCalls).toBe(0);

    const none = await reconcile({ record: null });
    expect(none.gaps.map((g) => [g.code, g.found])).toEqual([['report-missing', null]]);
    const gone = await reconcile({
      record: { copied: { 'st-1': { key: 'elsewhere.csv', sha256: 'x', bytes: 1 } } },
    });
    expect(gone.gaps.map((g) => g.code)).toEqual(['report-missing']);

    const notAsked = await reconcile({ scopes: DEFAULT_SCOPES.filter((s) => s.job === 'invoices') });
    expect(notAsked.gaps.map((g) => [g.code, g.scope])).toEqual([['report-missing', ACCOUNT]]);

    // No global account: the report is never asked for, by configuration.
    const unconfigured = await reconcile({
      connection: { globalAccountId: undefined },
      scopes: DEFAULT_SCOPES.filter((s) => s.job === 'invoices'),
    });
    expect(unconfigured.gaps).toEqual([]);

    // A statement-only run has nothing landed to hold the report against.
    const statementOnly = await reconcile({ scopes: DEFAULT_SCOPES.filter((s) => s.job !== 'invoices') });
    expect(statementOnly.gaps).toEqual([]);
    expect(statementOnly.profileCalls).toBe(0);
  });

  it('a report it cannot read is one gap, and nothing is compared against it', async () => {
    const noTotal = await reconcile({
      report: csv(['US01,2025-01-10,US,USD'], 'Invoice ID,Invoice date,Country,Currency'),
    });
    expect(brief(noTotal.gaps)).toEqual([
      {
        code: 'report-unreadable',
        scope: ACCOUNT,
        invoiceId: undefined,
        field: 'header',
        expected: 'total',
        found: 'Invoice ID, Invoice date, Country, Currency',
      },
    ]);
    const unclosed = await reconcile({
      rows: [...CLEAN_ROWS, 'US09,2025-01-10,US,ISSUED,USD,"never closed,x,1,1,0,1'],
    });
    expect(unclosed.gaps.map((g) => g.code)).toEqual(['report-unreadable']);
    expect(unclosed.gaps[0]?.message).toMatch(/not a readable CSV/);
  });

  it('names a row whose amount cannot be read, and rows of one invoice that disagree', async () => {
    const { gaps } = await reconcile({
      rows: [
        ...CLEAN_ROWS,
        'US01,2025-01-10,US,ISSUED,USD,third line,SPONSORED PRODUCT,0,100.10,0.00,100.00',
        'US05,2025-01-11,US,ISSUED,USD,odd,SPONSORED PRODUCT,1,"1,000.00",0,1',
      ],
    });
    expect(brief(gaps)).toEqual([
      {
        code: 'report-inconsistent',
        scope: ACCOUNT,
        invoiceId: 'US01',
        field: 'total',
        expected: '100.00',
        found: '100.10',
      },
      {
        code: 'report-unreadable',
        scope: ACCOUNT,
        invoiceId: 'US05',
        field: 'total',
        expected: undefined,
        found: '1,000.00',
      },
    ]);
    // Lines as the file has them: the quoted line break before makes the third US01 row line 8.
    expect(gaps.map((g) => /line (\d+)/.exec(g.message)?.[1])).toEqual(['8', '9']);
  });
});

describe('readStatementInvoices', () => {
  it('holds one small record per invoice however its rows are cut into chunks, and never the CSV', async () => {
    const text = csv(CLEAN_ROWS);
    const bytes = Buffer.from(text, 'utf8');
    const into = new Map();
    const chunks = Array.from({ length: Math.ceil(bytes.length / 3) }, (_, i) =>
      bytes.subarray(i * 3, i * 3 + 3),
    );
    const reader = readStatementInvoices(Readable.from(chunks), into, { scope: ACCOUNT, key: KEY });
    let next = await reader.next();
    while (!next.done) next = await reader.next();
    expect(next.value).toEqual({ complete: true });
    expect([...into.values()]).toEqual([
      {
        invoiceId: 'US01',
        issuedOn: '2025-01-10',
        country: 'US',
        currency: 'USD',
        total: '100.00',
        tax: '0.00',
      },
      {
        invoiceId: 'US02',
        issuedOn: '2025-02-03',
        country: 'US',
        currency: 'USD',
        total: '12345678901234567.89',
        tax: '0',
      },
      {
        invoiceId: 'DE01',
        issuedOn: '2025-03-01',
        country: 'DE',
        currency: 'EUR',
        total: '11.90',
        tax: '1.9',
      },
      {
        invoiceId: 'DE02',
        issuedOn: '2025-03-02',
        country: 'DE',
        currency: 'EUR',
        total: '-11.90',
        tax: '-1.90',
      },
    ]);
  });

  it('a source that breaks is an error of the read, not a gap of the report', async () => {
    const source = new Readable({
      read() {
        this.push(Buffer.from(`${HEADER}\r\nUS01,2025-01-10,US,ISSUED,USD,"half`));
        this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      },
    });
    const reader = readStatementInvoices(source, new Map(), { scope: ACCOUNT, key: KEY });
    await expect(
      (async () => {
        for await (const _ of reader) {
        }
      })(),
    ).rejects.toThrow(/socket hang up/);
  });
});
