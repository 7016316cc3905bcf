import type { InvoiceDocument, NormalizedInvoice } from '../../invoice/model.ts';
import { toIsoDate } from '../../invoice/model.ts';
import { MoneyError, microsToDecimal } from '../../invoice/money.ts';
import type { Cm360Invoice, Int64 } from './api.ts';

/**
 * CM360 invoices to the normalized model. Amounts are int64 micros (strings, negative on credits, beyond
 * 2^53 at times): converted digit by digit, never through a float. The payments account and profile ids
 * and the campaign breakdown (`campaign_summaries`) have no field in the model: they stay in the invoice's
 * raw copy (rawKey), the provider's own bytes.
 */

const KINDS: Record<string, NormalizedInvoice['kind']> = {
  INVOICE_TYPE_INVOICE: 'INVOICE',
  INVOICE_TYPE_CREDIT: 'CREDIT_NOTE',
};

/** INVOICE_TYPE_UNSPECIFIED, an absent type and any type the model does not list yet are OTHER. */
export function invoiceKind(invoiceType: string | undefined): NormalizedInvoice['kind'] {
  return (invoiceType && KINDS[invoiceType]) || 'OTHER';
}

const micros = (value: Int64 | undefined, field: string) =>
  value === undefined ? null : microsToDecimal(value, field);

const optionalDate = (value: string | undefined, field: string) => (value ? toIsoDate(value, field) : null);

export interface NormalizeInput {
  connection: string;
  advertiserId: string;
  invoice: Cm360Invoice;
  documents: InvoiceDocument[];
  rawKey: string;
  fetchedAt: string;
}

/** Throws (MoneyError, date errors) naming the field when a value cannot be read. */
export function normalizeInvoice(input: NormalizeInput): NormalizedInvoice {
  const inv = input.invoice;
  const currency = inv.currencyCode ?? null;
  if (currency !== null && !/^[A-Z]{3}$/.test(currency)) {
    throw new MoneyError(`currencyCode is not an ISO 4217 code: ${JSON.stringify(currency.slice(0, 10))}`);
  }
  return {
    provider: 'cm360',
    connection: input.connection,
    account: input.advertiserId,
    invoiceId: inv.id,
    // The PDF prints the id as the invoice number.
    invoiceNumber: inv.id,
    kind: invoiceKind(inv.invoiceType),
    status: null,
    issuedOn: toIsoDate(inv.issueDate, 'issueDate'),
    dueOn: optionalDate(inv.dueDate, 'dueDate'),
    servicePeriod: {
      from: optionalDate(inv.serviceStartDate, 'serviceStartDate'),
      to: optionalDate(inv.serviceEndDate, 'serviceEndDate'),
    },
    currency,
    subtotal: micros(inv.subtotalAmountMicros, 'subtotalAmountMicros'),
    tax: micros(inv.totalTaxAmountMicros, 'totalTaxAmountMicros'),
    total: micros(inv.totalAmountMicros, 'totalAmountMicros'),
    amountDue: null,
    remainingDue: null,
    purchaseOrderNumber: inv.purchaseOrderNumber ?? null,
    correctsInvoiceId: inv.correctedInvoiceId ?? null,
    replacesInvoiceIds: inv.replacedInvoiceIds ?? [],
    documents: input.documents,
    rawKey: input.rawKey,
    fetchedAt: input.fetchedAt,
  };
}
