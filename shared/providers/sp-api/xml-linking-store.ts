import { normalizedMonthKey } from '../../aws/keys.ts';
import type { InvoiceStore } from '../../engine/invoice-store.ts';
import type { NormalizedInvoice } from '../../invoice/model.ts';
import type { ObjectMeta, ProviderContext } from '../types.ts';
import type { SpInvoice } from './schemas.ts';
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

/**
 * SP-API's invoice store: the listing and the export reach S3 by two paths, so each month's lines are
 * linked to the XMLs the export poller has indexed. The ids are written and the lines merged BEFORE the
 * XML index is read again, so an XML indexed meanwhile is either seen here or finds these lines when the
 * poller links (xml-index.ts). One merge per month per flush.
 */
export class XmlLinkingStore implements InvoiceStore {
  #pending = new Map<string, Pending[]>();
  #size = 0;

  constructor(
    private readonly ctx: ProviderContext,
    private readonly marketplaceId: string,
  ) {}

  get size(): number {
    return this.#size;
  }

  #meta(): ObjectMeta {
    return { sourceOperation: 'getInvoices', runId: this.ctx.runId, fetchedAt: this.ctx.now().toISOString() };
  }

  add(line: NormalizedInvoice, source?: unknown): void {
    const month = line.issuedOn.slice(0, 7);
    const list = this.#pending.get(month) ?? [];
    list.push({ invoice: source as SpInvoice, line });
    this.#pending.set(month, list);
    this.#size += 1;
  }

  async flush(): Promise<void> {
    const pending = this.#pending;
    this.#pending = new Map();
    this.#size = 0;
    const { sink } = this.ctx;
    const conn = this.ctx.connection.id;
    const mp = this.marketplaceId;
    for (const [month, items] of pending) {
      const before = await readXmlIndex(sink, conn, mp, month);
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
      await writeInvoiceIds(sink, conn, mp, month, ids, this.#meta());
      await sink.mergeJsonl(monthKey, lines, 'invoiceId', this.#meta());

      const after = await readXmlIndex(sink, conn, mp, month);
      if (after.length > before.length) {
        const late = items.filter((p, i) => lines[i]!.documents.length === 0 && findXml(p.invoice, after));
        if (late.length > 0) {
          await sink.mergeJsonl(
            monthKey,
            late.map((p) => link(p, after)),
            'invoiceId',
            this.#meta(),
          );
        }
      }
    }
  }
}
