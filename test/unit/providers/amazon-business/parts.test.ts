import { describe, expect, it } from 'vitest';
import { feedDates, transactionsQuery } from '../../../../shared/providers/amazon-business/api.ts';
import {
  assembleInvoices,
  type BusinessInvoice,
  readDetails,
} from '../../../../shared/providers/amazon-business/assemble.ts';
import { invoiceGaps, LINE_SUM_DIFFERS } from '../../../../shared/providers/amazon-business/invoice-gaps.ts';
import { decodeCursor, encodeCursor } from '../../../../shared/providers/amazon-business/listing-cursor.ts';
import { normalizeInvoice } from '../../../../shared/providers/amazon-business/normalize.ts';
import { readTransactions } from '../../../../shared/providers/amazon-business/transactions.ts';

/**
 * The parts of the Amazon Business provider that decide what an invoice is: matching details to line
 * items, assigning transactions to invoices, exact money (JP's own totals, credit note signs, numbers
 * sent as JSON numbers), payment results, and the cursor a listing resumes from.
 */

// "Retrieving invoice details" in the Amazon Business guide, copied verbatim: no invoiceType, and a
// consolidated invoice that carries the invoice's own number.
const GUIDE_RESPONSE = `{
    "invoiceDetailsByOrderLineItems": [
        {
            "orderLineItem": {
                "orderId": "111-1087441-1234567",
                "orderLineItemId": "92258882544123",
                "shipmentId": "XWwjNjAbC"
            },
            "invoiceDetails": [
                {
                    "invoiceNumber": "1677-HWGG-ABCD",
                    "invoiceDate": "2023-11-22T11:23:04.37Z"
                }
            ]
        }
    ]
}
`;
const GUIDE_CONSOLIDATED = `{
    "invoiceDetailsByOrderLineItems": [
        {
            "orderLineItem": {
                "orderId": "111-2222222-3333333",
                "orderLineItemId": "1234567891234",
                "shipmentId": "A1b2CD34E"
            },
            "invoiceDetails": [
                {
                    "invoiceNumber": "DE4UPC2ABEY",
                    "invoiceDate": "2024-07-19T09:20:36.767Z",
                    "consolidatedInvoiceDetails": {
                        "invoiceNumber": "DE4UPC2ABEY"
                    }
                }
            ]
        }
    ]
}
`;

const WINDOW = { from: '2020-01-01', to: '2030-12-31' };

interface TxInput {
  id: string;
  type?: string;
  invoiceNumber?: string;
  amount?: string;
  lines: Array<{ orderId?: string; line: string; ship?: string; total: string; tax?: string; po?: string }>;
}

/** A getTransactions page as text (amounts as given: quoted strings, or bare JSON numbers). */
function page(txs: TxInput[], bareNumbers = false): string {
  const money = (amount: string) =>
    bareNumbers ? `{"currencyCode":"USD","amount":${amount}}` : `{"currencyCode":"USD","amount":"${amount}"}`;
  const tx = (t: TxInput) =>
    `{"transactionId":"${t.id}","transactionType":"${t.type ?? 'CHARGE'}"${t.invoiceNumber ? `,"invoiceNumber":"${t.invoiceNumber}"` : ''}${t.amount ? `,"amount":${money(t.amount)}` : ''},"transactionLineItems":[${t.lines
      .map(
        (l) =>
          `{"orderId":"${l.orderId ?? 'O-1'}","orderLineItemId":"${l.line}","shipmentId":"${l.ship ?? 'S1'}","purchaseOrderNumber":"${l.po ?? ''}","totalAmount":${money(l.total)}${l.tax ? `,"tax":${money(l.tax)}` : ''}}`,
      )
      .join(',')}]}`;
  return `{"transactions":[${txs.map(tx).join(',')}]}`;
}

/** An invoice-details answer: by line item id, the details listed for it. */
function details(byLine: Record<string, unknown[]>, orderId = 'O-1'): string {
  return JSON.stringify({
    invoiceDetailsByOrderLineItems: Object.entries(byLine).map(([line, invoiceDetails]) => ({
      orderLineItem: { orderId, orderLineItemId: line, shipmentId: 'S1' },
      invoiceDetails,
    })),
  });
}

