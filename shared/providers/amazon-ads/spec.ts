import { lwaSecretSchema } from '../../auth/secret-schemas.ts';
import type { ConnectionOf } from '../../config/schema.ts';
import { describeIssues } from '../../engine/issues.ts';
import type { ExportJob, ListingJob, OperationDef, ProviderSpec } from '../../engine/provider-spec.ts';
import { rawOf } from '../../engine/provider-spec.ts';
import { rawItems } from '../../engine/raw-items.ts';
import { DOWNLOAD_HOSTS } from '../../http/allowlist.ts';
import { PayloadError } from '../../http/errors.ts';
import { toIsoDate } from '../../invoice/model.ts';
import {
  HEADERS,
  type InvoiceSummary,
  invoiceListSchema,
  invoiceSummarySchema,
  MEDIA,
  OP,
  unwrapPayload,
} from './api.ts';
import { billingProfiles } from './billing-profiles.ts';
import { parseExactJson } from './exact-json.ts';
import { type AdsEnrichment, enrichInvoice, getDetail } from './invoice-detail.ts';
import { normalizeInvoice } from './normalize.ts';
import { promisedDocumentGaps } from './promised-document-gaps.ts';
import { reconcileAds } from './reconcile.ts';
import {
  accountOf,
  checkStatement,
  createStatement,
  openStatement,
  STATEMENT_DEADLINE_MS,
} from './statements.ts';

export type AdsConnection = ConnectionOf<'amazon-ads'>;

/** Amazon Ads API hosts per region (NA includes BR, MX and CA). */
export const ADS_HOSTS: Record<AdsConnection['region'], string> = {
  NA: 'https://advertising-api.amazon.com',
  EU: 'https://advertising-api-eu.amazon.com',
  FE: 'https://advertising-api-fe.amazon.com',
};

/**
 * Amazon Ads publishes no per-operation rate: throttling is dynamic, answered with 429 and Retry-After
 * (PROVIDER-NOTES "Throttling is dynamic"). The buckets are a modest seed of our own choosing, 5 requests/s
 * with a burst of 10 per operation, so a burst of details does not hit the 429 wall head first; the
 * 429 + Retry-After handling in the client does the real pacing.
 */
const SEED = { rate: 5, burst: 10 } as const;

export const ADS_OPERATIONS: Record<string, OperationDef> = {
  [OP.listProfiles]: SEED,
  [OP.listInvoices]: SEED,
  [OP.getInvoice]: SEED,
  // docType is `explode: true` in the model: docType=INVOICE&docType=CREDIT_MEMO.
  [OP.getDocument]: { ...SEED, queryArrays: 'repeat' },
  // Creates a report at the provider: never resent blindly; the registry is the guard (no list operation).
  [OP.createStatement]: { ...SEED, idempotent: false },
  [OP.getStatement]: SEED,
};

/** First page size (`count`, 1-100; later pages send only the cursor). */
export const PAGE_SIZE = 100;

