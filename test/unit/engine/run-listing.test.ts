import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Connection, connectionSchema } from '../../../shared/config/schema.ts';
import { copyDocument } from '../../../shared/engine/copy-document.ts';
import type { Enrichment, ListingJob } from '../../../shared/engine/provider-spec.ts';
import { rawItems } from '../../../shared/engine/raw-items.ts';
import { runListing } from '../../../shared/engine/run-listing.ts';
import { type FetchMessage, fetchMessageSchema } from '../../../shared/jobs/messages.ts';
import type { ProviderHttp } from '../../../shared/providers/types.ts';
import { MemorySink, MemoryState, memoryContext } from '../../helpers/memory-context.ts';
import { tableOf } from '../../helpers/memory-invoice-table.ts';
import { normalizedInvoice } from '../../helpers/normalized-invoice.ts';

/**
 * The engine's listing loop against a fake spec: pages of items from an in-memory "API", so every path
 * (continuations, empty pages, items that do not fit, batched enrichment) is driven exactly.
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

const itemSchema = z.looseObject({
  id: z.string().min(1),
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  amount: z.string(),
});
type Item = z.infer<typeof itemSchema>;

/** Pages of the fake API: each a JSON text with its items; `null` entries are empty pages that still carry a cursor. */
function fakeApi(pages: ReadonlyArray<ReadonlyArray<unknown> | null>) {
  const texts = pages.map(
    (items, n) =>
      // Spacing and key order a re-serialization would not reproduce: the raw copy must keep them.
      `{ "items" : [${(items ?? []).map((i) => `\n  ${JSON.stringify(i)}`).join(',')}\n], "next": ${n + 1 < pages.length ? `"c${n + 1}"` : 'null'} }`,
  );
  const calls: Array<string | undefined> = [];
  return {
    texts,
    calls,
    page: async ({ cursor }: { cursor: string | undefined }) => {
      calls.push(cursor);
      const n = cursor ? Number(cursor.slice(1)) : 0;
      const body = texts[n]!;
      const parsed = JSON.parse(body) as { items: unknown[]; next: string | null };
      return {
        raw: { body, operation: 'listThings' },
        items: parsed.items,
        itemBytes: rawItems(body, ['items']),
        next: parsed.next,
      };
    },
  };
}

function job(
  api: ReturnType<typeof fakeApi>,
  extra: Partial<ListingJob<Connection, Item>> = {},
): ListingJob<Connection, Item> {
  return {
    kind: 'listing',
    name: 'things',
    page: api.page,
    item: {
      schema: itemSchema,
      id: (i) => i.id,
      issuedOn: (i) => i.date,
      idOfUnfit: (raw) => (raw as { id?: string })?.id,
    },
    normalize: (item, _e, at) =>
      normalizedInvoice({
        connection: at.ctx.connection.id,
        account: at.scope,
        invoiceId: item.id,
        issuedOn: item.date,
        total: item.amount,
        rawKey: at.rawKey,
        fetchedAt: at.fetchedAt,
      }),
    ...extra,
  };
}

const message = (): FetchMessage =>
  fetchMessageSchema.parse({
    v: 1,
    type: 'fetch',
    runId: 'run-test',
    provider: 'cm360',
    connection: 'fake',
    scope: 's1',
    window: { from: '2026-03-01', to: '2026-03-15' },
    state: { job: 'things' },
  });

const item = (n: number, amount = `${n}.10`): Item => ({
  id: `inv-${String(n).padStart(4, '0')}`,
  date: `2026-03-${String(1 + (n % 28)).padStart(2, '0')}`,
  amount,
});

