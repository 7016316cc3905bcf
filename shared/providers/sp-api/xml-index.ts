import { safeSegment } from '../../aws/keys.ts';
import {
  type InvoiceDocument,
  type NormalizedInvoice,
  normalizedInvoiceSchema,
} from '../../invoice/model.ts';
import type { ObjectMeta, Sink } from '../types.ts';

/**
 * Invoices come from getInvoices (the sp-api function) and their XMLs from export ZIPs (the export
 * poller), in either order. The poller stores each XML and lists it in an XML index per issue month
 * (undated ones in their own), then publishes that month's file; the listing publishes its months at its
 * end. A publish links the month's invoices to the XMLs indexed so far (xml-linking.ts), so whichever
 * side comes second writes the file with both. The index lives under documents/sp-api/, the one prefix
 * both functions may write.
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
  /** NfeFields.vNFParts and vICMSDeson, for the control totals (absent in entries indexed before them). */
  vNFParts?: string;
  vICMSDeson?: string;
  document: InvoiceDocument;
  exportId: string;
  documentId: string;
  entry: string;
};

/** What an invoice's XML is matched by (the normalized line has no series). */
export type InvoiceIds = {
  id: string;
  externalInvoiceId?: string;
  series?: string;
};

export const UNDATED = 'undated';

export function indexKey(kind: 'xml', connection: string, marketplaceId: string, month: string): string {
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
