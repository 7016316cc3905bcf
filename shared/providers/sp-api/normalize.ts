import { type NormalizedInvoice, normalizedInvoiceSchema, toIsoDate } from '../../invoice/model.ts';
import type { SpInvoice } from './schemas.ts';
import type { XmlIndexEntry } from './xml-index.ts';

/**
 * The calendar day (YYYY-MM-DD) of an SP-API date-time in UTC. A value with an offset is moved to UTC
 * first, so the invoice's day and its NF-e's dhEmi (sent with -03:00) land in the same month file.
 */
export function utcDay(value: string, field = 'date'): string {
  if (/[zZ]$|[+-]\d{2}:?\d{2}$/.test(value) && /T/.test(value)) {
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw new Error(`${field}: not a date-time: ${JSON.stringify(value)}`);
    return new Date(ms).toISOString().slice(0, 10);
  }
  return toIsoDate(value, field);
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

const stripZeros = (v: string) => v.trim().replace(/^0+(?=\d)/, '');

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
    issuedOn: utcDay(invoice.date, 'invoice.date'),
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
