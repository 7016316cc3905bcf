import { documentKey } from '../../aws/keys.ts';
import { absoluteUrl, copyDocument } from '../../engine/copy-document.ts';
import type { InvoiceDocument } from '../../invoice/model.ts';
import type { ProviderContext } from '../types.ts';
import { OP } from './api.ts';

/** The document type of an invoice's PDF in the normalized invoice. */
export const PDF_TYPE = 'INVOICE_PDF';

const PDF_MAGIC = Buffer.from('%PDF-', 'latin1');

/**
 * Streams an invoice's pdfUrl into documents/cm360/<connection>/<advertiser>/<invoiceId>/invoice.pdf with
 * the engine's copy. The link is user specific: it wants the connection's bearer token (the client sends it
 * to that host only, and drops it on a redirect elsewhere). Bytes that are not a PDF are kept and reported.
 */
export async function copyInvoicePdf(
  ctx: ProviderContext,
  advertiserId: string,
  invoiceId: string,
  pdfUrl: string | undefined,
): Promise<InvoiceDocument | undefined> {
  let head = Buffer.alloc(0);
  const doc = await copyDocument(ctx, {
    invoiceId,
    type: PDF_TYPE,
    key: documentKey('cm360', ctx.connection.id, advertiserId, invoiceId, 'invoice', 'pdf'),
    operation: OP.downloadPdf,
    // The link was just listed and lives 7 days: there is no fresher one to ask for.
    url: async (renewal) => (renewal === 0 ? absoluteUrl(pdfUrl) : undefined),
    auth: true,
    contentType: 'application/pdf',
    onChunk: (chunk) => {
      if (head.length < PDF_MAGIC.length) head = Buffer.concat([head, chunk.subarray(0, PDF_MAGIC.length)]);
    },
  });
  if (doc && !head.subarray(0, PDF_MAGIC.length).equals(PDF_MAGIC)) {
    ctx.reportProblem({
      code: 'DOCUMENT_NOT_PDF',
      message: `invoice ${invoiceId}: pdfUrl answered bytes that do not start with %PDF-`,
      key: doc.key,
    });
  }
  return doc;
}
