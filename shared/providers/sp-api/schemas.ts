import * as z from 'zod';

/**
 * Answer shapes from the model's definitions. Objects are loose (unknown fields are kept: the raw copy
 * is what gets stored), and list answers are checked only as far as their envelope: each invoice is
 * checked on its own, so one odd invoice is kept raw and reported instead of failing its page.
 */

const optionalString = z.string().optional();

export const attributeOptionSchema = z.looseObject({ description: optionalString, value: optionalString });

export const invoicesAttributesResponseSchema = z.looseObject({
  invoicesAttributes: z
    .looseObject({
      invoiceStatusOptions: z.array(attributeOptionSchema).optional(),
      invoiceTypeOptions: z.array(attributeOptionSchema).optional(),
      transactionIdentifierNameOptions: z.array(attributeOptionSchema).optional(),
      transactionTypeOptions: z.array(attributeOptionSchema).optional(),
    })
    .optional(),
});
export type InvoicesAttributesResponse = z.infer<typeof invoicesAttributesResponseSchema>;

export const transactionIdentifierSchema = z.looseObject({ name: optionalString, id: optionalString });

/** Invoice: what normalization needs is required here; the rest is optional as in the model. */
export const invoiceSchema = z.looseObject({
  id: z.string().min(1),
  date: z.string().min(1),
  errorCode: optionalString,
  externalInvoiceId: optionalString,
  govResponse: optionalString,
  invoiceType: optionalString,
  series: optionalString,
  status: optionalString,
  transactionIds: z.array(transactionIdentifierSchema).optional(),
  transactionType: optionalString,
});
export type SpInvoice = z.infer<typeof invoiceSchema>;

export const invoicesPageSchema = z.looseObject({
  invoices: z.array(z.unknown()).optional(),
  nextToken: z.string().min(1).optional(),
});

export const invoiceResponseSchema = z.looseObject({ invoice: z.unknown() });

export const exportSchema = z.looseObject({
  errorMessage: optionalString,
  exportId: z.string().min(1),
  generateExportFinishedAt: optionalString,
  generateExportStartedAt: optionalString,
  invoicesDocumentIds: z.array(z.string().min(1)).optional(),
  status: z.enum(['REQUESTED', 'PROCESSING', 'DONE', 'ERROR']),
});
export type SpExport = z.infer<typeof exportSchema>;

export const exportResponseSchema = z.looseObject({ export: exportSchema });
export const exportsPageSchema = z.looseObject({
  exports: z.array(exportSchema).optional(),
  nextToken: z.string().min(1).optional(),
});
export const createExportResponseSchema = z.looseObject({ exportId: z.string().min(1) });

export const invoicesDocumentResponseSchema = z.looseObject({
  invoicesDocument: z.looseObject({
    invoicesDocumentId: optionalString,
    invoicesDocumentUrl: z.string().min(1),
  }),
});
