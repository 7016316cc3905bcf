import { normalizedMonthKey, safeSegment } from '../../aws/keys.ts';
import {
  type InvoiceDocument,
  type NormalizedInvoice,
  normalizedInvoiceSchema,
} from '../../invoice/model.ts';
import type { ObjectMeta, Sink } from '../types.ts';
import { xmlMatches } from './normalize.ts';

/**
 * Invoices come from getInvoices (the sp-api function) and their XMLs from export ZIPs (the export
 * poller), in either order. Each side writes what it has, then reads what the other side wrote:
 *   - the poller stores each XML and lists it in an XML index per issue month, then links the month's
 *     normalized invoices it can match;
 *   - the fetch lists its invoices' ids (id, externalInvoiceId, series) in an ids index and merges the
 *     normalized lines, then reads the XML index and links what it matches.
 * Both write before they read (S3 reads its writes), so whichever runs second sees the other's write and
 * no link is lost. The indexes live under documents/sp-api/, the one prefix both functions may use.
 */

export type XmlIndexEntry = {
  /** Index id: the NF-e access key, else the entry's file name without extension. */
  id: string;
  accessKey?: string;
  number?: string;
  series?: string;
  issuedAt?: string;
  /** YYYY-MM of the issue time in UTC, or "undated". */
  month: string;
  vProd?: string;
  vNF?: string;
  document: InvoiceDocument;
  exportId: string;
  documentId: string;
  entry: string;
};

/** What the poller needs of an invoice to match its XML (the normalized line has no series). */
export type InvoiceIds = {
  id: string;
  externalInvoiceId?: string;
  series?: string;
};

export const UNDATED = 'undated';

export function indexKey(
  kind: 'xml' | 'invoice-ids',
  connection: string,
  marketplaceId: string,
  month: string,
): string {
  return `documents/sp-api/${safeSegment(connection)}/${safeSegment(marketplaceId)}/_index/${kind}-${safeSegment(month)}.jsonl`;
}

function parseLines<T>(text: string | undefined): T[] {
  if (!text) return [];
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

function byMonth<T extends { month: string }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const i of items) out.set(i.month, [...(out.get(i.month) ?? []), i]);
  return out;
}

export async function writeXmlIndex(
  sink: Sink,
  connection: string,
  marketplaceId: string,
  entries: readonly XmlIndexEntry[],
  meta: ObjectMeta,
): Promise<void> {
  for (const [month, list] of byMonth(entries)) {
    await sink.mergeJsonl(indexKey('xml', connection, marketplaceId, month), list, 'id', meta);
  }
}

/** The XML entries a month's invoices may match: that month's and the undated ones. */
export async function readXmlIndex(
  sink: Sink,
  connection: string,
  marketplaceId: string,
  month: string,
): Promise<XmlIndexEntry[]> {
  const [dated, undated] = await Promise.all([
    sink.getText(indexKey('xml', connection, marketplaceId, month)),
    sink.getText(indexKey('xml', connection, marketplaceId, UNDATED)),
  ]);
  return [...parseLines<XmlIndexEntry>(dated), ...parseLines<XmlIndexEntry>(undated)];
}

export async function writeInvoiceIds(
  sink: Sink,
  connection: string,
  marketplaceId: string,
  month: string,
  ids: readonly InvoiceIds[],
  meta: ObjectMeta,
): Promise<void> {
  await sink.mergeJsonl(indexKey('invoice-ids', connection, marketplaceId, month), ids, 'id', meta);
}

export function findXml(invoice: InvoiceIds, entries: readonly XmlIndexEntry[]): XmlIndexEntry | undefined {
  return entries.find((e) => xmlMatches(invoice, e));
}

/** A normalized line with its XML linked: the document added once, the NF-e totals as BRL money. */
export function withXml(line: NormalizedInvoice, xml: XmlIndexEntry): NormalizedInvoice {
  const documents = [...line.documents.filter((d) => d.key !== xml.document.key), xml.document];
  const money = xml.vNF !== undefined || xml.vProd !== undefined;
  return normalizedInvoiceSchema.parse({
    ...line,
    documents,
    ...(money ? { currency: 'BRL', subtotal: xml.vProd ?? null, total: xml.vNF ?? null } : {}),
  });
}

function isLinked(line: NormalizedInvoice, xml: XmlIndexEntry): boolean {
  const doc = line.documents.find((d) => d.key === xml.document.key);
  return doc?.sha256 === xml.document.sha256 && (xml.vNF === undefined || line.total === xml.vNF);
}

/**
 * The poller's half: links the normalized invoices of each month to the XML entries just indexed.
 * Returns how many lines were linked.
 */
export async function linkMonths(
  sink: Sink,
  connection: string,
  marketplaceId: string,
  months: Iterable<string>,
  meta: ObjectMeta,
): Promise<number> {
  let linked = 0;
  const dated = [...months].filter((m) => m !== UNDATED);
  // An undated XML could belong to any month, and finding every month file would take a listing: those
  // are linked from the fetch side only (which reads the undated index with each month's).
  for (const month of dated) {
    const entries = await readXmlIndex(sink, connection, marketplaceId, month);
    if (entries.length === 0) continue;
    const ids = new Map(
      parseLines<InvoiceIds>(
        await sink.getText(indexKey('invoice-ids', connection, marketplaceId, month)),
      ).map((i) => [i.id, i]),
    );
    const monthKey = normalizedMonthKey('sp-api', connection, marketplaceId, `${month}-01`);
    const lines = parseLines<NormalizedInvoice>(await sink.getText(monthKey));
    const changed: NormalizedInvoice[] = [];
    for (const line of lines) {
      const xml = findXml(ids.get(line.invoiceId) ?? { id: line.invoiceId }, entries);
      if (xml && !isLinked(line, xml)) changed.push(withXml(line, xml));
    }
    if (changed.length > 0) {
      await sink.mergeJsonl(monthKey, changed, 'invoiceId', meta);
      linked += changed.length;
    }
  }
  return linked;
}

export { isLinked };
