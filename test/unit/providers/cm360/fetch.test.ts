import { createHash } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cm360GroundTruth } from '../../../../infra/sandbox/cm360/data.ts';
import { cm360Simulator } from '../../../../infra/sandbox/cm360/index.ts';
import { type Sandbox, startSandbox } from '../../../../infra/sandbox/index.ts';
import { parseSecret } from '../../../../shared/aws/secrets.ts';
import { cm360ConnectionSchema } from '../../../../shared/config/schema.ts';
import { processMessage } from '../../../../shared/engine/process-message.ts';
import type { Gap } from '../../../../shared/engine/reconciliation.ts';
import { specHttp } from '../../../../shared/engine/spec-http.ts';
import { addDecimals } from '../../../../shared/invoice/money.ts';
import {
  type FetchMessage,
  fetchMessageSchema,
  type JobMessageInput,
  jobMessageSchema,
} from '../../../../shared/jobs/messages.ts';
import { OPERATIONS } from '../../../../shared/providers/cm360/api.ts';
import { CAMPAIGN_SUM_DIFFERS } from '../../../../shared/providers/cm360/campaign-sum-gaps.ts';
import {
  type Cm360Connection,
  CONSOLIDATED_BILLING,
  cm360Spec,
} from '../../../../shared/providers/cm360/spec.ts';
import type { Counter, ProviderContext, StateStore } from '../../../../shared/providers/types.ts';
import { sendJson, startServer, type TestServer } from '../../../helpers/http-server.ts';
import { MemorySink, withMemoryPendingDocuments } from '../../../helpers/memory-context.ts';
import { tableOf } from '../../../helpers/memory-invoice-table.ts';

/**
 * The engine running the CM360 spec (processMessage) against the simulator, with in-memory sink, state
 * and queue, for a service-account connection and a refresh-token one: discovery and fan-out, every
 * advertiser's issue months page by page, PDFs, the consolidated advertiser, quota errors, a lapsed token,
 * and (against a small local server) what does not add up or does not come from an allowed host.
 */

const SA = 'cm-sa';
const RT = 'cm-rt';
const PROFILES: Record<string, string> = { [SA]: '7654321', [RT]: '7654399' };
const WINDOW = { from: '2024-03-01', to: '2024-05-31' };
const GENEROUS = { rate: 10_000, burst: 10_000 };
const SETTINGS = {
  lastIssueMonth: '202405',
  months: 3,
  advertisers: 4,
  maxPageSize: 2,
  rateLimit: GENEROUS,
  userQuota: GENEROUS,
  projectQuota: GENEROUS,
};
/** The spec's pace is Google's (1 request/s); the simulator's own limits are what these tests meet. */
const FAST = Object.fromEntries(Object.keys(OPERATIONS).map((op) => [op, { rate: 1_000, burst: 1_000 }]));

const sameDecimal = (a: string, b: string) =>
  addDecimals(a, b.startsWith('-') ? b.slice(1) : `-${b}`) === '0';

function connectionOf(id: string, api: string, token: string): Cm360Connection {
  return cm360ConnectionSchema.parse({
    id,
    provider: 'cm360',
    secretName: `unit/${id}`,
    scopes: 'discover',
    schedule: 'rate(1 day)',
    lookbackDays: 62,
    profileId: PROFILES[id],
    endpoints: { api, token },
  });
}

