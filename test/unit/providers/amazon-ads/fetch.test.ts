import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amazonAdsSimulator } from '../../../../infra/sandbox/amazon-ads/index.ts';
import { type Sandbox, startSandbox } from '../../../../infra/sandbox/index.ts';
import { parseSecret } from '../../../../shared/aws/secrets.ts';
import { amazonAdsConnectionSchema } from '../../../../shared/config/schema.ts';
import { processMessage } from '../../../../shared/engine/process-message.ts';
import { specHttp } from '../../../../shared/engine/spec-http.ts';
import { addDecimals } from '../../../../shared/invoice/money.ts';
import {
  type FetchMessage,
  fetchMessageSchema,
  type JobMessageInput,
  jobMessageSchema,
} from '../../../../shared/jobs/messages.ts';
import { parseExactJson } from '../../../../shared/providers/amazon-ads/exact-json.ts';
import { type AdsConnection, amazonAdsSpec } from '../../../../shared/providers/amazon-ads/spec.ts';
import type { Counter, ProviderContext, StateStore } from '../../../../shared/providers/types.ts';
import { sendJson, sendText, startServer, type TestServer } from '../../../helpers/http-server.ts';
import { MemorySink, withMemoryPendingDocuments } from '../../../helpers/memory-context.ts';
import { tableOf } from '../../../helpers/memory-invoice-table.ts';

/**
 * The engine running the Amazon Ads spec (processMessage) against the simulator, with in-memory sink,
 * state and queue: how a profile goes on across invocations when the budget runs low, what a run fans
 * out, and what happens to items that do not fit the model (the last against a small local server).
 */

const CONN = 'ads-unit';
const TODAY = new Date().toISOString().slice(0, 10);

