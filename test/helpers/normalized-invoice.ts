import { type NormalizedInvoice, normalizedInvoiceSchema } from '../../shared/invoice/model.ts';

/** A normalized CM360 invoice with every optional field empty; tests set what they look at. */
export function normalizedInvoice(
  fields: Pick<
    NormalizedInvoice,
    'connection' | 'account' | 'invoiceId' | 'issuedOn' | 'rawKey' | 'fetchedAt'
  > &
    Partial<NormalizedInvoice>,
): NormalizedInvoice {
  return normalizedInvoiceSchema.parse({
    provider: 'cm360',
    invoiceNumber: null,
    kind: 'INVOICE',
    status: null,
    dueOn: null,
    servicePeriod: { from: null, to: null },
    currency: 'USD',
    subtotal: null,
    tax: null,
    total: null,
    amountDue: null,
    remainingDue: null,
    purchaseOrderNumber: null,
    correctsInvoiceId: null,
    replacesInvoiceIds: [],
    documents: [],
    ...fields,
  });
}
