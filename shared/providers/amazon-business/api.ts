import * as z from 'zod';
import type { ConnectionOf } from '../../config/schema.ts';
import type { OperationDef } from '../../engine/provider-spec.ts';

/**
 * Amazon Business Reconciliation API 2021-01-08 (../shared/provider-specs/amazon-business-reconciliation-
 * 2021-01-08.json): hosts, the three operations with their usage plan, request builders and the answers'
 * shapes. The shapes are lenient on purpose: a field the model marks optional (or "JP only") may be
 * absent, and live answers carry nulls the model does not allow (PROVIDER-NOTES, #2631).
 */

export type BusinessConnection = ConnectionOf<'amazon-business'>;
export type BusinessRegion = 'NA' | 'EU' | 'JP';

export const BUSINESS_HOSTS: Record<BusinessRegion, string> = {
  NA: 'https://na.business-api.amazon.com',
  EU: 'https://eu.business-api.amazon.com',
  JP: 'https://jp.business-api.amazon.com',
};

/** The Amazon region enum names Japan FE; Amazon Business names it JP. */
export function businessRegion(region: BusinessConnection['region']): BusinessRegion {
  return region === 'FE' ? 'JP' : region;
}

export const BASE = '/reconciliation/2021-01-08';

export const OP = {
  transactions: 'getTransactions',
  details: 'getInvoiceDetailsByOrderLineItems',
  payments: 'getBatchInvoicePaymentDetails',
} as const;

/** Order line items per invoice-details call, invoice ids per payment-details call (the model's maxItems). */
export const MAX_PER_CALL = 25;

/** The model's usage plan, the same for all three: 2 requests/s, burst 10 (x-amzn-RateLimit-Limit corrects it). */
const PLAN = { rate: 2, burst: 10 } as const;

export const BUSINESS_OPERATIONS: Record<string, OperationDef> = {
  [OP.transactions]: PLAN,
  // POSTs that only read: resending one after an ambiguous failure is harmless.
  [OP.details]: PLAN,
  [OP.payments]: PLAN,
};

export interface OrderLineItem {
  orderId: string;
  orderLineItemId: string;
  shipmentId: string;
}

export const lineKey = (l: OrderLineItem) => `${l.orderId}\u0000${l.orderLineItemId}\u0000${l.shipmentId}`;

const DAY_MS = 86_400_000;

/**
 * feedStartDate and feedEndDate for a window: its first instant to the first instant after its last day
 * (UTC), so adjacent windows neither overlap nor leave a gap. Not held back to "now": the feed lists what
 * it has, and the window's last day is read again by the next run's lookback anyway.
 */
export function feedDates(window: { from: string; to: string }): {
  feedStartDate: string;
  feedEndDate: string;
} {
  const end = new Date(Date.parse(`${window.to}T00:00:00Z`) + DAY_MS).toISOString();
  return { feedStartDate: `${window.from}T00:00:00Z`, feedEndDate: end.replace('.000Z', 'Z') };
}

/** getTransactions: the window on the first page, then nextPageToken alone (the model: "the only parameter"). */
export function transactionsQuery(
  window: { from: string; to: string },
  nextPageToken: string | undefined,
): Record<string, string> {
  return nextPageToken ? { nextPageToken } : feedDates(window);
}

// Amounts are parsed as exact strings (parseExactJson) before these schemas see them.
const text = z.string().nullish();
export const moneySchema = z.looseObject({ currencyCode: text, amount: z.string() });
export type Money = z.infer<typeof moneySchema>;

export const transactionLineItemSchema = z.looseObject({
  orderId: text,
  orderLineItemId: text,
  shipmentId: text,
  purchaseOrderNumber: text,
  totalAmount: moneySchema.nullish(),
  principalAmount: moneySchema.nullish(),
  tax: moneySchema.nullish(),
});
export type TransactionLineItem = z.infer<typeof transactionLineItemSchema>;

export const transactionSchema = z.looseObject({
  transactionId: z.string().min(1),
  transactionType: text,
  transactionDate: text,
  feedDate: text,
  invoiceNumber: text,
  amount: moneySchema.nullish(),
  transactionLineItems: z.array(transactionLineItemSchema).nullish(),
});
export type Transaction = z.infer<typeof transactionSchema>;

/** A page: the transactions are checked one by one, so one that does not fit does not lose the page. */
export const transactionsPageSchema = z.looseObject({
  transactions: z.array(z.unknown()),
  nextPageToken: text,
});

export const invoiceDetailSchema = z.looseObject({
  invoiceNumber: text,
  invoiceDate: text,
  invoiceType: text,
  consolidatedInvoiceDetails: z.looseObject({ invoiceNumber: text }).nullish(),
  associatedInvoiceNumber: text,
  currencyCode: text,
  invoiceTotal: z.string().nullish(),
  tax: z.array(z.looseObject({ amount: moneySchema })).nullish(),
});
export type InvoiceDetail = z.infer<typeof invoiceDetailSchema>;

const orderLineItemSchema = z.object({
  orderId: z.string(),
  orderLineItemId: z.string(),
  shipmentId: z.string(),
});

export const invoiceDetailsAnswerSchema = z.looseObject({
  invoiceDetailsByOrderLineItems: z.array(
    z.looseObject({
      orderLineItem: orderLineItemSchema,
      invoiceDetails: z.array(invoiceDetailSchema).nullish(),
    }),
  ),
});

export const paymentResultSchema = z.looseObject({
  invoiceId: z.string(),
  resultType: z.string(),
  paymentDetails: z.looseObject({ status: text, dueDate: text }).nullish(),
  error: z.looseObject({ code: text, message: text }).nullish(),
});
export type PaymentResult = z.infer<typeof paymentResultSchema>;

export const paymentAnswerSchema = z.looseObject({
  invoicePaymentDetailsResults: z.array(paymentResultSchema),
});
