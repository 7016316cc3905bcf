import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../../../infra/sandbox/index.ts';
import { spApiSimulator } from '../../../../infra/sandbox/sp-api/index.ts';
import { parseConfig } from '../../../../shared/config/load.ts';
import { processMessage } from '../../../../shared/engine/process-message.ts';
import type { ListingJob, ProviderSpec } from '../../../../shared/engine/provider-spec.ts';
import { runListing } from '../../../../shared/engine/run-listing.ts';
import { specHttp } from '../../../../shared/engine/spec-http.ts';
import { budgetUntil } from '../../../../shared/http/budget.ts';
import { DeferError, ProviderError } from '../../../../shared/http/errors.ts';
import { resetBuckets } from '../../../../shared/http/token-bucket.ts';
import type { FetchMessage, JobMessageInput, RunMessage } from '../../../../shared/jobs/messages.ts';
import { fetchMessageSchema, runMessageSchema } from '../../../../shared/jobs/messages.ts';
import { createInvoicesExport, getInvoice, getInvoices } from '../../../../shared/providers/sp-api/api.ts';
import { windowBounds } from '../../../../shared/providers/sp-api/bounds.ts';
import { send } from '../../../../shared/providers/sp-api/http.ts';
import { brazilDay } from '../../../../shared/providers/sp-api/normalize.ts';
import { type SpApiConnection, spApiSpec } from '../../../../shared/providers/sp-api/spec.ts';
import { writeXmlIndex, type XmlIndexEntry } from '../../../../shared/providers/sp-api/xml-index.ts';
import type {
  ExportRecord,
  HttpResponse,
  HttpRuntime,
  ProviderContext,
  ProviderHttp,
  RequestOptions,
  Sink,
  StateStore,
  StoredObject,
} from '../../../../shared/providers/types.ts';
import { withMemoryPendingDocuments } from '../../../helpers/memory-context.ts';
import { tableOf } from '../../../helpers/memory-invoice-table.ts';

/**
 * The SP-API spec run by the engine against the simulator, with in-memory stand-ins for S3, the state
 * table and the queue: errors surface with the provider's code and only 429/5xx are retried; a run fans
 * out one listing and one export per marketplace; a listing longer than the burst hands its cursor to a
 * continuation with the same arguments and loses nothing across it; pages and invoices are kept raw as
 * the provider's bytes.
 */

const MP = 'A2Q3Y263D00KWC';
const invoicesJob = spApiSpec.jobs.find((j) => j.name === 'invoices') as ListingJob<SpApiConnection>;

class MemorySink implements Sink {
  readonly objects = new Map<string, string>();
  #store(key: string, text: string): StoredObject {
    this.objects.set(key, text);
    return { key, sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text) };
  }
  async putJson(key: string, value: unknown): Promise<StoredObject> {
    return this.#store(key, JSON.stringify(value));
  }
  async mergeJsonl<T extends Record<string, unknown>>(
    key: string,
    records: readonly T[],
    idField: keyof T & string,
  ) {
    const byId = new Map<string, string>();
    for (const line of (this.objects.get(key) ?? '').split('\n').filter(Boolean)) {
      byId.set(String((JSON.parse(line) as Record<string, unknown>)[idField]), line);
    }
    for (const r of records) byId.set(String(r[idField]), JSON.stringify(r));
    return this.#store(key, `${[...byId.values()].join('\n')}\n`);
  }
  async putStream(key: string, body: Readable): Promise<StoredObject> {
    const chunks: Buffer[] = [];
    for await (const c of body as AsyncIterable<Buffer | string>)
      chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
    return this.#store(key, Buffer.concat(chunks).toString('utf8'));
  }
  async getText(key: string) {
    return this.objects.get(key);
  }
  keys(pattern: RegExp): string[] {
    return [...this.objects.keys()].filter((k) => pattern.test(k));
  }
  lines(prefix: string): Array<Record<string, unknown>> {
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .flatMap(([, v]) =>
        v
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      );
  }
}

