import type { OperationDef } from '../../engine/provider-spec.ts';

/**
 * SP-API Invoices 2024-06-19 (models/invoices-api-model/InvoicesApiModel_2024-06-19.json): hosts, the
 * seven operations this ingest uses with their usage plans, and pure request builders. The builders are
 * the one place a request's shape is decided, so the conformance test can replay the model's
 * `x-amzn-api-sandbox` examples through them.
 */

/** Brazil is served by the North America endpoint. */
export const SP_API_HOST = 'https://sellingpartnerapi-na.amazon.com';
export const BRAZIL_MARKETPLACE = 'A2Q3Y263D00KWC';
const BASE = '/tax/invoices/2024-06-19';

export type OperationName =
  | 'getInvoicesAttributes'
  | 'getInvoices'
  | 'getInvoice'
  | 'createInvoicesExport'
  | 'getInvoicesExports'
  | 'getInvoicesExport'
  | 'getInvoicesDocument';

/**
 * Rate (requests per second) and burst from the usage-plan tables of the model at commit 2db0db7 (the
 * current model dropped them). `x-amzn-RateLimit-Limit` corrects the rate per seller at run time. The plans
 * of a second or more a request are shared by the containers (a state-table write a request, a page or a
 * job's worth of work each); getInvoice (by id, per invoice) and getInvoicesExport (a poll) pace on each
 * container's share of the burst.
 */
export const OPERATIONS: Record<OperationName, OperationDef> = {
  getInvoicesAttributes: { rate: 1, burst: 1, shared: true },
  getInvoices: { rate: 0.1, burst: 20, shared: true },
  getInvoice: { rate: 2, burst: 15 },
  // Makes an export at the provider: after an ambiguous failure it is looked up, not resent.
  createInvoicesExport: { rate: 0.167, burst: 1, idempotent: false, shared: true },
  getInvoicesExports: { rate: 0.1, burst: 20, shared: true },
  getInvoicesExport: { rate: 2, burst: 15 },
  getInvoicesDocument: { rate: 0.0167, burst: 1, shared: true },
};

/** The GET of a document's pre-signed URL: not an SP-API operation, so not paced by any bucket. */
export const DOWNLOAD_OPERATION = 'downloadInvoicesDocument';

export type QueryValue = string | number | readonly string[] | undefined;

export interface ApiRequest {
  operation: OperationName;
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, QueryValue>;
  json?: unknown;
}

const seg = (value: string) => encodeURIComponent(value);

/** Drops undefined entries so a request carries only what was given. */
function defined(query: Record<string, QueryValue>): Record<string, QueryValue> {
  return Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined));
}

export function getInvoicesAttributes(p: { marketplaceId: string }): ApiRequest {
  return {
    operation: 'getInvoicesAttributes',
    method: 'GET',
    path: `${BASE}/attributes`,
    query: { marketplaceId: p.marketplaceId },
  };
}

/** getInvoices filters a connection may set (each checked against getInvoicesAttributes where it lists options). */
export interface InvoiceFilters {
  transactionIdentifierName?: string;
  transactionIdentifierId?: string;
  transactionType?: string;
  series?: string;
  statuses?: readonly string[];
  invoiceType?: string;
  externalInvoiceId?: string;
}

export interface GetInvoicesParams extends InvoiceFilters {
  marketplaceId: string;
  dateStart?: string;
  dateEnd?: string;
  pageSize?: number;
  nextToken?: string;
  sortBy?: 'START_DATE_TIME';
  sortOrder?: 'ASC' | 'DESC';
}

export function getInvoices(p: GetInvoicesParams): ApiRequest {
  return {
    operation: 'getInvoices',
    method: 'GET',
    path: `${BASE}/invoices`,
    query: defined({
      marketplaceId: p.marketplaceId,
      dateStart: p.dateStart,
      dateEnd: p.dateEnd,
      pageSize: p.pageSize,
      nextToken: p.nextToken,
      transactionIdentifierName: p.transactionIdentifierName,
      transactionIdentifierId: p.transactionIdentifierId,
      transactionType: p.transactionType,
      series: p.series,
      statuses: p.statuses && p.statuses.length > 0 ? p.statuses : undefined,
      invoiceType: p.invoiceType,
      externalInvoiceId: p.externalInvoiceId,
      sortBy: p.sortBy,
      sortOrder: p.sortOrder,
    }),
  };
}

export function getInvoice(p: { invoiceId: string; marketplaceId: string }): ApiRequest {
  return {
    operation: 'getInvoice',
    method: 'GET',
    path: `${BASE}/invoices/${seg(p.invoiceId)}`,
    query: { marketplaceId: p.marketplaceId },
  };
}

/** ExportInvoicesRequest. */
export interface ExportRequestBody {
  marketplaceId: string;
  dateStart?: string;
  dateEnd?: string;
  externalInvoiceId?: string;
  fileFormat?: 'XML';
  invoiceType?: string;
  series?: string;
  statuses?: string[];
  transactionIdentifier?: { name: string; id: string };
  transactionType?: string;
}

export function createInvoicesExport(body: ExportRequestBody): ApiRequest {
  const clean = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
  return { operation: 'createInvoicesExport', method: 'POST', path: `${BASE}/exports`, json: clean };
}

export type ExportStatus = 'REQUESTED' | 'PROCESSING' | 'DONE' | 'ERROR';

export interface GetInvoicesExportsParams {
  marketplaceId: string;
  dateStart?: string;
  dateEnd?: string;
  status?: ExportStatus;
  pageSize?: number;
  nextToken?: string;
}

export function getInvoicesExports(p: GetInvoicesExportsParams): ApiRequest {
  return {
    operation: 'getInvoicesExports',
    method: 'GET',
    path: `${BASE}/exports`,
    query: defined({
      marketplaceId: p.marketplaceId,
      dateStart: p.dateStart,
      dateEnd: p.dateEnd,
      status: p.status,
      pageSize: p.pageSize,
      nextToken: p.nextToken,
    }),
  };
}

export function getInvoicesExport(p: { exportId: string }): ApiRequest {
  return { operation: 'getInvoicesExport', method: 'GET', path: `${BASE}/exports/${seg(p.exportId)}` };
}

export function getInvoicesDocument(p: { invoicesDocumentId: string }): ApiRequest {
  return {
    operation: 'getInvoicesDocument',
    method: 'GET',
    path: `${BASE}/documents/${seg(p.invoicesDocumentId)}`,
  };
}
