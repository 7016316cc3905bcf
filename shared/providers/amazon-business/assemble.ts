import { describeIssues } from '../../engine/issues.ts';
import { rawItems } from '../../engine/raw-items.ts';
import { PayloadError } from '../../http/errors.ts';
import { parseExactJson } from '../amazon-ads/exact-json.ts';
import {
  type InvoiceDetail,
  invoiceDetailsAnswerSchema,
  lineKey,
  OP,
  type OrderLineItem,
  type PaymentResult,
} from './api.ts';
import { EXACT_MONEY, idsOf, type ListedTransaction, type TransactionLedger } from './transactions.ts';

/** One invoice (or credit memo) of the window, with everything its normalized line is made of. */
export interface BusinessInvoice {
  invoiceNumber: string;
  detail: InvoiceDetail;
  /** The detail's bytes as the provider sent them (the first order line item that listed it). */
  detailBytes: string;
  /** The window's order line items whose invoice details list this invoice. */
  lineItems: OrderLineItem[];
  /** The window's transactions of this invoice (their line items hold its amounts). */
  transactions: ListedTransaction[];
  purchaseOrderNumbers: string[];
  /** associatedInvoiceNumber (JP), else the one STANDARD invoice a credit memo's line items also list. */
  correctsInvoiceId: string | null;
  /** Added once its payment details are asked (getBatchInvoicePaymentDetails). */
  payment?: { result: PaymentResult; bytes: string } | undefined;
}

/** What the window's answers left unresolved: kept raw in their pages, reported, asked again next run. */
export interface Unresolved {
  /** Order line items whose invoice details came back with null invoiceNumber or invoiceDate. */
  nullDetailLines: OrderLineItem[];
  /** Invoice numbers known (from a transaction or a half-null detail) whose details are null. */
  nullDetailInvoices: string[];
  /** Order line items with no invoice yet (an empty invoiceDetails). */
  uninvoiced: OrderLineItem[];
  /** Invoices issued in the window whose own transaction is not in the feed yet (their amounts are there). */
  notInFeed: string[];
  /** Invoice numbers named by a transaction that no invoice detail of its line items lists. */
  notInDetails: string[];
  /** Transactions without an invoiceNumber whose invoice the details do not single out. */
  unmatched: string[];
}

export interface Assembly {
  /** Sorted by invoice number: the same stored answers give the same list, so continuations can count into it. */
  invoices: BusinessInvoice[];
  unresolved: Unresolved;
}

interface DetailEntry {
  detail: InvoiceDetail;
  bytes: string;
}

const isComplete = (d: InvoiceDetail): d is InvoiceDetail & { invoiceNumber: string; invoiceDate: string } =>
  Boolean(d.invoiceNumber) && Boolean(d.invoiceDate);

/** Invoice details by order line item, from the window's getInvoiceDetailsByOrderLineItems answers. */
export function readDetails(answers: readonly string[]): Map<string, DetailEntry[]> {
  const out = new Map<string, DetailEntry[]>();
  for (const body of answers) {
    let json: unknown;
    try {
      json = parseExactJson(body, EXACT_MONEY);
    } catch {
      throw new PayloadError(OP.details, body, 'not JSON');
    }
    const parsed = invoiceDetailsAnswerSchema.safeParse(json);
    if (!parsed.success) throw new PayloadError(OP.details, body, describeIssues(parsed.error));
    const elements = rawItems(body, ['invoiceDetailsByOrderLineItems']);
    parsed.data.invoiceDetailsByOrderLineItems.forEach((element, i) => {
      const bytes = elements?.[i] === undefined ? undefined : rawItems(elements[i]!, ['invoiceDetails']);
      const entries = (element.invoiceDetails ?? []).map((detail, k) => ({
        detail,
        bytes: bytes?.[k] ?? JSON.stringify(detail),
      }));
      // The answer is matched on the ids, not on the order asked (the model's example answers out of order).
      out.set(lineKey(element.orderLineItem), entries);
    });
  }
  return out;
}

/**
 * The window's invoices, one per invoice number, from its transactions and its line items' invoice
 * details. An invoice's amounts come from its own totals (JP) or from the line items of the window's
 * transactions that carry its number (or, without one, the invoice their details single out); an invoice
 * the details name without either (a credit memo whose REFUND has not reached the feed, an invoice of an
 * earlier window reached through a later refund) is left to the run whose window lists its transaction.
 */
