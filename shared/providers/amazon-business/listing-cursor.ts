import * as z from 'zod';

/**
 * Where an Amazon Business listing stands. The engine treats the cursor as opaque and carries it in
 * continuations; the listing runs in three phases over one window, each page one API call:
 * - `transactions`: getTransactions page `n` (nextPageToken `token` after the first);
 * - `details`: getInvoiceDetailsByOrderLineItems for the window's order line items `25j` to `25j+24`,
 *   the window's `t` transaction pages being complete;
 * - `payments`: getBatchInvoicePaymentDetails for invoices `25k` to `25k+24` of the window's invoices
 *   (assembled from `t` transaction pages and `d` details answers), which are the page's items.
 * Page indices are the engine's page numbers: transactions are pages 0 to t-1, details t to t+d-1.
 */
export type ListingCursor =
  | { phase: 'transactions'; n: number; token?: string }
  | { phase: 'details'; t: number; j: number }
  | { phase: 'payments'; t: number; d: number; k: number };

const index = z.number().int().min(0);
const cursorSchema = z.discriminatedUnion('phase', [
  z.object({ phase: z.literal('transactions'), n: index, token: z.string().min(1).optional() }),
  z.object({ phase: z.literal('details'), t: index.min(1), j: index }),
  z.object({ phase: z.literal('payments'), t: index.min(1), d: index.min(1), k: index }),
]);

export function encodeCursor(cursor: ListingCursor): string {
  return JSON.stringify(cursor);
}

/** Absent: the listing's first page. A cursor this listing did not write is an error (nothing can resume from it). */
export function decodeCursor(cursor: string | undefined): ListingCursor {
  if (cursor === undefined) return { phase: 'transactions', n: 0 };
  let value: unknown;
  try {
    value = JSON.parse(cursor);
  } catch {
    value = undefined;
  }
  const parsed = cursorSchema.safeParse(value);
  if (!parsed.success) {
    throw Object.assign(
      new Error('amazon-business: the continuation cursor is not one this listing writes'),
      {
        retryable: false,
      },
    );
  }
  return parsed.data as ListingCursor;
}
