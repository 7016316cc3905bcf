import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { billingStatementKey } from '../../../../shared/aws/keys.ts';
import type { DynamoStateStore } from '../../../../shared/aws/state-store.ts';
import { amazonAdsConnectionSchema } from '../../../../shared/config/schema.ts';
import { pollExport } from '../../../../shared/engine/poll-export.ts';
import { processMessage } from '../../../../shared/engine/process-message.ts';
import { specHttp } from '../../../../shared/engine/spec-http.ts';
import { checkDownloadUrl } from '../../../../shared/http/allowlist.ts';
import type { PayloadError } from '../../../../shared/http/errors.ts';
import {
  type JobMessageInput,
  jobMessageSchema,
  type PollMessage,
  pollMessageSchema,
} from '../../../../shared/jobs/messages.ts';
import { type AdsConnection, amazonAdsSpec } from '../../../../shared/providers/amazon-ads/spec.ts';
import type {
  Counter,
  ExportRecord,
  ProviderContext,
  ProviderHttp,
  StateStore,
  StoredObject,
} from '../../../../shared/providers/types.ts';
import { sendJson, sendText, startServer, type TestServer } from '../../../helpers/http-server.ts';
import { MemorySink, withMemoryPendingDocuments } from '../../../helpers/memory-context.ts';
import { tableOf } from '../../../helpers/memory-invoice-table.ts';

/**
 * The Amazon Ads guides' sample answers (copied verbatim from provider-specs/guide-samples into
 * test/fixtures/guide-samples, typos and all) served by a local server to the engine running the spec:
 * what the spec makes of each. The samples are not all JSON, and the invoice summary does not fit the
 * model (its keys have spaces in them: "taxAmount Due", "remainingAmount Due", "downloadable Documents").
 */

const sample = (name: string) =>
  readFileSync(new URL(`../../../fixtures/guide-samples/amazon-ads-${name}.txt`, import.meta.url), 'utf8');

const PROFILES = sample('profiles-response');
const INVOICES = sample('invoices-response');
const CREATE_REQUEST = sample('billing-statements-create-request');
const CREATE_RESPONSE = sample('billing-statements-create-response');
const GET_RESPONSE = sample('billing-statements-get-response');

/** The guides' JSON with its trailing commas dropped, to read what they meant. */
const lenient = (text: string) => text.replace(/,(\s*[}\]])/g, '$1');

/**
 * The invoices sample closes its invoiceSummaries array with `}` (it is not JSON): with the `]` it lacks
 * put back, the rest is as the guide wrote it.
 */
function repairedInvoices(): string {
  const at = INVOICES.lastIndexOf('}', INVOICES.lastIndexOf('}') - 1);
  return `${INVOICES.slice(0, at)}]${INVOICES.slice(at)}`;
}

/** The guide's one summary, as bytes inside the (repaired) page. */
function guideSummary(page: string): string {
  const start = page.indexOf('{', page.indexOf('"invoiceSummaries"'));
  const end = page.lastIndexOf('}', page.lastIndexOf(']'));
  return page.slice(start, end + 1);
}

/** The guide's summary with the spaces taken out of its keys: what the model names them. */
const fixedKeys = (summary: string) =>
  summary
    .replace('"taxAmount Due"', '"taxAmountDue"')
    .replace('"remainingAmount Due"', '"remainingAmountDue"')
    .replace('"remainingTax Amount Due"', '"remainingTaxAmountDue"')
    .replace('"downloadable Documents"', '"downloadableDocuments"');

interface Answer {
  status: number;
  body: string;
}
const json = (body: string, status = 200): Answer => ({ status, body });