/** A provider context as the frame builds one, with the spec's HTTP client and everything else in memory. */
function context(connection: AdsConnection, rawSecret: unknown, opts: { lowAfterInvoices?: number } = {}) {
  const sink = new MemorySink();
  const sent: JobMessageInput[] = [];
  const counts: Partial<Record<Counter, number>> = {};
  const watermarks = new Map<string, string>();
  const problems: Array<{ code: string; message: string; key?: string }> = [];
  const state = withMemoryPendingDocuments({
    getWatermark: async (_p: string, _c: string, scope: string) => watermarks.get(scope),
    setWatermark: async (_p: string, _c: string, scope: string, date: string) => {
      watermarks.set(scope, date);
    },
  }) as unknown as StateStore;
  const low = () => opts.lowAfterInvoices !== undefined && (counts.invoices ?? 0) >= opts.lowAfterInvoices;
  const budget = { deadline: Date.now() + 60_000, remainingMs: () => (low() ? 4_000 : 60_000) };
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const secret = parseSecret(amazonAdsSpec.secret, rawSecret, connection.secretName);
  const ctx: ProviderContext<AdsConnection> = {
    connection,
    runId: 'unit-run',
    secret,
    http: specHttp('amazon-ads', amazonAdsSpec.client, connection, secret, {
      budget,
      log,
      onEvent: () => {},
      allowLoopback: true,
      extraDownloadHosts: [],
      deferThresholdMs: 5_000,
    }),
    sink,
    state,
    invoices: tableOf(sink),
    queue: {
      send: async (m) => {
        sent.push(m);
      },
      sendBatch: async (ms) => {
        sent.push(...ms);
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
  return { ctx, sink, sent, counts, watermarks, problems };
}

/** Whether two decimal strings are the same number, exactly (however many trailing zeros either has). */
const sameDecimal = (a: string, b: string) =>
  addDecimals(a, b.startsWith('-') ? b.slice(1) : `-${b}`) === '0';

/** What the frame would hand the engine: a message as parsed from the queue. */
const run = (ctx: ProviderContext<AdsConnection>, message: JobMessageInput) =>
  processMessage(jobMessageSchema.parse(message), ctx as ProviderContext, amazonAdsSpec);

function fetchOf(scope: string, window = { from: '2000-01-01', to: TODAY }): FetchMessage {
  return fetchMessageSchema.parse({
    v: 1,
    type: 'fetch',
    runId: 'unit-run',
    provider: 'amazon-ads',
    connection: CONN,
    scope,
    window,
    state: { job: 'invoices', args: {} },
  });
}

describe('amazon-ads fetch: continuations and fan-out', () => {
  let sandbox: Sandbox;
  let connection: AdsConnection;
  let profiles: Array<{
    profileId: string;
    billing: boolean;
    invoices: Array<{ id: string; amountDue: { amount: string } }>;
  }>;

  beforeAll(async () => {
    sandbox = await startSandbox({
      seed: 5,
      size: 0.1,
      simulators: [amazonAdsSimulator],
      connections: [{ id: CONN, provider: 'amazon-ads' }],
      options: { 'amazon-ads': { pageSize: 3 } },
      log: () => {},
    });
    connection = amazonAdsConnectionSchema.parse({
      id: CONN,
      provider: 'amazon-ads',
      region: 'NA',
      secretName: 'unit/ads',
      scopes: 'discover',
      schedule: 'rate(1 day)',
      lookbackDays: 30,
      globalAccountId: 'amzn1.ads-account.g.unit',
      endpoints: { api: sandbox.endpoints['amazon-ads'], token: sandbox.tokenUrls.lwa },
    });
    const res = await request(`${sandbox.endpoints['amazon-ads']}/__sandbox/data?connection=${CONN}`);
    // Read with exact digits: one invoice per connection has an amount a double cannot hold.
    profiles = (parseExactJson(await res.body.text()) as { profiles: typeof profiles }).profiles;
  });
  afterAll(() => sandbox?.close());

  const ads = (opts: { lowAfterInvoices?: number } = {}) =>
    context(connection, sandbox.credentials[CONN], opts);

  it('hands the rest of a profile to a continuation when the budget runs low, and finishes it there once', async () => {
    const biggest = profiles
      .filter((p) => p.billing)
      .sort((a, b) => b.invoices.length - a.invoices.length)[0]!;
    const message = fetchOf(biggest.profileId);

    const first = ads({ lowAfterInvoices: 5 });
    const err = await run(first.ctx, message).then(
      () => undefined,
      (e: unknown) => e as { name: string; reason: string; continuation?: JobMessageInput },
    );
    expect(err?.name).toBe('DeferError');
    expect(err?.reason).toBe('budget');
    const next = fetchMessageSchema.parse(err?.continuation);
    // At least five done (the ones in flight when the budget ran low finish too); the continuation resumes
    // right after the last of them: pages of 3, so page p at item k is 3p + k done.
    const done = tableOf(first.sink).byIdentity.size;
    expect(done).toBeGreaterThanOrEqual(5);
    expect(done).toBeLessThan(biggest.invoices.length);
    expect(next).toMatchObject({
      scope: biggest.profileId,
      state: { job: 'invoices', args: {} },
      continuation: 1,
    });
    expect(3 * Number(next.state?.page) + Number(next.state?.skip)).toBe(done);
    expect(next.cursor).toBeTruthy();
    // The month files are published when the listing ends.
    expect(first.sink.lines()).toHaveLength(0);
    expect(first.watermarks.size).toBe(0);

    const second = ads();
    for (const [k, v] of first.sink.objects) second.sink.objects.set(k, v);
    for (const [k, v] of tableOf(first.sink).byIdentity) tableOf(second.sink).byIdentity.set(k, v);
    await run(second.ctx, next);
    const ids = second.sink.lines().map((l) => l.invoiceId as string);
    expect(ids.sort()).toEqual(biggest.invoices.map((i) => i.id).sort());
    expect((first.counts.invoices ?? 0) + (second.counts.invoices ?? 0)).toBe(biggest.invoices.length);
    expect(second.watermarks.get(biggest.profileId)).toBe(TODAY);
    expect(second.problems).toEqual([]);
    // Every total is the amount the API wrote, to the last digit.
    for (const line of second.sink.lines()) {
      const sent = biggest.invoices.find((i) => i.id === line.invoiceId)!.amountDue.amount;
      expect(sameDecimal(line.total as string, sent), `${line.invoiceId}: ${line.total} vs ${sent}`).toBe(
        true,
      );
    }
  });

  it('a run for one invoice lands just that invoice right there, and starts no billing statement', async () => {
    const profile = profiles.find((p) => p.billing && p.invoices.length > 1)!;
    const invoiceId = profile.invoices[1]!.id;
    const { ctx, sent, sink, problems } = ads();
    await run(ctx, {
      v: 1,
      type: 'run',
      runId: 'unit-run',
      provider: 'amazon-ads',
      connection: CONN,
      scopes: [profile.profileId],
      invoiceId,
    });
    // The engine fetches it by id in the run itself (no fetch message, no forwarded statements run).
    expect(sent).toEqual([]);
    expect(sink.lines().map((l) => l.invoiceId)).toEqual([invoiceId]);
    expect(problems).toEqual([]);
  });

  it('an amount a double cannot hold lands to the last digit', async () => {
    const huge = profiles
      .flatMap((p) => p.invoices.map((i) => ({ ...i, profileId: p.profileId })))
      .find((i) => i.amountDue.amount.replace(/\D/g, '').length > 17)!;
    expect(huge).toBeDefined();
    const { ctx, sink } = ads();
    await run(ctx, {
      v: 1,
      type: 'run',
      runId: 'unit-run',
      provider: 'amazon-ads',
      connection: CONN,
      scopes: [huge.profileId],
      invoiceId: huge.id,
    });
    const [line] = sink.lines();
    expect(line?.invoiceId).toBe(huge.id);
    expect(sameDecimal(line!.total as string, huge.amountDue.amount)).toBe(true);
    expect(line!.total).toContain(huge.amountDue.amount);
  });

  it('fetches a summary that does not fit by its id, normalizes an unfit detail from its summary, and goes on', async () => {
    const profile = profiles.find((p) => p.billing && p.invoices.length >= 3)!;
    const [badSummary, badDetail] = profile.invoices.map((i) => i.id);
    const settings = (body: unknown) =>
      request(`${sandbox.endpoints['amazon-ads']}/__sandbox/settings`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
    await settings({ malformed: { [badSummary!]: 'summary', [badDetail!]: 'detail' } });
    const { ctx, sink, problems } = ads();
    try {
      await run(ctx, fetchOf(profile.profileId));
    } finally {
      await settings({ malformed: {} });
    }
    const lines = sink.lines();
    // Every invoice lands: the bad summary (no amount) from GET /invoices/{id}, the bad detail from its summary.
    expect(lines.map((l) => l.invoiceId).sort()).toEqual(profile.invoices.map((i) => i.id).sort());
    expect(lines.find((l) => l.invoiceId === badSummary)?.total).toEqual(expect.any(String));
    expect(problems.map((p) => p.code).sort()).toEqual(['ITEM_DOES_NOT_FIT', 'PAYLOAD_SHAPE']);
    const unfit = problems.find((p) => p.code === 'ITEM_DOES_NOT_FIT')!.message;
    expect(unfit).toContain(`invoices item 0 (id ${badSummary})`);
    expect(unfit).toMatch(/amountDue.*fetched by its id/);
    expect(problems.find((p) => p.message.includes(badDetail!))?.message).toMatch(/invoiceLines/);
    // Nothing had to be kept aside: the item files are for summaries that cannot be fetched by id.
    expect([...sink.objects.keys()].filter((k) => /_item\d+\.json$/.test(k))).toEqual([]);
  });

  it('a run fans out one fetch per billing profile, keeps the profiles answer raw, and forwards the billing statements job', async () => {
    const { ctx, sent, sink } = ads();
    await run(ctx, { v: 1, type: 'run', runId: 'unit-run', provider: 'amazon-ads', connection: CONN });
    const fetches = sent.filter((m): m is Extract<JobMessageInput, { type: 'fetch' }> => m.type === 'fetch');
    const billing = profiles.filter((p) => p.billing).map((p) => p.profileId);
    expect(fetches.map((m) => m.scope).sort()).toEqual([...billing].sort());
    for (const f of fetches) {
      expect(f).toMatchObject({
        provider: 'amazon-ads',
        connection: CONN,
        window: { from: new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10), to: TODAY },
        state: { job: 'invoices', args: {} },
        continuation: 0,
      });
      expect(f.job).toBeUndefined();
    }
    expect(sent.filter((m) => m.type === 'run')).toEqual([
      {
        v: 1,
        type: 'run',
        runId: 'unit-run',
        provider: 'amazon-ads',
        connection: CONN,
        job: 'billing-statements',
        continuation: 0,
      },
    ]);
    const discovery = sink.objects.get(`raw/amazon-ads/${CONN}/_discovery/_payloads/profiles-billing.json`);
    expect(discovery).toBeDefined();
    expect((JSON.parse(discovery!.toString()) as unknown[]).length).toBeGreaterThanOrEqual(billing.length);
  });

  it('the billing statements run sends one export fetch for the global account, and forwards nothing', async () => {
    const { ctx, sent } = ads();
    await run(ctx, {
      v: 1,
      type: 'run',
      runId: 'unit-run',
      provider: 'amazon-ads',
      connection: CONN,
      job: 'billing-statements',
    });
    expect(sent).toEqual([
      {
        v: 1,
        type: 'fetch',
        runId: 'unit-run',
        provider: 'amazon-ads',
        connection: CONN,
        job: 'billing-statements',
        scope: 'amzn1.ads-account.g.unit',
        window: { from: new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10), to: TODAY },
        state: { job: 'billing-statements' },
        startedAt: expect.any(String),
        continuation: 0,
      },
    ]);
  });
});

describe('amazon-ads fetch: items kept raw, as the provider sent them', () => {
  const SCOPE = '4242';
  const WINDOW = { from: '2025-01-01', to: '2025-03-31' };
  // Spaced and with trailing zeros, so a re-serialization would not give the same bytes.
  const noId = '{ "invoiceDate": "20250210", "status": "ISSUED", "amountDue": { "amount": 1.10 } }';
  const undated =
    '{ "id": "U1", "invoiceDate": "n/a", "status": "ISSUED", "fromDate": "20250101", "toDate": "20250131",' +
    ' "amountDue": { "amount": 5.00, "currencyCode": "USD" }, "remainingAmountDue": { "amount": 0 } }';
  const gone =
    '{ "id": "N1", "invoiceDate": "20250214", "status": "PAID", "fromDate": "20250101", "toDate": "20250131",' +
    ' "amountDue": { "amount": 12.50, "currencyCode": "USD" }, "remainingAmountDue": { "amount": 0.00, "currencyCode": "USD" } }';
  const page = `{"status":"SUCCESS","payload":{"invoiceSummaries":[ ${noId}, ${undated}, ${gone} ],"nextCursor":null}}`;
  let server: TestServer;
  let connection: AdsConnection;

  beforeAll(async () => {
    server = await startServer((req, res) => {
      const path = req.url.split('?')[0];
      if (path === '/auth/o2/token') return sendJson(res, 200, { access_token: 'at', expires_in: 3600 });
      if (path === '/invoices') return sendText(res, 200, page, { 'content-type': 'application/json' });
      if (path?.startsWith('/invoices/')) {
        return sendJson(res, 404, { code: 'NOT_FOUND', details: `Invoice ${path.slice(10)} was not found` });
      }
      return sendJson(res, 400, { code: 'BAD_REQUEST', details: `unexpected ${req.method} ${req.url}` });
    });
    connection = amazonAdsConnectionSchema.parse({
      id: 'ads-raw',
      provider: 'amazon-ads',
      region: 'EU',
      secretName: 'unit/ads-raw',
      scopes: [SCOPE],
      schedule: 'rate(1 day)',
      lookbackDays: 30,
      endpoints: { api: server.url, token: `${server.url}/auth/o2/token` },
    });
  });
  afterAll(() => server?.close());

  it('keeps a summary without an id and an undated one aside, and a 404 detail keeps the summary bytes', async () => {
    const { ctx, sink, problems, watermarks } = context(connection, {
      clientId: 'c',
      clientSecret: 's',
      refreshToken: 'r',
    });
    await run(ctx, { ...fetchOf(SCOPE, WINDOW), connection: 'ads-raw' });
    const base = `raw/amazon-ads/ads-raw/${SCOPE}`;

    // No id: nothing to fetch it by; its own bytes are kept under the page's item name, and reported.
    const itemKey = `${base}/_payloads/invoices_2025-01-01_2025-03-31_p0000_item0.json`;
    expect(sink.objects.get(itemKey)?.toString()).toBe(noId);
    // No readable issue date: kept under the undated name.
    const undatedKey = `${base}/_payloads/invoices-undated_U1.json`;
    expect(sink.objects.get(undatedKey)?.toString()).toBe(undated);
    // The detail is gone (404): the invoice lands from its summary, whose own bytes are its raw copy.
    expect(sink.objects.get(`${base}/2025/02/N1.json`)?.toString()).toBe(gone);
    expect(sink.lines()).toMatchObject([
      { invoiceId: 'N1', total: '12.50', remainingDue: '0.00', issuedOn: '2025-02-14' },
    ]);

    expect(problems.map((p) => [p.code, p.key])).toEqual([
      ['ITEM_DOES_NOT_FIT', itemKey],
      ['ITEM_DOES_NOT_FIT', undatedKey],
      ['DETAIL_NOT_FOUND', `${base}/2025/02/N1.json`],
    ]);
    expect(problems[0]!.message).toMatch(/invoices item 0 kept raw, not normalized: id:/);
    expect(problems[1]!.message).toMatch(/invoice U1: .*invoiceDate/);
    // Only N1 asked for its detail: the item without an id was not fetched by one.
    expect(server.requests.filter((r) => r.url.startsWith('/invoices/')).map((r) => r.url)).toEqual([
      '/invoices/N1',
    ]);
    expect(watermarks.get(SCOPE)).toBe('2025-03-31');
  });
});
