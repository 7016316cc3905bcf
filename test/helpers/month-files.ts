import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type NormalizedInvoice, normalizedInvoiceSchema } from '../../shared/invoice/model.ts';

/** A normalized invoice with every field set, checked against the model; override what the test is about. */
export function invoiceLine(
  over: Partial<NormalizedInvoice> & Pick<NormalizedInvoice, 'invoiceId'>,
): NormalizedInvoice {
  return normalizedInvoiceSchema.parse({
    provider: 'cm360',
    connection: 'cm360-main',
    account: '111',
    invoiceNumber: `N-${over.invoiceId}`,
    kind: 'INVOICE',
    status: null,
    issuedOn: '2026-01-15',
    dueOn: '2026-02-14',
    servicePeriod: { from: '2026-01-01', to: '2026-01-31' },
    currency: 'USD',
    subtotal: '100.00',
    tax: '0.00',
    total: '100.00',
    amountDue: null,
    remainingDue: null,
    purchaseOrderNumber: null,
    correctsInvoiceId: null,
    replacesInvoiceIds: [],
    documents: [
      {
        type: 'INVOICE_PDF',
        key: `documents/cm360/cm360-main/111/${over.invoiceId}/invoice.pdf`,
        sha256: 'a'.repeat(64),
        bytes: 1171,
      },
    ],
    rawKey: `raw/cm360/cm360-main/111/2026/01/${over.invoiceId}.json`,
    fetchedAt: '2026-03-01T06:00:00.000Z',
    ...over,
  });
}

/** Writes a mirror's month file: `<out>/invoices/provider=<p>/issue_month=<m>/<connection>-<scope>.jsonl`. */
export function writeMonthFile(out: string, month: string, invoices: readonly NormalizedInvoice[]): void {
  const first = invoices[0]!;
  const dir = join(out, 'invoices', `provider=${first.provider}`, `issue_month=${month}`);
  mkdirSync(dir, { recursive: true });
  const lines = invoices.map((i) => `${JSON.stringify(i)}\n`).join('');
  writeFileSync(join(dir, `${first.connection}-${first.account}.jsonl`), lines);
}