/** The export registry and watermarks in memory, as the state store keeps them. */
class MemoryState {
  readonly exports = new Map<string, ExportRecord>();
  readonly watermarks = new Map<string, string>();
  async getExport(key: string) {
    return this.exports.get(key);
  }
  async findOrCreateExport(
    input: Parameters<StateStore['findOrCreateExport']>[0],
    create: () => Promise<{ exportId: string; details?: Record<string, unknown> }>,
  ) {
    const existing = this.exports.get(input.key);
    if (existing) return { record: existing, created: false };
    const made = await create();
    const now = Date.now();
    const record: ExportRecord = {
      key: input.key,
      provider: input.provider,
      connection: input.connection,
      scope: input.scope,
      runId: input.runId,
      exportId: made.exportId,
      state: 'PENDING',
      createdAt: new Date(now).toISOString(),
      deadline: new Date(now + input.deadlineMs).toISOString(),
      attempts: 0,
      copied: {},
      details: { ...(input.details ?? {}), ...(made.details ?? {}) },
    };
    this.exports.set(input.key, record);
    return { record, created: true };
  }
  async updateExport(key: string, patch: Partial<Omit<ExportRecord, 'key'>>) {
    this.exports.set(key, { ...this.exports.get(key)!, ...patch });
  }
  async recordCopy(key: string, documentId: string, stored: StoredObject) {
    this.exports.get(key)!.copied[documentId] = stored;
  }
  async countAttempt(key: string) {
    const record = this.exports.get(key)!;
    record.attempts += 1;
    return record.attempts;
  }
  async addFailure() {}
  async getWatermark(_p: string, _c: string, scope: string) {
    return this.watermarks.get(scope);
  }
  async setWatermark(_p: string, _c: string, scope: string, date: string) {
    this.watermarks.set(scope, date);
  }
}

const ACCOUNT = 'amzn1.ads-account.g.guide';