const detail = (number: string, type: string, extra: Record<string, unknown> = {}) => ({
  invoiceNumber: number,
  invoiceDate: '2026-03-02T10:00:00Z',
  invoiceType: type,
  ...extra,
});

const normalize = (invoice: BusinessInvoice) =>
  normalizeInvoice({
    connection: 'biz',
    scope: 'default',
    invoice,
    rawKey: 'raw/x.json',
    fetchedAt: '2026-03-03T00:00:00.000Z',
  });

const assemble = (pages: string[], answers: string[]) =>
  assembleInvoices(readTransactions(pages), readDetails(answers), WINDOW);

describe('amazon-business: invoices from transactions and details', () => {
  it('reads the guide samples: no invoiceType (the CHARGE says invoice), a consolidated number kept', () => {
    const pages = [
      page([
        {
          id: 'T1',
          invoiceNumber: '1677-HWGG-ABCD',
          lines: [
            {
              orderId: '111-1087441-1234567',
              line: '92258882544123',
              ship: 'XWwjNjAbC',
              total: '10.5',
              tax: '0.5',
            },
          ],
        },
        {
          id: 'T2',
          invoiceNumber: 'DE4UPC2ABEY',
          lines: [
            {
              orderId: '111-2222222-3333333',
              line: '1234567891234',
              ship: 'A1b2CD34E',
              total: '20',
              tax: '3.2',
            },
          ],
        },
      ]),
    ];
    const { invoices, unresolved } = assemble(pages, [GUIDE_RESPONSE, GUIDE_CONSOLIDATED]);
    expect(invoices.map((i) => i.invoiceNumber)).toEqual(['1677-HWGG-ABCD', 'DE4UPC2ABEY']);
    const [plain, consolidated] = invoices.map(normalize);
    expect(plain).toMatchObject({
      kind: 'INVOICE',
      issuedOn: '2023-11-22',
      total: '10.5',
      tax: '0.5',
      subtotal: '10',
    });
    expect(consolidated).toMatchObject({
      consolidatedInvoiceNumber: 'DE4UPC2ABEY',
      consolidationPending: false,
      issuedOn: '2024-07-19',
    });
    expect(Object.values(unresolved).every((v) => v.length === 0)).toBe(true);
  });

  it('sums an invoice from all its line items across pages and answers, exactly, whatever came as a JSON number', () => {
    const pages = [
      page(
        [
          {
            id: 'T1',
            invoiceNumber: 'INV-1',
            amount: '0.3',
            lines: [{ line: 'L1', total: '0.1', tax: '0.01' }],
          },
        ],
        true,
      ),
      page([{ id: 'T1', invoiceNumber: 'INV-1', lines: [{ line: 'L1', total: '0.1' }] }]), // listed twice: counted once
      page(
        [
          {
            id: 'T2',
            invoiceNumber: 'INV-1',
            lines: [
              { line: 'L2', total: '0.2', tax: '0.02', po: 'PO-7' },
              { line: 'L3', total: '12.34567891', tax: '1.00000001', po: 'PO-8' },
            ],
          },
        ],
        true,
      ),
    ];
    const answers = [
      details({ L1: [detail('INV-1', 'STANDARD')] }),
      details({ L2: [detail('INV-1', 'STANDARD')], L3: [detail('INV-1', 'STANDARD')] }),
    ];
    const { invoices } = assemble(pages, answers);
    expect(invoices).toHaveLength(1);
    expect(invoices[0]!.lineItems.map((l) => l.orderLineItemId)).toEqual(['L1', 'L2', 'L3']);
    const line = normalize(invoices[0]!);
    expect(line).toMatchObject({
      total: '12.64567891',
      tax: '1.03000001',
      subtotal: '11.6156789',
      purchaseOrderNumber: 'PO-7, PO-8',
    });
    // T1's amount says 0.3 where its line item is 0.1 (T2 states no amount: nothing to compare it with).
    expect(invoiceGaps(invoices[0]!, line).filter((g) => g.code === LINE_SUM_DIFFERS)).toEqual([
      expect.objectContaining({ invoiceId: 'INV-1', field: 'amount', expected: '0.3', found: '0.1' }),
    ]);
  });

  it('JP: the invoice total and tax win over the line items; a credit memo printed positive is negative', () => {
    const pages = [
      page([
        { id: 'T1', invoiceNumber: 'JP-1', lines: [{ line: 'L1', total: '999' }] },
        { id: 'R1', type: 'REFUND', invoiceNumber: 'JP-2', lines: [{ line: 'L1', total: '-550' }] },
      ]),
    ];
    const jp = { currencyCode: 'JPY' };
    const tax = (amount: string) => ({ rate: '0.1', amount: { currencyCode: 'JPY', amount } });
    const answers = [
      details({
        L1: [
          detail('JP-1', 'STANDARD', { ...jp, invoiceTotal: '1100.0', tax: [tax('60.0'), tax('40.0')] }),
          detail('JP-2', 'CREDIT_MEMO', {
            ...jp,
            invoiceTotal: '550.0',
            tax: [tax('50.0')],
            associatedInvoiceNumber: 'JP-1',
          }),
        ],
      }),
    ];
    const [invoice, memo] = assemble(pages, answers).invoices.map(normalize);
    expect(invoice).toMatchObject({ currency: 'JPY', total: '1100.0', tax: '100', subtotal: '1000' });
    expect(memo).toMatchObject({
      kind: 'CREDIT_NOTE',
      total: '-550.0',
      tax: '-50',
      subtotal: '-500',
      correctsInvoiceId: 'JP-1',
    });
  });

  it('gives a transaction without invoiceNumber the one invoice of its type its line items list', () => {
    const pages = [
      page([
        {
          id: 'T1',
          lines: [
            { line: 'L1', total: '5' },
            { line: 'L2', total: '7' },
          ],
        },
        { id: 'R1', type: 'REFUND', lines: [{ line: 'L1', total: '-5' }] },
      ]),
    ];
    const answers = [
      details({
        L1: [detail('INV-1', 'STANDARD'), detail('CM-1', 'CREDIT_MEMO')],
        L2: [detail('INV-1', 'STANDARD')],
      }),
    ];
    const { invoices, unresolved } = assemble(pages, answers);
    const [memo, invoice] = invoices.map(normalize);
    expect(invoice).toMatchObject({ invoiceId: 'INV-1', kind: 'INVOICE', total: '12' });
    // NA credit memos do not name their invoice: it is the STANDARD invoice of the same line item.
    expect(memo).toMatchObject({
      invoiceId: 'CM-1',
      kind: 'CREDIT_NOTE',
      total: '-5',
      correctsInvoiceId: 'INV-1',
    });
    expect(unresolved.unmatched).toEqual([]);
  });

  it('keeps what is not final out and says why: null details, no invoice yet, a transaction not in the feed', () => {
    const pages = [
      page([
        { id: 'T1', invoiceNumber: 'INV-1', lines: [{ line: 'L1', total: '5' }] },
        { id: 'T2', lines: [{ line: 'L2', total: '6' }] },
        { id: 'T3', invoiceNumber: 'INV-3', lines: [{ line: 'L3', total: '7' }] },
        { id: 'T4', invoiceNumber: 'INV-4', lines: [{ line: 'L4', total: '8' }] },
      ]),
    ];
    const answers = [
      details({
        L1: [{ invoiceNumber: null, invoiceDate: null, invoiceType: null }],
        L2: [],
        // A credit memo whose REFUND is not listed, and an invoice with a number but no date.
        L3: [detail('INV-3', 'STANDARD'), detail('CM-3', 'CREDIT_MEMO')],
        L4: [{ invoiceNumber: 'INV-4', invoiceDate: null }],
      }),
    ];
    const { invoices, unresolved } = assemble(pages, answers);
    expect(invoices.map((i) => i.invoiceNumber)).toEqual(['INV-3']);
    expect(unresolved.nullDetailLines.map((l) => l.orderLineItemId)).toEqual(['L1', 'L4']);
    expect(unresolved.nullDetailInvoices.sort()).toEqual(['INV-1', 'INV-4']);
    expect(unresolved.uninvoiced.map((l) => l.orderLineItemId)).toEqual(['L2']);
    expect(unresolved.notInFeed).toEqual(['CM-3']);
    // Issued before the window: an earlier window's run landed it.
    const later = assembleInvoices(readTransactions(pages), readDetails(answers), { from: '2026-04-01' });
    expect(later.unresolved.notInFeed).toEqual([]);
  });

  it('marks a Pending consolidation, and records a failed payment result on the invoice', () => {
    const pages = [
      page([{ id: 'T1', invoiceNumber: 'INV-1', lines: [{ line: 'L1', total: '5', tax: '1' }] }]),
    ];
    const answers = [
      details({
        L1: [detail('INV-1', 'STANDARD', { consolidatedInvoiceDetails: { invoiceNumber: 'Pending' } })],
      }),
    ];
    const [invoice] = assemble(pages, answers).invoices;
    const failed = normalize({
      ...invoice!,
      payment: {
        result: {
          invoiceId: 'INV-1',
          resultType: 'ERROR',
          error: { code: 'INVOICE_NOT_FOUND', message: 'no' },
        },
        bytes: '{}',
      },
    });
    expect(failed).toMatchObject({
      invoiceNumber: 'INV-1',
      consolidatedInvoiceNumber: null,
      consolidationPending: true,
      status: null,
      dueOn: null,
      paymentError: { code: 'INVOICE_NOT_FOUND', message: 'no' },
    });
    const paid = normalize({
      ...invoice!,
      payment: {
        result: {
          invoiceId: 'INV-1',
          resultType: 'SUCCESS',
          paymentDetails: { status: 'Past Due', dueDate: '2026-04-01T23:59:59Z' },
        },
        bytes: '{}',
      },
    });
    expect(paid).toMatchObject({ status: 'Past Due', dueOn: '2026-04-01', paymentError: null });
    expect(normalize(invoice!).paymentError?.code).toBe('NO_RESULT');
  });

  it('refuses to sum amounts in two currencies', () => {
    const text = page([
      {
        id: 'T1',
        invoiceNumber: 'INV-1',
        lines: [
          { line: 'L1', total: '5' },
          { line: 'L2', total: '6' },
        ],
      },
    ]);
    const mixed = text.replace('"currencyCode":"USD","amount":"6"', '"currencyCode":"EUR","amount":"6"');
    const [invoice] = assemble(
      [mixed],
      [details({ L1: [detail('INV-1', 'STANDARD')], L2: [detail('INV-1', 'STANDARD')] })],
    ).invoices;
    expect(() => normalize(invoice!)).toThrow(/more than one currency: USD, EUR/);
  });
});

describe('amazon-business: requests and cursor', () => {
  it('asks for the window as date-times, then sends nextPageToken alone', () => {
    expect(feedDates({ from: '2026-02-01', to: '2026-02-28' })).toEqual({
      feedStartDate: '2026-02-01T00:00:00Z',
      feedEndDate: '2026-03-01T00:00:00Z',
    });
    expect(transactionsQuery({ from: '2026-02-01', to: '2026-02-28' }, 'abc')).toEqual({
      nextPageToken: 'abc',
    });
  });

  it('resumes from the cursors it writes and refuses any other', () => {
    expect(decodeCursor(undefined)).toEqual({ phase: 'transactions', n: 0 });
    for (const cursor of [
      { phase: 'transactions', n: 3, token: 'x' },
      { phase: 'details', t: 4, j: 2 },
      { phase: 'payments', t: 4, d: 9, k: 1 },
    ] as const) {
      expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    }
    for (const junk of ['nope', '{"phase":"details","t":0,"j":0}', '{"phase":"other"}']) {
      expect(() => decodeCursor(junk)).toThrow(expect.objectContaining({ retryable: false }));
    }
  });
});
