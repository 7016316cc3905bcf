import { documentKey } from '../../aws/keys.ts';
import type { InvoiceDocument } from '../../invoice/model.ts';
import type { ProviderContext } from '../types.ts';
import { OP } from './api.ts';
import { withQuotaBackoff } from './quota.ts';

/** The document type of an invoice's PDF in the normalized invoice. */
export const PDF_TYPE = 'INVOICE_PDF';

const PDF_MAGIC = Buffer.from('%PDF-', 'latin1');

/**
 * Streams an invoice's pdfUrl into documents/cm360/<connection>/<advertiser>/<invoiceId>/invoice.pdf. The
 * link is user specific: it wants the connection's bearer token (the client sends it to that host only,
 * and drops it on a redirect elsewhere) and works for 7 days from the listing, which was just fetched. A
 * link off the allowlist, or a 4xx that is not a quota error (a link that lapsed, another user's), is a
 * problem of the run and the invoice lands without its PDF; quota errors back off, 5xx and broken
 * connections propagate (the page is retried or continued). Bytes that are not a PDF are kept and reported.
 */
export async function copyInvoicePdf(
  ctx: ProviderContext,
  advertiserId: string,
  invoiceId: string,
  pdfUrl: string | undefined,
): Promise<InvoiceDocument | undefined> {
  const key = documentKey('cm360', ctx.connection.id, advertiserId, invoiceId, 'invoice', 'pdf');
  if (!pdfUrl) {
    ctx.reportProblem({ code: 'DOCUMENT_NO_LINK', message: `invoice ${invoiceId}: no pdfUrl`, key });
    return undefined;
  }
  try {
    const res = await withQuotaBackoff(ctx, OP.downloadPdf, () =>
      ctx.http.download(OP.downloadPdf, pdfUrl, { auth: true, headers: { accept: 'application/pdf' } }),
    );
    let head = Buffer.alloc(0);
    const stored = await ctx.sink.putStream(key, res.stream, {
      sourceOperation: OP.downloadPdf,
      runId: ctx.runId,
      fetchedAt: ctx.now().toISOString(),
      contentType: 'application/pdf',
      ...(res.contentLength !== undefined ? { expectedBytes: res.contentLength } : {}),
      onChunk: (chunk) => {
        if (head.length < PDF_MAGIC.length) head = Buffer.concat([head, chunk.subarray(0, PDF_MAGIC.length)]);
      },
    });
    if (!head.subarray(0, PDF_MAGIC.length).equals(PDF_MAGIC)) {
      ctx.reportProblem({
        code: 'DOCUMENT_NOT_PDF',
        message: `invoice ${invoiceId}: pdfUrl answered ${res.contentType ?? 'no content type'} whose bytes do not start with %PDF-`,
        key,
      });
    }
    ctx.count('documents');
    return { type: PDF_TYPE, key: stored.key, sha256: stored.sha256, bytes: stored.bytes };
  } catch (err) {
    const e = err as { name?: string; status?: number; message?: string };
    const refused = e.name === 'DownloadRefusedError';
    // A 429 that outlasted the client's retries is a throttle: the engine continues the page later.
    const clientError =
      e.name === 'ProviderError' && (e.status ?? 0) >= 400 && (e.status ?? 0) < 500 && e.status !== 429;
    if (!refused && !clientError) throw err;
    ctx.reportProblem({
      code: refused ? 'DOCUMENT_LINK_REFUSED' : 'DOCUMENT_UNAVAILABLE',
      message: `invoice ${invoiceId}: PDF not copied: ${e.message}`,
      key,
    });
    return undefined;
  }
}
