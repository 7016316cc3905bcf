import { normalizedMonthKey } from '../aws/keys.ts';
import type { NormalizedInvoice } from '../invoice/model.ts';
import type { ObjectMeta, Sink } from '../providers/types.ts';

/**
 * Where the engine hands normalized invoices. One interface, so what is under it (month files merged by
 * id today) can change without touching a provider. `source` is the provider's item, for stores a
 * provider decorates (SP-API links exported XMLs by fields the normalized line does not carry).
 */
export interface InvoiceStore {
  add(invoice: NormalizedInvoice, source?: unknown): void;
  /** Writes what was added since the last flush. Called before any hand-over to the queue. */
  flush(): Promise<void>;
  /** Invoices added since the last flush. */
  readonly size: number;
}

/**
 * Normalized month files (invoices/provider=…/issue_month=…/<connection>-<scope>.jsonl): each flush merges
 * its invoices into their months' files by invoiceId, one merge per month file per flush.
 */
export class MonthFileStore implements InvoiceStore {
  #pending = new Map<string, NormalizedInvoice[]>();
  #size = 0;

  constructor(
    private readonly sink: Sink,
    private readonly meta: () => ObjectMeta,
  ) {}

  get size(): number {
    return this.#size;
  }

  add(invoice: NormalizedInvoice): void {
    const key = normalizedMonthKey(invoice.provider, invoice.connection, invoice.account, invoice.issuedOn);
    const list = this.#pending.get(key) ?? [];
    list.push(invoice);
    this.#pending.set(key, list);
    this.#size += 1;
  }

  async flush(): Promise<void> {
    const pending = this.#pending;
    this.#pending = new Map();
    this.#size = 0;
    for (const [key, records] of pending) {
      await this.sink.mergeJsonl(key, records, 'invoiceId', {
        ...this.meta(),
        contentType: 'application/x-ndjson',
      });
    }
  }
}
