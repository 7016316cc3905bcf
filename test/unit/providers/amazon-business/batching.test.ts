import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { amazonBusinessConnectionSchema } from '../../../../shared/config/schema.ts';
import { processMessage } from '../../../../shared/engine/process-message.ts';
import { addDecimals } from '../../../../shared/invoice/money.ts';
import { type JobMessageInput, jobMessageSchema } from '../../../../shared/jobs/messages.ts';
import { forgetListings } from '../../../../shared/providers/amazon-business/listing-pages.ts';
import { amazonBusinessSpec } from '../../../../shared/providers/amazon-business/spec.ts';
import type {
  HttpResponse,
  ProviderContext,
  ProviderHttp,
  RequestOptions,
} from '../../../../shared/providers/types.ts';
import { MemorySink, MemoryState, memoryContext } from '../../../helpers/memory-context.ts';

/**
 * Whatever the number of line items, transactions and pages, and wherever continuations cut the listing:
 * invoice details are asked 1 to 25 order line items a call, each distinct line item once; payment
 * details 1 to 25 invoice ids a call; and every invoice lands once with the exact sum of its line items.
 * The API is a fake that checks the limits the model sets (a 26th item would be a 400).
 */

const connection = amazonBusinessConnectionSchema.parse({
  id: 'biz-prop',
  provider: 'amazon-business',
  region: 'NA',
  secretName: 'unit/biz-prop',
  scopes: ['default'],
  schedule: 'rate(1 day)',
  lookbackDays: 40,
});

interface GenLine {
  orderLineItemId: string;
  units: number;
}
interface GenTx {
  transactionId: string;
  type: 'CHARGE' | 'REFUND';
  invoiceNumber: string;
  lines: Array<GenLine & { shipmentId: string }>;
}

/** Units of 1/10000 as the API prints them: "-12.0034". */
const text = (units: number) => {
  const abs = Math.abs(units);
  return `${units < 0 ? '-' : ''}${Math.floor(abs / 10_000)}.${String(abs % 10_000).padStart(4, '0')}`;
};

const dataset = fc
  .array(
    fc.record({
      lines: fc.array(fc.integer({ min: 1, max: 9_999_999 }), { minLength: 1, maxLength: 6 }),
      refundFirst: fc.option(fc.integer({ min: 1, max: 9_999_999 }), { nil: undefined }),
    }),
    { minLength: 0, maxLength: 45 },
  )
  .map((orders) => {
    const txs: GenTx[] = [];
    orders.forEach((o, i) => {
      const lines = o.lines.map((units, k) => ({
        orderLineItemId: `L${i}-${k}`,
        shipmentId: `S${i}`,
        units,
      }));
      txs.push({ transactionId: `T${i}`, type: 'CHARGE', invoiceNumber: `INV-${i}`, lines });
      if (o.refundFirst !== undefined) {
        // A refund of the first line item: the same ids again, a credit memo of its own.
        txs.push({
          transactionId: `R${i}`,
          type: 'REFUND',
          invoiceNumber: `CM-${i}`,
          lines: [{ ...lines[0]!, units: -o.refundFirst }],
        });
      }
    });
    return txs;
  });

function fakeApi(txs: GenTx[], pageSizes: number[]) {
  const pages: GenTx[][] = [];
  for (let i = 0, p = 0; i < txs.length; p++) {
    const size = pageSizes[p % pageSizes.length]!;
    pages.push(txs.slice(i, i + size));
    i += size;
  }
  if (pages.length === 0) pages.push([]);
  const invoicesOf = new Map<string, Array<{ number: string; type: string }>>();
  for (const tx of txs) {
    for (const l of tx.lines) {
      const list = invoicesOf.get(l.orderLineItemId) ?? [];
      list.push({ number: tx.invoiceNumber, type: tx.type === 'REFUND' ? 'CREDIT_MEMO' : 'STANDARD' });
      invoicesOf.set(l.orderLineItemId, list);
    }
  }
  const calls = { details: [] as string[][], payments: [] as string[][] };
  const answer = <T>(body: unknown): HttpResponse<T> => {
    const rawBody = JSON.stringify(body);
    return { status: 200, headers: {}, data: JSON.parse(rawBody) as T, rawBody };
  };
  const http: ProviderHttp = {
    async request<T>(operation: string, opts: RequestOptions<T>): Promise<HttpResponse<T>> {
      if (operation === 'getTransactions') {
        const token = opts.query?.nextPageToken as string | undefined;
        if (token && Object.keys(opts.query ?? {}).length !== 1) throw new Error('nextPageToken not alone');
        const n = token ? Number(token.slice(1)) : 0;
        const page = pages[n]!.map((tx) => ({
          transactionId: tx.transactionId,
          transactionType: tx.type,
          invoiceNumber: tx.invoiceNumber,
          transactionLineItems: tx.lines.map((l) => ({
            orderId: 'O1',
            orderLineItemId: l.orderLineItemId,
            shipmentId: l.shipmentId,
            totalAmount: { currencyCode: 'USD', amount: text(l.units) },
            tax: { currencyCode: 'USD', amount: text(Math.trunc(l.units / 10)) },
          })),
        }));
        return answer({
          transactions: page,
          ...(n + 1 < pages.length ? { nextPageToken: `p${n + 1}` } : {}),
        });
      }
      const body = opts.json as { orderLineItems?: Array<Record<string, string>>; invoiceIds?: string[] };
      if (operation === 'getInvoiceDetailsByOrderLineItems') {
        const asked = body.orderLineItems ?? [];
        if (asked.length < 1 || asked.length > 25) throw new Error(`400: ${asked.length} order line items`);
        calls.details.push(asked.map((l) => l.orderLineItemId!));
        return answer({
          // Answered in reverse: matched on the ids, not on the order asked.
          invoiceDetailsByOrderLineItems: [...asked].reverse().map((l) => ({
            orderLineItem: l,
            invoiceDetails: (invoicesOf.get(l.orderLineItemId!) ?? []).map((inv) => ({
              invoiceNumber: inv.number,
              invoiceDate: '2026-03-02T10:00:00Z',
              invoiceType: inv.type,
            })),
          })),
        });
      }
      if (operation === 'getBatchInvoicePaymentDetails') {
        const ids = body.invoiceIds ?? [];
        if (ids.length < 1 || ids.length > 25) throw new Error(`400: ${ids.length} invoice ids`);
        calls.payments.push(ids);
        return answer({
          invoicePaymentDetailsResults: ids.map((invoiceId) => ({
            invoiceId,
            resultType: 'SUCCESS',
            paymentDetails: { status: 'Issued', dueDate: '2026-04-01T23:59:59Z' },
          })),
        });
      }
      throw new Error(`unexpected ${operation}`);
    },
    download: async () => {
      throw new Error('no downloads');
    },
  };
  return { http, calls };
}

