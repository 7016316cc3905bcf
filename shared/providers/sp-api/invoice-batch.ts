import { createHash } from 'node:crypto';
import { normalizedMonthKey, rawInvoiceKey, rawPayloadKey } from '../../aws/keys.ts';
import type { NormalizedInvoice } from '../../invoice/model.ts';
import type { ObjectMeta, ProviderContext } from '../types.ts';
import { normalizeInvoice, utcDay } from './normalize.ts';
import { invoiceSchema, type SpInvoice } from './schemas.ts';
import {
  findXml,
  type InvoiceIds,
  readXmlIndex,
  withXml,
  writeInvoiceIds,
  type XmlIndexEntry,
} from './xml-index.ts';

interface Pending {
  invoice: SpInvoice;
  line: NormalizedInvoice;
}

/** Raw invoices written at once (S3 PUTs in flight). */
const RAW_CONCURRENCY = 8;

async function inPool<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Invoices of one marketplace on their way to S3: each raw invoice is stored as it arrives; normalized
 * lines wait here and are merged into their month files on flush (one merge per month per flush, not
 * per page: a month file is read and rewritten whole). Flush before handing the rest to the queue.
 */
export class InvoiceBatch {
  readonly #ctx: ProviderContext;
  readonly #marketplaceId: string;
  readonly #operation: string;
  #pending = new Map<string, Pending[]>();
  #size = 0;

  constructor(ctx: ProviderContext, marketplaceId: string, operation: string) {
    this.#ctx = ctx;
    this.#marketplaceId = marketplaceId;
    this.#operation = operation;
  }

  get size(): number {
    return this.#size;
  }

  #meta(): ObjectMeta {
    return {
      sourceOperation: this.#operation,
      runId: this.#ctx.runId,
      fetchedAt: this.#ctx.now().toISOString(),
    };
  }

  /** Stores the raw invoices and queues their normalized lines; one that does not fit is kept raw and reported. */
  async add(raws: readonly unknown[]): Promise<void> {
    const conn = this.#ctx.connection.id;
    const fetchedAt = this.#ctx.now().toISOString();
    await inPool(raws, RAW_CONCURRENCY, async (raw) => {
      const parsed = invoiceSchema.safeParse(raw);
      let issuedOn: string | undefined;
      let problem: string | undefined;
      if (parsed.success) {
        try {
          issuedOn = utcDay(parsed.data.date, 'invoice.date');
        } catch (err) {
          problem = (err as Error).message;
        }
      } else {
        problem = parsed.error.issues
          .map((i) => `${i.path.join('.') || '(invoice)'}: ${i.message}`)
          .join('; ');
      }
      if (!parsed.success || issuedOn === undefined) {
        const digest = createHash('sha256').update(JSON.stringify(raw)).digest('hex').slice(0, 16);
        const id = typeof (raw as { id?: unknown })?.id === 'string' ? (raw as { id: string }).id : digest;
        const key = rawPayloadKey('sp-api', conn, this.#marketplaceId, `unfit-invoice-${id}`);
        await this.#ctx.sink.putJson(key, raw, this.#meta());
        this.#ctx.reportProblem({
          code: 'INVOICE_DOES_NOT_FIT',
          message: `invoice ${id} kept raw, not normalized: ${problem}`,
          key,
        });
        return;
      }
      const invoice = parsed.data;
      const rawKey = rawInvoiceKey('sp-api', conn, this.#marketplaceId, issuedOn, invoice.id);
      await this.#ctx.sink.putJson(rawKey, raw, this.#meta());
      const line = normalizeInvoice({
        connection: conn,
        marketplaceId: this.#marketplaceId,
        invoice,
        rawKey,
        fetchedAt,
      });
      const month = issuedOn.slice(0, 7);
      this.#pending.set(month, [...(this.#pending.get(month) ?? []), { invoice, line }]);
      this.#size += 1;
      this.#ctx.count('invoices');
    });
  }

  /**
   * Merges the queued lines into their month files, linked to any XML the export poller indexed. The ids
   * are written and the lines merged BEFORE the XML index is read again, so an XML indexed meanwhile is
   * either seen here or finds these lines when the poller links (xml-index.ts).
   */
  async flush(): Promise<void> {
    const conn = this.#ctx.connection.id;
    const mp = this.#marketplaceId;
    for (const [month, items] of this.#pending) {
      const before = await readXmlIndex(this.#ctx.sink, conn, mp, month);
      const link = (p: Pending, entries: readonly XmlIndexEntry[]) => {
        const xml = findXml(p.invoice, entries);
        return xml ? withXml(p.line, xml) : p.line;
      };
      const lines = items.map((p) => link(p, before));
      const ids: InvoiceIds[] = items.map(({ invoice }) => ({
        id: invoice.id,
        ...(invoice.externalInvoiceId ? { externalInvoiceId: invoice.externalInvoiceId } : {}),
        ...(invoice.series ? { series: invoice.series } : {}),
      }));
      const monthKey = normalizedMonthKey('sp-api', conn, mp, `${month}-01`);
      await writeInvoiceIds(this.#ctx.sink, conn, mp, month, ids, this.#meta());
      await this.#ctx.sink.mergeJsonl(monthKey, lines, 'invoiceId', this.#meta());

      const after = await readXmlIndex(this.#ctx.sink, conn, mp, month);
      if (after.length > before.length) {
        const late = items.filter((p, i) => lines[i]!.documents.length === 0 && findXml(p.invoice, after));
        if (late.length > 0) {
          await this.#ctx.sink.mergeJsonl(
            monthKey,
            late.map((p) => link(p, after)),
            'invoiceId',
            this.#meta(),
          );
        }
      }
    }
    this.#pending = new Map();
    this.#size = 0;
  }
}
