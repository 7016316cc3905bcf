import { describe, expect, it } from 'vitest';
import { type Connection, connectionSchema } from '../../../shared/config/schema.ts';
import type { ProviderSpec } from '../../../shared/engine/provider-spec.ts';
import { reconcileConnection } from '../../../shared/engine/reconcile-connection.ts';
import type { Gap } from '../../../shared/engine/reconciliation.ts';
import type { ReconcileMessage } from '../../../shared/jobs/messages.ts';
import { MemoryState, memoryContext } from '../../helpers/memory-context.ts';
import { normalizedInvoice } from '../../helpers/normalized-invoice.ts';

/** A connection's control totals: what they list, how they add up, and what they make of the run. */

const connection = (extra: Record<string, unknown> = {}) =>
  connectionSchema.parse({
    id: 'cm-1',
    provider: 'cm360',
    secretName: 'x/cm-1',
    scopes: ['adv-1'],
    profileId: '1',
    schedule: 'rate(1 day)',
    lookbackDays: 30,
    ...extra,
  }) as Connection;

const WINDOW = { from: '2026-01-20', to: '2026-02-10' };
const message: ReconcileMessage = {
  v: 1,
  type: 'reconcile',
  runId: 'run-test',
  provider: 'cm360',
  connection: 'cm-1',
  continuation: 0,
};

const specWith = (crossCheck?: Gap[]): ProviderSpec =>
  ({
    id: 'cm360',
    jobs: [{ kind: 'listing', name: 'invoices' }],
    ...(crossCheck
      ? {
          async *reconcile() {
            yield* crossCheck;
          },
        }
      : {}),
  }) as unknown as ProviderSpec;

async function world(extra: Record<string, unknown> = {}) {
  const state = new MemoryState();
  const m = memoryContext(connection(extra), { state });
  await state.addRunScope('run-test', 'cm-1', { job: 'invoices', scope: 'adv-1', window: WINDOW });
  const invoice = (
    invoiceId: string,
    issuedOn: string,
    total: string,
    status: string | null,
    currency = 'USD',
  ) =>
    normalizedInvoice({
      connection: 'cm-1',
      account: 'adv-1',
      invoiceId,
      issuedOn,
      rawKey: `raw/${invoiceId}`,
      fetchedAt: '2026-02-11T00:00:00Z',
      total,
      tax: '0.1',
      status,
      currency,
    });
  await m.invoices.upsert(
    [
      invoice('A', '2026-01-20', '10.10', 'PAID'),
      invoice('B', '2026-02-10', '0.20', 'PAID'),
      invoice('C', '2026-02-01', '5', null),
      invoice('D', '2026-02-02', '7', 'PAID', 'EUR'),
      // Outside the window, though in its months: not the run's.
      invoice('E', '2026-01-19', '1000', 'PAID'),
      invoice('F', '2026-02-11', '1000', 'PAID'),
    ].map((i) => ({ invoice: i })),
  );
  return { ...m, state };
}

const lines = (m: Awaited<ReturnType<typeof world>>) => {
  const [key] = [...m.sink.objects.keys()].filter((k) => k.startsWith('reconciliation/'));
  expect(key).toBe('reconciliation/provider=cm360/connection=cm-1/run-test.jsonl');
  return m.sink.objects
    .get(key!)!
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
};