/** Runs a fetch message and every continuation it hands back, as the queue would, until the listing ends. */
async function drain(
  listing: ListingJob<Connection, Item>,
  opts: {
    itemsPerInvocation?: number;
    sink?: MemorySink;
    state?: MemoryState;
    full?: boolean;
    http?: ProviderHttp;
  } = {},
) {
  const sink = opts.sink ?? new MemorySink();
  const state = opts.state ?? new MemoryState();
  let next: FetchMessage | undefined = { ...message(), ...(opts.full ? { full: true } : {}) };
  let unchanged = 0;
  let invocations = 0;
  const problems: Array<{ code: string; message: string; key?: string }> = [];
  let landed = 0;
  let documents = 0;
  while (next) {
    invocations += 1;
    if (invocations > 500) throw new Error('no end to the continuations');
    let budgetLeft = opts.itemsPerInvocation ?? Number.POSITIVE_INFINITY;
    // Each item checks the budget once before it starts: the Nth check reports the budget spent.
    const m = memoryContext(connection, {
      sink,
      state,
      remainingMs: () => (budgetLeft-- > 0 ? 600_000 : 0),
      ...(opts.http ? { http: opts.http } : {}),
    });
    try {
      await runListing(next, listing, m.ctx);
      next = undefined;
    } catch (err) {
      const e = err as { name?: string; continuation?: unknown };
      if (e.name !== 'DeferError' || !e.continuation) throw err;
      next = fetchMessageSchema.parse(e.continuation);
    }
    problems.push(...m.problems);
    landed += m.counts.invoices ?? 0;
    documents += m.counts.documents ?? 0;
    unchanged += m.counts.unchanged ?? 0;
  }
  return { sink, state, invocations, problems, landed, documents, unchanged };
}