export function assembleInvoices(
  ledger: TransactionLedger,
  details: Map<string, DetailEntry[]>,
  window: { from: string },
): Assembly {
  const unresolved: Unresolved = {
    nullDetailLines: [],
    nullDetailInvoices: [],
    uninvoiced: [],
    notInFeed: [],
    notInDetails: [],
    unmatched: [],
  };
  const known = new Map<string, { entry: DetailEntry; lines: OrderLineItem[] }>();
  const halfNull = new Set<string>();
  const nullLines = new Set<string>();
  for (const line of ledger.lineItems) {
    const entries = details.get(lineKey(line)) ?? [];
    if (entries.length === 0) unresolved.uninvoiced.push(line);
    for (const entry of entries) {
      const number = entry.detail.invoiceNumber;
      if (!isComplete(entry.detail)) {
        nullLines.add(lineKey(line));
        if (number) halfNull.add(number);
        continue;
      }
      const seen = known.get(entry.detail.invoiceNumber);
      if (seen) seen.lines.push(line);
      else known.set(entry.detail.invoiceNumber, { entry, lines: [line] });
    }
  }
  unresolved.nullDetailLines = ledger.lineItems.filter((l) => nullLines.has(lineKey(l)));

  const typedNumbers = (line: OrderLineItem, type: string) =>
    new Set(
      (details.get(lineKey(line)) ?? [])
        .filter((e) => isComplete(e.detail) && e.detail.invoiceType === type)
        .map((e) => e.detail.invoiceNumber!),
    );
  const named = new Set(ledger.transactions.map((t) => t.tx.invoiceNumber).filter(Boolean));
  const linesOf = (t: ListedTransaction) => (t.tx.transactionLineItems ?? []).flatMap((l) => idsOf(l) ?? []);
  /** A transaction without invoiceNumber: the one invoice of its type that all its line items list. */
  const inferred = (t: ListedTransaction): string | undefined => {
    const type = t.tx.transactionType === 'REFUND' ? 'CREDIT_MEMO' : 'STANDARD';
    const lines = linesOf(t);
    if (lines.length === 0) return undefined;
    let common: Set<string> | undefined;
    for (const line of lines) {
      const numbers = typedNumbers(line, type);
      common = common ? new Set([...common].filter((n) => numbers.has(n))) : numbers;
    }
    const candidates = [...(common ?? [])].filter((n) => type === 'STANDARD' || !named.has(n));
    if (candidates.length === 1) return candidates[0];
    if (lines.some((l) => typedNumbers(l, type).size > 0)) unresolved.unmatched.push(t.tx.transactionId);
    return undefined;
  };

  const byInvoice = new Map<string, ListedTransaction[]>();
  for (const t of ledger.transactions) {
    const number = t.tx.invoiceNumber || inferred(t);
    if (!number) continue;
    byInvoice.set(number, [...(byInvoice.get(number) ?? []), t]);
  }

  const invoices: BusinessInvoice[] = [];
  for (const [number, { entry, lines }] of known) {
    const transactions = byInvoice.get(number) ?? [];
    const ownTotals = entry.detail.invoiceTotal !== undefined && entry.detail.invoiceTotal !== null;
    if (!ownTotals && transactions.length === 0) {
      if (entry.detail.invoiceDate!.slice(0, 10) >= window.from) unresolved.notInFeed.push(number);
      continue;
    }
    const poLines = [...lines, ...transactions.flatMap(linesOf)];
    const purchaseOrderNumbers = [
      ...new Set(
        poLines.flatMap((l) =>
          (ledger.occurrences.get(lineKey(l)) ?? []).map((o) => o.purchaseOrderNumber?.trim() ?? ''),
        ),
      ),
    ].filter(Boolean);
    let corrects = entry.detail.associatedInvoiceNumber || null;
    if (!corrects && entry.detail.invoiceType === 'CREDIT_MEMO') {
      const standards = new Set(lines.flatMap((l) => [...typedNumbers(l, 'STANDARD')]));
      if (standards.size === 1) corrects = [...standards][0]!;
    }
    invoices.push({
      invoiceNumber: number,
      detail: entry.detail,
      detailBytes: entry.bytes,
      lineItems: lines,
      transactions,
      purchaseOrderNumbers,
      correctsInvoiceId: corrects,
    });
  }
  for (const [number, transactions] of byInvoice) {
    if (known.has(number)) continue;
    const nullish =
      halfNull.has(number) || transactions.some((t) => linesOf(t).some((l) => nullLines.has(lineKey(l))));
    if (nullish) unresolved.nullDetailInvoices.push(number);
    else unresolved.notInDetails.push(number);
  }
  for (const number of halfNull) {
    if (!known.has(number) && !byInvoice.has(number)) unresolved.nullDetailInvoices.push(number);
  }
  invoices.sort((a, b) =>
    a.invoiceNumber < b.invoiceNumber ? -1 : a.invoiceNumber > b.invoiceNumber ? 1 : 0,
  );
  return { invoices, unresolved };
}

/** The consolidated invoice number a detail names: the number, "Pending", or null. */
export function consolidatedOf(detail: InvoiceDetail): { number: string | null; pending: boolean } {
  const value = detail.consolidatedInvoiceDetails?.invoiceNumber?.trim();
  if (!value) return { number: null, pending: false };
  if (value.toLowerCase() === 'pending') return { number: null, pending: true };
  return { number: value, pending: false };
}