describe('Amazon Ads guide samples through the spec', () => {
  let server: TestServer;
  let connection: AdsConnection;
  /** What the server answers, per route; each test sets what it needs. */
  let answers: Record<string, Answer>;

  beforeAll(async () => {
    server = await startServer((req, res) => {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/auth/o2/token')
        return sendJson(res, 200, { access_token: 'at', expires_in: 3600 });
      const route =
        url.pathname === '/invoices' && url.searchParams.has('cursor')
          ? `/invoices?cursor=${url.searchParams.get('cursor')}`
          : url.pathname.startsWith('/billingStatements/')
            ? `${req.method} /billingStatements/{id}`
            : `${req.method} ${url.pathname}`.replace(/^GET /, '');
      const answer = answers[route];
      if (!answer) return sendJson(res, 400, { code: 'BAD_REQUEST', details: `no answer for ${route}` });
      return sendText(res, answer.status, answer.body, { 'content-type': 'application/json' });
    });
    connection = amazonAdsConnectionSchema.parse({
      id: 'ads-guide',
      provider: 'amazon-ads',
      region: 'NA',
      secretName: 'unit/ads-guide',
      scopes: 'discover',
      schedule: 'rate(1 day)',
      lookbackDays: 30,
      globalAccountId: ACCOUNT,
      endpoints: { api: server.url, token: `${server.url}/auth/o2/token` },
    });
  });
  afterAll(() => server?.close());
  beforeEach(() => {
    answers = {};
    server.requests.length = 0;
  });

  function context(download?: ProviderHttp['download']) {
    const sink = new MemorySink();
    const state = new MemoryState();
    const sent: Array<{ message: JobMessageInput; delaySeconds?: number }> = [];
    const counts: Partial<Record<Counter, number>> = {};
    const problems: Array<{ code: string; message: string; key?: string }> = [];
    const budget = { deadline: Date.now() + 60_000, remainingMs: () => 60_000 };
    const log = { debug() {}, info() {}, warn() {}, error() {} };
    const secret = { clientId: 'guide-client', clientSecret: 's', refreshToken: 'r' };
    const http = specHttp('amazon-ads', amazonAdsSpec.client, connection, secret, {
      budget,
      log,
      onEvent: () => {},
      allowLoopback: true,
      extraDownloadHosts: [],
      deferThresholdMs: 5_000,
    });
    const ctx: ProviderContext<AdsConnection> = {
      connection,
      runId: 'guide-run',
      secret,
      http: download ? { request: (op, opts) => http.request(op, opts), download } : http,
      sink,
      state: withMemoryPendingDocuments(state) as unknown as StateStore,
      invoices: tableOf(sink),
      queue: {
        send: async (message, opts) => {
          sent.push({
            message,
            ...(opts?.delaySeconds !== undefined ? { delaySeconds: opts.delaySeconds } : {}),
          });
        },
        sendBatch: async (ms) => {
          sent.push(...ms.map((message) => ({ message })));
        },
      },
      log,
      count: (c, n = 1) => {
        counts[c] = (counts[c] ?? 0) + n;
      },
      reportProblem: (p) => problems.push(p),
      budget,
      now: () => new Date(),
    };
    const process = (message: JobMessageInput) =>
      processMessage(jobMessageSchema.parse(message), ctx as ProviderContext, amazonAdsSpec);
    return { ctx, sink, state, sent, counts, problems, process };
  }

  const base = { v: 1, runId: 'guide-run', provider: 'amazon-ads', connection: 'ads-guide' } as const;
  const WINDOW = { from: '2024-03-01', to: '2024-03-31' };
  const fetchInvoices = {
    ...base,
    type: 'fetch',
    scope: '777777777',
    window: WINDOW,
    state: { job: 'invoices' },
  } as const;
  const rawBase = 'raw/amazon-ads/ads-guide/777777777';

  describe('profiles (GET /v2/profiles)', () => {
    it('the sample is not JSON (a trailing comma): the run stops on a PayloadError carrying the bytes as sent', async () => {
      expect(() => JSON.parse(PROFILES)).toThrow();
      answers['/v2/profiles'] = json(PROFILES);
      const { process, sent } = context();
      const err = (await process({ ...base, type: 'run' }).catch((e: unknown) => e)) as PayloadError;
      expect(err.name).toBe('PayloadError');
      expect(err.operation).toBe('listProfiles');
      expect(err.message).toMatch(/not JSON/);
      expect(err.rawBody).toBe(PROFILES);
      expect(sent).toEqual([]);
    });

    // Known gap (see the report of this change): discoverScopes stores the answer only once the client has
    // parsed it, so a profiles answer that is not JSON is not kept under _discovery. Flip to `it` once fixed.
    it('keeps a profiles answer that is not JSON raw under _discovery', async () => {
      answers['/v2/profiles'] = json(PROFILES);
      const { process, sink } = context();
      await process({ ...base, type: 'run' }).catch(() => undefined);
      expect(
        sink.objects.get('raw/amazon-ads/ads-guide/_discovery/_payloads/profiles-billing.json')?.toString(),
      ).toBe(PROFILES);
    });

    it('without the trailing comma: both profiles are scopes, their int64 ids exact, the answer kept as sent', async () => {
      const fixed = lenient(PROFILES);
      answers['/v2/profiles'] = json(fixed);
      const { process, sent, sink } = context();
      await process({ ...base, type: 'run' });
      const fetches = sent.map((s) => s.message).filter((m) => m.type === 'fetch');
      // "marketplaceStringid" and the odd timezone are the provider's business: accountInfo passes through.
      expect(fetches.map((m) => (m as { scope: string }).scope)).toEqual(['777777777', '888888888']);
      expect(fetches[0]).toMatchObject({ state: { job: 'invoices', args: {} } });
      expect(
        sink.objects.get('raw/amazon-ads/ads-guide/_discovery/_payloads/profiles-billing.json')?.toString(),
      ).toBe(fixed);
      expect(server.requests.filter((r) => r.url.startsWith('/v2/')).map((r) => r.url)).toEqual([
        '/v2/profiles?apiProgram=billing',
      ]);
    });
  });

  describe('invoices (GET /invoices)', () => {
    it('the sample is not JSON (the summaries array closes with `}`): the page is kept as sent, reported, and the fetch fails', async () => {
      expect(() => JSON.parse(INVOICES)).toThrow();
      answers['/invoices'] = json(INVOICES);
      const { process, sink, problems, state } = context();
      const err = (await process(fetchInvoices).catch((e: unknown) => e)) as PayloadError;
      expect(err.name).toBe('PayloadError');
      expect(err.rawBody).toBe(INVOICES);
      const key = `${rawBase}/_payloads/invoices_2024-03-01_2024-03-31_p0000_unfit.json`;
      expect(sink.objects.get(key)?.toString()).toBe(INVOICES);
      expect(problems).toEqual([{ code: 'PAGE_DOES_NOT_FIT', message: err.message, key }]);
      expect(sink.lines()).toEqual([]);
      expect(state.watermarks.size).toBe(0);
    });

    it('repaired, its summary does not fit (keys with spaces): it is fetched by its id; a detail that does not fit is normalized from its summary', async () => {
      const page = repairedInvoices();
      const summary = guideSummary(page);
      answers['/invoices'] = json(page);
      answers['/invoices?cursor=xysd'] = json(
        '{"status":"success","payload":{"invoiceSummaries":[],"nextCursor":null}}',
      );
      // No guide sample for the detail: the guide's summary with its keys as the model names them, and none of
      // the detail's other required members.
      const detail = `{"status":"success","payload":{"invoiceSummary":${fixedKeys(summary)}}}`;
      answers['/invoices/ID-234'] = json(detail);
      answers['/billing/documents/ID-234'] = json(
        '{"availableDocuments":[],"unavailableDocuments":[{"docType":"INVOICE","reason":"NOT_GENERATED"}]}',
      );
      const { process, sink, problems, state } = context();
      await process(fetchInvoices);

      expect(problems.map((p) => p.code)).toEqual(['ITEM_DOES_NOT_FIT', 'PAYLOAD_SHAPE']);
      expect(problems[0]!.message).toMatch(/invoices item 0 \(id ID-234\) does not fit the model/);
      expect(problems[0]!.message).toMatch(/remainingAmountDue.*fetched by its id instead/);
      expect(problems[1]!.message).toMatch(
        /invoice ID-234: the detail does not fit the model \(.*invoiceLines.*normalized from its summary/,
      );
      // Exact money from the guide's JSON numbers (66.67, 0.0), written with USD's two minor-unit digits.
      expect(sink.lines()).toMatchObject([
        {
          invoiceId: 'ID-234',
          kind: 'INVOICE',
          status: 'WRITTEN_OFF',
          issuedOn: '2024-03-04',
          servicePeriod: { from: '2024-03-04', to: '2024-03-05' },
          currency: 'USD',
          total: '66.67',
          tax: '0.00',
          subtotal: '66.67',
          remainingDue: '0.00',
          documents: [],
          rawKey: `${rawBase}/2024/03/ID-234.json`,
        },
      ]);
      // The detail's bytes are the invoice's raw copy; the page is kept as it came.
      expect(sink.objects.get(`${rawBase}/2024/03/ID-234.json`)?.toString()).toBe(detail);
      expect(
        sink.objects.get(`${rawBase}/_payloads/invoices_2024-03-01_2024-03-31_p0000.json`)?.toString(),
      ).toBe(page);
      // The guide's nextCursor is followed, alone (count and cursor do not go together).
      const listing = server.requests.filter((r) => r.url.startsWith('/invoices?'));
      expect(listing.map((r) => new URL(r.url, 'http://x').searchParams.get('count'))).toEqual(['100', null]);
      expect(listing[1]!.url).toBe('/invoices?cursor=xysd');
      expect(state.watermarks.get('777777777')).toBe('2024-03-31');
    });

    it('repaired, with the invoice unknown to GET /invoices/{id}: its summary is kept raw as sent, and reported', async () => {
      const page = repairedInvoices();
      answers['/invoices'] = json(page);
      answers['/invoices?cursor=xysd'] = json(
        '{"status":"success","payload":{"invoiceSummaries":[],"nextCursor":null}}',
      );
      answers['/invoices/ID-234'] = json(
        '{"code":"NOT_FOUND","details":"Invoice ID-234 was not found"}',
        404,
      );
      const { process, sink, problems } = context();
      await process(fetchInvoices);
      const key = `${rawBase}/_payloads/invoices_2024-03-01_2024-03-31_p0000_item0.json`;
      expect(sink.objects.get(key)?.toString()).toBe(guideSummary(page));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatchObject({ code: 'ITEM_DOES_NOT_FIT', key });
      expect(problems[0]!.message).toMatch(
        /invoices item 0 \(id ID-234\) kept raw, not normalized: remainingAmountDue/,
      );
      expect(sink.lines()).toEqual([]);
    });
  });

  describe('billing statements (POST /billingStatements, GET /billingStatements/{id})', () => {
    it('sends what the create request sample says, takes its answer’s billingStatementId, and copies the statement its get answer links to', async () => {
      const statementId = (JSON.parse(CREATE_RESPONSE) as { billingStatementId: string }).billingStatementId;
      const link = (JSON.parse(GET_RESPONSE) as { s3DownloadLink: string }).s3DownloadLink;
      answers['POST /billingStatements'] = json(CREATE_RESPONSE, 202);
      answers['GET /billingStatements/{id}'] = json(GET_RESPONSE);
      const downloads: string[] = [];
      const csv = 'Invoice,Amount\nINV-1,"1,000.00"\n"INV-2","12.00"\n';
      const { ctx, process, sent, state, sink, counts } = context(async (_op, url) => {
        downloads.push(url);
        return { status: 200, stream: Readable.from([Buffer.from(csv)]), contentType: 'text/csv' };
      });
      const window = { from: '2023-11-24', to: '2024-02-22' };
      await process({
        ...base,
        type: 'fetch',
        job: 'billing-statements',
        scope: ACCOUNT,
        window,
        state: { job: 'billing-statements' },
      });

      // The create request sample has a trailing comma; what it means is what goes out (dates as yyyyMMdd).
      expect(() => JSON.parse(CREATE_REQUEST)).toThrow();
      const create = server.requests.find((r) => r.method === 'POST')!;
      expect(JSON.parse(create.body)).toEqual(JSON.parse(lenient(CREATE_REQUEST)));
      expect(create.headers['amazon-ads-accountid']).toBe(ACCOUNT);
      expect(create.headers['content-type']).toBe('application/vnd.createbillingstatementsrequest.v1+json');

      const record = [...state.exports.values()][0]!;
      expect(record).toMatchObject({
        exportId: statementId,
        scope: ACCOUNT,
        details: {
          job: 'billing-statements',
          startDate: '2023-11-24',
          endDate: '2024-02-22',
          dateFormat: 'yyyyMMdd',
          createDetails: 'SUCCESS',
        },
      });
      expect(sent).toHaveLength(1);
      const poll: PollMessage = pollMessageSchema.parse(sent[0]!.message);
      expect(poll).toMatchObject({ exportId: statementId, exportKey: record.key, attempt: 0 });

      // The get answer: SUCCESS with an s3DownloadLink on a host the allowlist takes; the poll copies it.
      expect(
        checkDownloadUrl('downloadBillingStatement', link, amazonAdsSpec.client.downloadHosts, false)
          .hostname,
      ).toBe('advertisingbillingapiservice-billing-statement-test.s3.amazonaws.com');
      const outcome = await pollExport(poll, ctx as ProviderContext, amazonAdsSpec, {
        state: state as unknown as DynamoStateStore,
      });
      expect(outcome).toBe('done');
      expect(server.requests.filter((r) => r.method === 'GET').map((r) => r.url)).toEqual([
        `/billingStatements/${statementId}`,
        `/billingStatements/${statementId}`,
      ]);
      expect(downloads).toEqual([link]);
      const key = billingStatementKey('ads-guide', '2023-11-24', '2024-02-22', statementId);
      expect(sink.objects.get(key)?.toString()).toBe(csv);
      // Two data rows, however the quoted commas fall; counted as the bytes streamed past.
      expect(state.exports.get(record.key)).toMatchObject({
        state: 'DONE',
        copied: { [statementId]: { key, bytes: csv.length, details: { rows: 2 } } },
      });
      expect(counts).toMatchObject({ reports: 1, rows: 2 });
      expect(state.watermarks.get(ACCOUNT)).toBe('2024-02-22');
    });
  });
});
