import type { InvoiceDocument } from '../invoice/model.ts';
import type { ProviderContext } from '../providers/types.ts';
import { isExpiredUrl, withUrlRenewal } from './url-renewal.ts';

/** A link is asked for again this many times after it answered as expired (each ask is one cheap API call; a fresh link that is expired again at once is rare live, common under fault injection). */
const URL_RENEWALS = 8;

type Ext = 'pdf' | 'xml' | 'zip';

/** A document's extension from its content type, else its file name, else the fallback. */
export function extOf(contentType: string | undefined, name: string | undefined, fallback: Ext): Ext {
  const type = contentType?.toLowerCase() ?? '';
  if (type.includes('pdf')) return 'pdf';
  if (type.includes('xml')) return 'xml';
  if (type.includes('zip')) return 'zip';
  const ext = /\.([a-z0-9]+)$/i.exec(name ?? '')?.[1]?.toLowerCase();
  return ext === 'pdf' || ext === 'xml' || ext === 'zip' ? ext : fallback;
}

/** A link as an absolute URL, or undefined when it is none (relative paths are not followed). */
export function absoluteUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    return new URL(value).href;
  } catch {
    return undefined;
  }
}

export interface DocumentCopy {
  invoiceId: string;
  type: string;
  key: string;
  operation: string;
  /** The link: renewal 0 is the one at hand, later renewals ask the provider for a fresh one. */
  url: (renewal: number) => Promise<string | undefined>;
  /** Send the API's own Authorization with the download (CM360's pdfUrl needs the bearer token). */
  auth?: boolean;
  /** Stored when the answer names none. */
  contentType?: string;
  /** Sees each chunk as it streams (a magic-number check, say). */
  onChunk?: (chunk: Buffer) => void;
}

/**
 * Streams one document into S3, with a fresh link when one answered as expired. No link, a refused link
 * (not https, not on the allowlist), a link that stays expired, or a 4xx from the storage host is a miss:
 * the invoice goes on without that document, and the miss goes to the engine (which records the document
 * pending, so later runs try it again, and reports it) or, outside a listing, is reported as a problem of
 * the run. Throttling, 5xx and broken connections propagate (the fetch is retried or deferred).
 */
export async function copyDocument(
  ctx: ProviderContext,
  job: DocumentCopy,
): Promise<InvoiceDocument | undefined> {
  // The invoice is unchanged since this document landed, and the object is still there with its bytes.
  const landed = ctx.landedDocument?.(job.key);
  if (landed && (await ctx.sink.holds?.(landed.key, landed.sha256))) return landed;
  const missed = (code: string, message: string): undefined => {
    if (ctx.documentMissed) {
      ctx.documentMissed({ invoiceId: job.invoiceId, type: job.type, key: job.key, code, message });
    } else ctx.reportProblem({ code, message, key: job.key });
    return undefined;
  };
  try {
    return await withUrlRenewal(
      URL_RENEWALS,
      async (renewal) => {
        const url = await job.url(renewal);
        if (!url) {
          return missed(
            'DOCUMENT_NO_LINK',
            `invoice ${job.invoiceId}: ${job.type} has no absolute download link${renewal ? ` after ${renewal} renewal(s)` : ''}`,
          );
        }
        const res = await ctx.http.download(job.operation, url, job.auth ? { auth: true } : {});
        const stored = await ctx.sink.putStream(job.key, res.stream, {
          sourceOperation: job.operation,
          runId: ctx.runId,
          fetchedAt: ctx.now().toISOString(),
          ...(res.contentType || job.contentType ? { contentType: res.contentType ?? job.contentType } : {}),
          ...(res.contentLength !== undefined ? { expectedBytes: res.contentLength } : {}),
          ...(job.onChunk ? { onChunk: job.onChunk } : {}),
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
    // A throttle that outlasted the client's retries is not the document's fault: the page is continued later.
    const clientError =
      e.name === 'ProviderError' &&
      (e.status ?? 0) >= 400 &&
      (e.status ?? 0) < 500 &&
      !(e as { throttled?: boolean }).throttled;
    if (!refused && !expired && !clientError) throw err;
    return missed(
      refused ? 'DOCUMENT_LINK_REFUSED' : expired ? 'DOCUMENT_LINK_EXPIRED' : 'DOCUMENT_UNAVAILABLE',
      `invoice ${job.invoiceId}: ${job.type} not copied: ${
        expired ? `the link was still expired after ${URL_RENEWALS} fresh one(s)` : e.message
      }`,
    );
  }
}
