import { invoiceSchema } from '../../shared/providers/cm360/api.ts';

/** A CM360 invoice as advertiserInvoices.list gives it: EUR, two campaign summaries that add up to it. */
export const cm360Invoice = (over: Record<string, unknown> = {}) =>
  invoiceSchema.parse({
    kind: 'dfareporting#invoice',
    id: '4387427944',
    invoiceType: 'INVOICE_TYPE_INVOICE',
    issueDate: '2024-05-02',
    dueDate: '2024-06-01',
    serviceStartDate: '2024-04-01',
    serviceEndDate: '2024-04-30',
    currencyCode: 'EUR',
    paymentsAccountId: '9181-3118-7749-5092',
    paymentsProfileId: '3820-1570-5237',
    subtotalAmountMicros: '16531650000',
    totalTaxAmountMicros: '3141013500',
    totalAmountMicros: '19672663500',
    pdfUrl: 'https://dfareporting.googleapis.com/billing/invoice-pdf/4387427944',
    campaign_summaries: [
      {
        campaignId: '1',
        preTaxAmountMicros: '16000000000',
        taxAmountMicros: '3040000000',
        totalAmountMicros: '19040000000',
      },
      {
        campaignId: '2',
        preTaxAmountMicros: '531650000',
        taxAmountMicros: '101013500',
        totalAmountMicros: '632663500',
      },
    ],
    ...over,
  });
