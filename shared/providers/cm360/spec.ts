import type { z } from 'zod';
import { googleSecretSchema } from '../../auth/secret-schemas.ts';
import { rawPayloadKey } from '../../aws/keys.ts';
import type { ConnectionOf } from '../../config/schema.ts';
import type { ListingJob, ListingPage, ProviderSpec } from '../../engine/provider-spec.ts';
import { rawOf } from '../../engine/provider-spec.ts';
import { rawItems } from '../../engine/raw-items.ts';
import { storeRaw, storeRawOnce } from '../../engine/store-raw.ts';
import { DOWNLOAD_HOSTS } from '../../http/allowlist.ts';
import { PayloadError } from '../../http/errors.ts';
import { toIsoDate } from '../../invoice/model.ts';
import type { HttpResponse, ProviderContext } from '../types.ts';
import {
  advertisersPageSchema,
  advertisersPath,
  CM360_HOST,
  type Cm360Invoice,
  invoiceSchema,
  invoicesPageSchema,
  invoicesPath,
  OP,
  OPERATIONS,
  PAGE_SIZE,
} from './api.ts';
import { campaignSumGaps } from './campaign-sum-gaps.ts';
import { findInvoice } from './find-invoice.ts';
import { copyInvoicePdf } from './invoice-pdf.ts';
import { decodeCursor, issueMonths, nextCursor } from './issue-months.ts';
import { normalizeInvoice } from './normalize.ts';
import { isQuotaError } from './quota.ts';

export type Cm360Connection = ConnectionOf<'cm360'>;

/** Problem code of an advertiser whose invoices the API does not serve (consolidated billing). */
export const CONSOLIDATED_BILLING = 'CM360_CONSOLIDATED_BILLING';

const DISCOVERY_SCOPE = '_discovery';

/**
 * "The api only works if the billing profile invoice level is set to either advertiser or campaign
 * non-consolidated invoice level": elsewhere it answers 400 FAILED_PRECONDITION, a state of the account,
 * not a failure of the run.
 */
function isConsolidatedBilling(err: unknown): boolean {
  const e = err as { name?: string; status?: number; code?: string };
  return e?.name === 'ProviderError' && e.status === 400 && e.code === 'FAILED_PRECONDITION';
}

/** The advertiser's listing ends at once, recorded on the run: no other month of it is asked in this run. */
function consolidatedPage(
  ctx: ProviderContext<Cm360Connection>,
  advertiserId: string,
  month: string,
  err: unknown,
): ListingPage {
  const message = (err as { providerMessage?: string }).providerMessage ?? '';
  ctx.reportProblem({
    code: CONSOLIDATED_BILLING,
    message:
      `advertiser ${advertiserId}: invoices are not available through the API (advertiserInvoices.list for ` +
      `${month} answered 400 FAILED_PRECONDITION: the billing profile invoices it at a consolidated level); ` +
      'not asked again in this run',
    // A normal state of such an advertiser, not something this run left out.
    note: true,
  });
  // The client keeps Google's parsed error, not its bytes: the page record is that error in Google's shape.
  const body = JSON.stringify({ error: { code: 400, status: 'FAILED_PRECONDITION', message } });
  return { raw: { body, operation: OP.listInvoices }, items: [], next: null };
}

/**
 * advertiserInvoices.list for every issue month the window touches, each month's pages in turn. Every
 * invoice of a touched month lands (the API's filter is the month, not the day). Each invoice's PDF is
 * copied (one that cannot be is recorded pending, and so listed as missing by the run's control totals),
 * and its campaign summaries are checked against its amounts.
 */
