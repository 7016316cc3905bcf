import { lwaSecretSchema } from '../../auth/secret-schemas.ts';
import { rawPayloadKey } from '../../aws/keys.ts';
import type { ConnectionOf } from '../../config/schema.ts';
import type { ExportJob, ListingJob, ProviderSpec } from '../../engine/provider-spec.ts';
import { rawOf } from '../../engine/provider-spec.ts';
import { rawItems, rawMember } from '../../engine/raw-items.ts';
import { storeRawOnce } from '../../engine/store-raw.ts';
import { DOWNLOAD_HOSTS } from '../../http/allowlist.ts';
import {
  BRAZIL_MARKETPLACE,
  getInvoice,
  getInvoices,
  getInvoicesAttributes,
  OPERATIONS,
  SP_API_HOST,
} from './api.ts';
import { type DateBounds, windowBounds } from './bounds.ts';
import { checkExport, createExport, deadlineMs, findStrayExport, openDocument } from './exports.ts';
import { checkFilters, invoiceFilters } from './filters.ts';
import { send } from './http.ts';
import { brazilDay, normalizeInvoice } from './normalize.ts';
import { reconcileXmls } from './reconcile-xmls.ts';
import {
  invoiceResponseSchema,
  invoiceSchema,
  invoicesAttributesResponseSchema,
  invoicesPageSchema,
  type SpInvoice,
} from './schemas.ts';
import { linkXmls, matchOf } from './xml-linking.ts';

/** Statuses of an NF-e the government has answered (both spellings of cancelled are seen). */
const FINAL_STATUSES = new Set(['AUTHORIZED', 'REJECTED', 'CANCELED', 'CANCELLED']);
export type SpApiConnection = ConnectionOf<'sp-api'>;

/**
 * Share of getInvoices' burst a listing waits to earn back after a 429 that outlasted the client's retries:
 * the seller's plan was spent by someone the rate budget does not see, so one token is not enough. (A wait
 * the client foresaw comes back as soon as its token is due.)
 */
const REFILL_SHARE = 0.75;

function boundsOf(
  args: Record<string, unknown>,
  window: { from: string; to: string },
  now: Date,
): DateBounds {
  const a = args as Partial<DateBounds>;
  return typeof a.dateStart === 'string' && typeof a.dateEnd === 'string'
    ? { dateStart: a.dateStart, dateEnd: a.dateEnd }
    : windowBounds(window, now);
}

const invoices: ListingJob<SpApiConnection, SpInvoice> = {
  kind: 'listing',
  name: 'invoices',
  // Invoices landed at once: each is one raw PUT (no call to SP-API), so this is S3 PUTs in flight, a few
  // dozen of which a page's 100 keep busy (a round trip each) well within the SDK's 50 sockets.
  concurrency: 32,
  /** getInvoicesAttributes (kept raw) checks the connection's filters; the window's bounds are fixed once. */
  async prepare(ctx, marketplaceId, window) {
    const res = await send(
      ctx.http,
      getInvoicesAttributes({ marketplaceId }),
      invoicesAttributesResponseSchema,
    );
    await storeRawOnce(
      ctx,
      rawPayloadKey('sp-api', ctx.connection.id, marketplaceId, 'invoices-attributes'),
      rawOf(res, 'getInvoicesAttributes'),
    );
    checkFilters(ctx.connection, marketplaceId, invoiceFilters(ctx.connection), res.data);
    return { ...windowBounds(window, ctx.now()) };
  },
  async page({ ctx, scope, window, cursor, args }) {
    const res = await send(
      ctx.http,
      getInvoices({
        marketplaceId: scope,
        ...boundsOf(args, window, ctx.now()),
        pageSize: ctx.connection.pageSize,
        ...invoiceFilters(ctx.connection),
        ...(cursor ? { nextToken: cursor } : {}),
      }),
      invoicesPageSchema,
    );
    return {
      raw: rawOf(res, 'getInvoices'),
      items: res.data.invoices ?? [],
      itemBytes: rawItems(res.rawBody, ['invoices']),
      // "can return empty pages": only a page without nextToken ends the listing.
      next: res.data.nextToken ?? null,
    };
  },
  item: {
    schema: invoiceSchema,
    id: (i) => i.id,
    issuedOn: (i) => brazilDay(i.date, 'invoice.date'),
    // The government's answer is given: a later cancellation changes the item, so it is worked again.
    isFinal: (i) => FINAL_STATUSES.has(i.status ?? ''),
  },
  normalize: (invoice, _e, at) =>
    normalizeInvoice({
      connection: at.ctx.connection.id,
      marketplaceId: at.scope,
      invoice,
      rawKey: at.rawKey,
      fetchedAt: at.fetchedAt,
    }),
  async fetchById(ctx, marketplaceId, invoiceId) {
    try {
      const res = await send(ctx.http, getInvoice({ invoiceId, marketplaceId }), invoiceResponseSchema);
      // The invoice's own bytes, as a listing's item would be stored.
      const raw = rawOf(res, 'getInvoice');
      return {
        item: res.data.invoice,
        raw: { ...raw, body: rawMember(res.rawBody, ['invoice']) ?? raw.body },
      };
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw err;
    }
  },
  publish: { matchOf, decorate: linkXmls },
  throttledWaitMs(ctx, operation) {
    const rate = ctx.http.rate?.(operation);
    if (!rate) return 1000;
    if (operation !== 'getInvoices') return 1000 / rate;
    const extraTokens = Math.max(0, Math.floor(OPERATIONS.getInvoices.burst * REFILL_SHARE) - 1);
    return (extraTokens / rate) * 1000;
  },
};

const exportsJob: ExportJob<SpApiConnection> = {
  kind: 'export',
  name: 'exports',
  identity: (ctx, _scope, window) => ({
    from: window.from,
    to: window.to,
    ...invoiceFilters(ctx.connection),
  }),
  details: (ctx, _scope, window) => ({ window, filters: invoiceFilters(ctx.connection) }),
  deadlineMs,
  create: createExport,
  async find(ctx, scope, _window, claimedAt) {
    const stray = await findStrayExport(ctx, scope, claimedAt);
    return stray ? { exportId: stray.exportId } : undefined;
  },
  check: checkExport,
  open: openDocument,
};

/** SP-API Invoices 2024-06-19 (Brazil): attributes, invoice listings, exports of XML invoices. */
export const spApiSpec: ProviderSpec<SpApiConnection> = {
  id: 'sp-api',
  client: {
    baseUrl: () => SP_API_HOST,
    auth: 'lwa-x-amz-access-token',
    lwaRegion: () => 'NA',
    operations: OPERATIONS,
    downloadHosts: DOWNLOAD_HOSTS['sp-api'],
  },
  secret: lwaSecretSchema,
  discoverScopes: async () => [BRAZIL_MARKETPLACE],
  jobs: [invoices, exportsJob],
  reconcile: (input) => reconcileXmls(input, invoices.name, exportsJob.name),
};
