import { Readable } from 'node:stream';
import { normalizedMonthKey } from '../aws/keys.ts';
import type { NormalizedInvoice } from '../invoice/model.ts';
import type { ObjectMeta, ProviderContext } from '../providers/types.ts';
import { fileId, type InvoiceTable, type Landed, type MonthFile, type TableEntry } from './invoice-table.ts';

/**
 * Where the engine hands normalized invoices: `add` holds them, `flush` upserts them into the invoice table
 * (constant work an invoice, whatever its month holds) and remembers which month files changed, so the
 * listing publishes each of those once, at its end.
 */
export interface InvoiceStore {
  /**
   * `source` is the provider's item, for the keys a publish links by (see ListingJob.publish); `landed`
   * what the next run compares its item and raw object with; `before` what the table said of it (see
   * TableEntry.before).
   */
  add(invoice: NormalizedInvoice, source?: unknown, landed?: Landed, before?: Landed): void;
  /** Writes what was added since the last flush. Called before any hand-over to the queue. */
  flush(): Promise<void>;
  /** Invoices added since the last flush. */
  readonly size: number;
  /** Months (YYYY-MM) whose files the flushes changed: where invoices went, and where they left. */
  readonly touched: ReadonlySet<string>;
}

export class TableStore implements InvoiceStore {
  #pending: TableEntry[] = [];
  readonly touched = new Set<string>();

  constructor(
    private readonly table: InvoiceTable,
    private readonly matchOf?: (source: unknown) => Record<string, string> | undefined,
  ) {}

  get size(): number {
    return this.#pending.length;
  }

  add(invoice: NormalizedInvoice, source?: unknown, landed: Landed = {}, before?: Landed): void {
    const match = source === undefined ? undefined : this.matchOf?.(source);
    const { fingerprint, raw } = landed;
    this.#pending.push({
      invoice,
      ...(match ? { match } : {}),
      ...(fingerprint ? { fingerprint } : {}),
      ...(raw ? { raw } : {}),
      ...(before ? { before } : {}),
    });
  }

  async flush(): Promise<void> {
    const pending = this.#pending;
    this.#pending = [];
    for (const file of await this.table.upsert(pending)) this.touched.add(file.month);
  }
}

/** How a publish turns a month's entries into lines (SP-API links the XMLs its exports indexed). */
export type Decorate = (entry: TableEntry) => NormalizedInvoice;

/** Lines are handed to the sink in chunks of about this many bytes. */
const CHUNK_BYTES = 256 * 1024;

/** Text, not buffers: the sink encodes it into its part buffer (see S3Sink.putInParts). */
async function* jsonLines(entries: AsyncIterable<TableEntry>, decorate?: Decorate): AsyncIterable<string> {
  let held: string[] = [];
  let bytes = 0;
  for await (const entry of entries) {
    const line = `${JSON.stringify(decorate ? decorate(entry) : entry.invoice)}\n`;
    held.push(line);
    bytes += line.length;
    if (bytes >= CHUNK_BYTES) {
      yield held.join('');
      held = [];
      bytes = 0;
    }
  }
  if (held.length > 0) yield held.join('');
}

/**
 * Writes each month file from the table in one streamed pass (memory does not grow with the month), each
 * invoice once, ordered by invoiceId: one PUT and one "Object Created" event a file a publish. A month
 * every invoice left is written empty, so its consumers learn they moved; `skipEmpty` writes no file for
 * a month the table holds nothing of (the poller may index XMLs of a month no listing has landed yet).
 */
export async function publishMonths(
  ctx: ProviderContext,
  files: readonly MonthFile[],
  meta: Omit<ObjectMeta, 'contentType'>,
  decorateFor?: (file: MonthFile) => Promise<Decorate | undefined>,
  opts: { skipEmpty?: boolean } = {},
): Promise<void> {
  for (const file of files) {
    const key = normalizedMonthKey(file.provider, file.connection, file.scope, `${file.month}-01`);
    const wrote = await ctx.invoices.publish(file, ctx.budget.deadline, async () => {
      const entries = ctx.invoices.entries(file)[Symbol.asyncIterator]();
      const first = await entries.next();
      if (first.done && opts.skipEmpty) return;
      const decorate = await decorateFor?.(file);
      const all = (async function* () {
        if (!first.done) yield first.value;
        yield* { [Symbol.asyncIterator]: () => entries };
      })();
      await ctx.sink.putStream(key, Readable.from(jsonLines(all, decorate)), {
        ...meta,
        contentType: 'application/x-ndjson',
        derived: true,
      });
    });
    await ctx.state.addMonthFile?.(ctx.runId, key);
    ctx.log.debug('month file published', { file: fileId(file), key, wrote });
  }
}
