import { documentKey } from '../../aws/keys.ts';
import { absoluteUrl, copyDocument, extOf } from '../../engine/copy-document.ts';
import type { InvoiceDocument } from '../../invoice/model.ts';
import type { ProviderContext } from '../types.ts';
import {
  type AvailableDocument,
  documentsSchema,
  HEADERS,
  type InvoiceDetail,
  type InvoiceSummary,
  MEDIA,
  OP,
  unwrapPayload,
} from './api.ts';
import type { AdsConnection } from './spec.ts';

type Ctx = ProviderContext<AdsConnection>;
type Ext = 'pdf' | 'xml' | 'zip';

/** summary.downloadableDocuments (documentType) to the docType values GetDocument takes. */
const DOC_TYPES_FOR: Record<string, string[]> = {
  INVOICE: ['INVOICE'],
  CREDIT_NOTE: ['CREDIT_MEMO'],
};

export function docTypesFor(offered: readonly string[]): string[] {
  return [...new Set(offered.flatMap((d) => DOC_TYPES_FOR[d] ?? []))];
}

export async function listDocuments(
  ctx: Ctx,
  profileId: string,
  invoiceId: string,
  docTypes: readonly string[],
) {
  const res = await ctx.http.request(OP.getDocument, {
    path: `/billing/documents/${encodeURIComponent(invoiceId)}`,
    query: { docType: docTypes },
    headers: { [HEADERS.scope]: profileId, [HEADERS.account]: profileId, accept: MEDIA.documents },
  });
  const parsed = documentsSchema.safeParse(unwrapPayload(res.data));
  if (!parsed.success) {
    ctx.reportProblem({
      code: 'PAYLOAD_SHAPE',
      message: `GetDocument for invoice ${invoiceId} does not fit the model; no documents copied`,
    });
    return undefined;
  }
  return parsed.data;
}

export interface InvoiceDocumentsInput {
  profileId: string;
  summary: InvoiceSummary;
  detail: InvoiceDetail | undefined;
  /** Asks for the invoice detail again (its government links are pre-signed and expire). */
  refreshDetail: () => Promise<InvoiceDetail | undefined>;
}

/**
 * The billing documents an invoice landed with, when its summary is unchanged since (an open invoice worked
 * again for its payments: ctx.landedDocuments) and a document of every offered type is still in the bucket
 * with its bytes: GetDocument would only sign new links to the same files, one call per invoice and day.
 */
async function stillLanded(ctx: Ctx, docTypes: readonly string[]): Promise<InvoiceDocument[] | undefined> {
  if (docTypes.length === 0 || !ctx.landedDocuments || !ctx.sink.holds) return undefined;
  const landed = ctx.landedDocuments.filter((d) => docTypes.includes(d.type));
  if (!docTypes.every((t) => landed.some((d) => d.type === t))) return undefined;
  for (const doc of landed) if (!(await ctx.sink.holds(doc.key, doc.sha256))) return undefined;
  return landed;
}

/**
 * Copies every document of one invoice: the billing documents the summary offers (GetDocument lists them
 * with their links) and the government documents behind governmentInvoiceInformation's pre-signed links.
 */
export async function copyInvoiceDocuments(
  ctx: Ctx,
  input: InvoiceDocumentsInput,
): Promise<{
  documents: InvoiceDocument[];
  availableDocTypes: string[];
  unavailable: Array<{ docType?: string; reason?: string }>;
}> {
  const { profileId, summary } = input;
  const invoiceId = summary.id;
  const documents: InvoiceDocument[] = [];
  const availableDocTypes: string[] = [];
  const unavailable: Array<{ docType?: string; reason?: string }> = [];
  const docKey = (name: string, ext: Ext) =>
    documentKey('amazon-ads', ctx.connection.id, profileId, invoiceId, name, ext);

  const docTypes = docTypesFor(summary.downloadableDocuments ?? []);
  const kept = await stillLanded(ctx, docTypes);
  if (kept) {
    documents.push(...kept);
    availableDocTypes.push(...kept.map((d) => d.type));
  } else if (docTypes.length > 0) {
    const listing = await listDocuments(ctx, profileId, invoiceId, docTypes);
    const seen = new Map<string, number>();
    for (const doc of listing?.availableDocuments ?? []) {
      const type = doc.docType ?? 'DOCUMENT';
      availableDocTypes.push(type);
      const n = (seen.get(type) ?? 0) + 1;
      seen.set(type, n);
      const same = (d: AvailableDocument) => d.docType === doc.docType && d.fileName === doc.fileName;
      const copied = await copyDocument(ctx, {
        invoiceId,
        type,
        key: docKey(n > 1 ? `${type}-${n}` : type, extOf(doc.contentType, doc.fileName, 'pdf')),
        operation: OP.downloadDocument,
        url: async (renewal) => {
          if (renewal === 0) return absoluteUrl(doc.storagePath);
          const fresh = await listDocuments(ctx, profileId, invoiceId, docTypes);
          return absoluteUrl(fresh?.availableDocuments.find(same)?.storagePath);
        },
      });
      if (copied) documents.push(copied);
    }
    for (const missing of listing?.unavailableDocuments ?? []) {
      unavailable.push({
        ...(missing.docType ? { docType: missing.docType } : {}),
        ...(missing.reason ? { reason: missing.reason } : {}),
      });
      ctx.log.info('billing document not available', {
        invoiceId,
        docType: missing.docType,
        reason: missing.reason,
      });
    }
  }

  const gov = input.detail?.governmentInvoiceInformation;
  const links = [
    { field: 'governmentDocumentS3Link', type: 'GOVERNMENT_INVOICE', ext: 'pdf' },
    { field: 'governmentXmlDocumentS3Link', type: 'GOVERNMENT_INVOICE_XML', ext: 'xml' },
  ] as const;
  for (const link of links) {
    const first = gov?.[link.field];
    if (!first) continue;
    const copied = await copyDocument(ctx, {
      invoiceId,
      type: link.type,
      key: docKey('government', link.ext),
      operation: OP.downloadGovernment,
      url: async (renewal) => {
        if (renewal === 0) return absoluteUrl(first);
        const fresh = await input.refreshDetail();
        return absoluteUrl(fresh?.governmentInvoiceInformation?.[link.field]);
      },
    });
    if (copied) documents.push(copied);
  }
  return { documents, availableDocTypes, unavailable };
}