async function listing(http: ProviderHttp, sink: MemorySink, cutEvery: number | undefined, fresh: boolean) {
  const state = new MemoryState();
  let message: JobMessageInput = {
    v: 1,
    type: 'fetch',
    runId: `prop-${Math.random()}`,
    provider: 'amazon-business',
    connection: connection.id,
    scope: 'default',
    window: { from: '2026-03-01', to: '2026-03-31' },
    state: { job: 'invoices', args: {} },
    continuation: 0,
  };
  const problems: string[] = [];
  for (let round = 0; round < 1_000; round++) {
    // Each invocation's budget runs low after `cutEvery` looks at it (3 at least: the context, page() and
    // the first items look at it once each, so every invocation lands something).
    let checks = 0;
    const remainingMs = () => (cutEvery && ++checks > cutEvery ? 1_000 : 60_000);
    const { ctx, problems: reported } = memoryContext(connection, { http, sink, state, remainingMs });
    try {
      // Each property run is a run of its own (what a listing keeps in memory is per run).
      const own = { ...ctx, runId: message.runId };
      await processMessage(jobMessageSchema.parse(message), own as ProviderContext, amazonBusinessSpec);
      problems.push(...reported.map((p) => p.code));
      return problems;
    } catch (err) {
      problems.push(...reported.map((p) => p.code));
      const e = err as { name?: string; continuation?: JobMessageInput };
      if (e.name !== 'DeferError' || !e.continuation) throw err;
      message = e.continuation;
      if (fresh) forgetListings();
    }
  }
  throw new Error('the listing did not end');
}

describe('amazon-business: 25 a call, each invoice once', () => {
  it('batches any number of line items 1 to 25 a call and lands every invoice once with its exact sum', async () => {
    await fc.assert(
      fc.asyncProperty(
        dataset,
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 4 }),
        fc.option(fc.integer({ min: 3, max: 9 }), { nil: undefined }),
        fc.boolean(),
        async (txs, pageSizes, cutEvery, fresh) => {
          const { http, calls } = fakeApi(txs, pageSizes);
          const sink = new MemorySink();
          const problems = await listing(http, sink, cutEvery, fresh);
          expect(problems).toEqual([]);

          const distinct = new Set(txs.flatMap((t) => t.lines.map((l) => l.orderLineItemId)));
          const asked = calls.details.flat();
          expect(calls.details.every((c) => c.length >= 1 && c.length <= 25)).toBe(true);
          expect(asked.length).toBe(distinct.size);
          expect(new Set(asked)).toEqual(distinct);
          expect(calls.details.length).toBe(Math.ceil(distinct.size / 25));
          expect(calls.details.slice(0, -1).every((c) => c.length === 25)).toBe(true);

          const numbers = txs.map((t) => t.invoiceNumber).sort();
          expect(calls.payments.every((c) => c.length >= 1 && c.length <= 25)).toBe(true);
          expect(new Set(calls.payments.flat())).toEqual(new Set(numbers));
          // A page cut by the budget asks its payment details again when it comes back; uncut, once.
          if (!cutEvery) expect(calls.payments.flat().sort()).toEqual(numbers);

          const lines = sink.lines();
          expect(lines.map((l) => l.invoiceId as string).sort()).toEqual(numbers);
          for (const tx of txs) {
            const line = lines.find((l) => l.invoiceId === tx.invoiceNumber)!;
            const sum = addDecimals(...tx.lines.map((l) => text(l.units)));
            expect(addDecimals(line.total as string, sum.startsWith('-') ? sum.slice(1) : `-${sum}`)).toBe(
              '0',
            );
            expect(line.kind).toBe(tx.type === 'REFUND' ? 'CREDIT_NOTE' : 'INVOICE');
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
