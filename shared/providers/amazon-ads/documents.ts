import { documentKey } from '../../aws/keys.ts';
import { isExpiredUrl, withUrlRenewal } from '../../engine/url-renewal.ts';
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

/** A link is asked for again this many times after it answered as expired. */
const URL_RENEWALS = 2;

/** summary.downloadableDocuments (documentType) to the docType values GetDocument takes. */
const DOC_TYPES_FOR: Record<string, string[]> = {
  INVOICE: ['INVOICE'],
  CREDIT_NOTE: ['CREDIT_MEMO'],
};

export function docTypesFor(offered: readonly string[]): string[] {
  return [...new Set(offered.flatMap((d) => DOC_TYPES_FOR[d] ?? []))];
}

function extOf(contentType: string | undefined, name: string | undefined, fallback: Ext): Ext {
  const type = contentType?.toLowerCase() ?? '';
  if (type.includes('pdf')) return 'pdf';
  if (type.includes('xml')) return 'xml';
  if (type.includes('zip')) return 'zip';
  const ext = /\.([a-z0-9]+)$/i.exec(name ?? '')?.[1]?.toLowerCase();
  return ext === 'pdf' || ext === 'xml' || ext === 'zip' ? ext : fallback;
}

function absoluteUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    return new URL(value).href;
  } catch {
    return undefined;
  }
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

interface CopyJob {
  invoiceId: string;
  type: string;
  key: string;
  operation: string;
  /** The link: renewal 0 is the one at hand, later renewals ask the provider for a fresh one. */
  url: (renewal: number) => Promise<string | undefined>;
}

/**
 * Streams one document into S3, with a fresh link when one answered as expired. A refused link (not
 * https, not on the allowlist), a link that stays expired, or a 4xx from the storage host is recorded as
 * a problem of the run and the invoice goes on without that document; throttling, 5xx and broken
 * connections propagate (the fetch is retried or deferred).
 */
async function copyDocument(ctx: Ctx, job: CopyJob): Promise<InvoiceDocument | undefined> {
  try {
    return await withUrlRenewal(
      URL_RENEWALS,
      async (renewal) => {
        const url = await job.url(renewal);
        if (!url) {
          ctx.reportProblem({
            code: 'DOCUMENT_NO_LINK',
            message: `invoice ${job.invoiceId}: ${job.type} has no absolute download link${renewal ? ` after ${renewal} renewal(s)` : ''}`,
            key: job.key,
          });
          return undefined;
        }
        const res = await ctx.http.download(job.operation, url);
        const stored = await ctx.sink.putStream(job.key, res.stream, {
          sourceOperation: job.operation,
          runId: ctx.runId,
          fetchedAt: ctx.now().toISOString(),
          ...(res.contentType ? { contentType: res.contentType } : {}),
          ...(res.contentLength !== undefined ? { expectedBytes: res.contentLength } : {}),
        });
        ctx.count('documents');
        return { type: job.type, key: stored.key, sha256: stored.sha256, bytes: stored.bytes };
      },
      ctx.log,
      { invoiceId: job.invoiceId, type: job.type },
    );
  } catch (err) {
    const e = err as { name?: string; status?: number; message?: string };
    const refused = e.name === 'DownloadRefusedError';
    const expired = isExpiredUrl(err);
    const clientError = e.name === 'ProviderError' && (e.status ?? 0) >= 400 && (e.status ?? 0) < 500;
    if (!refused && !expired && !clientError) throw err;
    ctx.reportProblem({
      code: refused ? 'DOCUMENT_LINK_REFUSED' : expired ? 'DOCUMENT_LINK_EXPIRED' : 'DOCUMENT_UNAVAILABLE',
      message: `invoice ${job.invoiceId}: ${job.type} not copied: ${
        expired ? `the link was still expired after ${URL_RENEWALS} fresh one(s)` : e.message
      }`,
      key: job.key,
    });
    return undefined;
  }
}

export interface InvoiceDocumentsInput {
  profileId: string;
  summary: InvoiceSummary;
  detail: InvoiceDetail | undefined;
  /** Asks for the invoice detail again (its government links are pre-signed and expire). */
  refreshDetail: () => Promise<InvoiceDetail | undefined>;
}

/**
 * Copies every document of one invoice: the billing documents the summary offers (GetDocument lists them
 * with their links) and the government documents behind governmentInvoiceInformation's pre-signed links.
 */
export async function copyInvoiceDocuments(
  ctx: Ctx,
  input: InvoiceDocumentsInput,
): Promise<{ documents: InvoiceDocument[]; availableDocTypes: string[] }> {
  const { profileId, summary } = input;
  const invoiceId = summary.id;
  const documents: InvoiceDocument[] = [];
  const availableDocTypes: string[] = [];
  const docKey = (name: string, ext: Ext) =>
    documentKey('amazon-ads', ctx.connection.id, profileId, invoiceId, name, ext);

  const docTypes = docTypesFor(summary.downloadableDocuments ?? []);
  if (docTypes.length > 0) {
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
  return { documents, availableDocTypes };
}
