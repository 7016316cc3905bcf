import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amazonAdsSimulator } from '../../infra/sandbox/amazon-ads/index.ts';
import { type Sandbox, startSandbox } from '../../infra/sandbox/index.ts';
import { amazonAdsConnectionSchema } from '../../shared/config/schema.ts';
import { type FetchMessage, fetchMessageSchema, type JobMessageInput } from '../../shared/jobs/messages.ts';
import { amazonAdsModule } from '../../shared/providers/amazon-ads/index.ts';
import type {
  Counter,
  ProviderContext,
  Sink,
  StateStore,
  StoredObject,
} from '../../shared/providers/types.ts';

/**
 * The fetch loop against the simulator with in-memory sink, state and queue: how a profile goes on across
 * invocations when the budget runs low, and what a run fans out.
 */

const CONN = 'ads-unit';
const TODAY = new Date().toISOString().slice(0, 10);

class MemorySink implements Sink {
  readonly objects = new Map<string, Buffer>();
  private store(key: string, body: Buffer): StoredObject {
    this.objects.set(key, body);
    return { key, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length };
  }
  async putJson(key: string, value: unknown) {
    return this.store(key, Buffer.from(JSON.stringify(value)));
  }
  async mergeJsonl<T extends Record<string, unknown>>(
    key: string,
    records: readonly T[],
    idField: keyof T & string,
  ) {
    const byId = new Map<string, string>();
    for (const line of (this.objects.get(key)?.toString() ?? '').split('\n').filter(Boolean)) {
      byId.set(String((JSON.parse(line) as Record<string, unknown>)[idField]), line);
    }
    for (const r of records) byId.set(String(r[idField]), JSON.stringify(r));
    return this.store(key, Buffer.from(`${[...byId.values()].join('\n')}\n`));
  }
  async putStream(key: string, body: Readable) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return this.store(key, Buffer.concat(chunks));
  }
  async getText(key: string) {
    return this.objects.get(key)?.toString();
  }
  lines(): Array<Record<string, unknown>> {
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith('invoices/'))
      .flatMap(([, v]) => v.toString().split('\n').filter(Boolean))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