const invoices: ListingJob<AdsConnection, InvoiceSummary, AdsEnrichment> = {
  kind: 'listing',
  name: 'invoices',
  // An invoice is a detail call, then GetDocument and a download: one at a time, the calls' latency (not the
  // buckets' 5 a second) set the pace. Four in flight keep each bucket busy up to about 0.8 s a call.
  concurrency: 4,
  async page({ ctx, scope, window, cursor }) {
    const res = await ctx.http.request(OP.listInvoices, {
      path: '/invoices',
      // count and cursor cannot be combined: count on the first page, the cursor alone after.
      query: cursor ? { cursor } : { startDate: window.from, endDate: window.to, count: PAGE_SIZE },
      headers: { [HEADERS.scope]: scope, accept: MEDIA.invoices },
    });
    const body = parseExactJson(res.rawBody);
    const parsed = invoiceListSchema.safeParse(unwrapPayload(body));
    if (!parsed.success) throw new PayloadError(OP.listInvoices, res.rawBody, describeIssues(parsed.error));
    // The model's answer has the summaries at the top; the guide's and live ones under `payload`.
    const wrapped = unwrapPayload(body) !== body;
    return {
      raw: rawOf(res, OP.listInvoices),
      items: parsed.data.invoiceSummaries,
      itemBytes: rawItems(res.rawBody, wrapped ? ['payload', 'invoiceSummaries'] : ['invoiceSummaries']),
      next: parsed.data.nextCursor ?? null,
    };
  },
  item: {
    schema: invoiceSummarySchema,
    id: (s) => s.id,
    issuedOn: (s) => toIsoDate(s.invoiceDate, 'invoiceDate'),
    // ISSUED and PAID_IN_PART still move (payments, documents); a summary that changes is worked again anyway.
    isFinal: (s) => s.status === 'PAID_IN_FULL' || s.status === 'WRITTEN_OFF',
    idOfUnfit: (raw) => {
      const id = (raw as { id?: unknown } | null)?.id;
      return typeof id === 'string' && id ? id : undefined;
    },
  },
  enrich: enrichInvoice,
  normalize: (summary, { detail }, at) =>
    normalizeInvoice({
      connection: at.ctx.connection.id,
      profileId: at.scope,
      summary: detail?.detail?.invoiceSummary ?? summary,
      detail: detail?.detail,
      documents: detail?.documents ?? [],
      availableDocTypes: detail?.availableDocTypes ?? [],
      rawKey: at.rawKey,
      fetchedAt: at.fetchedAt,
    }),
  check: promisedDocumentGaps,
  async fetchById(ctx, scope, invoiceId) {
    let res: Awaited<ReturnType<typeof getDetail>>;
    try {
      res = await getDetail(ctx, scope, invoiceId);
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw err;
    }
    const detail = unwrapPayload(parseExactJson(res.rawBody)) as { invoiceSummary?: unknown } | undefined;
    return { item: detail?.invoiceSummary, raw: rawOf(res, OP.getInvoice) };
  },
};

const billingStatements: ExportJob<AdsConnection> = {
  kind: 'export',
  name: 'billing-statements',
  route: 'billing-statements',
  skip: (c) =>
    c.globalAccountId
      ? undefined
      : `connection "${c.id}" has no globalAccountId: the billing statements report needs one`,
  scopes: (ctx) => [accountOf(ctx)],
  identity: (ctx, _scope, window) => ({
    job: 'billing-statements',
    from: window.from,
    to: window.to,
    locale: ctx.connection.locale,
    countryCodes: ctx.connection.countryCodes ?? [],
    format: 'CSV',
  }),
  details: (ctx, _scope, window) => ({
    startDate: window.from,
    endDate: window.to,
    locale: ctx.connection.locale,
    countryCodes: ctx.connection.countryCodes ?? [],
  }),
  deadlineMs: () => STATEMENT_DEADLINE_MS,
  create: (ctx, scope, window) => createStatement(ctx, scope, window),
  check: checkStatement,
  open: openStatement,
};

/**
 * Amazon Ads: invoices (profiles -> summaries -> details -> documents) on amazon-ads-invoices, and the
 * global invoicing report (billing statements, an export) on amazon-ads-billing-statements and the poller.
 */
export const amazonAdsSpec: ProviderSpec<AdsConnection> = {
  id: 'amazon-ads',
  client: {
    baseUrl: (c) => ADS_HOSTS[c.region],
    auth: 'lwa-bearer',
    lwaRegion: (c) => c.region,
    headers: (_c, secret) => ({ [HEADERS.clientId]: secret.clientId ?? '' }),
    operations: ADS_OPERATIONS,
    downloadHosts: DOWNLOAD_HOSTS['amazon-ads'],
  },
  secret: lwaSecretSchema,
  async discoverScopes(ctx) {
    return (await billingProfiles(ctx)).map((p) => String(p.profileId));
  },
  jobs: [invoices, billingStatements],
  reconcile: reconcileAds,
};
