import {
  fileId,
  fileOf,
  type InvoiceTable,
  type Landed,
  type MonthFile,
  monthOf,
  type TableEntry,
} from '../../shared/engine/invoice-table.ts';
import type { InvoiceDocument } from '../../shared/invoice/model.ts';

/** The invoice table in memory: one entry an identity, month moves and publishes as DynamoInvoiceTable does. */
export class MemoryInvoiceTable implements InvoiceTable {
  readonly byIdentity = new Map<string, TableEntry>();
  upserts = 0;
  publishes = 0;
  /** Calls to landed(): DynamoDB reads of the pointers, a BatchGetItem per 100 ids. */
  fingerprintReads = 0;
  /** Calls to documents(): DynamoDB reads of month items. */
  documentReads = 0;

  async upsert(entries: readonly TableEntry[]): Promise<MonthFile[]> {
    const touched = new Map<string, MonthFile>();
    for (const entry of entries) {
      this.upserts += 1;
      const file = fileOf(entry.invoice);
      const id = `${fileId({ ...file, month: '' })}${entry.invoice.invoiceId}`;
      const before = this.byIdentity.get(id);
      if (before && sameEntry(before, entry)) {
        // As DynamoInvoiceTable: an entry held as it is touches no month; only its fingerprint and raw
        // stamp are kept.
        const { fingerprint: _f, raw: _r, ...held } = before;
        this.byIdentity.set(id, {
          ...held,
          ...(entry.fingerprint ? { fingerprint: entry.fingerprint } : {}),
          ...(entry.raw ? { raw: entry.raw } : {}),
        });
        continue;
      }
      if (before) touched.set(fileId(fileOf(before.invoice)), fileOf(before.invoice));
      touched.set(fileId(file), file);
      const { before: _b, ...kept } = entry;
      this.byIdentity.set(id, structuredClone(kept));
    }
    return [...touched.values()];
  }

  async landed(scope: Omit<MonthFile, 'month'>, invoiceIds: readonly string[]) {
    this.fingerprintReads += 1;
    const out = new Map<string, Landed>();
    for (const id of invoiceIds) {
      const e = this.byIdentity.get(`${fileId({ ...scope, month: '' })}${id}`);
      if (e?.fingerprint || e?.raw) {
        out.set(id, {
          ...(e.fingerprint ? { fingerprint: e.fingerprint } : {}),
          ...(e.raw ? { raw: e.raw } : {}),
          month: monthOf(e.invoice),
          documents: e.invoice.documents.length,
        });
      }
    }
    return out;
  }

  async documents(scope: Omit<MonthFile, 'month'>, months: ReadonlyMap<string, string>) {
    this.documentReads += 1;
    const out = new Map<string, InvoiceDocument[]>();
    for (const [id, month] of months) {
      const e = this.byIdentity.get(`${fileId({ ...scope, month: '' })}${id}`);
      // As DynamoInvoiceTable: the entry of that month, none if the invoice is in another.
      if (e && monthOf(e.invoice) === month) out.set(id, structuredClone(e.invoice.documents));
    }
    return out;
  }

  async *entries(file: MonthFile): AsyncIterable<TableEntry> {
    const want = fileId(file);
    const list = [...this.byIdentity.values()]
      .filter((e) => fileId(fileOf(e.invoice)) === want)
      .sort((a, b) => (a.invoice.invoiceId < b.invoice.invoiceId ? -1 : 1));
    for (const { fingerprint: _f, raw: _r, ...e } of list) yield structuredClone(e);
  }

  async publish(_file: MonthFile, _leaseUntil: number, write: () => Promise<void>): Promise<boolean> {
    this.publishes += 1;
    await write();
    return true;
  }
}

/** The same invoice in the same month, fetch time aside. */
function sameEntry(a: TableEntry, b: TableEntry): boolean {
  const strip = (e: TableEntry) => JSON.stringify({ ...e.invoice, fetchedAt: null, match: e.match ?? null });
  return fileId(fileOf(a.invoice)) === fileId(fileOf(b.invoice)) && strip(a) === strip(b);
}

const tables = new WeakMap<object, MemoryInvoiceTable>();

/** One table per world a test builds (keyed by its sink), so contexts made for one world share it. */
export function tableOf(owner: object): MemoryInvoiceTable {
  let table = tables.get(owner);
  if (!table) {
    table = new MemoryInvoiceTable();
    tables.set(owner, table);
  }
  return table;
}