describe('runListing', () => {
  it('lands every item once across continuations, keeping each item as the provider sent it', async () => {
    const items = Array.from({ length: 23 }, (_, n) => item(n));
    const api = fakeApi([items.slice(0, 10), null, items.slice(10, 20), null, null, items.slice(20)]);
    const { sink, state, invocations, landed } = await drain(job(api), { itemsPerInvocation: 4 });

    expect(invocations).toBeGreaterThan(5);
    expect(landed).toBe(23);
    const lines = sink.lines();
    expect(lines.map((l) => l.invoiceId).sort()).toEqual(items.map((i) => i.id).sort());
    // Money and ids as sent; each item's raw object is its bytes inside the page.
    for (const line of lines) {
      const raw = sink.text(String(line.rawKey))!;
      const n = Number(String(line.invoiceId).slice(4));
      expect(raw).toBe(JSON.stringify(items[n]));
      expect(line.total).toBe(items[n]!.amount);
    }
    // Every page, empty ones too, is kept raw as it came, and the watermark moved once the listing ended.
    const pages = [...sink.objects.keys()].filter((k) => k.includes('/_payloads/things_'));
    expect(pages).toHaveLength(6);
    const first = [...sink.objects.entries()].find(([k]) => k.endsWith('_p0000.json'))![1];
    expect(createHash('sha256').update(first).digest('hex')).toBe(
      createHash('sha256').update(api.texts[0]!).digest('hex'),
    );
    expect(await state.getWatermark('cm360', 'fake', 's1')).toBe('2026-03-15');
  });

  it('publishes each month file it changed once, when the listing ends, however many continuations it took', async () => {
    const items = Array.from({ length: 12 }, (_, n) => ({
      ...item(n),
      date: `2026-0${2 + (n % 2)}-1${n % 9}`,
    }));
    const api = fakeApi([items.slice(0, 5), items.slice(5)]);
    const writes = new Map<string, number>();
    const sink = new MemorySink();
    const put = sink.putStream.bind(sink);
    sink.putStream = async (key, body, meta) => {
      writes.set(key, (writes.get(key) ?? 0) + 1);
      return put(key, body, meta);
    };
    const { invocations } = await drain(job(api), { itemsPerInvocation: 3, sink });

    expect(invocations).toBeGreaterThan(3);
    const monthFiles = [...writes].filter(([k]) => k.startsWith('invoices/'));
    expect(monthFiles).toEqual([
      ['invoices/provider=cm360/issue_month=2026-02/fake-s1.jsonl', 1],
      ['invoices/provider=cm360/issue_month=2026-03/fake-s1.jsonl', 1],
    ]);
    const feb = sink.text('invoices/provider=cm360/issue_month=2026-02/fake-s1.jsonl')!;
    const ids = feb
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { invoiceId: string }).invoiceId);
    expect(ids).toEqual(items.filter((_, n) => n % 2 === 0).map((i) => i.id));
  });

  it('takes an invoice whose issue date moved out of its old month file', async () => {
    const sink = new MemorySink();
    await drain(job(fakeApi([[item(1), item(2)]])), { sink });
    await drain(job(fakeApi([[{ ...item(1), date: '2026-04-02' }]])), { sink });
    const ids = (month: string) =>
      (sink.text(`invoices/provider=cm360/issue_month=${month}/fake-s1.jsonl`) ?? '')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { invoiceId: string }).invoiceId);
    expect(ids('2026-03')).toEqual(['inv-0002']);
    expect(ids('2026-04')).toEqual(['inv-0001']);
  });

  describe('only what changed', () => {
    /** A job whose items are final when `status` is PAID, counting its enrichments by id. */
    const counted = (pages: ReadonlyArray<ReadonlyArray<unknown> | null>, failDocOf?: string) => {
      const enriched: string[] = [];
      const listing = job(fakeApi(pages), {
        item: { ...job(fakeApi([])).item, isFinal: (i) => i.status === 'PAID' },
        enrich: async (i, at) => {
          enriched.push(i.id);
          if (i.id === failDocOf)
            at.ctx.reportProblem({ code: 'DOCUMENT', message: `invoice ${i.id}: pdf not copied` });
          return {};
        },
      });
      return { listing, enriched };
    };
    const paid = (n: number, amount?: string) => ({ ...item(n, amount), status: 'PAID' });

    it('leaves an unchanged final invoice alone on the next run: no enrichment, no raw write, no month file', async () => {
      const sink = new MemorySink();
      await drain(counted([[paid(1), paid(2)]]).listing, { sink });
      const puts = sink.puts;
      const again = counted([[paid(1), paid(2)]]);
      const second = await drain(again.listing, { sink });
      expect(again.enriched).toEqual([]);
      expect(second.unchanged).toBe(2);
      expect(second.landed).toBe(0);
      // The page itself is the same bytes under the same key: not written again either.
      expect(sink.puts).toBe(puts);
    });

    it('does not write again a page whose items differ only in what their fingerprint leaves out (signed links)', async () => {
      const sink = new MemorySink();
      const signed = (n: number, sig: string) => ({
        ...paid(n),
        pdfUrl: `https://files.example.com/${n}?sig=${sig}`,
      });
      const withLinks = (sig: string, amount?: string) =>
        job(fakeApi([[signed(1, sig), { ...signed(2, sig), ...(amount ? { amount } : {}) }]]), {
          item: {
            ...job(fakeApi([])).item,
            isFinal: (i) => i.status === 'PAID',
            fingerprint: ({ pdfUrl: _u, ...rest }) => rest,
          },
        });
      await drain(withLinks('a'), { sink });
      const puts = sink.puts;
      const again = await drain(withLinks('b'), { sink });
      expect(again.unchanged).toBe(2);
      expect(sink.puts).toBe(puts);
      // A change the fingerprint keeps is a new page.
      await drain(withLinks('c', '9.99'), { sink });
      expect(sink.puts).toBeGreaterThan(puts);
    });

    it('works again an invoice whose amount or status changed, one still open, and every one on a full run', async () => {
      const sink = new MemorySink();
      await drain(counted([[paid(1), paid(2), item(3), paid(4)]]).listing, { sink });
      const again = counted([[paid(1), paid(2, '99.99'), item(3), { ...item(4), status: 'REFUNDED' }]]);
      await drain(again.listing, { sink });
      expect(again.enriched.sort()).toEqual(['inv-0002', 'inv-0003', 'inv-0004']);
      const lines = sink.lines();
      expect(lines.find((l) => l.invoiceId === 'inv-0002')?.total).toBe('99.99');

      const audit = counted([[paid(1), paid(2, '99.99'), item(3), { ...item(4), status: 'REFUNDED' }]]);
      const full = await drain(audit.listing, { sink, full: true });
      expect(audit.enriched.sort()).toEqual(['inv-0001', 'inv-0002', 'inv-0003', 'inv-0004']);
      expect(full.unchanged).toBe(0);
    });

    it('works again an open invoice, writing again only what changed or is missing: no raw write, no download', async () => {
      const downloads: string[] = [];
      const http = {
        request: async () => {
          throw new Error('no API calls here');
        },
        download: async (_op: string, url: string) => {
          downloads.push(url);
          return {
            status: 200,
            stream: Readable.from([Buffer.from(`%PDF ${url}`)]),
            contentType: 'application/pdf',
          };
        },
      } as ProviderHttp;
      const withPdf = (pages: ReadonlyArray<ReadonlyArray<unknown>>) =>
        job(fakeApi(pages), {
          item: { ...job(fakeApi([])).item, isFinal: (i) => i.status === 'PAID' },
          enrich: async (i, at) => {
            const doc = await copyDocument(at.ctx, {
              invoiceId: i.id,
              type: 'INVOICE',
              key: `documents/cm360/fake/s1/${i.id}/invoice.pdf`,
              operation: 'getPdf',
              url: async () => `https://files.example.com/${i.id}.pdf`,
            });
            return { documents: doc ? [doc] : [] };
          },
          normalize: (i, e, at) =>
            normalizedInvoice({
              connection: at.ctx.connection.id,
              account: at.scope,
              invoiceId: i.id,
              issuedOn: i.date,
              total: i.amount,
              documents: e.documents ?? [],
              rawKey: at.rawKey,
              fetchedAt: at.fetchedAt,
            }),
        });
      const sink = new MemorySink();
      const written: string[] = [];
      const put = sink.putStream.bind(sink);
      sink.putStream = async (key, body, meta) => {
        written.push(key);
        return put(key, body, meta);
      };
      const open = [item(1), item(2)];
      await drain(withPdf([open]), { sink, http });
      expect(downloads).toHaveLength(2);

      downloads.length = 0;
      written.length = 0;
      const again = await drain(withPdf([open]), { sink, http });
      expect(again.landed).toBe(2);
      expect(downloads).toEqual([]);
      // Nothing is written: the raw invoices and the PDFs hold the same bytes, the table the same invoices,
      // so their month file is not published again.
      expect(written).toEqual([]);
      const line = sink.lines().find((l) => l.invoiceId === 'inv-0001') as { documents: unknown[] };
      expect(line.documents).toHaveLength(1);

      // A document gone from the bucket, and an invoice whose amount changed, are copied again.
      sink.objects.delete('documents/cm360/fake/s1/inv-0001/invoice.pdf');
      downloads.length = 0;
      await drain(withPdf([[item(1), item(2, '7.77')]]), { sink, http });
      expect(downloads.sort()).toEqual([
        'https://files.example.com/inv-0001.pdf',
        'https://files.example.com/inv-0002.pdf',
      ]);
    });

    it('works again an unchanged final invoice whose document could not be copied', async () => {
      const sink = new MemorySink();
      await drain(counted([[paid(1), paid(2)]], 'inv-0002').listing, { sink });
      const again = counted([[paid(1), paid(2)]]);
      await drain(again.listing, { sink });
      expect(again.enriched).toEqual(['inv-0002']);
    });
  });

  it('follows empty pages that carry a cursor and stops only at a page without one', async () => {
    const api = fakeApi([null, null, [item(1)], null]);
    const { sink } = await drain(job(api));
    expect(api.calls).toEqual([undefined, 'c1', 'c2', 'c3']);
    expect(sink.lines()).toHaveLength(1);
  });

  it('keeps an item that does not fit raw and reports it; one that names its id is fetched by that id', async () => {
    const api = fakeApi([
      [item(1), { id: 'inv-0002', date: 'not a date', amount: 3 }, { amount: '9.99' }, item(4)],
    ]);
    const fetched: string[] = [];
    const listing = job(api, {
      fetchById: async (_ctx, _scope, id) => {
        fetched.push(id);
        const body = JSON.stringify({ thing: item(2) });
        return { item: item(2), raw: { body, operation: 'getThing' } };
      },
    });
    const { sink, problems } = await drain(listing);
    expect(fetched).toEqual(['inv-0002']);
    expect(
      sink
        .lines()
        .map((l) => l.invoiceId)
        .sort(),
    ).toEqual(['inv-0001', 'inv-0002', 'inv-0004']);
    const unfit = problems.filter((p) => p.code === 'ITEM_DOES_NOT_FIT');
    expect(unfit).toHaveLength(2);
    const kept = unfit.find((p) => p.key)!;
    expect(kept.message).toMatch(/item 2 kept raw/);
    expect(sink.text(kept.key!)).toBe('{"amount":"9.99"}');
    // Values never reach a problem's text: paths and messages only.
    for (const p of problems) expect(p.message).not.toContain('9.99');
  });

  it('hands the position back when the provider throttles, and resumes at the item where it stopped', async () => {
    const items = Array.from({ length: 6 }, (_, n) => item(n));
    const api = fakeApi([items]);
    let throttles = 2;
    const listing = job(api, {
      enrich: async (i) => {
        if (i.id === 'inv-0003' && throttles-- > 0) {
          throw Object.assign(new Error('HTTP 429'), {
            name: 'ProviderError',
            status: 429,
            operation: 'getThing',
          });
        }
        return {};
      },
    });
    const { sink, landed, invocations } = await drain(listing);
    expect(invocations).toBe(3);
    expect(landed).toBe(6);
    expect(sink.lines()).toHaveLength(6);
  });

  it('works a page `concurrency` items at a time; after a throttle it resumes at the first item not landed', async () => {
    const items = Array.from({ length: 30 }, (_, n) => item(n));
    const api = fakeApi([items.slice(0, 20), items.slice(20)]);
    const enriched = new Map<string, number>();
    let inFlight = 0;
    let most = 0;
    let throttled = false;
    const listing = job(api, {
      concurrency: 4,
      enrich: async (i) => {
        enriched.set(i.id, (enriched.get(i.id) ?? 0) + 1);
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 1));
        inFlight -= 1;
        if (i.id === 'inv-0010' && !throttled) {
          throttled = true;
          throw Object.assign(new Error('HTTP 429'), {
            name: 'ProviderError',
            status: 429,
            operation: 'get',
          });
        }
        return {};
      },
    });
    const sink = new MemorySink();
    const { invocations } = await drain(listing, { sink });
    expect(invocations).toBe(2);
    expect(most).toBe(4);
    expect(new Set(sink.lines().map((l) => l.invoiceId)).size).toBe(30);
    // Nothing before the throttled item is worked again; after it, only what was in flight with it.
    for (let n = 0; n < 10; n++) expect(enriched.get(item(n).id)).toBe(1);
    const again = [...enriched].filter(([, times]) => times > 1).map(([id]) => id);
    expect(again).toContain('inv-0010');
    expect(again.length).toBeLessThanOrEqual(4);
    // The landed fingerprints are read once a page (a BatchGetItem), not once an item or a few.
    expect(tableOf(sink).fingerprintReads).toBe(3);
  });

  it('works an open invoice again but neither writes nor asks S3 for its raw answer while the table says it is the same', async () => {
    let detail = 'v1';
    const listing = job(fakeApi([[item(1), item(2)]]), {
      enrich: async (i) => ({
        raw: {
          body: `{"id":"${i.id}","detail":"${i.id === 'inv-0002' ? detail : 'v1'}"}`,
          operation: 'getThing',
        },
      }),
    });
    const sink = new MemorySink();
    const rawOf = (keys: string[], id: string) =>
      keys.filter((k) => k.startsWith('raw/') && k.endsWith(`/${id}.json`));
    await drain(listing, { sink });
    expect(rawOf(sink.written, 'inv-0001')).toHaveLength(1);
    sink.written.length = 0;
    sink.asked.length = 0;
    // Open (no final status): both are worked again; inv-0002's answer changed, inv-0001's did not.
    detail = 'v2';
    const { landed } = await drain(listing, { sink });
    expect(landed).toBe(2);
    // Nor are their landed documents read: the pointers said there are none.
    expect(tableOf(sink).documentReads).toBe(0);
    expect(rawOf(sink.asked, 'inv-0001')).toEqual([]);
    expect(rawOf(sink.written, 'inv-0001')).toEqual([]);
    expect(rawOf(sink.asked, 'inv-0002')).toHaveLength(1);
    expect(rawOf(sink.written, 'inv-0002')).toHaveLength(1);
    expect(sink.text(rawOf([...sink.objects.keys()], 'inv-0002')[0]!)).toContain('"v2"');
    // A full run writes both again, whatever the table says.
    sink.written.length = 0;
    await drain(listing, { sink, full: true });
    expect(rawOf(sink.written, 'inv-0001')).toHaveLength(1);
  });

  it('counts each invoice and document once when an invoice is handed back half done, alone or with others', async () => {
    // Each invoice has two PDFs; the second of inv-0004 is throttled once (past the client's retries) after
    // the first landed, so the listing hands back the rest of the page and the continuation works inv-0004
    // (and any that finished after it) again. Final invoices too: one that finished after inv-0004 must not
    // be found unchanged by the continuation (its fingerprint stored), or it and its PDFs go uncounted.
    const downloads: string[] = [];
    let throttled = 1;
    const http = {
      request: async () => {
        throw new Error('no API calls here');
      },
      download: async (_op: string, url: string) => {
        downloads.push(url);
        if (url.endsWith('inv-0004-b.pdf') && throttled-- > 0) {
          throw Object.assign(new Error('HTTP 429'), {
            name: 'ProviderError',
            status: 429,
            throttled: true,
            operation: 'getPdf',
          });
        }
        return {
          status: 200,
          stream: Readable.from([Buffer.from(`%PDF ${url}`)]),
          contentType: 'application/pdf',
        };
      },
    } as ProviderHttp;
    for (const [concurrency, final] of [
      [1, false],
      [3, false],
      [1, true],
      [3, true],
    ] as const) {
      throttled = 1;
      downloads.length = 0;
      const base = job(fakeApi([Array.from({ length: 6 }, (_, n) => item(n))]), {
        concurrency,
        enrich: async (i, at) => {
          const documents = [];
          for (const part of ['a', 'b']) {
            const doc = await copyDocument(at.ctx, {
              invoiceId: i.id,
              type: 'INVOICE',
              key: `documents/cm360/fake/s1/${i.id}/invoice-${part}.pdf`,
              operation: 'getPdf',
              url: async () => `https://files.example.com/${i.id}-${part}.pdf`,
            });
            if (doc) documents.push(doc);
          }
          return { documents };
        },
      });
      const listing = { ...base, item: { ...base.item, isFinal: () => final } };
      const { landed, documents, invocations } = await drain(listing, { http });
      const label = `concurrency ${concurrency}, final ${final}`;
      expect(invocations, label).toBe(2);
      // Worked again: inv-0004's first PDF was downloaded twice (and, three at a time, those after it).
      expect(downloads.length, label).toBeGreaterThan(12);
      expect(landed, label).toBe(6);
      expect(documents, label).toBe(12);
    }
  });

  it('enriches in batches of at most 25, every item once, the last batch smaller (any count from 26 to 1000)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 26, max: 1000 }),
        fc.integer({ min: 1, max: 400 }),
        async (n, pageSize) => {
          const items = Array.from({ length: n }, (_, k) => item(k));
          const pages: Item[][] = [];
          for (let k = 0; k < n; k += pageSize) pages.push(items.slice(k, k + pageSize));
          const api = fakeApi(pages);
          const batches: number[] = [];
          const seen = new Map<string, number>();
          const listing = job(api, {
            enrichBatch: {
              size: 25,
              call: async (batch) => {
                batches.push(batch.length);
                const out = new Map<string, Enrichment>();
                for (const b of batch) {
                  seen.set(b.id, (seen.get(b.id) ?? 0) + 1);
                  out.set(b.id, { detail: { ok: true } });
                }
                return out;
              },
            },
          });
          const { landed } = await drain(listing);
          expect(landed).toBe(n);
          expect(Math.max(...batches)).toBeLessThanOrEqual(25);
          expect([...seen.values()].every((c) => c === 1)).toBe(true);
          expect(seen.size).toBe(n);
          // Within a page, batches are full except the page's last one.
          expect(batches.length).toBe(pages.reduce((sum, p) => sum + Math.ceil(p.length / 25), 0));
        },
      ),
      { numRuns: 25 },
    );
  });
});
