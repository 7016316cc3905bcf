import { type NormalizedInvoice, normalizedInvoiceSchema, toIsoDate } from '../../invoice/model.ts';
import type { SpInvoice } from './schemas.ts';
import type { XmlIndexEntry } from './xml-index.ts';

/** Brazil's offset (no daylight saving since 2019): what an NF-e's dhEmi states. */
const BRAZIL_OFFSET_MS = -3 * 3_600_000;

/**
 * The calendar day a Brazilian accountant books an SP-API date-time on. A value with its own offset
 * (an NF-e's dhEmi at -03:00) gives the day it states; a UTC value (getInvoices' dates) is read at
 * Brazil's offset first, so an invoice listed as 2024-08-01T01:30Z and its NF-e issued
 * 2024-07-31T22:30-03:00 fall on the same day and in the same month file.
 */
export function brazilDay(value: string, field = 'date'): string {
  const stated = toIsoDate(value, field);
  if (!/T.*(?:[zZ]|[+-]00:?00)$/.test(value)) return stated;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`${field}: not a date-time: ${JSON.stringify(value)}`);
  return new Date(ms + BRAZIL_OFFSET_MS).toISOString().slice(0, 10);
}

const CREDIT = /RETURN|CREDIT|REFUND|DEVOLU/i;
const SALE = /SALE|INVOICE/i;

/**
 * Kind from the invoice's classification. The model names return types (SYMBOLIC_RETURN) as invoice
 * types and sales (CUSTOMER_SALES) as transaction types; the invoice type decides when it is telling,
 * else the transaction type. Remittances and inbound shipments are neither sale nor credit.
 */
export function kindOf(
  invoice: Pick<SpInvoice, 'invoiceType' | 'transactionType'>,
): NormalizedInvoice['kind'] {
  for (const value of [invoice.invoiceType, invoice.transactionType]) {
    if (!value) continue;
    if (CREDIT.test(value)) return 'CREDIT_NOTE';
    if (SALE.test(value)) return 'INVOICE';
  }
  return 'OTHER';
}

export const stripZeros = (v: string) => v.trim().replace(/^0+(?=\d)/, '');

/**
 * Whether an XML from an export is this invoice's: by the SP-API invoice id (entry named after it), by
 * the government id (an NF-e's 44-digit access key), or by number and series (the model's example
 * externalInvoiceId "1283743" with series "32" is the NF-e's nNF and serie).
 */
export function xmlMatches(
  invoice: Pick<SpInvoice, 'id' | 'externalInvoiceId' | 'series'>,
  entry: XmlIndexEntry,
): boolean {
  if (entry.id === invoice.id) return true;
  const ext = invoice.externalInvoiceId?.trim();
  if (!ext) return false;
  if (entry.accessKey && entry.accessKey === ext) return true;
  if (entry.number && invoice.series && entry.series !== undefined) {
    return (
      stripZeros(entry.number) === stripZeros(ext) && stripZeros(entry.series) === stripZeros(invoice.series)
    );
  }
  return false;
}

export interface NormalizeInput {
  connection: string;
  marketplaceId: string;
  invoice: SpInvoice;
  rawKey: string;
  fetchedAt: string;
  /** The invoice's XML from an export, when one has been matched. */
  xml?: XmlIndexEntry;
}

/** One normalized line; money only from a matched NF-e (the invoice listing carries none). */
export function normalizeInvoice(input: NormalizeInput): NormalizedInvoice {
  const { invoice, xml } = input;
  const money = xml?.vNF !== undefined || xml?.vProd !== undefined;
  return normalizedInvoiceSchema.parse({
    provider: 'sp-api',
    connection: input.connection,
    account: input.marketplaceId,
    invoiceId: invoice.id,
    invoiceNumber: invoice.externalInvoiceId || null,
    kind: kindOf(invoice),
    status: invoice.status ?? null,
    issuedOn: brazilDay(invoice.date, 'invoice.date'),
    dueOn: null,
    servicePeriod: { from: null, to: null },
    currency: money ? 'BRL' : null,
    subtotal: xml?.vProd ?? null,
    tax: null,
    total: xml?.vNF ?? null,
    amountDue: null,
    remainingDue: null,
    purchaseOrderNumber: null,
    correctsInvoiceId: null,
    replacesInvoiceIds: [],
    documents: xml ? [xml.document] : [],
    rawKey: input.rawKey,
    fetchedAt: input.fetchedAt,
  });
}
