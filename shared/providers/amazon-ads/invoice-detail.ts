import { describeIssues } from '../../engine/issues.ts';
import type { Enrichment, ItemContext } from '../../engine/provider-spec.ts';
import { rawOf } from '../../engine/provider-spec.ts';
import type { InvoiceDocument } from '../../invoice/model.ts';
import type { HttpResponse, ProviderContext } from '../types.ts';
import {
  HEADERS,
  type InvoiceDetail,
  type InvoiceSummary,
  invoiceDetailSchema,
  MEDIA,
  OP,
  unwrapPayload,
} from './api.ts';
import { copyInvoiceDocuments } from './documents.ts';
import { parseExactJson } from './exact-json.ts';
import type { AdsConnection } from './spec.ts';

export interface AdsEnrichment {
  detail?: InvoiceDetail;
  documents: InvoiceDocument[];
  availableDocTypes: string[];
  /** What GetDocument said it could not give, and why. */
  unavailable?: Array<{ docType?: string; reason?: string }>;
}

export function getDetail(ctx: ProviderContext<AdsConnection>, profileId: string, invoiceId: string) {
  return ctx.http.request(OP.getInvoice, {
    path: `/invoices/${encodeURIComponent(invoiceId)}`,
    headers: { [HEADERS.scope]: profileId, accept: MEDIA.invoice },
  });
}

function parseDetail(res: HttpResponse<unknown>) {
  return invoiceDetailSchema.safeParse(unwrapPayload(parseExactJson(res.rawBody)));
}

/**
 * One invoice's detail (its raw payload) and documents. What does not fit the model is kept raw and
 * reported, and the invoice still lands from what did fit (the summary): a detail that is not JSON, one
 * that does not fit, one the API no longer finds (404).
 */
export async function enrichInvoice(
  summary: InvoiceSummary,
  { ctx, scope: profileId, rawKey }: ItemContext<AdsConnection>,
): Promise<Enrichment<AdsEnrichment>> {
  const invoiceId = summary.id;
  let detail: InvoiceDetail | undefined;
  let raw: Enrichment['raw'];
  try {
    const res = await getDetail(ctx, profileId, invoiceId);
    raw = rawOf(res, OP.getInvoice);
    const parsed = parseDetail(res);
    if (parsed.success) detail = parsed.data;
    else {
      ctx.reportProblem({
        code: 'PAYLOAD_SHAPE',
        message: `invoice ${invoiceId}: the detail does not fit the model (${describeIssues(parsed.error)}); normalized from its summary`,
        key: rawKey,
      });
    }
  } catch (err) {
    const e = err as { name?: string; status?: number; message?: string; rawBody?: string };
    if (e.name === 'PayloadError' && typeof e.rawBody === 'string') {
      // Not JSON at all: the body is kept as it came, the invoice lands from its summary.
      raw = { body: e.rawBody, contentType: 'application/octet-stream', operation: OP.getInvoice };
      ctx.reportProblem({
        code: 'PAYLOAD_SHAPE',
        message: `invoice ${invoiceId}: ${e.message}`,
        key: rawKey,
      });
    } else if (e.name === 'ProviderError' && e.status === 404) {
      // The summary's own bytes are kept under the invoice's raw key.
      ctx.reportProblem({
        code: 'DETAIL_NOT_FOUND',
        message: `invoice ${invoiceId}: ${e.message}`,
        key: rawKey,
      });
    } else throw err;
  }

  const { documents, availableDocTypes, unavailable } = await copyInvoiceDocuments(ctx, {
    profileId,
    summary: detail?.invoiceSummary ?? summary,
    detail,
    refreshDetail: async () => {
      const parsed = parseDetail(await getDetail(ctx, profileId, invoiceId));
      return parsed.success ? parsed.data : undefined;
    },
  });
  return {
    ...(raw ? { raw } : {}),
    detail: { ...(detail ? { detail } : {}), documents, availableDocTypes, unavailable },
  };
}
