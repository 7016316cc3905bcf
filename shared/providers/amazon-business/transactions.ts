import { describeIssues } from '../../engine/issues.ts';
import { rawItems } from '../../engine/raw-items.ts';
import { PayloadError } from '../../http/errors.ts';
import { parseExactJson } from '../amazon-ads/exact-json.ts';
import {
  lineKey,
  OP,
  type OrderLineItem,
  type Transaction,
  type TransactionLineItem,
  transactionSchema,
  transactionsPageSchema,
} from './api.ts';

/** Money fields whose JSON numbers (the model says strings; live answers vary) are read as exact digits. */
export const EXACT_MONEY = ['amount', 'invoiceTotal'] as const;

/** A transaction of the window with its own bytes, as the provider sent them. */
export interface ListedTransaction {
  tx: Transaction;
  bytes: string;
}

/** What the window's getTransactions pages hold, read in page order. */
export interface TransactionLedger {
  /** Unique by transactionId (a transaction listed twice is counted once), in page order. */
  transactions: ListedTransaction[];
  /** The order line items to ask invoice details for: unique, in the order they were listed. */
  lineItems: OrderLineItem[];
  /** Every listed occurrence of a line item, by lineKey (for purchase order numbers). */
  occurrences: Map<string, TransactionLineItem[]>;
  /** Transactions that do not fit the model (kept raw in their page, not used). */
  unfit: string[];
  /** Line items without all three ids: invoice details cannot be asked for them. */
  missingIds: number;
}

export function idsOf(line: TransactionLineItem): OrderLineItem | undefined {
  const { orderId, orderLineItemId, shipmentId } = line;
  return orderId && orderLineItemId && shipmentId ? { orderId, orderLineItemId, shipmentId } : undefined;
}

/** One getTransactions answer, parsed with exact amounts; a page that does not fit is a PayloadError. */
export function parseTransactionsPage(body: string): {
  transactions: unknown[];
  bytes: (string | undefined)[];
  nextPageToken: string | undefined;
} {
  let json: unknown;
  try {
    json = parseExactJson(body, EXACT_MONEY);
  } catch {
    throw new PayloadError(OP.transactions, body, 'not JSON');
  }
  const page = transactionsPageSchema.safeParse(json);
  if (!page.success) throw new PayloadError(OP.transactions, body, describeIssues(page.error));
  const bytes = rawItems(body, ['transactions']);
  return {
    transactions: page.data.transactions,
    bytes: page.data.transactions.map((_, i) => bytes?.[i]),
    nextPageToken: page.data.nextPageToken ?? undefined,
  };
}

/** The ledger of a window: every transaction and order line item of its pages. */
export function readTransactions(pages: readonly string[]): TransactionLedger {
  const seen = new Set<string>();
  const ledger: TransactionLedger = {
    transactions: [],
    lineItems: [],
    occurrences: new Map(),
    unfit: [],
    missingIds: 0,
  };
  pages.forEach((body, p) => {
    const page = parseTransactionsPage(body);
    page.transactions.forEach((value, i) => {
      const fit = transactionSchema.safeParse(value);
      if (!fit.success) {
        ledger.unfit.push(`page ${p} transaction ${i}: ${describeIssues(fit.error, 3)}`);
        return;
      }
      const tx = fit.data;
      if (seen.has(tx.transactionId)) return;
      seen.add(tx.transactionId);
      ledger.transactions.push({ tx, bytes: page.bytes[i] ?? JSON.stringify(value) });
      for (const line of tx.transactionLineItems ?? []) {
        const ids = idsOf(line);
        if (!ids) {
          ledger.missingIds += 1;
          continue;
        }
        const key = lineKey(ids);
        const known = ledger.occurrences.get(key);
        if (known) known.push(line);
        else {
          ledger.occurrences.set(key, [line]);
          ledger.lineItems.push(ids);
        }
      }
    });
  });
  return ledger;
}
