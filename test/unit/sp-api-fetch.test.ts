import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../infra/sandbox/index.ts';
import { spApiSimulator } from '../../infra/sandbox/sp-api/index.ts';
import { parseConfig } from '../../shared/config/load.ts';
import { budgetUntil } from '../../shared/http/budget.ts';
import { DeferError, ProviderError } from '../../shared/http/errors.ts';
import { resetBuckets } from '../../shared/http/token-bucket.ts';
import type { FetchMessage, JobMessageInput } from '../../shared/jobs/messages.ts';
import { fetchMessageSchema } from '../../shared/jobs/messages.ts';
import { createInvoicesExport, getInvoice, getInvoices } from '../../shared/providers/sp-api/api.ts';
import { startExport } from '../../shared/providers/sp-api/exports.ts';
import { fetchListing } from '../../shared/providers/sp-api/fetch.ts';
import { type SpApiConnection, send, spApiHttp } from '../../shared/providers/sp-api/http.ts';
import type {
  ExportRecord,
  HttpRuntime,
  ProviderContext,
  ProviderHttp,
  Sink,
  StateStore,
  StoredObject,
} from '../../shared/providers/types.ts';

/**
 * The SP-API client and the listing against the simulator, with in-memory stand-ins for S3 and the state
 * table: errors surface with the provider's code and only 429/5xx are retried; a listing longer than the
 * burst hands its cursor to a continuation with the same arguments and loses nothing across it.
 */

const MP = 'A2Q3Y263D00KWC';

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
    for await (const c of body) chunks.push(c as Buffer);
    return this.#store(key, Buffer.concat(chunks).toString('utf8'));
  }
  async getText(key: string) {
    return this.objects.get(key);
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
  return {
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
  } as StateStore & { watermarks: Map<string, string> };
}