function context(connection: Cm360Connection, rawSecret: unknown) {
  const sink = new MemorySink();
  const sent: JobMessageInput[] = [];
  const counts: Partial<Record<Counter, number>> = {};
  const watermarks = new Map<string, string>();
  const problems: Array<{ code: string; message: string; key?: string }> = [];
  const gaps: Gap[] = [];
  const state = withMemoryPendingDocuments({
    getWatermark: async (_p: string, _c: string, scope: string) => watermarks.get(scope),
    setWatermark: async (_p: string, _c: string, scope: string, date: string) => {
      watermarks.set(scope, date);
    },
  }) as unknown as StateStore;
  const budget = { deadline: Date.now() + 60_000, remainingMs: () => 60_000 };
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const secret = parseSecret(cm360Spec.secret, rawSecret, connection.secretName);
  const ctx: ProviderContext<Cm360Connection> = {
    connection,
    runId: 'unit-run',
    secret,
    http: specHttp(
      'cm360',
      cm360Spec.client,
      connection,
      secret,
      {
        budget,
        log,
        onEvent: (e) => {
          if (e.type === 'retry') counts.retries = (counts.retries ?? 0) + 1;
          if (e.type === 'throttle') counts.throttles = (counts.throttles ?? 0) + 1;
        },
        allowLoopback: true,
        extraDownloadHosts: [],
        deferThresholdMs: 5_000,
      },
      { operations: FAST },
    ),
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
    reportGap: (g) => gaps.push(g),
    budget,
    now: () => new Date(),
  };
  return { ctx, sink, sent, counts, watermarks, problems, gaps };
}

type Ctx = ReturnType<typeof context>;

const run = (c: Ctx, message: JobMessageInput) =>
  processMessage(jobMessageSchema.parse(message), c.ctx as ProviderContext, cm360Spec);

function fetchOf(connection: string, scope: string, window = WINDOW): FetchMessage {
  return fetchMessageSchema.parse({
    v: 1,
    type: 'fetch',
    runId: 'unit-run',
    provider: 'cm360',
    connection,
    scope,
    window,
    state: { job: 'invoices', args: {} },
  });
}

/** Runs a message and every continuation it hands back (as the queue would), until it is done. */
async function drive(c: Ctx, message: JobMessageInput): Promise<number> {
  let next: JobMessageInput | undefined = message;
  let defers = 0;
  while (next) {
    const current: JobMessageInput = next;
    next = undefined;
    try {
      await run(c, current);
    } catch (err) {
      const e = err as { name?: string; continuation?: JobMessageInput };
      if (e.name !== 'DeferError') throw err;
      defers += 1;
      if (defers > 50) throw new Error('more than 50 continuations');
      next = e.continuation ?? current;
    }
  }
  return defers;
}

