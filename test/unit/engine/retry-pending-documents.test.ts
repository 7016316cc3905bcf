import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { documentKey } from '../../../shared/aws/keys.ts';
import { type Connection, connectionSchema } from '../../../shared/config/schema.ts';
import { copyDocument } from '../../../shared/engine/copy-document.ts';
import type { ListingJob } from '../../../shared/engine/provider-spec.ts';
import { runListing } from '../../../shared/engine/run-listing.ts';
import { ExpiredUrlError } from '../../../shared/http/errors.ts';
import { type FetchMessage, fetchMessageSchema } from '../../../shared/jobs/messages.ts';
import type { ProviderHttp } from '../../../shared/providers/types.ts';
import { MemorySink, MemoryState, memoryContext } from '../../helpers/memory-context.ts';
import { normalizedInvoice } from '../../helpers/normalized-invoice.ts';

/**
 * Documents that could not be landed, across runs: a fake provider whose PDF links answer "expired" for
 * chosen invoices, run by the engine with the state table and bucket in memory. Each run is a fetch
 * message and its continuations; a run is PARTIAL exactly when it reported a problem.
 */

const connection = connectionSchema.parse({
  id: 'fake',
  provider: 'cm360',
  region: 'global',
  secretName: 'fake',
  scopes: ['s1'],
  schedule: 'rate(1 day)',
  lookbackDays: 5,
  profileId: '1',
}) as Connection;

const itemSchema = z.object({ id: z.string(), date: z.string(), amount: z.string() });
type Item = z.infer<typeof itemSchema>;

/** The provider: its invoices, which PDF links answer expired, and what was asked of it. */
class World {
  readonly invoices = new Map<string, Item>();
  readonly failing = new Set<string>();
  readonly fetchedById: string[] = [];
  readonly downloads: string[] = [];
  pageCalls = 0;

  constructor(items: ReadonlyArray<[id: string, date: string]>) {
    for (const [id, date] of items) this.invoices.set(id, { id, date, amount: '1.00' });
  }

  readonly http = {
    request: async () => {
      throw new Error('no API calls in this test');
    },
    download: async (operation: string, url: string) => {
      const id = /\/([^/]+)\.pdf\?/.exec(url)![1]!;
      this.downloads.push(id);
      if (this.failing.has(id)) throw new ExpiredUrlError(operation, 403);
      const body = Buffer.from(`%PDF-1.7 ${id}`);
      return {
        status: 200,
        stream: Readable.from([body]),
        contentLength: body.length,
        contentType: 'application/pdf',
      };
    },
  } as unknown as ProviderHttp;

  job(opts: { byId?: boolean } = {}): ListingJob<Connection, Item> {
    return {
      kind: 'listing',
      name: 'things',
      page: async ({ window }) => {
        this.pageCalls += 1;
        const items = [...this.invoices.values()].filter((i) => i.date >= window.from && i.date <= window.to);
        return { raw: { body: JSON.stringify(items), operation: 'listThings' }, items, next: null };
      },
      item: { schema: itemSchema, id: (i) => i.id, issuedOn: (i) => i.date },
      enrich: async (item, at) => {
        const doc = await copyDocument(at.ctx, {
          invoiceId: item.id,
          type: 'INVOICE_PDF',
          key: documentKey('cm360', at.ctx.connection.id, at.scope, item.id, 'invoice', 'pdf'),
          operation: 'getPdf',
          // A pre-signed link: its signature must reach no record and no problem.
          url: async (renewal) => `https://files.example.com/${item.id}.pdf?X-Amz-Signature=secret${renewal}`,
        });
        return { documents: doc ? [doc] : [] };
      },
      normalize: (item, enrichment, at) =>
        normalizedInvoice({
          connection: at.ctx.connection.id,
          account: at.scope,
          invoiceId: item.id,
          issuedOn: item.date,
          total: item.amount,
          documents: enrichment.documents ?? [],
          rawKey: at.rawKey,
          fetchedAt: at.fetchedAt,
        }),
      ...(opts.byId === false
        ? {}
        : {
            fetchById: async (_ctx, _scope, id) => {
              this.fetchedById.push(id);
              const item = this.invoices.get(id);
              return item ? { item, raw: { body: JSON.stringify(item), operation: 'getThing' } } : undefined;
            },
          }),
    };
  }
}

const sink = () => new MemorySink();

