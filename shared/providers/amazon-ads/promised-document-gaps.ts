import type { Enrichment } from '../../engine/provider-spec.ts';
import type { Gap } from '../../engine/reconciliation.ts';
import type { NormalizedInvoice } from '../../invoice/model.ts';
import type { InvoiceSummary } from './api.ts';
import { docTypesFor } from './documents.ts';
import type { AdsEnrichment } from './invoice-detail.ts';

/**
 * Documents the summary promises (downloadableDocuments) that GetDocument did not offer at all: no copy was
 * tried, so none is pending, and without this they would be missed without a word. A document offered and
 * not landed is pending instead (its own gap, `document-missing`).
 */
export function promisedDocumentGaps(
  item: InvoiceSummary,
  enrichment: Enrichment<AdsEnrichment>,
  invoice: NormalizedInvoice,
): Gap[] {
  const summary = enrichment.detail?.detail?.invoiceSummary ?? item;
  const promised = summary.downloadableDocuments ?? [];
  const offered = new Set(enrichment.detail?.availableDocTypes ?? []);
  const gaps: Gap[] = [];
  for (const documentType of promised) {
    const docTypes = docTypesFor([documentType]);
    if (docTypes.length && docTypes.some((t) => offered.has(t))) continue;
    const said = enrichment.detail?.unavailable?.find((u) => u.docType && docTypes.includes(u.docType));
    gaps.push({
      code: 'document-not-offered',
      scope: invoice.account,
      invoiceId: invoice.invoiceId,
      field: documentType,
      expected: documentType,
      found: null,
      message: docTypes.length
        ? `downloadableDocuments promises ${documentType}; GetDocument did not offer ${docTypes.join(' or ')}${said ? ` (${said.reason ?? 'unavailable'})` : ''}`
        : `downloadableDocuments promises ${documentType}, a document type GetDocument has no docType for`,
    });
  }
  return gaps;
}
