import type { Decorate } from '../../engine/invoice-store.ts';
import type { MonthFile } from '../../engine/invoice-table.ts';
import type { ProviderContext } from '../types.ts';
import { stripZeros, xmlMatches } from './normalize.ts';
import type { SpInvoice } from './schemas.ts';
import { type InvoiceIds, readXmlIndex, withXml, type XmlIndexEntry } from './xml-index.ts';

/**
 * What of an SP-API invoice its XML is matched by, beside its id (the normalized line carries neither):
 * kept with the invoice in the table, so a publish can link it whichever side landed first.
 */
export function matchOf(invoice: SpInvoice): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (invoice.externalInvoiceId) out.externalInvoiceId = invoice.externalInvoiceId;
  if (invoice.series) out.series = invoice.series;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Finds an invoice's XML among a month's entries by xmlMatches (index id, access key = externalInvoiceId,
 * or number and series without leading zeros), its candidates taken from maps built once, so a publish
 * costs a few lookups an invoice, not one scan of the index.
 */
export function xmlFinder(entries: readonly XmlIndexEntry[]): (ids: InvoiceIds) => XmlIndexEntry | undefined {
  const byId = new Map<string, XmlIndexEntry>();
  const byAccessKey = new Map<string, XmlIndexEntry>();
  const byNumber = new Map<string, XmlIndexEntry>();
  for (const e of entries) {
    if (!byId.has(e.id)) byId.set(e.id, e);
    if (e.accessKey && !byAccessKey.has(e.accessKey)) byAccessKey.set(e.accessKey, e);
    if (e.number && e.series !== undefined) {
      const k = `${stripZeros(e.number)}|${stripZeros(e.series)}`;
      if (!byNumber.has(k)) byNumber.set(k, e);
    }
  }
  return (ids) => {
    const ext = ids.externalInvoiceId?.trim();
    const candidates = [
      byId.get(ids.id),
      ext ? byAccessKey.get(ext) : undefined,
      ext && ids.series ? byNumber.get(`${stripZeros(ext)}|${stripZeros(ids.series)}`) : undefined,
    ];
    return candidates.find((c) => c !== undefined && xmlMatches(ids, c));
  };
}

/**
 * The listing and the export reach S3 by two paths, in either order: each month file is published with
 * the XMLs indexed so far (that month's and the undated ones) linked to its invoices. Both the listing
 * and the poller publish after their own writes, and the table lets one writer at a time write a file
 * and write it again if asked meanwhile, so the last version has both sides.
 */
export async function linkXmls(ctx: ProviderContext, file: MonthFile): Promise<Decorate> {
  const find = xmlFinder(await readXmlIndex(ctx.sink, file.connection, file.scope, file.month));
  return ({ invoice, match }) => {
    const xml = find({ id: invoice.invoiceId, ...match });
    return xml ? withXml(invoice, xml) : invoice;
  };
}