describe('SP-API client and listing against the simulator', () => {
  let sandbox: Sandbox;
  let sim: string;
  let connection: SpApiConnection;
  const sent: JobMessageInput[] = [];
  const problems: unknown[] = [];

  const runtime = (): HttpRuntime => ({
    budget: budgetUntil(Date.now() + 60_000),
    log: { debug() {}, info() {}, warn() {}, error() {} },
    onEvent: () => {},
    allowLoopback: true,
    extraDownloadHosts: [],
    deferThresholdMs: 5_000,
  });
  const client = (overrides: Parameters<typeof spApiHttp>[3] = {}): ProviderHttp =>
    spApiHttp(connection, sandbox.credentials['sp-unit'] as unknown as Record<string, string>, runtime(), {
      retry: { baseMs: 1, capMs: 5 },
      ...overrides,
    });
  const ctxFor = (
    http: ProviderHttp,
    sink: MemorySink,
    state: StateStore,
  ): ProviderContext<SpApiConnection> => ({
    connection,
    runId: 'unit-run',
    secret: {},
    http,
    sink,
    state,
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
    resetBuckets();
    await admin('/faults', {});
    await admin('/rate-limits/reset', {});
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
      resetBuckets();
      await admin('/rate-limits/reset', {});
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

  it('a listing past the burst defers with its cursor, resumes with the same arguments, and loses nothing', async () => {
    const sink = new MemorySink();
    const state = memoryState();
    const window = { from: '2000-01-01', to: new Date().toISOString().slice(0, 10) };
    let message: FetchMessage = fetchMessageSchema.parse({
      v: 1,
      type: 'fetch',
      runId: 'unit-run',
      provider: 'sp-api',
      connection: 'sp-unit',
      scope: MP,
      window,
    });
    const http = client({ deferThresholdMs: 100 });
    const ctx = ctxFor(http, sink, state);
    let defers = 0;
    for (;;) {
      try {
        await fetchListing(message, ctx);
        break;
      } catch (err) {
        expect(err).toBeInstanceOf(DeferError);
        const defer = err as DeferError;
        defers += 1;
        // Waits for most of the burst (15 tokens at 0.1/s), not for the one next token.
        expect(defer.delaySeconds()).toBeGreaterThanOrEqual(140);
        const next = fetchMessageSchema.parse(defer.continuation);
        expect(next.cursor).toBeDefined();
        expect(next.window).toEqual(window);
        expect(next.continuation).toBe(message.continuation + 1);
        expect(next.state).toMatchObject({ dateStart: '2000-01-01T00:00:00Z' });
        if (message.state) expect(next.state).toEqual(message.state);
        // What was fetched before the defer is already merged: nothing waits in memory for the next run.
        expect(sink.lines('invoices/').length).toBeGreaterThan(0);
        message = next;
        // Time passes in the queue: both buckets refill.
        resetBuckets();
        await admin('/rate-limits/reset', {});
      }
    }
    expect(defers).toBeGreaterThan(0);
    const lines = sink.lines('invoices/provider=sp-api/');
    const ids = lines.map((l) => l.invoiceId);
    expect(new Set(ids).size).toBe(70);
    expect(ids).toHaveLength(70);
    expect(
      [...sink.objects.keys()].filter((k) => /^raw\/sp-api\/sp-unit\/A2Q3Y263D00KWC\/\d{4}\//.test(k)),
    ).toHaveLength(70);
    expect(state.watermarks.get(`sp-unit/${MP}`)).toBe(window.to);
    expect(problems).toEqual([]);
    // 24 pages of 3 and every fourth page empty: empty pages were followed, not taken for the end.
    expect(requests('getInvoices')).toBeGreaterThanOrEqual(31);
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
    const message = fetchMessageSchema.parse({
      v: 1,
      type: 'fetch',
      runId: 'unit-run',
      provider: 'sp-api',
      connection: 'sp-unit',
      scope: MP,
      window,
      cursor: 'opaque-cursor-from-an-earlier-page',
      continuation: 3,
    });
    const err = await fetchListing(message, ctxFor(http, new MemorySink(), memoryState())).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeferError);
    const defer = err as DeferError;
    expect(defer.reason).toBe('throttled');
    // Again once a token is back (0.1/s), from the same page.
    expect(defer.delaySeconds()).toBeGreaterThanOrEqual(9);
    expect(fetchMessageSchema.parse(defer.continuation)).toMatchObject({
      cursor: 'opaque-cursor-from-an-earlier-page',
      continuation: 4,
      window,
    });
  });

  describe('find-before-create of exports', () => {
    const window = { from: '2001-02-03', to: '2001-02-04' };
    const exportStep = () =>
      fetchMessageSchema.parse({
        v: 1,
        type: 'fetch',
        runId: 'unit-run',
        provider: 'sp-api',
        connection: 'sp-unit',
        scope: MP,
        window,
        state: { step: 'export', dateStart: '2001-02-03T00:00:00Z', dateEnd: '2001-02-04T23:59:59Z' },
      });
    const strayExport = async (http: ProviderHttp) => {
      const res = await send<{ exportId: string }>(
        http,
        createInvoicesExport({ marketplaceId: MP, fileFormat: 'XML' }),
      );
      resetBuckets();
      await admin('/rate-limits/reset', {});
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
      await startExport(exportStep(), ctxFor(http, new MemorySink(), state));
      expect(requests('createInvoicesExport')).toBe(creates);
      const [record] = [...state.records.values()];
      expect(record).toMatchObject({ exportId: stray, details: { adopted: true } });
      expect(sent).toEqual([expect.objectContaining({ type: 'poll', exportId: stray, scope: MP })]);
    });

    it('several exports made meanwhile cannot be told apart (the model lists no filters): a new one is created', async () => {
      const http = client();
      const claimedAt = Date.now() - 1_000;
      const strays = [await strayExport(http), await strayExport(http)];
      const state = exportState(stale(claimedAt));
      const creates = requests('createInvoicesExport');
      await startExport(exportStep(), ctxFor(http, new MemorySink(), state));
      expect(requests('createInvoicesExport')).toBe(creates + 1);
      expect(strays).not.toContain([...state.records.values()][0]!.exportId);
    });

    it('a registered export is reused without asking the provider', async () => {
      const http = client();
      const state = exportState();
      await startExport(exportStep(), ctxFor(http, new MemorySink(), state));
      resetBuckets();
      await admin('/rate-limits/reset', {});
      const creates = requests('createInvoicesExport');
      const lists = requests('getInvoicesExports');
      sent.length = 0;
      await startExport(exportStep(), ctxFor(http, new MemorySink(), state));
      expect(requests('createInvoicesExport')).toBe(creates);
      expect(requests('getInvoicesExports')).toBe(lists);
      expect(state.records.size).toBe(1);
    });
  });

  it('keeps an invoice that does not fit raw, reports it, and goes on', async () => {
    const sink = new MemorySink();
    const { InvoiceBatch } = await import('../../shared/providers/sp-api/invoice-batch.ts');
    const ctx = ctxFor(client(), sink, memoryState());
    const batch = new InvoiceBatch(ctx as unknown as ProviderContext, MP, 'getInvoices');
    problems.length = 0;
    await batch.add([
      { id: 'ok-1', date: '2024-07-10T10:00:00Z', status: 'AUTHORIZED' },
      { id: 'no-date', status: 'AUTHORIZED' },
      { id: 'bad-date', date: 'soon' },
    ]);
    await batch.flush();
    expect(sink.lines('invoices/').map((l) => l.invoiceId)).toEqual(['ok-1']);
    expect(problems).toHaveLength(2);
    expect(problems).toContainEqual(
      expect.objectContaining({
        code: 'INVOICE_DOES_NOT_FIT',
        key: expect.stringContaining('unfit-invoice-no-date'),
      }),
    );
    expect(
      sink.objects.get([...sink.objects.keys()].find((k) => k.includes('unfit-invoice-bad-date'))!),
    ).toContain('soon');
  });
});
