import { describe, expect, it } from 'vitest';
import { readTransactions } from '../../../../shared/providers/amazon-business/transactions.ts';
import {
  INVOICE_GRACE_DAYS,
  LINE_WITHOUT_INVOICE,
  uninvoicedLines,
} from '../../../../shared/providers/amazon-business/uninvoiced-lines.ts';

const DAY = 86_400_000;
const NOW = new Date('2026-03-31T12:00:00Z');
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

const tx = (id: string, dates: { transactionDate?: string; feedDate?: string }, lines: string[]) => ({
  transactionId: id,
  transactionType: 'CHARGE',
  ...dates,
  amount: { currencyCode: 'USD', amount: '1' },
  transactionLineItems: lines.map((l) => ({
    orderId: 'O-1',
    orderLineItemId: l,
    shipmentId: 'S1',
    totalAmount: { currencyCode: 'USD', amount: '12.34' },
  })),
});

const item = (l: string) => ({ orderId: 'O-1', orderLineItemId: l, shipmentId: 'S1' });

describe('amazon-business line items without an invoice', () => {
  const ledger = readTransactions([
    JSON.stringify({
      transactions: [
        tx('OLD', { transactionDate: ago(INVOICE_GRACE_DAYS + 1) }, ['L1']),
        tx('NEW', { transactionDate: ago(3) }, ['L2']),
        tx('FEED', { feedDate: ago(30) }, ['L3']),
        tx('UNDATED', {}, ['L4']),
        tx('EDGE', { transactionDate: ago(INVOICE_GRACE_DAYS) }, ['L5']),
        // The same line listed again later (a refund): its age is the first transaction's.
        tx('LATER', { transactionDate: ago(1) }, ['L1']),
      ],
    }),
  ]);

  it('are pending within the grace period after their transaction, and gaps past it, each named by its ids', () => {
    const out = uninvoicedLines('default', ledger, ['L1', 'L2', 'L3', 'L4', 'L5'].map(item), NOW);
    expect(out.pending.map((l) => l.orderLineItemId)).toEqual(['L2', 'L4', 'L5']);
    expect(out.gaps).toEqual([
      {
        code: LINE_WITHOUT_INVOICE,
        scope: 'default',
        field: 'orderLineItem O-1/L1/S1',
        expected: '12.34',
        found: null,
        message: `listed by transaction OLD of ${ago(15).slice(0, 10)}, 15 days ago, and no invoice lists it (pending for 14 days after its transaction)`,
      },
      expect.objectContaining({ field: 'orderLineItem O-1/L3/S1', message: expect.stringContaining('FEED') }),
    ]);
  });

  it("counts the age to the feed's newest transaction when our clock is behind the provider's", () => {
    const behind = new Date(NOW.getTime() - 365 * DAY);
    const out = uninvoicedLines('default', ledger, ['L1', 'L2', 'L3'].map(item), behind);
    // The newest transaction (LATER, a day before NOW) stands for the provider's now: OLD is 14 days older.
    expect(out.pending.map((l) => l.orderLineItemId)).toEqual(['L1', 'L2']);
    expect(out.gaps).toEqual([
      expect.objectContaining({
        field: 'orderLineItem O-1/L3/S1',
        message: expect.stringContaining('29 days ago'),
      }),
    ]);
  });

  it('finds nothing when every line has an invoice', () => {
    expect(uninvoicedLines('default', ledger, [], NOW)).toEqual({ pending: [], gaps: [] });
  });
});