/** One run of the scope's listing over `window` at `now`: the fetch message and every continuation it hands back. */
async function run(
  world: World,
  store: { sink: MemorySink; state: MemoryState },
  opts: {
    runId: string;
    now: string;
    window: { from: string; to: string };
    checksPerInvocation?: number;
    job?: ListingJob<Connection, Item>;
  },
) {
  const now = new Date(opts.now);
  store.state.now = () => now;
  let next: FetchMessage | undefined = fetchMessageSchema.parse({
    v: 1,
    type: 'fetch',
    runId: opts.runId,
    provider: 'cm360',
    connection: 'fake',
    scope: 's1',
    window: opts.window,
    state: { job: 'things' },
  });
  const problems: Array<{ code: string; message: string; key?: string }> = [];
  const continuations: FetchMessage[] = [];
  let invoices = 0;
  while (next) {
    let checks = opts.checksPerInvocation ?? Number.POSITIVE_INFINITY;
    const m = memoryContext(connection, {
      ...store,
      now,
      http: world.http,
      remainingMs: () => (checks-- > 0 ? 600_000 : 0),
    });
    m.ctx.runId = opts.runId;
    try {
      await runListing(next, opts.job ?? world.job(), m.ctx);
      next = undefined;
    } catch (err) {
      const e = err as { name?: string; continuation?: unknown };
      if (e.name !== 'DeferError' || !e.continuation) throw err;
      next = fetchMessageSchema.parse(e.continuation);
      continuations.push(next);
    }
    problems.push(...m.problems);
    invoices += m.counts.invoices ?? 0;
  }
  return { problems, continuations, invoices };
}