describe('reconcileConnection', () => {
  it('reconciles a clean run to zero gaps, with exact totals by currency and status of the window only', async () => {
    const m = await world();
    await reconcileConnection(specWith([]), message, m.ctx);
    const [summary, ...rest] = lines(m);
    expect(rest).toEqual([]);
    expect(summary).toMatchObject({ record: 'summary', gaps: 0, invoices: 4, documentsMissing: 0 });
    expect(summary!.totals).toEqual(
      [
        { currency: 'EUR', status: 'PAID', invoices: 1, total: '7', tax: '0.1', amountDue: null },
        { currency: 'USD', status: 'PAID', invoices: 2, total: '10.3', tax: '0.2', amountDue: null },
        { currency: 'USD', status: 'null', invoices: 1, total: '5', tax: '0.1', amountDue: null },
      ].map((r) => ({ ...r, status: r.status === 'null' ? null : r.status })),
    );
    expect(m.state.reconciliations).toEqual([
      summary && expect.objectContaining({ gaps: 0, key: expect.any(String) }),
    ]);
    expect(m.problems).toEqual([]);
    expect(m.counts.reconciliationGaps ?? 0).toBe(0);
  });

  it('itemises every gap (recorded as invoices landed, pending documents, the provider cross-check) and makes the run PARTIAL', async () => {
    const m = await world();
    await m.state.addGap('run-test', 'cm-1', {
      code: 'campaign-sum-differs',
      scope: 'adv-1',
      invoiceId: 'A',
      field: 'total',
      expected: '10.10',
      found: '10.099999',
      message: 'the campaign summaries add up to less',
    });
    // A gap of another run is not this run's.
    await m.state.addGap('run-other', 'cm-1', { code: 'x', scope: 'adv-1', message: 'not mine' });
    await m.state.recordPendingDocument(
      {
        provider: 'cm360',
        connection: 'cm-1',
        scope: 'adv-1',
        invoiceId: 'B',
        name: 'invoice.pdf',
        type: 'INVOICE_PDF',
        key: 'documents/cm360/cm-1/adv-1/B/invoice.pdf',
        code: 'DOCUMENT_NOT_FOUND',
        reason: 'the PDF link answered 404',
      },
      'run-test',
    );
    const cross: Gap = { code: 'not-in-api', scope: 'acct', invoiceId: 'Z', message: 'in the report only' };
    await reconcileConnection(specWith([cross]), message, m.ctx);
    const all = lines(m);
    expect(all.map((l) => [l.record, l.code ?? null, l.invoiceId ?? null])).toEqual([
      ['gap', 'campaign-sum-differs', 'A'],
      ['gap', 'document-missing', 'B'],
      ['gap', 'not-in-api', 'Z'],
      ['summary', null, null],
    ]);
    expect(all[0]).toMatchObject({
      field: 'total',
      expected: '10.10',
      found: '10.099999',
      runId: 'run-test',
    });
    expect(all[1]).toMatchObject({
      field: 'INVOICE_PDF',
      expected: 'documents/cm360/cm-1/adv-1/B/invoice.pdf',
    });
    expect(all[3]).toMatchObject({
      gaps: 3,
      documentsMissing: 1,
      gapsByCode: { 'campaign-sum-differs': 1, 'document-missing': 1, 'not-in-api': 1 },
    });
    // Named one by one in the run's problems, which make it PARTIAL.
    expect(m.problems.map((p) => p.code)).toEqual([
      'gap.campaign-sum-differs',
      'gap.document-missing',
      'gap.not-in-api',
    ]);
    expect(m.problems[0]!.message).toBe(
      'adv-1 invoice A total: the campaign summaries add up to less (expected 10.10, found 10.099999)',
    );
    expect(m.counts.reconciliationGaps).toBe(3);
    expect(m.state.failures).toEqual([]);
  });

  it('fails the run instead when the connection says so', async () => {
    const m = await world({ onReconciliationGap: 'FAILED' });
    await reconcileConnection(
      specWith([{ code: 'amount-differs', scope: 'acct', invoiceId: 'A', message: 'differs' }]),
      message,
      m.ctx,
    );
    expect(m.state.failures).toEqual([
      expect.objectContaining({
        connection: 'cm-1',
        reason: expect.stringContaining('1 gap(s) (amount-differs)'),
      }),
    ]);
  });

  it('lists the first gaps in the run and every one in the file', async () => {
    const m = await world();
    const many = Array.from({ length: 25 }, (_, i) => ({
      code: 'not-in-report',
      scope: 'adv-1',
      invoiceId: `I${i}`,
      message: 'x',
    }));
    await reconcileConnection(specWith(many), message, m.ctx);
    expect(lines(m).filter((l) => l.record === 'gap')).toHaveLength(25);
    expect(m.problems).toHaveLength(21);
    expect(m.problems.at(-1)).toMatchObject({
      code: 'gap.more',
      message: expect.stringContaining('5 more gap(s)'),
    });
  });
});
