import type { Seed } from '../framework/seed.ts';
import {
  type ConnectionData,
  consolidatedNumberAt,
  consolidationReadyAt,
  decimal,
  lineKey,
  type SimInvoice,
  sumOf,
} from './data.ts';
import { offBy, type PaymentResult, paymentResult } from './payloads.ts';

/** One invoice or credit memo a client should end up with, totals exact (BigInt micros summed, never floats). */
export interface ExpectedInvoice {
  invoiceNumber: string;
  invoiceType: 'STANDARD' | 'CREDIT_MEMO';
  /** The normalized model's kind. */
  kind: 'INVOICE' | 'CREDIT_NOTE';
  /** As getInvoiceDetailsByOrderLineItems prints it. */
  invoiceDate: string;
  issuedOn: string;
  currency: string;
  /** Exact decimals, no trailing zeros; negative for a credit memo (the sign of its REFUND transaction). */
  subtotal: string;
  tax: string;
  total: string;
  associatedInvoiceNumber: string | null;
  /** The final number, "Pending" (at `at`), or null for an order not on consolidation. */
  consolidatedInvoiceNumber: string | null;
  consolidationReadyAt: string | null;
  /** False while invoice details answer all-null for it; `detailsAvailableAt` says from when they do not. */
  detailsAvailable: boolean;
  detailsAvailableAt: string;
  orderId: string;
  transactionId: string;
  lineItems: Array<{ orderId: string; orderLineItemId: string; shipmentId: string; total: string }>;
  payment: PaymentResult;
  /** What its own total says (invoiceTotalOff): the total plus one minor unit, as a client sums it. */
  statedTotal?: string;
}

export interface ExpectedWindow {
  /** feedStartDate and feedEndDate (epoch ms): the window a client lists transactions for. */
  from: number;
  to: number;
  /** Simulated time the answer is for (default: now). */
  at: number;
}

/**
 * The invoices a client reaches from one getTransactions window at simulated time `at`: every issued
 * invoice or credit memo of any order line item in a transaction listed for the window (feedDate in
 * [from, to) and not after `at`). A line item's invoice details list all its invoices, so a refund in the
 * window brings its original invoice, and a charge brings credit memos issued since. Line items whose
 * invoice is not issued yet are in `uninvoiced`.
 */
export function expectedInvoices(
  data: ConnectionData,
  window: ExpectedWindow,
  seed: Seed,
  paymentErrorShare: number,
): {
  transactions: number;
  invoices: ExpectedInvoice[];
  uninvoiced: Array<{
    orderId: string;
    orderLineItemId: string;
    shipmentId: string;
    invoiceExpectedAt: string;
  }>;
  /** Line items of the window's transactions that no invoice lists, ever (lineWithoutInvoice). */
  withoutInvoice: Array<{
    orderId: string;
    orderLineItemId: string;
    shipmentId: string;
    total: string;
    transactionId: string;
  }>;
} {
  const listed = data.transactions.filter(
    (t) => t.feedDate >= window.from && t.feedDate < window.to && t.feedDate <= window.at,
  );
  const reached = new Set(listed.flatMap((t) => t.invoice.lines.map((l) => lineKey(l.item))));
  const all = [...reached].flatMap((key) => data.byLineItem.get(key) ?? []);
  const unique = [...new Set(all)].sort(
    (a, b) => a.issuedAt - b.issuedAt || (a.invoiceNumber < b.invoiceNumber ? -1 : 1),
  );
  const uninvoiced = unique
    .filter((inv) => inv.issuedAt > window.at)
    .flatMap((inv) =>
      inv.lines.map((l) => ({
        orderId: l.item.orderId,
        orderLineItemId: l.item.orderLineItemId,
        shipmentId: l.item.shipmentId,
        invoiceExpectedAt: new Date(inv.issuedAt).toISOString(),
      })),
    );
  const listedIds = new Set(listed.map((t) => t.transactionId));
  const withoutInvoice = data.linesWithoutInvoice
    .filter(({ invoice }) => listedIds.has(invoice.transactionId))
    .map(({ line, invoice }) => ({
      orderId: line.item.orderId,
      orderLineItemId: line.item.orderLineItemId,
      shipmentId: line.item.shipmentId,
      total: decimal(line.amounts.total),
      transactionId: invoice.transactionId,
    }));
  return {
    transactions: listed.length,
    withoutInvoice,
    invoices: unique
      .filter((inv) => inv.issuedAt <= window.at)
      .map((inv) => expectedInvoice(data, inv, window.at, seed, paymentErrorShare)),
    uninvoiced,
  };
}

function expectedInvoice(
  data: ConnectionData,
  inv: SimInvoice,
  at: number,
  seed: Seed,
  paymentErrorShare: number,
): ExpectedInvoice {
  const total = sumOf(inv.lines, (a) => a.total);
  const tax = sumOf(inv.lines, (a) => a.tax);
  const detailsAt = inv.nullUntil ?? inv.issuedAt;
  return {
    invoiceNumber: inv.invoiceNumber,
    invoiceType: inv.invoiceType,
    kind: inv.invoiceType === 'CREDIT_MEMO' ? 'CREDIT_NOTE' : 'INVOICE',
    invoiceDate: new Date(inv.issuedAt).toISOString(),
    issuedOn: new Date(inv.issuedAt).toISOString().slice(0, 10),
    currency: data.currency,
    subtotal: decimal(total - tax),
    tax: decimal(tax),
    total: decimal(total),
    associatedInvoiceNumber: inv.associated?.invoiceNumber ?? null,
    consolidatedInvoiceNumber: consolidatedNumberAt(data, inv, at),
    consolidationReadyAt: inv.consolidated
      ? new Date(consolidationReadyAt(inv.issuedAt, data.consolidationDelayDays)).toISOString()
      : null,
    detailsAvailable: at >= detailsAt,
    detailsAvailableAt: new Date(detailsAt).toISOString(),
    orderId: inv.orderId,
    transactionId: inv.transactionId,
    lineItems: inv.lines.map((l) => ({
      orderId: l.item.orderId,
      orderLineItemId: l.item.orderLineItemId,
      shipmentId: l.item.shipmentId,
      total: decimal(l.amounts.total),
    })),
    payment: paymentResult(data, inv.invoiceNumber, at, seed, paymentErrorShare),
    ...(inv.totalOff ? { statedTotal: decimal(total + offBy(data, inv)) } : {}),
  };
}
