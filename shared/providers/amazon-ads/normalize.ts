import type { InvoiceDocument, NormalizedInvoice } from '../../invoice/model.ts';
import { toIsoDate } from '../../invoice/model.ts';
import { addDecimals, MoneyError, negateDecimal, toDecimal } from '../../invoice/money.ts';
import type { CurrencyAmount, InvoiceDetail, InvoiceSummary } from './api.ts';

/**
 * Amazon Ads payloads to the normalized invoice (DESIGN.md). Amounts are `{amount, currencyCode}`; the
 * amount arrives as the exact digits sent (exact-json.ts) or, from callers that parsed the JSON
 * themselves, as a number, taken as the shortest decimal that reads back to it.
 */

/** An Ads amount (digit string or JSON number) as an exact decimal string. */
export function adsAmount(value: string | number, field = 'amount'): string {
  return toDecimal(value, field);
}

export interface Money {
  amount: string;
  currency: string | null;
}

/** `{amount, currencyCode}` to an exact decimal and its currency; undefined when there is no amount. */
export function adsMoney(value: CurrencyAmount | undefined, field: string): Money | undefined {
  if (value?.amount === undefined) return undefined;
  return { amount: adsAmount(value.amount, field), currency: value.currencyCode ?? null };
}

export function optionalDate(value: string | undefined, field: string): string | null {
  return value ? toIsoDate(value, field) : null;
}

/** Credit memos become CREDIT_NOTE: by the government transaction type, else by the documents offered. */
export function invoiceKind(
  summary: InvoiceSummary,
  detail: InvoiceDetail | undefined,
  availableDocTypes: readonly string[] = [],
): NormalizedInvoice['kind'] {
  const transaction = detail?.governmentInvoiceInformation?.transactionType;
  if (transaction === 'CREDIT') return 'CREDIT_NOTE';
  if (transaction === 'DEBIT') return 'INVOICE';
  const offered = summary.downloadableDocuments ?? [];
  if (offered.includes('CREDIT_NOTE') && !offered.includes('INVOICE')) return 'CREDIT_NOTE';
  if (offered.includes('INVOICE')) return 'INVOICE';
  const credit = availableDocTypes.filter((t) => t === 'CREDIT_MEMO' || t === 'GIS_CREDIT_MEMO');
  if (availableDocTypes.length > 0 && credit.length === availableDocTypes.length) return 'CREDIT_NOTE';
  // Every answer of /invoices is an invoice (ACCUMULATING ones have no document yet).
  return 'INVOICE';
}

export interface NormalizeInput {
  connection: string;
  profileId: string;
  summary: InvoiceSummary;
  detail?: InvoiceDetail;
  documents: InvoiceDocument[];
  availableDocTypes?: readonly string[];
  rawKey: string;
  fetchedAt: string;
}

/**
 * total is amountDue (the invoice's amount, tax included), tax is taxAmountDue, subtotal their difference;
 * remainingDue is remainingAmountDue. Fees stay in the raw copy: they are part of the amount, not beside it.
 * Throws (MoneyError, date errors) naming the field when a value cannot be read.
 */
export function normalizeInvoice(input: NormalizeInput): NormalizedInvoice {
  const s = input.summary;
  const total = adsMoney(s.amountDue, 'amountDue');
  const tax = adsMoney(s.taxAmountDue, 'taxAmountDue');
  const remaining = adsMoney(s.remainingAmountDue, 'remainingAmountDue');
  const currencies = new Set([total, tax, remaining].map((m) => m?.currency).filter((c): c is string => !!c));
  if (currencies.size > 1) {
    throw new MoneyError(
      `invoice ${s.id}: amounts in more than one currency (${[...currencies].join(', ')})`,
    );
  }
  const currency = currencies.size ? [...currencies][0]! : null;
  if (currency !== null && !/^[A-Z]{3}$/.test(currency)) {
    throw new MoneyError(
      `invoice ${s.id}: currencyCode is not an ISO 4217 code: ${JSON.stringify(currency)}`,
    );
  }
  const subtotal = total && tax ? addDecimals(total.amount, negateDecimal(tax.amount)) : null;
  return {
    provider: 'amazon-ads',
    connection: input.connection,
    account: input.profileId,
    invoiceId: s.id,
    invoiceNumber: s.id,
    kind: invoiceKind(s, input.detail, input.availableDocTypes),
    status: s.status,
    issuedOn: toIsoDate(s.invoiceDate, 'invoiceDate'),
    dueOn: optionalDate(s.dueDate, 'dueDate'),
    servicePeriod: { from: optionalDate(s.fromDate, 'fromDate'), to: optionalDate(s.toDate, 'toDate') },
    currency,
    subtotal,
    tax: tax?.amount ?? null,
    total: total?.amount ?? null,
    amountDue: total?.amount ?? null,
    remainingDue: remaining?.amount ?? null,
    purchaseOrderNumber: s.purchaseOrderNumber ?? null,
    correctsInvoiceId: null,
    replacesInvoiceIds: [],
    documents: input.documents,
    rawKey: input.rawKey,
    fetchedAt: input.fetchedAt,
  };
}
