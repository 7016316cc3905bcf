import type { z } from 'zod';
import { type RawAnswer, rawOf } from '../../engine/provider-spec.ts';
import { rawItems } from '../../engine/raw-items.ts';
import { PayloadError } from '../../http/errors.ts';
import type { HttpResponse, ProviderContext } from '../types.ts';
import { invoicesPageSchema, invoicesPath, OP, PAGE_SIZE } from './api.ts';
import type { Cm360Connection } from './spec.ts';

/**
 * One invoice found again in its issue month's listing (advertiserInvoices.list has no call by id), with
 * the item's own bytes and so a fresh pdfUrl: how a PDF that could not be copied is tried again by a
 * later run whose window no longer holds the invoice's month. Undefined when the month no longer lists
 * it, or the advertiser's invoices are no longer served (consolidated billing answers 400).
 */
export async function findInvoice(
  ctx: ProviderContext<Cm360Connection>,
  advertiserId: string,
  invoiceId: string,
  issuedOn: string | undefined,
): Promise<{ item: unknown; raw: RawAnswer } | undefined> {
  if (!issuedOn) return undefined;
  const issueMonth = issuedOn.slice(0, 7).replace('-', '');
  let pageToken: string | undefined;
  for (;;) {
    let res: HttpResponse<z.infer<typeof invoicesPageSchema>>;
    try {
      res = await ctx.http.request(OP.listInvoices, {
        path: invoicesPath(ctx.connection.profileId, advertiserId),
        query: { issueMonth, maxResults: PAGE_SIZE, pageToken },
        schema: invoicesPageSchema,
      });
    } catch (err) {
      const e = err as { status?: number; code?: string };
      if (e.status === 400 && e.code === 'FAILED_PRECONDITION') return undefined;
      throw err;
    }
    const items = res.data.invoices ?? [];
    const at = items.findIndex((i) => String((i as { id?: unknown } | null)?.id) === invoiceId);
    if (at >= 0) {
      const raw = rawOf(res, OP.listInvoices);
      const bytes = rawItems(res.rawBody, ['invoices'])?.[at];
      return { item: items[at], raw: bytes === undefined ? raw : { ...raw, body: bytes } };
    }
    const next = res.data.nextPageToken || undefined;
    if (!next) return undefined;
    if (next === pageToken) {
      throw new PayloadError(OP.listInvoices, res.rawBody, 'the nextPageToken repeats the one just sent');
    }
    pageToken = next;
  }
}