describe('amazon-ads fetch: continuations and fan-out', () => {
  let sandbox: Sandbox;
  let connection: ReturnType<typeof amazonAdsConnectionSchema.parse>;
  let profiles: Array<{ profileId: string; billing: boolean; invoices: Array<{ id: string }> }>;

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
    profiles = ((await res.body.json()) as { profiles: typeof profiles }).profiles;
  });
  afterAll(() => sandbox?.close());

  function context(opts: { lowAfterInvoices?: number } = {}) {
    const sink = new MemorySink();
    const sent: JobMessageInput[] = [];
    const counts: Partial<Record<Counter, number>> = {};
    const watermarks = new Map<string, string>();
    const problems: Array<{ code: string; message: string }> = [];
    const state = {
      getWatermark: async (_p: string, _c: string, scope: string) => watermarks.get(scope),
      setWatermark: async (_p: string, _c: string, scope: string, date: string) => {
        watermarks.set(scope, date);
      },
    } as unknown as StateStore;
    const low = () => opts.lowAfterInvoices !== undefined && (counts.invoices ?? 0) >= opts.lowAfterInvoices;
    const budget = { deadline: Date.now() + 60_000, remainingMs: () => (low() ? 4_000 : 60_000) };
    const log = { debug() {}, info() {}, warn() {}, error() {} };
    const secret = amazonAdsModule.parseSecret(sandbox.credentials[CONN]);
    const ctx: ProviderContext<typeof connection> = {
      connection,
      runId: 'unit-run',
      secret,
      http: amazonAdsModule.http(connection, secret, {
        budget,
        log,
        onEvent: () => {},
        allowLoopback: true,
        extraDownloadHosts: [],
        deferThresholdMs: 5_000,
      }),
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

  it('hands the rest of a profile to a continuation when the budget runs low, and finishes it there once', async () => {
    const biggest = profiles
      .filter((p) => p.billing)
      .sort((a, b) => b.invoices.length - a.invoices.length)[0]!;
    const message: FetchMessage = fetchMessageSchema.parse({
      v: 1,
      type: 'fetch',
      runId: 'unit-run',
      provider: 'amazon-ads',
      connection: CONN,
      scope: biggest.profileId,
      window: { from: '2000-01-01', to: TODAY },
    });

    const first = context({ lowAfterInvoices: 5 });
    const err = await amazonAdsModule.fetch(message, first.ctx).then(
      () => undefined,
      (e: unknown) => e as { name: string; reason: string; continuation?: JobMessageInput },
    );
    expect(err?.name).toBe('DeferError');
    expect(err?.reason).toBe('budget');
    const next = fetchMessageSchema.parse(err?.continuation);
    // Five done: page 1 (3 invoices) and two of page 2; the continuation resumes on page 2 at the third.
    expect(next).toMatchObject({ scope: biggest.profileId, state: { page: 1, skip: 2 }, continuation: 1 });
    expect(next.cursor).toBeTruthy();
    expect(first.sink.lines()).toHaveLength(5);
    expect(first.watermarks.size).toBe(0);

    const second = context();
    second.sink.objects.clear();
    for (const [k, v] of first.sink.objects) second.sink.objects.set(k, v);
    await amazonAdsModule.fetch(next, second.ctx);
    const ids = second.sink.lines().map((l) => l.invoiceId as string);
    expect(ids.sort()).toEqual(biggest.invoices.map((i) => i.id).sort());
    expect((first.counts.invoices ?? 0) + (second.counts.invoices ?? 0)).toBe(biggest.invoices.length);
    expect(second.watermarks.get(biggest.profileId)).toBe(TODAY);
    expect(second.problems).toEqual([]);
  });

  it('a run for one invoice fetches just that invoice, and starts no billing statement', async () => {
    const profile = profiles.find((p) => p.billing && p.invoices.length > 1)!;
    const invoiceId = profile.invoices[1]!.id;
    const { ctx, sent, sink } = context();
    await amazonAdsModule.run(
      {
        v: 1,
        type: 'run',
        runId: 'unit-run',
        provider: 'amazon-ads',
        connection: CONN,
        scopes: [profile.profileId],
        invoiceId,
      },
      ctx,
    );
    expect(sent).toHaveLength(1);
    await amazonAdsModule.fetch(fetchMessageSchema.parse(sent[0]), ctx);
    expect(sink.lines().map((l) => l.invoiceId)).toEqual([invoiceId]);
  });

  it('keeps what does not fit the model raw, reports it, and goes on', async () => {
    const profile = profiles.find((p) => p.billing && p.invoices.length >= 3)!;
    const [badSummary, badDetail] = profile.invoices.map((i) => i.id);
    const settings = (body: unknown) =>
      request(`${sandbox.endpoints['amazon-ads']}/__sandbox/settings`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
    await settings({ malformed: { [badSummary!]: 'summary', [badDetail!]: 'detail' } });
    const { ctx, sink, problems } = context();
    try {
      await amazonAdsModule.fetch(
        fetchMessageSchema.parse({
          v: 1,
          type: 'fetch',
          runId: 'unit-run',
          provider: 'amazon-ads',
          connection: CONN,
          scope: profile.profileId,
          window: { from: '2000-01-01', to: TODAY },
        }),
        ctx,
      );
    } finally {
      await settings({ malformed: {} });
    }
    const ids = sink.lines().map((l) => l.invoiceId);
    // The bad summary cannot be normalized (no amount): kept raw, reported. The bad detail: normalized from its summary.
    expect(ids).not.toContain(badSummary);
    expect(ids).toContain(badDetail);
    expect(ids).toHaveLength(profile.invoices.length - 1);
    expect(problems.map((p) => p.code).sort()).toEqual(['PAYLOAD_SHAPE', 'PAYLOAD_SHAPE']);
    expect(problems.find((p) => /summary 0 of page 0/.test(p.message))?.message).toMatch(/amountDue/);
    expect(problems.find((p) => p.message.includes(badDetail!))?.message).toMatch(/invoiceLines/);
    const kept = [...sink.objects.keys()].filter((k) => k.includes('_item0'));
    expect(kept).toHaveLength(1);
    expect(JSON.parse(sink.objects.get(kept[0]!)!.toString()).id).toBe(badSummary);
  });

  it('a run fans out one fetch per billing profile, and forwards the billing statements job', async () => {
    const { ctx, sent } = context();
    await amazonAdsModule.run(
      { v: 1, type: 'run', runId: 'unit-run', provider: 'amazon-ads', connection: CONN },
      ctx,
    );
    const fetches = sent.filter((m) => m.type === 'fetch');
    expect(fetches.map((m) => (m as { scope: string }).scope).sort()).toEqual(
      profiles
        .filter((p) => p.billing)
        .map((p) => p.profileId)
        .sort(),
    );
    for (const f of fetches) {
      expect((f as { window: unknown }).window).toEqual({
        from: new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10),
        to: TODAY,
      });
    }
    expect(sent.filter((m) => m.type === 'run')).toEqual([
      {
        v: 1,
        type: 'run',
        runId: 'unit-run',
        provider: 'amazon-ads',
        connection: CONN,
        job: 'billing-statements',
      },
    ]);
  });
});
