import { type NormalizedInvoice, toIsoDate } from '../../invoice/model.ts';
import { addDecimals, MoneyError, toDecimal } from '../../invoice/money.ts';
import { type BusinessInvoice, consolidatedOf } from './assemble.ts';

/**
 * What an Amazon Business line carries beyond the normalized model, which has no field for them: the
 * consolidated invoice (periodic billing) an invoice is paid through, whether Amazon still says "Pending"
 * for it, and why its payment details could not be read.
 */
export interface BusinessExtras {
  consolidatedInvoiceNumber: string | null;
  consolidationPending: boolean;
  paymentError: { code: string; message: string } | null;
}

export type BusinessNormalized = NormalizedInvoice & BusinessExtras;

const negate = (d: string) => (d.startsWith('-') ? d.slice(1) : /^[0.]+$/.test(d) ? d : `-${d}`);
const isPositive = (d: string) => !d.startsWith('-') && !/^[0.]+$/.test(d);

function kindOf(inv: BusinessInvoice): NormalizedInvoice['kind'] {
  const type = inv.detail.invoiceType;
  if (type === 'STANDARD') return 'INVOICE';
  if (type === 'CREDIT_MEMO') return 'CREDIT_NOTE';
  // The guide's samples leave invoiceType out: the invoice's own transaction says which it is.
  const tx = inv.transactions[0]?.tx.transactionType;
  if (!type && tx === 'CHARGE') return 'INVOICE';
  if (!type && tx === 'REFUND') return 'CREDIT_NOTE';
  return 'OTHER';
}

const currencyOf = (codes: ReadonlyArray<string | null | undefined>): string | null => {
  const set = new Set(codes.filter((c): c is string => Boolean(c)));
  if (set.size > 1) throw new MoneyError(`amounts in more than one currency: ${[...set].join(', ')}`);
  const [code] = set;
  return code && /^[A-Z]{3}$/.test(code) ? code : null;
};

/**
 * total, tax and subtotal, exact. JP invoices state their own (invoiceTotal, tax by rate; fees are inside
 * the total) and those win; elsewhere they are the sums of the invoice's transaction line items
 * (totalAmount, tax), the subtotal what the total holds beyond tax. A credit note is negative whatever
 * sign it was printed with (JP prints credit memos positive; the REFUND transaction carries the sign).
 */
export function moneyOf(
  inv: BusinessInvoice,
  kind: NormalizedInvoice['kind'],
): {
  currency: string | null;
  total: string;
  tax: string | null;
  subtotal: string | null;
} {
  const d = inv.detail;
  let total: string;
  let tax: string | null;
  let currency: string | null;
  if (d.invoiceTotal !== undefined && d.invoiceTotal !== null) {
    total = toDecimal(d.invoiceTotal, 'invoiceTotal');
    tax = d.tax?.length
      ? addDecimals(...d.tax.map((t, i) => toDecimal(t.amount.amount, `tax[${i}].amount`)))
      : null;
    currency = currencyOf([d.currencyCode, ...(d.tax ?? []).map((t) => t.amount.currencyCode)]);
  } else {
    const lines = inv.transactions.flatMap((t) => t.tx.transactionLineItems ?? []);
    if (lines.length === 0) throw new MoneyError('its transactions have no line items');
    const totals = lines.map((l, i) => {
      if (!l.totalAmount) throw new MoneyError(`line item ${l.orderLineItemId ?? i} has no totalAmount`);
      return toDecimal(l.totalAmount.amount, 'totalAmount');
    });
    total = addDecimals(...totals);
    tax = lines.every((l) => l.tax)
      ? addDecimals(...lines.map((l) => toDecimal(l.tax!.amount, 'tax')))
      : null;
    currency = currencyOf(lines.flatMap((l) => [l.totalAmount?.currencyCode, l.tax?.currencyCode]));
  }
  let subtotal = tax === null ? null : addDecimals(total, negate(tax));
  if (kind === 'CREDIT_NOTE' && isPositive(total)) {
    total = negate(total);
    tax = tax === null ? null : negate(tax);
    subtotal = subtotal === null ? null : negate(subtotal);
  }
  return { currency, total, tax, subtotal };
}

export function normalizeInvoice(p: {
  connection: string;
  scope: string;
  invoice: BusinessInvoice;
  rawKey: string;
  fetchedAt: string;
}): BusinessNormalized {
  const inv = p.invoice;
  const kind = kindOf(inv);
  const money = moneyOf(inv, kind);
  const consolidated = consolidatedOf(inv.detail);
  const result = inv.payment?.result;
  const paid = result?.resultType === 'SUCCESS' ? result.paymentDetails : undefined;
  const paymentError = paid
    ? null
    : {
        code: result?.error?.code ?? (result ? result.resultType : 'NO_RESULT'),
        message: result?.error?.message ?? 'no payment details came back for this invoice',
      };
  return {
    provider: 'amazon-business',
    connection: p.connection,
    account: p.scope,
    invoiceId: inv.invoiceNumber,
    invoiceNumber: inv.invoiceNumber,
    kind,
    status: paid?.status ?? null,
    issuedOn: toIsoDate(inv.detail.invoiceDate ?? '', 'invoiceDate'),
    dueOn: paid?.dueDate ? toIsoDate(paid.dueDate, 'dueDate') : null,
    servicePeriod: { from: null, to: null },
    currency: money.currency,
    subtotal: money.subtotal,
    tax: money.tax,
    total: money.total,
    amountDue: null,
    remainingDue: null,
    purchaseOrderNumber: inv.purchaseOrderNumbers.length ? inv.purchaseOrderNumbers.join(', ') : null,
    correctsInvoiceId: kind === 'CREDIT_NOTE' ? inv.correctsInvoiceId : null,
    replacesInvoiceIds: [],
    documents: [],
    rawKey: p.rawKey,
    fetchedAt: p.fetchedAt,
    consolidatedInvoiceNumber: consolidated.number,
    consolidationPending: consolidated.pending,
    paymentError,
  };
}
