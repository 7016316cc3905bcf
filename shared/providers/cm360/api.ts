import * as z from 'zod';
import type { OperationDef } from '../../engine/provider-spec.ts';

/**
 * Campaign Manager 360 (dfareporting v4, google-dfareporting-v4-discovery.json; v5 is the same for these
 * methods): the host, the operations this ingest calls with their pace, paths, and the answer shapes.
 */

export const CM360_HOST = 'https://dfareporting.googleapis.com';
const VERSION = 'v4';

export const OP = {
  listAdvertisers: 'advertisers.list',
  listInvoices: 'advertiserInvoices.list',
  /** The GET of an invoice's pdfUrl (bearer token required). */
  downloadPdf: 'invoicePdf',
} as const;

/**
 * The documented default is 1 query per second per project ("Queries per minute per user", 60), shared by
 * every method; quota errors come as 403 (userRateLimitExceeded, rateLimitExceeded) or 429 and are backed
 * off (quota.ts). Each operation gets a bucket of that rate with a small burst: a listing mostly alternates
 * a page with its PDFs, so together they stay near the minute's allowance.
 */
const SEED = { rate: 1, burst: 10 } as const;

/**
 * The listings' plans are shared by the containers (a state-table write a page): a container then has the
 * whole burst, where its share of it (burst / maxConcurrency) left it sleeping, billed, between pages. The
 * PDFs, one an invoice, pace on each container's share.
 */
export const OPERATIONS: Record<string, OperationDef> = {
  [OP.listAdvertisers]: { ...SEED, shared: true },
  [OP.listInvoices]: { ...SEED, shared: true },
  [OP.downloadPdf]: SEED,
};

/** maxResults of both listings (the API's default and its most). */
export const PAGE_SIZE = 1000;

const seg = (value: string) => encodeURIComponent(value);

export const advertisersPath = (profileId: string) =>
  `/dfareporting/${VERSION}/userprofiles/${seg(profileId)}/advertisers`;

export const invoicesPath = (profileId: string, advertiserId: string) =>
  `${advertisersPath(profileId)}/${seg(advertiserId)}/invoices`;

/** int64 values come as JSON strings; a number is taken only while a double holds it exactly. */
const int64 = z.union([
  z.string().regex(/^-?\d+$/, 'expected an int64 as a string of digits'),
  z.number().refine(Number.isSafeInteger, 'an int64 beyond 2^53 sent as a JSON number has lost its digits'),
]);
export type Int64 = z.infer<typeof int64>;

const id = z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String);

export const advertisersPageSchema = z.object({
  advertisers: z.array(z.object({ id })).optional(),
  nextPageToken: z.string().optional(),
});

/** A page of advertiserInvoices.list: an empty month may come without `invoices` at all. */
export const invoicesPageSchema = z.object({
  invoices: z.array(z.unknown()).optional(),
  nextPageToken: z.string().optional(),
});

export const campaignSummarySchema = z.object({
  campaignId: z.string().optional(),
  billingInvoiceCode: z.string().optional(),
  preTaxAmountMicros: int64.optional(),
  taxAmountMicros: int64.optional(),
  totalAmountMicros: int64.optional(),
});
export type CampaignSummary = z.infer<typeof campaignSummarySchema>;

/** The Invoice resource. Only id and issueDate are required: the normalizer needs nothing else to place it. */
export const invoiceSchema = z.object({
  id: z.string().min(1),
  invoiceType: z.string().optional(),
  issueDate: z.string().min(1),
  dueDate: z.string().optional(),
  serviceStartDate: z.string().optional(),
  serviceEndDate: z.string().optional(),
  currencyCode: z.string().optional(),
  paymentsAccountId: z.string().optional(),
  paymentsProfileId: z.string().optional(),
  purchaseOrderNumber: z.string().optional(),
  correctedInvoiceId: z.string().optional(),
  replacedInvoiceIds: z.array(z.string()).optional(),
  subtotalAmountMicros: int64.optional(),
  totalTaxAmountMicros: int64.optional(),
  totalAmountMicros: int64.optional(),
  pdfUrl: z.string().optional(),
  // snake_case in the model, unlike every other field.
  campaign_summaries: z.array(campaignSummarySchema).optional(),
});
export type Cm360Invoice = z.infer<typeof invoiceSchema>;