const invoices: ListingJob<Cm360Connection, Cm360Invoice> = {
  kind: 'listing',
  name: 'invoices',
  concurrency: 4,
  async page({ ctx, scope, window, cursor }) {
    const months = issueMonths(window);
    const { month, pageToken } = decodeCursor(cursor, months);
    let res: HttpResponse<z.infer<typeof invoicesPageSchema>>;
    try {
      res = await ctx.http.request(OP.listInvoices, {
        path: invoicesPath(ctx.connection.profileId, scope),
        query: { issueMonth: month, maxResults: PAGE_SIZE, pageToken },
        schema: invoicesPageSchema,
      });
    } catch (err) {
      if (isConsolidatedBilling(err)) return consolidatedPage(ctx, scope, month, err);
      throw err;
    }
    return {
      raw: rawOf(res, OP.listInvoices),
      items: res.data.invoices ?? [],
      itemBytes: rawItems(res.rawBody, ['invoices']),
      next: nextCursor(months, month, res.data.nextPageToken || undefined),
    };
  },
  // Its pages answer whole issue months: named by the first and last month, not the window's days.
  pageWindow: (window) => {
    const months = issueMonths(window);
    return { from: months[0]!, to: months.at(-1)! };
  },
  item: {
    schema: invoiceSchema,
    id: (i) => i.id,
    issuedOn: (i) => toIsoDate(i.issueDate, 'issueDate'),
    // An issued CM360 invoice is not edited: a correction is a new invoice naming it (correctedInvoiceId).
    isFinal: () => true,
    // The PDF link may be signed anew on each call; what the invoice says is the rest.
    fingerprint: ({ pdfUrl: _pdf, ...rest }) => rest,
  },
  async enrich(invoice, at) {
    const pdf = await copyInvoicePdf(at.ctx, at.scope, invoice.id, invoice.pdfUrl);
    return { documents: pdf ? [pdf] : [] };
  },
  normalize: (invoice, { documents }, at) =>
    normalizeInvoice({
      connection: at.ctx.connection.id,
      advertiserId: at.scope,
      invoice,
      documents: documents ?? [],
      rawKey: at.rawKey,
      fetchedAt: at.fetchedAt,
    }),
  check: (invoice, _enrichment, line) => campaignSumGaps(line.account, invoice),
  // No call by id (so no fetchById, and no run for one invoice): a PDF still pending is tried again from
  // its invoice's issue month.
  refetch: (ctx, advertiserId, invoiceId, known) => findInvoice(ctx, advertiserId, invoiceId, known.issuedOn),
};

/** Google Campaign Manager 360: advertiser invoices per issue month and their PDFs, on cm360-invoices. */
export const cm360Spec: ProviderSpec<Cm360Connection> = {
  id: 'cm360',
  client: {
    baseUrl: () => CM360_HOST,
    auth: 'google',
    operations: OPERATIONS,
    downloadHosts: DOWNLOAD_HOSTS.cm360,
    // Google says an access token lapsed with 401 only; a 403 is a permission or a quota.
    isExpiredTokenError: (status) => status === 401,
    isThrottleError: isQuotaError,
  },
  // Both credential styles (refresh token, service account) parse to the flat strings the context holds.
  secret: googleSecretSchema as unknown as ProviderSpec['secret'],
  /** advertisers.list under the connection's profile, every page kept raw. */
  async discoverScopes(ctx) {
    const ids: string[] = [];
    let pageToken: string | undefined;
    for (let page = 0; ; page++) {
      const key = rawPayloadKey(
        'cm360',
        ctx.connection.id,
        DISCOVERY_SCOPE,
        `advertisers_p${String(page).padStart(4, '0')}`,
      );
      let res: HttpResponse<z.infer<typeof advertisersPageSchema>>;
      try {
        res = await ctx.http.request(OP.listAdvertisers, {
          path: advertisersPath(ctx.connection.profileId),
          query: { maxResults: PAGE_SIZE, pageToken },
          schema: advertisersPageSchema,
        });
      } catch (err) {
        // An answer that does not fit is still kept as it came before the run stops on it.
        if (err instanceof PayloadError)
          await storeRaw(ctx, key, { body: err.rawBody, operation: OP.listAdvertisers });
        throw err;
      }
      await storeRawOnce(ctx, key, rawOf(res, OP.listAdvertisers));
      ids.push(...(res.data.advertisers ?? []).map((a) => a.id));
      const next = res.data.nextPageToken || undefined;
      if (!next) return ids;
      if (next === pageToken) {
        throw new PayloadError(
          OP.listAdvertisers,
          res.rawBody,
          'the nextPageToken repeats the one just sent: the listing would loop',
        );
      }
      pageToken = next;
    }
  },
  jobs: [invoices],
};
