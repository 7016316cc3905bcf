import type { ProviderId } from '../config/schema.ts';
import type { InvoiceDocument, NormalizedInvoice } from '../invoice/model.ts';

/** One consumer file: a provider, connection and scope's invoices issued in one month (YYYY-MM). */
export interface MonthFile {
  provider: ProviderId;
  connection: string;
  scope: string;
  month: string;
}

/**
 * A normalized invoice as the table keeps it, with the provider's own keys a publish may need to
 * decorate it (SP-API links exported XMLs by series and external id, which the line does not carry).
 */
export interface TableEntry {
  invoice: NormalizedInvoice;
  match?: Record<string, string>;
  /** What the invoice's listing item was when it landed (see ListingJob.item.fingerprint). */
  fingerprint?: string;
  /** Its raw object as it landed: `rawStamp` of the key and the bytes' SHA-256. */
  raw?: string;
  /**
   * What `landed` said of the invoice when its landing began: an entry that matches it in every part is
   * not written, and its pointer is not read again to find that out.
   */
  before?: Landed;
}

/**
 * What the table says an invoice last landed as (see TableEntry): the month its entry is in, the table's
 * own hash of that entry, and how many documents it holds (unknown for entries written before it was kept).
 */
export type Landed = Pick<TableEntry, 'fingerprint' | 'raw'> & {
  month?: string;
  hash?: string;
  documents?: number;
};

/**
 * The normalized invoices of every run, one entry per invoice identity (provider, connection, scope,
 * invoiceId), from which the month files are published. Upserts cost the same whatever a month holds;
 * a publish reads the month once.
 */
export interface InvoiceTable {
  /**
   * Upserts each entry by identity (the last of an identity in one call wins). Returns the months whose
   * files changed: each entry's month, and the month an entry left when its issue date moved.
   */
  upsert(entries: readonly TableEntry[]): Promise<MonthFile[]>;
  /** What the scope's invoices last landed as, by invoiceId (none: never landed, or landed without either). */
  landed(scope: Omit<MonthFile, 'month'>, invoiceIds: readonly string[]): Promise<Map<string, Landed>>;
  /**
   * The documents the scope's invoices last landed with, by invoiceId (those the table holds), given the
   * month each one's entry is in (as `landed` said: the pointers are not read again).
   */
  documents(
    scope: Omit<MonthFile, 'month'>,
    months: ReadonlyMap<string, string>,
  ): Promise<Map<string, InvoiceDocument[]>>;
  /** The entries of a month, ordered by invoiceId, each invoice once. */
  entries(file: MonthFile): AsyncIterable<TableEntry>;
  /**
   * Runs `write` so that the file ends up reflecting every change made before this call, even when
   * writers publish the same file at once: one writer holds the file (until `leaseUntil`, epoch ms) and
   * writes again while others asked meanwhile; the others return at once (false) and leave it to it.
   */
  publish(file: MonthFile, leaseUntil: number, write: () => Promise<void>): Promise<boolean>;
}

export function monthOf(invoice: NormalizedInvoice): string {
  return invoice.issuedOn.slice(0, 7);
}

export function fileOf(invoice: NormalizedInvoice): MonthFile {
  return {
    provider: invoice.provider,
    connection: invoice.connection,
    scope: invoice.account,
    month: monthOf(invoice),
  };
}

export function fileId(file: MonthFile): string {
  return [file.provider, file.connection, file.scope, file.month].map(encodeURIComponent).join('#');
}
