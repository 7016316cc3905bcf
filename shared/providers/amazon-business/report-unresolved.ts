import type { Window } from '../../jobs/messages.ts';
import type { ProviderContext } from '../types.ts';
import type { OrderLineItem } from './api.ts';
import { type Assembly, consolidatedOf } from './assemble.ts';
import type { TransactionLedger } from './transactions.ts';
import { INVOICE_GRACE_DAYS, uninvoicedLines } from './uninvoiced-lines.ts';

const EXAMPLES = 5;

function some(values: readonly string[]): string {
  const shown = values.slice(0, EXAMPLES).join(', ');
  return values.length > EXAMPLES ? `${shown} and ${values.length - EXAMPLES} more` : shown;
}

const lineText = (l: OrderLineItem) => `${l.orderId}/${l.orderLineItemId}/${l.shipmentId}`;

const AGAIN = 'kept raw in the listing pages, asked again on the next run (the lookback re-reads the window)';

/**
 * What a window's answers left open, reported once per listing with counts and a few examples, so the run
 * record says what is still to come: a later run's window reads the same transactions again and picks up
 * invoices whose details were null, line items invoiced since, consolidated numbers no longer "Pending".
 * A line item without an invoice past INVOICE_GRACE_DAYS is no longer "still to come": it is a gap of the
 * run's control totals, one per line (a page done twice records it once).
 */
export function reportUnresolved(
  ctx: ProviderContext,
  scope: string,
  ledger: TransactionLedger,
  assembly: Assembly | undefined,
  window: Window,
  key?: string,
): void {
  // A note is a state of the provider's data that left nothing of ours out (not invoiced yet, a consolidated
  // number still "Pending" on an invoice that landed); the rest leave something out, and the run is PARTIAL.
  const report = (code: string, message: string, note = false) =>
    ctx.reportProblem({ code, message, ...(key ? { key } : {}), ...(note ? { note } : {}) });
  if (ledger.unfit.length) {
    report(
      'TRANSACTION_DOES_NOT_FIT',
      `${ledger.unfit.length} transactions do not fit the model and were not used (${some(ledger.unfit)}); kept raw in the listing pages`,
    );
  }
  if (ledger.missingIds) {
    report(
      'LINE_ITEM_WITHOUT_IDS',
      `${ledger.missingIds} transaction line items lack orderId, orderLineItemId or shipmentId: their invoice details cannot be asked; kept raw in the listing pages`,
    );
  }
  if (!assembly) return;
  const u = assembly.unresolved;
  if (u.nullDetailLines.length || u.nullDetailInvoices.length) {
    const named = u.nullDetailInvoices.length ? ` (invoices ${some(u.nullDetailInvoices)})` : '';
    report(
      'NULL_INVOICE_DETAILS',
      `${u.nullDetailLines.length} order line items answered invoice details with null invoiceNumber/invoiceDate${named}; ${AGAIN}`,
    );
  }
  // A line's age is counted to the run's day: its window's end, or now if sooner. A window that ended
  // long ago (a backfill, a replay with a pinned clock) judges its lines as that day's run would have.
  const windowEnd = new Date(`${window.to}T23:59:59.999Z`);
  const asOf = windowEnd < ctx.now() ? windowEnd : ctx.now();
  const uninvoiced = uninvoicedLines(scope, ledger, u.uninvoiced, asOf);
  for (const gap of uninvoiced.gaps) ctx.reportGap?.(gap);
  if (uninvoiced.pending.length) {
    report(
      'NOT_INVOICED_YET',
      `${uninvoiced.pending.length} order line items have no invoice yet (${some(uninvoiced.pending.map(lineText))}); pending for ${INVOICE_GRACE_DAYS} days after their transaction, ${AGAIN}`,
      true,
    );
  }
  if (u.notInFeed.length) {
    report(
      'TRANSACTION_NOT_IN_FEED',
      `${u.notInFeed.length} invoices are known from their line items' details but their own transaction (their amounts) is not in the feed yet (${some(u.notInFeed)}); landed by the run whose window lists it`,
    );
  }
  if (u.notInDetails.length) {
    report(
      'INVOICE_NOT_IN_DETAILS',
      `${u.notInDetails.length} invoices named by their transactions are not in their line items' invoice details (${some(u.notInDetails)}); ${AGAIN}`,
    );
  }
  if (u.unmatched.length) {
    report(
      'TRANSACTION_UNMATCHED',
      `${u.unmatched.length} transactions carry no invoiceNumber and their line items' details do not single one out (${some(u.unmatched)}); ${AGAIN}`,
    );
  }
  const pending = assembly.invoices
    .filter((i) => consolidatedOf(i.detail).pending)
    .map((i) => i.invoiceNumber);
  if (pending.length) {
    report(
      'CONSOLIDATION_PENDING',
      `${pending.length} invoices name their consolidated invoice as "Pending" (${some(pending)}); landed with consolidationPending, the final number is picked up by a later run`,
      true,
    );
  }
}
