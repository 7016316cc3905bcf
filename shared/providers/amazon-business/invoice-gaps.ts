import { type Gap, sameAmount } from '../../engine/reconciliation.ts';
import { addDecimals, negateDecimal, toDecimal } from '../../invoice/money.ts';
import type { BusinessInvoice } from './assemble.ts';
import type { BusinessNormalized } from './normalize.ts';

/** Gap code: what an invoice says it comes to is not the sum of its transaction line items' totalAmount. */
export const LINE_SUM_DIFFERS = 'line-sum-differs';
/** Gap code: an invoice landed without payment details (status, due date). */
export const PAYMENT_MISSING = 'payment-missing';

const isPositive = (d: string) => !d.startsWith('-') && !/^[0.]+$/.test(d);

/** JP prints a credit memo positive where its REFUND is negative: both sides signed as the model signs it. */
const signed = (d: string, credit: boolean) => (credit && isPositive(d) ? negateDecimal(d) : d);

const sumOf = (lines: ReadonlyArray<{ totalAmount?: { amount: string } | null }>) =>
  addDecimals(...lines.map((l) => toDecimal(l.totalAmount!.amount, 'totalAmount')));

/**
 * The invoice's stated total and the sum of its line items in the window's transactions, when both are
 * there to compare. Stated: JP's own invoiceTotal against every line item; elsewhere, where an invoice
 * has no total of its own, the amount its transactions charged against those transactions' line items
 * (a transaction without an amount is left out on both sides). A JP invoice whose transactions are
 * outside the window has no line items here to compare with.
 */
function lineSum(
  inv: BusinessInvoice,
): { field: string; stated: string; lines: string; count: number } | undefined {
  const all = inv.transactions.flatMap((t) => t.tx.transactionLineItems ?? []);
  if (all.length === 0 || all.some((l) => !l.totalAmount)) return undefined;
  const total = inv.detail.invoiceTotal;
  if (total !== undefined && total !== null) {
    return {
      field: 'invoiceTotal',
      stated: toDecimal(total, 'invoiceTotal'),
      lines: sumOf(all),
      count: all.length,
    };
  }
  const charged = inv.transactions.filter((t) => t.tx.amount && (t.tx.transactionLineItems ?? []).length > 0);
  if (charged.length === 0) return undefined;
  const lines = charged.flatMap((t) => t.tx.transactionLineItems!);
  return {
    field: 'amount',
    stated: addDecimals(...charged.map((t) => toDecimal(t.tx.amount!.amount, 'amount'))),
    lines: sumOf(lines),
    count: lines.length,
  };
}

/**
 * Control totals of one Amazon Business invoice as it lands (the listing job's check): its total against
 * the sum of its line items, exact decimals; and its payment details, which every invoice has once issued
 * (an ERROR result or none at all is a gap, and the invoice is asked again by the next run).
 */
export function invoiceGaps(inv: BusinessInvoice, line: BusinessNormalized): Gap[] {
  const gaps: Gap[] = [];
  const base = { scope: line.account, invoiceId: inv.invoiceNumber };
  const sums = lineSum(inv);
  const credit = line.kind === 'CREDIT_NOTE';
  if (sums && !sameAmount(signed(sums.stated, credit), signed(sums.lines, credit))) {
    gaps.push({
      ...base,
      code: LINE_SUM_DIFFERS,
      field: sums.field,
      expected: signed(sums.stated, credit),
      found: signed(sums.lines, credit),
      message:
        sums.field === 'invoiceTotal'
          ? `invoiceTotal is not the sum of the totalAmount of its ${sums.count} transaction line items`
          : `its transactions' amount is not the sum of the totalAmount of their ${sums.count} line items`,
    });
  }
  if (line.paymentError) {
    gaps.push({
      ...base,
      code: PAYMENT_MISSING,
      field: 'paymentDetails',
      expected: 'SUCCESS',
      found: line.paymentError.code,
      message: `payment details not available (${line.paymentError.message}): status and dueOn left empty, asked again on the next run`,
    });
  }
  return gaps;
}