const lineOf = (s: MemorySink, id: string) => s.lines().find((l) => l.invoiceId === id)!;
const pendingOf = (state: MemoryState) => [...state.pendingDocuments.values()];

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('pending documents', () => {
  it('records a document that cannot be landed and names it in the run; a later run outside the window lands it and clears it; the next asks for nothing', async () => {
    const world = new World([
      ['inv-1', '2026-03-02'],
      ['inv-2', '2026-03-03'],
    ]);
    world.failing.add('inv-2');
    const store = { sink: sink(), state: new MemoryState() };

    const first = await run(world, store, {
      runId: 'run-1',
      now: '2026-03-15T12:00:00Z',
      window: { from: '2026-03-01', to: '2026-03-15' },
    });
    // PARTIAL, naming the document and saying until when it is tried again.
    expect(first.problems).toHaveLength(1);
    expect(first.problems[0]).toMatchObject({
      code: 'DOCUMENT_LINK_EXPIRED',
      key: 'documents/cm360/fake/s1/inv-2/invoice.pdf',
    });
    expect(first.problems[0]!.message).toBe(
      'invoice inv-2: INVOICE_PDF not copied: the link was still expired after 8 fresh one(s); pending: later runs try it again until 2026-04-14',
    );
    expect(pendingOf(store.state)).toEqual([
      {
        provider: 'cm360',
        connection: 'fake',
        scope: 's1',
        invoiceId: 'inv-2',
        name: 'invoice.pdf',
        type: 'INVOICE_PDF',
        key: 'documents/cm360/fake/s1/inv-2/invoice.pdf',
        issuedOn: '2026-03-03',
        code: 'DOCUMENT_LINK_EXPIRED',
        reason: 'the link was still expired after 8 fresh one(s)',
        attempts: 1,
        firstSeenAt: '2026-03-15T12:00:00.000Z',
        lastTriedAt: '2026-03-15T12:00:00.000Z',
        firstRunId: 'run-1',
        lastRunId: 'run-1',
      },
    ]);
    // No link in the record nor in what the run says: a retry asks the provider again.
    expect(JSON.stringify([pendingOf(store.state), first.problems])).not.toMatch(/X-Amz|https:/);
    expect(lineOf(store.sink, 'inv-2').documents).toEqual([]);
    // Tried within the run: the first link and 8 fresh ones.
    expect(world.downloads.filter((id) => id === 'inv-2')).toHaveLength(9);

    world.failing.clear();
    const second = await run(world, store, {
      runId: 'run-2',
      now: '2026-04-10T12:00:00Z',
      window: { from: '2026-04-05', to: '2026-04-10' },
    });
    // SUCCEEDED: the window holds no invoice, and the pending document was landed by its invoice's id.
    expect(second.problems).toEqual([]);
    expect(world.fetchedById).toEqual(['inv-2']);
    expect(pendingOf(store.state)).toEqual([]);
    expect(lineOf(store.sink, 'inv-2').documents).toEqual([
      expect.objectContaining({ type: 'INVOICE_PDF', key: 'documents/cm360/fake/s1/inv-2/invoice.pdf' }),
    ]);
    expect(store.sink.text('documents/cm360/fake/s1/inv-2/invoice.pdf')).toBe('%PDF-1.7 inv-2');
    // The other invoice of its month keeps its line.
    expect(lineOf(store.sink, 'inv-1').documents).toHaveLength(1);

    const downloads = world.downloads.length;
    const third = await run(world, store, {
      runId: 'run-3',
      now: '2026-04-11T12:00:00Z',
      window: { from: '2026-04-06', to: '2026-04-11' },
    });
    expect(third.problems).toEqual([]);
    expect(world.fetchedById).toEqual(['inv-2']);
    expect(world.downloads).toHaveLength(downloads);
  });

  it('keeps a document that fails again pending with one more attempt, naming it again; past the configured age it is given up once', async () => {
    vi.stubEnv('PENDING_DOCUMENT_MAX_AGE_DAYS', '20');
    const world = new World([['inv-1', '2026-03-02']]);
    world.failing.add('inv-1');
    const store = { sink: sink(), state: new MemoryState() };
    await run(world, store, {
      runId: 'run-1',
      now: '2026-03-15T12:00:00Z',
      window: { from: '2026-03-01', to: '2026-03-15' },
    });

    const again = await run(world, store, {
      runId: 'run-2',
      now: '2026-03-25T12:00:00Z',
      window: { from: '2026-03-20', to: '2026-03-25' },
    });
    expect(world.fetchedById).toEqual(['inv-1']);
    expect(again.problems.map((p) => [p.code, p.message])).toEqual([
      [
        'DOCUMENT_LINK_EXPIRED',
        'invoice inv-1: INVOICE_PDF not copied: the link was still expired after 8 fresh one(s); pending since 2026-03-15 (2 attempts): later runs try it again until 2026-04-04',
      ],
    ]);
    expect(pendingOf(store.state)).toEqual([
      expect.objectContaining({
        attempts: 2,
        firstSeenAt: '2026-03-15T12:00:00.000Z',
        firstRunId: 'run-1',
        lastRunId: 'run-2',
      }),
    ]);

    const late = await run(world, store, {
      runId: 'run-3',
      now: '2026-04-05T12:00:00Z',
      window: { from: '2026-04-01', to: '2026-04-05' },
    });
    // Given up without another try, once, with why.
    expect(world.fetchedById).toEqual(['inv-1']);
    expect(late.problems).toEqual([
      {
        code: 'DOCUMENT_GIVEN_UP',
        message:
          'invoice inv-1: INVOICE_PDF given up after 21 days pending (2 attempts since run run-1; last: the link was still expired after 8 fresh one(s))',
        key: 'documents/cm360/fake/s1/inv-1/invoice.pdf',
      },
    ]);
    expect(pendingOf(store.state)).toEqual([]);
    const after = await run(world, store, {
      runId: 'run-4',
      now: '2026-04-06T12:00:00Z',
      window: { from: '2026-04-02', to: '2026-04-06' },
    });
    expect(after.problems).toEqual([]);
  });

  it('is cleared by the listing itself when the window holds the invoice, and is not tried twice in a run whose listing missed it again', async () => {
    const world = new World([['inv-1', '2026-03-10']]);
    world.failing.add('inv-1');
    const store = { sink: sink(), state: new MemoryState() };
    const window = { from: '2026-03-05', to: '2026-03-15' };
    await run(world, store, { runId: 'run-1', now: '2026-03-15T12:00:00Z', window });

    const again = await run(world, store, { runId: 'run-2', now: '2026-03-16T12:00:00Z', window });
    expect(world.fetchedById).toEqual([]);
    expect(again.problems).toHaveLength(1);
    expect(pendingOf(store.state)[0]?.attempts).toBe(2);

    world.failing.clear();
    const landed = await run(world, store, { runId: 'run-3', now: '2026-03-17T12:00:00Z', window });
    expect(landed.problems).toEqual([]);
    expect(world.fetchedById).toEqual([]);
    expect(pendingOf(store.state)).toEqual([]);
    expect(lineOf(store.sink, 'inv-1').documents).toHaveLength(1);
  });

  it('hands over when the budget runs low and comes back to the end of the listing, redoing none of its items', async () => {
    const world = new World([
      ['old-1', '2026-02-01'],
      ['old-2', '2026-02-02'],
      ['old-3', '2026-02-03'],
      ['new-1', '2026-03-10'],
      ['new-2', '2026-03-11'],
    ]);
    for (const id of ['old-1', 'old-2', 'old-3']) world.failing.add(id);
    const store = { sink: sink(), state: new MemoryState() };
    await run(world, store, {
      runId: 'run-1',
      now: '2026-03-01T12:00:00Z',
      window: { from: '2026-02-01', to: '2026-02-28' },
    });
    expect(pendingOf(store.state)).toHaveLength(3);
    world.failing.clear();
    world.pageCalls = 0;

    // Four budget checks an invocation: the listing's two items, then two retries; the third goes on later.
    const second = await run(world, store, {
      runId: 'run-2',
      now: '2026-03-15T12:00:00Z',
      window: { from: '2026-03-05', to: '2026-03-15' },
      checksPerInvocation: 4,
    });
    // The retries hand over once; the month files may take one more hand-over of their own (publishing).
    expect(second.continuations[0]).toMatchObject({ state: { page: 0, skip: 2 }, continuation: 1 });
    for (const later of second.continuations.slice(1))
      expect(later.state).toMatchObject({ publishing: true });
    expect(second.continuations[0]!.cursor).toBeUndefined();
    expect(world.fetchedById).toEqual(['old-1', 'old-2', 'old-3']);
    // Two listed, three retried: the continuation asked for the last page again and landed none of it twice.
    expect(second.invoices).toBe(5);
    expect(world.pageCalls).toBe(2);
    expect(second.problems).toEqual([]);
    expect(pendingOf(store.state)).toEqual([]);
  });

  it('names a document the invoice no longer offers, or an invoice the provider no longer finds, and counts the attempt', async () => {
    const world = new World([
      ['inv-1', '2026-03-02'],
      ['inv-2', '2026-03-03'],
    ]);
    world.failing.add('inv-1');
    world.failing.add('inv-2');
    const store = { sink: sink(), state: new MemoryState() };
    const job = world.job();
    await run(world, store, {
      runId: 'run-1',
      now: '2026-03-15T12:00:00Z',
      window: { from: '2026-03-01', to: '2026-03-15' },
      job,
    });
    world.invoices.delete('inv-2');
    // inv-1 now comes without documents: its enrichment copies none.
    const bare: typeof job = { ...job, enrich: async () => ({ documents: [] }) };
    const second = await run(world, store, {
      runId: 'run-2',
      now: '2026-03-20T12:00:00Z',
      window: { from: '2026-03-18', to: '2026-03-20' },
      job: bare,
    });
    expect(second.problems.map((p) => [p.code, p.message])).toEqual([
      [
        'DOCUMENT_PENDING',
        'invoice inv-1: INVOICE_PDF not copied: the invoice no longer offers this document; pending since 2026-03-15 (2 attempts): later runs try it again until 2026-04-14',
      ],
      [
        'DOCUMENT_PENDING',
        'invoice inv-2: INVOICE_PDF not copied: the provider no longer finds invoice inv-2 in s1; pending since 2026-03-15 (2 attempts): later runs try it again until 2026-04-14',
      ],
    ]);
    expect(pendingOf(store.state).map((d) => [d.invoiceId, d.attempts, d.code])).toEqual([
      ['inv-1', 2, 'DOCUMENT_PENDING'],
      ['inv-2', 2, 'DOCUMENT_PENDING'],
    ]);
  });

  it('reports the pending documents of a job that cannot fetch one invoice again, without an attempt', async () => {
    const world = new World([['inv-1', '2026-03-02']]);
    world.failing.add('inv-1');
    const store = { sink: sink(), state: new MemoryState() };
    const job = world.job({ byId: false });
    await run(world, store, {
      runId: 'run-1',
      now: '2026-03-15T12:00:00Z',
      window: { from: '2026-03-01', to: '2026-03-15' },
      job,
    });
    const second = await run(world, store, {
      runId: 'run-2',
      now: '2026-03-20T12:00:00Z',
      window: { from: '2026-03-18', to: '2026-03-20' },
      job,
    });
    expect(second.problems.map((p) => p.code)).toEqual(['DOCUMENT_PENDING']);
    expect(second.problems[0]!.message).toMatch(
      /^invoice inv-1: INVOICE_PDF not copied: cm360 things cannot fetch one invoice again; it lands when a run's window includes the invoice; pending: later runs try it again until 2026-04-14$/,
    );
    expect(pendingOf(store.state)[0]?.attempts).toBe(1);
  });
});