/** The registry's find-before-create, in memory: a record with an export id is reused, else create() runs. */
function exportState(stale?: Omit<ExportRecord, 'key'>): StateStore & { records: Map<string, ExportRecord> } {
  const records = new Map<string, ExportRecord>();
  return {
    ...memoryState(),
    records,
    getExport: async (key: string) => records.get(key) ?? (stale ? { ...stale, key } : undefined),
    findOrCreateExport: async (input, create) => {
      const existing = records.get(input.key);
      if (existing?.exportId) return { record: existing, created: false };
      const made = await create();
      const record: ExportRecord = {
        key: input.key,
        provider: 'sp-api',
        connection: input.connection,
        scope: input.scope,
        exportId: made.exportId,
        state: 'PENDING',
        createdAt: new Date().toISOString(),
        deadline: new Date(Date.now() + input.deadlineMs).toISOString(),
        attempts: 0,
        copied: {},
        runId: input.runId,
        details: { ...(input.details ?? {}), ...(made.details ?? {}) },
      };
      records.set(input.key, record);
      return { record, created: true };
    },
  } as StateStore & { records: Map<string, ExportRecord> };
}

function memoryState(): StateStore & { watermarks: Map<string, string> } {
  const watermarks = new Map<string, string>();
  return withMemoryPendingDocuments({
    watermarks,
    getExport: async () => undefined,
    findOrCreateExport: async () => {
      throw new Error('not in this test');
    },
    updateExport: async () => {},
    recordCopy: async () => {},
    getWatermark: async (_p, c, s) => watermarks.get(`${c}/${s}`),
    setWatermark: async (_p, c, s, d) => {
      watermarks.set(`${c}/${s}`, d);
    },
  } as Omit<StateStore, 'listPendingDocuments' | 'recordPendingDocument' | 'deletePendingDocument'> & {
    watermarks: Map<string, string>;
  });
}

/**
 * A ProviderHttp that answers each operation with fixed text, parsed and checked against the request's
 * schema as the real client does: for pages whose exact bytes matter.
 */
function scriptedHttp(answers: Record<string, string>): ProviderHttp & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async request<T>(operation: string, opts: RequestOptions<T>): Promise<HttpResponse<T>> {
      calls.push(operation);
      const body = answers[operation];
      if (body === undefined) throw new Error(`no scripted answer for ${operation}`);
      const parsed = opts.schema
        ? opts.schema.safeParse(JSON.parse(body))
        : { success: true, data: JSON.parse(body) };
      if (!parsed.success) throw new Error(`scripted ${operation} does not fit its schema`);
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        data: parsed.data as T,
        rawBody: body,
      };
    },
    async download() {
      throw new Error('no downloads here');
    },
  };
}

const fetchMessage = (fields: Record<string, unknown>): FetchMessage =>
  fetchMessageSchema.parse({
    v: 1,
    type: 'fetch',
    runId: 'unit-run',
    provider: 'sp-api',
    connection: 'sp-unit',
    scope: MP,
    ...fields,
  });

