import * as z from 'zod';

/**
 * The parts of the Amazon Ads models we call (provider-specs/amazon-ads-billing-AdvertisingBilling_prod_3p.json,
 * amazon-ads-profiles-Profiles_prod_3p.yaml). Objects are loose: fields the model adds later pass through
 * to the raw copy untouched. Amounts and profile ids arrive as exact digit strings (see exact-json.ts), or
 * as numbers when a caller parsed the JSON itself.
 */

export const MEDIA = {
  invoices: 'application/vnd.invoices.v1.1+json',
  invoice: 'application/vnd.invoice.v1.1+json',
  documents: 'application/vnd.billingDocuments.v1+json',
  statements: 'application/vnd.createbillingstatementsrequest.v1+json',
} as const;

export const HEADERS = {
  clientId: 'Amazon-Advertising-API-ClientId',
  scope: 'Amazon-Advertising-API-Scope',
  account: 'Amazon-Ads-AccountId',
} as const;

/** Operation names: the client's rate buckets, the run counters and the S3 metadata use them. */
export const OP = {
  listProfiles: 'listProfiles',
  listInvoices: 'getAdvertiserInvoices',
  getInvoice: 'getInvoice',
  getDocument: 'GetDocument',
  createStatement: 'CreateBillingStatement',
  getStatement: 'GetBillingStatement',
  downloadDocument: 'downloadBillingDocument',
  downloadGovernment: 'downloadGovernmentDocument',
  downloadStatement: 'downloadBillingStatement',
} as const;

const exact = z.union([z.string().regex(/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/), z.number()]);

/** currencyAmount: the model marks neither field required. */
export const currencyAmountSchema = z.looseObject({
  amount: exact.optional(),
  currencyCode: z.string().optional(),
});
export type CurrencyAmount = z.infer<typeof currencyAmountSchema>;

const feeSchema = z.looseObject({ cost: currencyAmountSchema, feeType: z.string() });

/** invoiceSummary, with the model's required fields required. Status is kept verbatim, whatever it is. */
export const invoiceSummarySchema = z.looseObject({
  id: z.string().min(1),
  invoiceDate: z.string().min(1),
  status: z.string().min(1),
  amountDue: currencyAmountSchema,
  remainingAmountDue: currencyAmountSchema,
  fromDate: z.string().min(1),
  toDate: z.string().min(1),
  dueDate: z.string().optional(),
  taxAmountDue: currencyAmountSchema.optional(),
  remainingTaxAmountDue: currencyAmountSchema.optional(),
  fees: z.array(feeSchema).optional(),
  remainingFees: z.array(feeSchema).optional(),
  downloadableDocuments: z.array(z.string()).optional(),
  purchaseOrderNumber: z.string().optional(),
  paymentMethod: z.string().optional(),
  paymentTermsDays: z.number().optional(),
  paymentTermsType: z.string().optional(),
  taxRate: z.number().optional(),
});
export type InvoiceSummary = z.infer<typeof invoiceSummarySchema>;

/** The list answer, unwrapped. Summaries are checked one by one so one bad entry costs only itself. */
export const invoiceListSchema = z.looseObject({
  invoiceSummaries: z.array(z.unknown()).default([]),
  nextCursor: z.string().nullish(),
  previousCursor: z.string().nullish(),
});
export type InvoiceList = z.infer<typeof invoiceListSchema>;

export const governmentInvoiceSchema = z.looseObject({
  countryCode: z.string().optional(),
  governmentDocumentS3Link: z.string().optional(),
  governmentXmlDocumentS3Link: z.string().optional(),
  governmentInvoiceId: z.string().optional(),
  transactionType: z.string().optional(),
});

/** invoice (GET /invoices/{id}): the model's required members, typed as far as we read them. */
export const invoiceDetailSchema = z.looseObject({
  invoiceSummary: invoiceSummarySchema,
  adjustments: z.array(z.unknown()),
  invoiceLines: z.array(z.unknown()),
  payments: z.array(z.unknown()),
  portfolios: z.array(z.unknown()),
  promotions: z.array(z.unknown()),
  taxDetail: z.looseObject({}),
  issuerContactInfo: z.looseObject({}),
  payerContactInfo: z.looseObject({}),
  thirdPartyContactInfo: z.array(z.unknown()),
  governmentInvoiceInformation: governmentInvoiceSchema.optional(),
});
export type InvoiceDetail = z.infer<typeof invoiceDetailSchema>;

const documentEntry = z.looseObject({
  contentType: z.string().optional(),
  docType: z.string().optional(),
  fileName: z.string().optional(),
  storagePath: z.string().optional(),
});
export const documentsSchema = z.looseObject({
  availableDocuments: z.array(documentEntry).default([]),
  unavailableDocuments: z.array(documentEntry.extend({ reason: z.string().optional() })).default([]),
});
export type AvailableDocument = z.infer<typeof documentEntry>;

export const profileSchema = z.looseObject({
  profileId: exact,
  countryCode: z.string().optional(),
  currencyCode: z.string().optional(),
  accountInfo: z.looseObject({ id: z.string().optional(), type: z.string().optional() }).optional(),
});
export const profilesSchema = z.array(profileSchema);

/** 202 of CreateBillingStatement: the model says billingStatementRequestId, notes and guides billingStatementId. */
export const createStatementAnswerSchema = z
  .looseObject({
    billingStatementRequestId: z.string().min(1).optional(),
    billingStatementId: z.string().min(1).optional(),
    details: z.string().optional(),
  })
  .refine((a) => a.billingStatementRequestId || a.billingStatementId, {
    message: 'neither billingStatementRequestId nor billingStatementId in the answer',
    path: ['billingStatementRequestId'],
  });

export const statementStatusSchema = z.looseObject({
  reportStatus: z.string().min(1),
  s3DownloadLink: z.string().optional(),
  details: z.string().optional(),
  code: z.string().optional(),
});
export type StatementStatus = z.infer<typeof statementStatusSchema>;

/** The guide's and live answers wrap bodies in `{status, payload}`; the model does not. Both are accepted. */
export function unwrapPayload(body: unknown): unknown {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const payload = (body as { payload?: unknown }).payload;
    if (payload && typeof payload === 'object' && !Array.isArray(payload)) return payload;
  }
  return body;
}
