import { createHash } from 'node:crypto';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { localDynamoClient, localS3Client } from '../../infra/local/clients.ts';
import { DynamoInvoiceTable } from '../../shared/aws/invoice-table.ts';
import { S3Sink } from '../../shared/aws/sink.ts';
import { publishMonths, TableStore } from '../../shared/engine/invoice-store.ts';
import type { NormalizedInvoice } from '../../shared/invoice/model.ts';
import type { ProviderContext } from '../../shared/providers/types.ts';
import { peakRssKb } from './peak-rss.ts';

/**
 * One run of the invoice store in its own process, so its peak RSS is the store's alone (the stand-ins
 * run in the parent): COUNT invoices of one month, upserted a page of 100 at a time (a flush a page,
 * as the engine does once a page leaves 100 held), then the month file published once.
 */
const [count, table, bucket, env] = process.argv.slice(2) as [string, string, string, string];
const standins = JSON.parse(env) as Record<string, string>;
const ddb = DynamoDBDocumentClient.from(localDynamoClient(standins), {
  marshallOptions: { removeUndefinedValues: true },
});
const invoices = new DynamoInvoiceTable(ddb, table);
const sink = new S3Sink(localS3Client(standins), bucket);
const quiet = () => {};
const ctx = {
  invoices,
  sink,
  // The run ledger is not part of the store: what a publish records there is left out of the figures.
  state: {},
  log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  budget: { deadline: Date.now() + 3_600_000, remainingMs: () => 3_600_000 },
} as unknown as ProviderContext;

const invoice = (n: number): NormalizedInvoice => {
  const id = `INV-${String(n).padStart(8, '0')}`;
  return {
    provider: 'amazon-ads',
    connection: 'ads-bench',
    account: 'profile-1',
    invoiceId: id,
    invoiceNumber: `N${n}`,
    kind: 'INVOICE',
    status: n % 3 === 0 ? 'PAID_IN_FULL' : 'ISSUED',
    issuedOn: `2026-03-${String(1 + (n % 28)).padStart(2, '0')}`,
    dueOn: '2026-04-30',
    servicePeriod: { from: '2026-02-01', to: '2026-02-28' },
    currency: 'USD',
    subtotal: `${n % 100000}.${String(n % 100).padStart(2, '0')}`,
    tax: '0.00',
    total: `${n % 100000}.${String(n % 100).padStart(2, '0')}`,
    amountDue: '0.00',
    remainingDue: '0.00',
    purchaseOrderNumber: null,
    correctsInvoiceId: null,
    replacesInvoiceIds: [],
    documents: [
      {
        type: 'invoice-pdf',
        key: `documents/amazon-ads/ads-bench/profile-1/${id}/invoice.pdf`,
        // A real digest: 64 hex digits that do not compress.
        sha256: createHash('sha256').update(id).digest('hex'),
        bytes: 48_213,
      },
    ],
    rawKey: `raw/amazon-ads/ads-bench/profile-1/2026/03/${id}.json`,
    fetchedAt: '2026-03-31T06:00:00.000Z',
  };
};

const started = performance.now();
const store = new TableStore(invoices);
const n = Number(count);
for (let i = 0; i < n; i += 100) {
  for (let k = i; k < Math.min(n, i + 100); k++) store.add(invoice(k));
  await store.flush();
}
const upserted = performance.now();
// Which half sets the peak: the upserts' own, before the publish starts.
const upsertRssKb = peakRssKb();
await publishMonths(
  ctx,
  [...store.touched].map((month) => ({
    provider: 'amazon-ads',
    connection: 'ads-bench',
    scope: 'profile-1',
    month,
  })),
  { sourceOperation: 'bench', runId: 'bench', fetchedAt: new Date().toISOString() },
);
const done = performance.now();
process.stdout.write(
  JSON.stringify({
    upsertMs: upserted - started,
    publishMs: done - upserted,
    wallMs: done - started,
    maxRssKb: peakRssKb(),
    upsertRssKb,
  }),
);