describe('SP-API spec on the engine, against the simulator', () => {
  let sandbox: Sandbox;
  let sim: string;
  let connection: SpApiConnection;
  const sent: JobMessageInput[] = [];
  const problems: Array<{ code: string; message: string; key?: string }> = [];

  const runtime = (): HttpRuntime => ({
    budget: budgetUntil(Date.now() + 60_000),
    log: { debug() {}, info() {}, warn() {}, error() {} },
    onEvent: () => {},
    allowLoopback: true,
    extraDownloadHosts: [],
    deferThresholdMs: 5_000,
  });
  const client = (overrides: Parameters<typeof specHttp>[5] = {}): ProviderHttp =>
    specHttp(
      'sp-api',
      spApiSpec.client,
      connection,
      sandbox.credentials['sp-unit'] as unknown as Record<string, string>,
      runtime(),
      { retry: { baseMs: 1, capMs: 5 }, ...overrides },
    );
  const ctxFor = (
    http: ProviderHttp,
    sink: MemorySink,
    state: StateStore,
    conn: SpApiConnection = connection,
  ): ProviderContext<SpApiConnection> => ({
    connection: conn,
    runId: 'unit-run',
    secret: {},
    http,
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
    log: runtime().log,
    count: () => {},
    reportProblem: (p) => problems.push(p),
    budget: budgetUntil(Date.now() + 60_000),
    now: () => new Date(),
  });
  const run = (ctx: ProviderContext<SpApiConnection>, message: RunMessage | FetchMessage) =>
    processMessage(message, ctx as unknown as ProviderContext, spApiSpec as unknown as ProviderSpec);
  const runMessage = (fields: Record<string, unknown>): RunMessage =>
    runMessageSchema.parse({
      v: 1,
      type: 'run',
      runId: 'unit-run',
      provider: 'sp-api',
      connection: 'sp-unit',
      ...fields,
    });
  const admin = async (path: string, body: unknown) => {
    const res = await request(`${sim}/__sandbox${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(200);
    await res.body.text();
  };
  const requests = (op: string) =>
    (sandbox.stats()['sp-api'] as { operations: Record<string, { requests: number }> }).operations[op]
      ?.requests ?? 0;
  const refill = async () => {
    resetBuckets();
    await admin('/rate-limits/reset', {});
  };

  beforeAll(async () => {
    const config = parseConfig({
      connections: [
        {
          id: 'sp-unit',
          provider: 'sp-api',
          region: 'NA',
          secretName: 's',
          scopes: [MP],
          schedule: 'rate(1 day)',
          lookbackDays: 30,
          pageSize: 3,
        },
      ],
    });
    // Time scale 1: getInvoices' 0.1/s is real, so a listing past the burst must defer.
    sandbox = await startSandbox({
      seed: 5,
      timeScale: 1,
      simulators: [spApiSimulator],
      connections: config.connections,
      options: { 'sp-api': { invoices: 70, emptyPageEvery: 4 } },
      log: () => {},
    });
    sim = sandbox.endpoints['sp-api']!;
    connection = {
      ...(config.connections[0] as SpApiConnection),
      endpoints: { api: sim, token: sandbox.tokenUrls.lwa },
    };
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  afterEach(async () => {
    problems.length = 0;
    sent.length = 0;
    await admin('/faults', {});
    await refill();
  });

  it('surfaces 400 and 404 with the provider code, sent once', async () => {
    const http = client();
    const before404 = requests('getInvoice');
    const missing = await send(http, getInvoice({ invoiceId: 'nope', marketplaceId: MP })).catch(
      (e: unknown) => e,
    );
    expect(missing).toBeInstanceOf(ProviderError);
    expect(missing).toMatchObject({ status: 404, code: 'NotFound', attempts: 1 });
    expect(requests('getInvoice') - before404).toBe(1);

    const before400 = requests('getInvoices');
    const bad = await send(http, getInvoices({ marketplaceId: MP, pageSize: 500 })).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, code: '400', details: expect.stringMatching(/pageSize/) });
    expect(requests('getInvoices') - before400).toBe(1);
  });

  it('403: the token is refreshed once, then the refusal surfaces with its code; no more attempts', async () => {
    const http = client({
      auth: { style: 'x-amz-access-token', tokens: { get: async () => 'Atza|not-issued', invalidate() {} } },
    });
    const before = requests('getInvoice');
    const err = await send(http, getInvoice({ invoiceId: 'x', marketplaceId: MP })).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 403, code: 'Unauthorized' });
    expect(requests('getInvoice') - before).toBe(2);
    expect((err as Error).message).not.toContain('Atza|');
  });

  it('retries 5xx and 429 answers, and succeeds once they pass', async () => {
    await admin('/faults', { operations: ['getInvoicesAttributes'], throttleBurst: { every: 2, length: 1 } });
    const http = client();
    const attributes = async () =>
      send(http, {
        operation: 'getInvoicesAttributes',
        method: 'GET',
        path: '/tax/invoices/2024-06-19/attributes',
        query: { marketplaceId: MP },
      });
    // Spaced a second apart: the operation's own plan is one a second.
    for (let i = 0; i < 3; i++) {
      expect((await attributes()).status).toBe(200);
      await refill();
    }
    const stats = sandbox.stats()['sp-api'] as { operations: Record<string, { throttled: number }> };
    expect(stats.operations.getInvoicesAttributes!.throttled).toBeGreaterThan(0);
    await admin('/faults', { operations: ['getInvoice'], serverErrorRate: 1 });
    const before = requests('getInvoice');
    const err = await send(http, getInvoice({ invoiceId: 'x', marketplaceId: MP })).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: expect.any(Number), attempts: 5 });
    expect([500, 503]).toContain((err as ProviderError).status);
    expect(requests('getInvoice') - before).toBe(5);
  });

  it('the simulator refuses a nextToken sent with other arguments than its listing', async () => {
    const http = client();
    const first = await send<{ nextToken?: string }>(
      http,
      getInvoices({ marketplaceId: MP, dateStart: '2000-01-01T00:00:00Z', pageSize: 3 }),
    );
    const token = first.data.nextToken!;
    const other = await send(
      http,
      getInvoices({ marketplaceId: MP, dateStart: '2001-01-01T00:00:00Z', pageSize: 3, nextToken: token }),
    ).catch((e: unknown) => e);
    expect(other).toMatchObject({
      status: 400,
      details: 'Specifying nextToken with any other parameters will cause the request to fail.',
    });
  });

  it('a run checks the filters, then fans out one listing (with its fixed bounds) and one export per marketplace', async () => {
    const sink = new MemorySink();
    const window = { from: '2000-01-01', to: new Date().toISOString().slice(0, 10) };
    await run(ctxFor(client(), sink, memoryState()), runMessage({ window }));
    const fetches = sent.map((m) => fetchMessageSchema.parse(m));
    expect(fetches).toHaveLength(2);
    const [listing, exporting] = fetches;
    expect(listing).toMatchObject({ scope: MP, window, continuation: 0, state: { job: 'invoices' } });
    // The bounds are computed once and travel with every page, so each nextToken goes with its arguments.
    expect(listing!.state!.args).toEqual({
      dateStart: '2000-01-01T00:00:00Z',
      dateEnd: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
    });
    expect(exporting).toMatchObject({ scope: MP, window, state: { job: 'exports' } });
    // The attributes answer that checked the filters is kept raw.
    expect(sink.objects.get(`raw/sp-api/sp-unit/${MP}/_payloads/invoices-attributes.json`)).toContain(
      'invoiceStatusOptions',
    );
  });

  it('a run whose filters the marketplace does not offer is refused whole, naming the field; nothing is sent', async () => {
    const bad = { ...connection, filters: { ...connection.filters, statuses: ['AUTHORIZED', 'PAID'] } };
    const err = await run(ctxFor(client(), new MemorySink(), memoryState(), bad), runMessage({})).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: 'FilterError', retryable: false });
    expect((err as Error).message).toMatch(/field "filters\.statuses": "PAID"/);
    expect(sent).toEqual([]);
  });

  it('a listing past the burst defers with its cursor, resumes with the same arguments, and loses nothing', async () => {
    const sink = new MemorySink();
    const state = memoryState();
    const window = { from: '2000-01-01', to: new Date().toISOString().slice(0, 10) };
    const args = windowBounds(window, new Date());
    let message = fetchMessage({ window, state: { job: 'invoices', args } });
    const ctx = ctxFor(client({ deferThresholdMs: 100 }), sink, state);
    const before = requests('getInvoices');
    let defers = 0;
    for (;;) {
      try {
        await run(ctx, message);
        break;
      } catch (err) {
        expect(err).toBeInstanceOf(DeferError);
        const defer = err as DeferError;
        defers += 1;
        expect(defer.reason).toBe('throttled');
        expect(defer.delaySeconds()).toBeGreaterThanOrEqual(9);
        const next = fetchMessageSchema.parse(defer.continuation);
        expect(next.cursor).toBeDefined();
        expect(next.window).toEqual(window);
        expect(next.continuation).toBe(message.continuation + 1);
        // Same job, same arguments: the nextToken is sent with the listing it belongs to.
        expect(next.state).toMatchObject({ job: 'invoices', args, skip: 0 });
        expect((next.state as { page: number }).page).toBeGreaterThan(
          (message.state as { page?: number }).page ?? 0,
        );
        // What was fetched before the defer is in the invoice table: nothing waits in memory for the next run.
        expect(tableOf(sink).byIdentity.size).toBeGreaterThan(0);
        message = next;
        // Time passes in the queue: both buckets refill.
        await refill();
      }
    }
    expect(defers).toBeGreaterThan(0);
    const ids = sink.lines('invoices/provider=sp-api/').map((l) => l.invoiceId);
    expect(new Set(ids).size).toBe(70);
    expect(ids).toHaveLength(70);
    expect(state.watermarks.get(`sp-unit/${MP}`)).toBe(window.to);
    expect(problems).toEqual([]);
    // 24 pages of 3 and every fourth page empty: empty pages were followed, not taken for the end.
    expect(requests('getInvoices') - before).toBeGreaterThanOrEqual(31);

    // Each page is kept as the provider sent it, numbered across continuations; each invoice's raw
    // object is the provider's bytes for it, cut from its page (not a re-serialization).
    const pageKeys = sink.keys(
      new RegExp(`^raw/sp-api/sp-unit/${MP}/_payloads/invoices_${window.from}_${window.to}_p\\d{4}\\.json$`),
    );
    expect(pageKeys.length).toBeGreaterThanOrEqual(31);
    expect(pageKeys).toContain(
      `raw/sp-api/sp-unit/${MP}/_payloads/invoices_${window.from}_${window.to}_p0000.json`,
    );
    const pages = pageKeys.map((k) => sink.objects.get(k)!);
    const rawKeys = sink.keys(/^raw\/sp-api\/sp-unit\/A2Q3Y263D00KWC\/\d{4}\/\d{2}\//);
    expect(rawKeys).toHaveLength(70);
    for (const key of rawKeys) {
      const bytes = sink.objects.get(key)!;
      expect(pages.some((p) => p.includes(bytes))).toBe(true);
      expect(key.endsWith(`/${(JSON.parse(bytes) as { id: string }).id}.json`)).toBe(true);
    }
  });

  it('a listing past the burst comes back when its next page is due, not after more of the burst', async () => {
    const window = { from: '2000-01-01', to: new Date().toISOString().slice(0, 10) };
    const message = fetchMessage({
      window,
      state: { job: 'invoices', args: windowBounds(window, new Date()) },
    });
    const err = await run(
      ctxFor(client({ deferThresholdMs: 100 }), new MemorySink(), memoryState()),
      message,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeferError);
    // One token of getInvoices' 0.1/s: waiting for more would lose them at the end of the listing.
    expect((err as DeferError).delaySeconds()).toBeGreaterThan(0);
    expect((err as DeferError).delaySeconds()).toBeLessThanOrEqual(10);
  });

  it('a 429 that outlasts the retries (another container drained the bucket) hands the listing back from its page', async () => {
    const other = client();
    const page = getInvoices({
      marketplaceId: MP,
      dateStart: '1990-01-01T00:00:00Z',
      dateEnd: '1990-01-02T00:00:00Z',
    });
    for (let i = 0; i < 20; i++) await send(other, page);
    resetBuckets();
    const http = client({ retry: { baseMs: 1, capMs: 5, maxAttempts: 2 } });
    const window = { from: '2000-01-01', to: new Date().toISOString().slice(0, 10) };
    const args = windowBounds(window, new Date());
    const message = fetchMessage({
      window,
      cursor: 'opaque-cursor-from-an-earlier-page',
      continuation: 3,
      state: { job: 'invoices', args, page: 3, skip: 0 },
    });
    const sink = new MemorySink();
    const err = await run(ctxFor(http, sink, memoryState()), message).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeferError);
    const defer = err as DeferError;
    expect(defer.reason).toBe('throttled');
    // Again once most of the burst is back (the spec's throttledWaitMs: 14 tokens at 0.1/s).
    expect(defer.delaySeconds()).toBeGreaterThanOrEqual(139);
    expect(fetchMessageSchema.parse(defer.continuation)).toMatchObject({
      cursor: 'opaque-cursor-from-an-earlier-page',
      continuation: 4,
      window,
      state: { job: 'invoices', args, page: 3, skip: 0 },
    });
    expect(sink.objects.size).toBe(0);
  });

  it('a provider that keeps failing (5xx) hands the listing back with a growing wait, then fails it', async () => {
    await admin('/faults', { operations: ['getInvoices'], serverErrorRate: 1 });
    const http = client({ retry: { baseMs: 1, capMs: 5, maxAttempts: 2 } });
    const window = { from: '2000-01-01', to: new Date().toISOString().slice(0, 10) };
    const args = windowBounds(window, new Date());
    const first = await run(
      ctxFor(http, new MemorySink(), memoryState()),
      fetchMessage({ window, state: { job: 'invoices', args } }),
    ).catch((e: unknown) => e);
    expect(first).toMatchObject({ name: 'DeferError', reason: 'unavailable' });
    const next = fetchMessageSchema.parse((first as DeferError).continuation);
    expect(next.state).toMatchObject({ job: 'invoices', args, transient: 1 });
    expect((first as DeferError).delaySeconds()).toBeGreaterThanOrEqual(14);

    const later = await run(
      ctxFor(http, new MemorySink(), memoryState()),
      fetchMessage({ window, state: { job: 'invoices', args, transient: 2 } }),
    ).catch((e: unknown) => e);
    expect((later as DeferError).delaySeconds()).toBeGreaterThanOrEqual(59);

    const last = await run(
      ctxFor(http, new MemorySink(), memoryState()),
      fetchMessage({ window, state: { job: 'invoices', args, transient: 5 } }),
    ).catch((e: unknown) => e);
    expect(last).toBeInstanceOf(ProviderError);
    expect([500, 503]).toContain((last as ProviderError).status);
  });

  it('a run for one invoice fetches it by id (getInvoice), keeps its bytes raw and normalizes it', async () => {
    const http = client();
    const listed = await send<{ invoices: Array<{ id: string; date: string }> }>(
      http,
      getInvoices({ marketplaceId: MP, dateStart: '2000-01-01T00:00:00Z', pageSize: 3 }),
    );
    const wanted = listed.data.invoices[0]!;
    const sink = new MemorySink();
    const listings = requests('getInvoices');
    await run(ctxFor(http, sink, memoryState()), runMessage({ invoiceId: wanted.id }));
    expect(requests('getInvoices')).toBe(listings);
    expect(sent).toEqual([]);
    // The issue day is the day in Brazil: a date-time late in the UTC evening is the day before there.
    const day = brazilDay(wanted.date);
    expect(sink.lines('invoices/provider=sp-api/')).toEqual([
      expect.objectContaining({ invoiceId: wanted.id, issuedOn: day }),
    ]);
    const [rawKey] = sink.keys(/^raw\/sp-api\/sp-unit\/A2Q3Y263D00KWC\/\d{4}\/\d{2}\//);
    expect(rawKey).toBe(`raw/sp-api/sp-unit/${MP}/${day.slice(0, 4)}/${day.slice(5, 7)}/${wanted.id}.json`);
    // The invoice's own bytes from the getInvoice answer, stored as a listing's item would be.
    expect(JSON.parse(sink.objects.get(rawKey!)!)).toMatchObject({ id: wanted.id, date: wanted.date });

    const missing = await run(
      ctxFor(http, new MemorySink(), memoryState()),
      runMessage({ invoiceId: 'no-such-invoice' }),
    ).catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, retryable: false });
    expect((missing as Error).message).toContain('no-such-invoice');
  });

  describe('find-before-create of exports', () => {
    const window = { from: '2001-02-03', to: '2001-02-04' };
    const exportStep = () => fetchMessage({ window, state: { job: 'exports' } });
    const strayExport = async (http: ProviderHttp) => {
      const res = await send<{ exportId: string }>(
        http,
        createInvoicesExport({ marketplaceId: MP, fileFormat: 'XML' }),
      );
      await refill();
      return res.data.exportId;
    };
    const stale = (createdAt: number): Omit<ExportRecord, 'key'> => ({
      provider: 'sp-api',
      connection: 'sp-unit',
      scope: MP,
      state: 'CREATING',
      createdAt: new Date(createdAt).toISOString(),
      deadline: new Date(createdAt + 3_600_000).toISOString(),
      attempts: 0,
      copied: {},
      runId: 'crashed-run',
    });

    it('a create that crashed before its id was recorded: the one export made meanwhile is taken, none created', async () => {
      const http = client();
      const claimedAt = Date.now() - 1_000;
      const stray = await strayExport(http);
      const state = exportState(stale(claimedAt));
      sent.length = 0;
      const creates = requests('createInvoicesExport');
      await run(ctxFor(http, new MemorySink(), state), exportStep());
      expect(requests('createInvoicesExport')).toBe(creates);
      const [record] = [...state.records.values()];
      expect(record).toMatchObject({ exportId: stray, details: { adopted: true, job: 'exports', window } });
      expect(sent).toEqual([expect.objectContaining({ type: 'poll', exportId: stray, scope: MP })]);
    });

    it('several exports made meanwhile cannot be told apart (the model lists no filters): a new one is created', async () => {
      const http = client();
      const claimedAt = Date.now() - 1_000;
      const strays = [await strayExport(http), await strayExport(http)];
      const state = exportState(stale(claimedAt));
      const creates = requests('createInvoicesExport');
      await run(ctxFor(http, new MemorySink(), state), exportStep());
      expect(requests('createInvoicesExport')).toBe(creates + 1);
      expect(strays).not.toContain([...state.records.values()][0]!.exportId);
    });

    it('a registered export is reused without asking the provider', async () => {
      const http = client();
      const state = exportState();
      await run(ctxFor(http, new MemorySink(), state), exportStep());
      await refill();
      const creates = requests('createInvoicesExport');
      const lists = requests('getInvoicesExports');
      sent.length = 0;
      await run(ctxFor(http, new MemorySink(), state), exportStep());
      expect(requests('createInvoicesExport')).toBe(creates);
      expect(requests('getInvoicesExports')).toBe(lists);
      expect(state.records.size).toBe(1);
      // Still being worked on: the reused export gets a poll of its own (its first chain may have died).
      expect(sent).toEqual([expect.objectContaining({ type: 'poll', scope: MP })]);
    });
  });

  describe('a page worked item by item (scripted answers)', () => {
    const window = { from: '2024-07-01', to: '2024-08-31' };
    const args = { dateStart: '2024-07-01T00:00:00Z', dateEnd: '2024-08-31T23:59:59Z' };
    const listing = () => fetchMessage({ window, state: { job: 'invoices', args } });
    // Spacing and number spelling a re-serialization would change.
    const OK =
      '{ "id": "ok-1", "date": "2024-07-10T10:00:00Z", "status": "AUTHORIZED", "externalInvoiceId": "1283743", "series": "32", "weight": 1.50 }';
    const page = (...items: string[]) => `{"invoices": [\n  ${items.join(',\n  ')}\n]}`;

    it('keeps an invoice that does not fit raw, reports it, and goes on; fitting invoices are kept as sent', async () => {
      const sink = new MemorySink();
      const body = page(
        OK,
        '{"id": "no-date", "status": "AUTHORIZED"}',
        '{"id": "bad-date", "date": "soon"}',
      );
      const ctx = ctxFor(scriptedHttp({ getInvoices: body }), sink, memoryState());
      await runListing(listing(), invoicesJob, ctx);
      expect(sink.lines('invoices/').map((l) => l.invoiceId)).toEqual(['ok-1']);
      expect(sink.objects.get(`raw/sp-api/sp-unit/${MP}/2024/07/ok-1.json`)).toBe(OK);
      expect(
        sink.objects.get(`raw/sp-api/sp-unit/${MP}/_payloads/invoices_2024-07-01_2024-08-31_p0000.json`),
      ).toBe(body);
      expect(problems).toHaveLength(2);
      expect(problems.every((p) => p.code === 'ITEM_DOES_NOT_FIT')).toBe(true);
      // Without a date there is no month to file it under: kept under the page's name and its place in it.
      const noDate = problems.find((p) => p.key?.endsWith('_p0000_item1.json'));
      expect(noDate?.message).toMatch(/date/);
      expect(sink.objects.get(noDate!.key!)).toBe('{"id": "no-date", "status": "AUTHORIZED"}');
      const badDate = problems.find((p) => p.key?.includes('bad-date'));
      expect(badDate?.message).toMatch(/invoice\.date/);
      expect(sink.objects.get(badDate!.key!)).toContain('soon');
    });

    it('files an invoice under the day its date states, and links the XML the export has indexed for that month', async () => {
      const sink = new MemorySink();
      const xml: XmlIndexEntry = {
        id: '35240712345678000190550320012837431123456780',
        accessKey: '35240712345678000190550320012837431123456780',
        number: '001283743',
        series: '032',
        month: '2024-07',
        vProd: '100.5',
        vNF: '110.75',
        document: {
          type: 'nfe-xml',
          key: 'documents/sp-api/sp-unit/m/k/k.xml',
          sha256: 'a'.repeat(64),
          bytes: 10,
        },
        exportId: 'e',
        documentId: 'd',
        entry: 'k.xml',
      };
      const meta = { sourceOperation: 'getInvoicesDocument', runId: 'r', fetchedAt: '2024-08-01T00:00:00Z' };
      await writeXmlIndex(sink, 'sp-unit', MP, [xml], meta);
      const late = '{"id": "late-1", "date": "2024-07-31T22:30:00-03:00", "status": "AUTHORIZED"}';
      const ctx = ctxFor(scriptedHttp({ getInvoices: page(OK, late) }), sink, memoryState());
      await runListing(listing(), invoicesJob, ctx);
      expect(problems).toEqual([]);
      const july = sink.lines('invoices/provider=sp-api/issue_month=2024-07/');
      expect(july.map((l) => l.invoiceId).sort()).toEqual(['late-1', 'ok-1']);
      expect(july.find((l) => l.invoiceId === 'ok-1')).toMatchObject({
        currency: 'BRL',
        subtotal: '100.5',
        total: '110.75',
        documents: [xml.document],
      });
      // 22:30 at -03:00 on July 31 is July 31 as stated (no longer moved to August 1 in UTC).
      expect(july.find((l) => l.invoiceId === 'late-1')).toMatchObject({
        issuedOn: '2024-07-31',
        documents: [],
      });
      expect(sink.objects.has(`raw/sp-api/sp-unit/${MP}/2024/07/late-1.json`)).toBe(true);
      expect(sink.lines('invoices/provider=sp-api/issue_month=2024-08/')).toEqual([]);
      // The keys a later publish links by are kept with the invoices (the normalized line has no series).
      expect([...tableOf(sink).byIdentity.values()].map((e) => e.match ?? {})).toEqual(
        expect.arrayContaining([{ externalInvoiceId: '1283743', series: '32' }, {}]),
      );
    });

    // KNOWN BUG (see report): getInvoices states `date` in UTC, the NF-e's dhEmi at -03:00. Filed each by the
    // day it states, an invoice issued on a month's last evening (Brasília) is in the next month while
    // openDocument indexes its XML under this one (toIsoDate(dhEmi)), and neither side finds the other.
    it('links an invoice to its NF-e across a month boundary (UTC date vs dhEmi at -03:00)', async () => {
      const sink = new MemorySink();
      const xml: XmlIndexEntry = {
        id: '35240712345678000190550320012837431123456780',
        accessKey: '35240712345678000190550320012837431123456780',
        number: '1283743',
        series: '32',
        issuedAt: '2024-07-31T22:30:00-03:00',
        month: '2024-07', // what openDocument writes for that dhEmi
        vNF: '110.75',
        document: {
          type: 'nfe-xml',
          key: 'documents/sp-api/sp-unit/m/k/k.xml',
          sha256: 'a'.repeat(64),
          bytes: 10,
        },
        exportId: 'e',
        documentId: 'd',
        entry: 'k.xml',
      };
      const meta = { sourceOperation: 'getInvoicesDocument', runId: 'r', fetchedAt: '2024-08-01T00:00:00Z' };
      await writeXmlIndex(sink, 'sp-unit', MP, [xml], meta);
      const same =
        '{"id": "b-1", "date": "2024-08-01T01:30:00.000Z", "externalInvoiceId": "1283743", "series": "32"}';
      await runListing(
        listing(),
        invoicesJob,
        ctxFor(scriptedHttp({ getInvoices: page(same) }), sink, memoryState()),
      );
      expect(sink.lines('invoices/provider=sp-api/')).toEqual([expect.objectContaining({ total: '110.75' })]);
    });
  });
});