describe('cm360 fetch: the spec on the engine against the simulator', () => {
  let sandbox: Sandbox;
  let sim: string;
  const truth: Record<string, Cm360GroundTruth> = {};
  const connections: Record<string, Cm360Connection> = {};

  const admin = async (path: string, body?: unknown) => {
    const res = await request(`${sim}/__sandbox${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`admin ${path}: ${res.statusCode} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const invoiceCalls = () =>
    (
      sandbox.stats().cm360 as {
        operations: Record<string, { requests: number; statuses: Record<string, number> }>;
      }
    ).operations['advertiserInvoices.list'] ?? { requests: 0, statuses: {} };
  /** Answers with this status, over every operation. */
  const answered = (status: string) =>
    Object.values(
      (sandbox.stats().cm360 as { operations: Record<string, { statuses: Record<string, number> }> })
        .operations,
    ).reduce((n, o) => n + (o.statuses[status] ?? 0), 0);
  const cm = (id: string) => context(connections[id]!, sandbox.credentials[id]);
  const billed = (id: string) => truth[id]!.advertisers.filter((a) => a.invoices);
  const consolidated = (id: string) => truth[id]!.advertisers.find((a) => !a.invoices)!;

  beforeAll(async () => {
    sandbox = await startSandbox({
      seed: 31,
      timeScale: 10,
      simulators: [cm360Simulator],
      connections: [
        { id: SA, provider: 'cm360', profileId: PROFILES[SA] },
        { id: RT, provider: 'cm360', profileId: PROFILES[RT] },
      ],
      googleAuth: { [RT]: 'refresh-token' },
      options: { cm360: SETTINGS },
      log: () => {},
    });
    sim = sandbox.endpoints.cm360!;
    for (const id of [SA, RT]) {
      connections[id] = connectionOf(id, sim, sandbox.tokenUrls.google);
      truth[id] = (await admin(`/cm360/ground-truth?connection=${id}`)) as unknown as Cm360GroundTruth;
    }
  });
  afterAll(() => sandbox?.close());

  it('a run discovers the profile’s advertisers (every page kept raw) and fans out one fetch per advertiser', async () => {
    const c = cm(SA);
    await run(c, { v: 1, type: 'run', runId: 'unit-run', provider: 'cm360', connection: SA, window: WINDOW });
    const advertisers = truth[SA]!.advertisers.map((a) => a.advertiserId);
    expect(c.sent.map((m) => (m as FetchMessage).scope).sort()).toEqual([...advertisers].sort());
    expect(c.sent.every((m) => m.type === 'fetch' && (m as FetchMessage).window.to === WINDOW.to)).toBe(true);
    // Four advertisers, two a page: two pages of advertisers.list, each as Google sent it.
    const pages = [...c.sink.objects.keys()]
      .filter((k) => k.startsWith(`raw/cm360/${SA}/_discovery/`))
      .sort();
    expect(pages).toEqual([
      `raw/cm360/${SA}/_discovery/_payloads/advertisers_p0000.json`,
      `raw/cm360/${SA}/_discovery/_payloads/advertisers_p0001.json`,
    ]);
    expect(JSON.parse(c.sink.text(pages[0]!)!)).toMatchObject({
      kind: 'dfareporting#advertisersListResponse',
    });
  });

  it.each([
    ['a service account', SA],
    ['a refresh token', RT],
  ])(
    'with %s: every invoice of every advertiser and month lands once, raw and normalized, with its PDF',
    async (_style, id) => {
      const c = cm(id);
      for (const adv of billed(id)) await drive(c, fetchOf(id, adv.advertiserId));
      expect(c.problems).toEqual([]);

      const lines = c.sink.lines();
      const expected = billed(id).flatMap((a) =>
        Object.values(a.invoices!).flatMap((list) =>
          list.map((e) => ({ ...e, advertiserId: a.advertiserId })),
        ),
      );
      expect(lines.map((l) => l.invoiceId).sort()).toEqual(expected.map((e) => e.id).sort());
      expect(c.counts.invoices).toBe(expected.length);
      expect(c.counts.documents).toBe(expected.length);
      const ids = new Set(expected.map((e) => e.id));
      let credits = 0;
      let huge = 0;
      for (const e of expected) {
        const line = lines.find((l) => l.invoiceId === e.id)!;
        expect(line).toMatchObject({
          account: e.advertiserId,
          issuedOn: e.issueDate,
          currency: e.currencyCode,
          kind: e.kind === 'credit' ? 'CREDIT_NOTE' : 'INVOICE',
          correctsInvoiceId: e.correctedInvoiceId ?? null,
          replacesInvoiceIds: e.replacedInvoiceIds ?? [],
        });
        expect(sameDecimal(line.subtotal as string, e.subtotal), `${e.id} subtotal`).toBe(true);
        expect(sameDecimal(line.tax as string, e.totalTax), `${e.id} tax`).toBe(true);
        expect(sameDecimal(line.total as string, e.total), `${e.id} total`).toBe(true);
        if (e.correctedInvoiceId) {
          credits += 1;
          expect(ids.has(e.correctedInvoiceId)).toBe(true);
        }
        if (BigInt(e.totalAmountMicros) > 2n ** 53n) {
          huge += 1;
          expect(line.subtotal).toBe('1234567890123.456789');
        }
        // The raw copy is the provider's bytes of this invoice, campaign summaries included.
        const raw = c.sink.text(line.rawKey as string)!;
        expect(raw).toContain(`"subtotalAmountMicros":"${e.subtotalAmountMicros}"`);
        expect((JSON.parse(raw) as { campaign_summaries: unknown[] }).campaign_summaries).toHaveLength(
          e.campaignCount,
        );
        // The PDF, streamed with the bearer token, is the one the simulator serves.
        const key = `documents/cm360/${id}/${e.advertiserId}/${e.id}/invoice.pdf`;
        expect(line.documents).toEqual([
          { type: 'INVOICE_PDF', key, sha256: e.pdf.sha256, bytes: e.pdf.bytes },
        ]);
        expect(createHash('sha256').update(c.sink.objects.get(key)!).digest('hex')).toBe(e.pdf.sha256);
      }
      expect(credits).toBeGreaterThan(0);
      if (id === SA) expect(huge).toBe(1);
      for (const adv of billed(id)) expect(c.watermarks.get(adv.advertiserId)).toBe(WINDOW.to);
    },
  );

  it('records the consolidated advertiser on the run, asks for it once, and does not fail', async () => {
    const c = cm(SA);
    const before = invoiceCalls();
    const adv = consolidated(SA).advertiserId;
    await run(c, fetchOf(SA, adv));
    const after = invoiceCalls();
    expect(after.requests - before.requests).toBe(1);
    expect((after.statuses['400'] ?? 0) - (before.statuses['400'] ?? 0)).toBe(1);
    expect(c.problems).toEqual([
      {
        code: CONSOLIDATED_BILLING,
        message: expect.stringContaining(`advertiser ${adv}: invoices are not available`),
        // A normal state of that advertiser: recorded, and the run is not PARTIAL for it.
        note: true,
      },
    ]);
    expect(c.sink.lines()).toEqual([]);
    expect(c.watermarks.get(adv)).toBe(WINDOW.to);
  });

  it('backs off quota 403s (user and project) and 5xx, and still lands every invoice once', async () => {
    const adv = billed(RT).reduce((a, b) =>
      Object.values(b.invoices!).flat().length > Object.values(a.invoices!).flat().length ? b : a,
    );
    const expected = Object.values(adv.invoices!).flat();
    const c = cm(RT);
    const quota403Before = answered('403');
    await admin('/settings', {
      ...SETTINGS,
      userQuota: { rate: 0.5, burst: 2 },
      projectQuota: { rate: 1, burst: 3 },
    });
    await admin('/faults', { serverErrorRate: 0.15 });
    try {
      await drive(c, fetchOf(RT, adv.advertiserId));
    } finally {
      await admin('/faults', {});
      await admin('/settings', SETTINGS);
    }
    expect(answered('403') - quota403Before).toBeGreaterThan(0);
    expect(c.counts.throttles ?? 0).toBeGreaterThan(0);
    expect(c.counts.retries ?? 0).toBeGreaterThan(0);
    expect(
      c.sink
        .lines()
        .map((l) => l.invoiceId)
        .sort(),
    ).toEqual(expected.map((e) => e.id).sort());
    expect(c.problems).toEqual([]);
  });

  it('refreshes a lapsed token once and goes on', async () => {
    const c = cm(SA);
    const adv = billed(SA)[0]!;
    await run(c, fetchOf(SA, adv.advertiserId, { from: '2024-05-01', to: '2024-05-31' }));
    const refusals = answered('401');
    sandbox.google.expireAll();
    await run(c, fetchOf(SA, adv.advertiserId, { from: '2024-04-01', to: '2024-04-30' }));
    const ids = c.sink.lines().map((l) => l.invoiceId);
    expect(ids.sort()).toEqual(
      [...adv.invoices!['202404']!, ...adv.invoices!['202405']!].map((e) => e.id).sort(),
    );
    // One refusal: the new token from the refresh was taken at once.
    expect(answered('401') - refusals).toBe(1);
    expect(c.problems).toEqual([]);
  });

  it('an unknown advertiser fails its message for good, naming the provider’s reason', async () => {
    const c = cm(SA);
    const err = (await run(c, fetchOf(SA, '999999999')).then(
      () => ({}),
      (e: unknown) => e,
    )) as Record<string, unknown>;
    expect(err).toMatchObject({ name: 'ProviderError', status: 404, retryable: false });
    expect(String(err.message)).toMatch(/Advertiser 999999999 was not found/);
  });
});

describe('cm360 fetch: what does not add up or does not come from an allowed host', () => {
  let sandbox: Sandbox;
  let server: TestServer;
  const PDF = Buffer.from('%PDF-1.4\nnot much of a pdf\n%%EOF\n', 'latin1');

  beforeAll(async () => {
    sandbox = await startSandbox({
      seed: 3,
      simulators: [],
      connections: [{ id: SA, provider: 'cm360', profileId: PROFILES[SA] }],
      log: () => {},
    });
    server = await startServer((req, res) => {
      if (req.url.startsWith('/pdf/ok')) {
        res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': PDF.length });
        res.end(PDF);
        return;
      }
      if (req.url.startsWith('/pdf/html')) {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html>sign in</html>');
        return;
      }
      const summary = (pre: string, tax: string) => ({
        campaignId: '1',
        preTaxAmountMicros: pre,
        taxAmountMicros: tax,
        totalAmountMicros: String(BigInt(pre) + BigInt(tax)),
      });
      const base = { kind: 'dfareporting#invoice', invoiceType: 'INVOICE_TYPE_INVOICE', currencyCode: 'USD' };
      sendJson(res, 200, {
        kind: 'dfareporting#advertiserInvoicesListResponse',
        invoices: [
          {
            ...base,
            id: '1001',
            issueDate: '2024-05-02',
            subtotalAmountMicros: '2000000',
            totalTaxAmountMicros: '0',
            totalAmountMicros: '2000000',
            pdfUrl: `${server.url}/pdf/ok`,
            campaign_summaries: [summary('1000000', '0'), summary('999999', '0')],
          },
          {
            ...base,
            id: '1002',
            issueDate: '2024-05-03',
            totalAmountMicros: '5',
            pdfUrl: 'https://files.example.com/1002.pdf',
          },
          {
            ...base,
            id: '1003',
            issueDate: '2024-05-04',
            totalAmountMicros: '7',
            pdfUrl: `${server.url}/pdf/html`,
          },
        ],
      });
    });
  });
  afterAll(async () => {
    await server?.close();
    await sandbox?.close();
  });

  it('itemises a campaign breakdown that misses the totals as gaps, reports a link off the allowlist and bytes that are not a PDF, and lands every invoice', async () => {
    const connection = connectionOf(SA, server.url, sandbox.tokenUrls.google);
    const c = context(connection, sandbox.credentials[SA]);
    await run(c, fetchOf(SA, '12345', { from: '2024-05-01', to: '2024-05-31' }));
    expect(
      c.sink
        .lines()
        .map((l) => l.invoiceId)
        .sort(),
    ).toEqual(['1001', '1002', '1003']);
    expect(c.problems.map((p) => p.code).sort()).toEqual(['DOCUMENT_LINK_REFUSED', 'DOCUMENT_NOT_PDF']);
    expect(c.gaps).toEqual([
      {
        code: CAMPAIGN_SUM_DIFFERS,
        scope: '12345',
        invoiceId: '1001',
        field: 'subtotalAmountMicros',
        expected: '2000000',
        found: '1999999',
        message: "subtotalAmountMicros 2 but its 2 campaign summaries' preTaxAmountMicros add up to 1.999999",
      },
      expect.objectContaining({
        invoiceId: '1001',
        field: 'totalAmountMicros',
        expected: '2000000',
        found: '1999999',
      }),
    ]);
    expect(c.problems.find((p) => p.code === 'DOCUMENT_LINK_REFUSED')!.message).toContain(
      'files.example.com',
    );
    const first = c.sink.lines().find((l) => l.invoiceId === '1001')!;
    expect(first.documents).toEqual([
      {
        type: 'INVOICE_PDF',
        key: `documents/cm360/${SA}/12345/1001/invoice.pdf`,
        sha256: createHash('sha256').update(PDF).digest('hex'),
        bytes: PDF.length,
      },
    ]);
    expect(c.sink.lines().find((l) => l.invoiceId === '1002')!.documents).toEqual([]);
    // The PDF went out with the bearer token; the listing asked for its issue month.
    const pdfCall = server.requests.find((r) => r.url === '/pdf/ok')!;
    expect(pdfCall.headers.authorization).toMatch(/^Bearer ya29\./);
    const list = server.requests.find((r) => r.url.includes('/invoices?'))!;
    expect(list.url).toBe(
      `/dfareporting/v4/userprofiles/${PROFILES[SA]}/advertisers/12345/invoices?issueMonth=202405&maxResults=1000`,
    );
  });
});
