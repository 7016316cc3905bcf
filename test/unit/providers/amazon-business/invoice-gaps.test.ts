import { describe, expect, it } from 'vitest';
import type { Transaction } from '../../../../shared/providers/amazon-business/api.ts';
import type { BusinessInvoice } from '../../../../shared/providers/amazon-business/assemble.ts';
import {
  invoiceGaps,
  LINE_SUM_DIFFERS,
  PAYMENT_MISSING,
} from '../../../../shared/providers/amazon-business/invoice-gaps.ts';
import { normalizeInvoice } from '../../../../shared/providers/amazon-business/normalize.ts';
import { amazonBusinessSpec } from '../../../../shared/providers/amazon-business/spec.ts';

const PAID = {
  result: {
    invoiceId: 'X',
    resultType: 'SUCCESS',
    paymentDetails: { status: 'Closed', dueDate: '2026-04-01' },
  },
  bytes: '{}',
};

const line = (id: string, total: string) => ({
  orderId: 'O-1',
  orderLineItemId: id,
  shipmentId: 'S1',
  totalAmount: { currencyCode: 'USD', amount: total },
});

function invoice(over: {
  number?: string;
  type?: 'STANDARD' | 'CREDIT_MEMO';
  transactions: Array<Partial<Transaction>>;
  detail?: Record<string, unknown>;
  payment?: BusinessInvoice['payment'] | null;
}): BusinessInvoice {
  const number = over.number ?? 'INV-1';
  return {
    invoiceNumber: number,
    detail: {
      invoiceNumber: number,
      invoiceDate: '2026-03-02T10:00:00Z',
      invoiceType: over.type ?? 'STANDARD',
      ...over.detail,
    },
    detailBytes: '{}',
    lineItems: [],
    transactions: over.transactions.map((t, i) => ({
      tx: { transactionId: `T${i}`, transactionType: 'CHARGE', invoiceNumber: number, ...t },
      bytes: '{}',
    })),
    purchaseOrderNumbers: [],
    correctsInvoiceId: null,
    payment: over.payment === null ? undefined : (over.payment ?? PAID),
  };
}

const gapsOf = (inv: BusinessInvoice) =>
  invoiceGaps(
    inv,
    normalizeInvoice({
      connection: 'biz',
      scope: 'default',
      invoice: inv,
      rawKey: 'raw/x.json',
      fetchedAt: '2026-03-03T00:00:00.000Z',
    }),
  );

const usd = (amount: string) => ({ currencyCode: 'USD', amount });

describe('amazon-business control totals of an invoice', () => {
  it('finds nothing when the amount charged is its line items to the last digit, however printed', () => {
    const inv = invoice({
      transactions: [
        { amount: usd('12.50'), transactionLineItems: [line('L1', '10.1234'), line('L2', '2.3766')] },
        { amount: usd('1'), transactionLineItems: [line('L3', '1.0000')] },
      ],
    });
    expect(gapsOf(inv)).toEqual([]);
  });

  it('names an invoice whose transactions charged one cent more than its line items', () => {
    const inv = invoice({
      transactions: [
        { amount: usd('12.51'), transactionLineItems: [line('L1', '10.1234'), line('L2', '2.3766')] },
        { transactionLineItems: [line('L3', '4')] },
      ],
    });
    expect(gapsOf(inv)).toEqual([
      {
        code: LINE_SUM_DIFFERS,
        scope: 'default',
        invoiceId: 'INV-1',
        field: 'amount',
        expected: '12.51',
        found: '12.5',
        message: "its transactions' amount is not the sum of the totalAmount of their 2 line items",
      },
    ]);
  });

  it('JP: invoiceTotal against every line item, a credit memo printed positive against its negative REFUND', () => {
    const jp = { currencyCode: 'JPY' };
    const memo = (total: string, lineTotal: string) =>
      invoice({
        number: 'JP-2',
        type: 'CREDIT_MEMO',
        detail: { ...jp, invoiceTotal: total },
        transactions: [{ transactionType: 'REFUND', transactionLineItems: [line('L1', lineTotal)] }],
      });
    expect(gapsOf(memo('550.0', '-550'))).toEqual([]);
    expect(gapsOf(memo('550.0', '-551'))).toEqual([
      expect.objectContaining({
        code: LINE_SUM_DIFFERS,
        invoiceId: 'JP-2',
        field: 'invoiceTotal',
        expected: '-550.0',
        found: '-551',
      }),
    ]);
    // Its transactions not in the window: no line items to add up, its own total lands unchecked.
    expect(
      gapsOf(invoice({ number: 'JP-3', detail: { ...jp, invoiceTotal: '100.0' }, transactions: [] })),
    ).toEqual([]);
  });

  it('names an invoice without payment details: an ERROR result, or none at all', () => {
    const txs = [{ amount: usd('1'), transactionLineItems: [line('L1', '1')] }];
    const error = {
      result: {
        invoiceId: 'INV-1',
        resultType: 'ERROR',
        error: { code: 'PAYMENT_DETAILS_UNAVAILABLE', message: 'Payment details cannot be retrieved.' },
      },
      bytes: '{}',
    };
    expect(gapsOf(invoice({ transactions: txs, payment: error }))).toEqual([
      {
        code: PAYMENT_MISSING,
        scope: 'default',
        invoiceId: 'INV-1',
        field: 'paymentDetails',
        expected: 'SUCCESS',
        found: 'PAYMENT_DETAILS_UNAVAILABLE',
        message:
          'payment details not available (Payment details cannot be retrieved.): status and dueOn left empty, asked again on the next run',
      },
    ]);
    expect(gapsOf(invoice({ transactions: txs, payment: null }))).toEqual([
      expect.objectContaining({ code: PAYMENT_MISSING, found: 'NO_RESULT' }),
    ]);
  });

  it('is the listing job check', () => {
    const job = amazonBusinessSpec.jobs[0]!;
    if (job.kind !== 'listing' || !job.check) throw new Error('the invoices job has no check');
    const inv = invoice({ transactions: [{ amount: usd('2'), transactionLineItems: [line('L1', '1')] }] });
    const normalized = normalizeInvoice({
      connection: 'biz',
      scope: 'default',
      invoice: inv,
      rawKey: 'raw/x.json',
      fetchedAt: '2026-03-03T00:00:00.000Z',
    });
    expect(job.check(inv, {}, normalized).map((g) => g.code)).toEqual([LINE_SUM_DIFFERS]);
  });
});
