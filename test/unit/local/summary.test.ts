import { describe, expect, it } from 'vitest';
import { buildSummary, formatSummary } from '../../../infra/local/summary.ts';
import { zeroCounts } from '../../../infra/sandbox/framework/faults.ts';
import type { RunRecord } from '../../../shared/aws/run-ledger.ts';
import { type Connection, connectionSchema } from '../../../shared/config/schema.ts';
import type { PendingDocument } from '../../../shared/providers/types.ts';

/** `npm start`'s summary: the documents each connection still has pending, beside the run that ended PARTIAL. */

const connection = (id: string) =>
  connectionSchema.parse({
    id,
    provider: 'amazon-ads',
    region: 'NA',
    secretName: `x/${id}`,
    scopes: 'discover',
    schedule: 'rate(1 day)',
    lookbackDays: 30,
  }) as Connection;

const run = (runId: string, status: RunRecord['status'], problems: RunRecord['problems']): RunRecord => ({
  runId,
  status,
  createdAt: '2026-03-15T12:00:00.000Z',
  updatedAt: '2026-03-15T12:01:00.000Z',
  request: { connections: ['ads-a', 'ads-b'], source: 'local' },
  pending: 0,
  connections: { 'ads-a': { invoices: 3, documents: 2 }, 'ads-b': { invoices: 1, documents: 1 } },
  failures: [],
  problems,
  monthFiles: [],
});

const pending = (invoiceId: string, attempts: number): PendingDocument => ({
  provider: 'amazon-ads',
  connection: 'ads-a',
  scope: '111',
  invoiceId,
  name: 'INVOICE.pdf',
  type: 'INVOICE',
  key: `documents/amazon-ads/ads-a/111/${invoiceId}/INVOICE.pdf`,
  code: 'DOCUMENT_LINK_EXPIRED',
  reason: 'the link was still expired after 8 fresh one(s)',
  attempts,
  firstSeenAt: '2026-03-01T10:00:00.000Z',
  lastTriedAt: '2026-03-15T12:00:00.000Z',
  firstRunId: 'r-0',
  lastRunId: 'r-1',
});

describe('local summary', () => {
  it('counts and lists the documents still pending per connection, and a PARTIAL run is not ok', () => {
    const summary = buildSummary({
      connections: [connection('ads-a'), connection('ads-b')],
      runs: new Map([
        [
          'r-1',
          run('r-1', 'PARTIAL', [
            {
              at: '2026-03-15T12:00:30.000Z',
              connection: 'ads-a',
              code: 'DOCUMENT_PENDING',
              message: 'invoice I-1: INVOICE not copied: ...',
            },
          ]),
        ],
      ]),
      runOf: new Map([
        ['ads-a', 'r-1'],
        ['ads-b', 'r-1'],
      ]),
      notImplemented: new Set(),
      dlq: [],
      landed: {},
      pendingDocuments: new Map([
        ['ads-a', [pending('I-1', 3), pending('I-2', 1)]],
        ['ads-b', []],
      ]),
    });
    expect(summary.ok).toBe(false);
    expect(summary.partial).toBe(true);
    expect(summary.rows.map((r) => [r.connection, r.pendingDocuments])).toEqual([
      ['ads-a', 2],
      ['ads-b', 0],
    ]);
    // No keys, links or run ids in the listing: what, since when, how often, why.
    expect(summary.pendingDocuments[0]).toEqual({
      connection: 'ads-a',
      scope: '111',
      invoiceId: 'I-1',
      type: 'INVOICE',
      attempts: 3,
      firstSeenAt: '2026-03-01T10:00:00.000Z',
      reason: 'the link was still expired after 8 fresh one(s)',
    });
    const text = formatSummary(summary);
    expect(text).toContain(
      [
        'pending documents (later runs try them again until they land or PENDING_DOCUMENT_MAX_AGE_DAYS pass):',
        '  ads-a: 2',
        '    111 invoice I-1 INVOICE, since 2026-03-01, 3 attempt(s); last: the link was still expired after 8 fresh one(s)',
        '    111 invoice I-2 INVOICE, since 2026-03-01, 1 attempt(s); last: the link was still expired after 8 fresh one(s)',
      ].join('\n'),
    );
    expect(text).not.toContain('ads-b: 0');
    expect(text).toMatch(/result: PARTIAL/);
  });

  /** One connection whose run SUCCEEDED, nothing pending, nothing landed. */
  const oneSucceeded = () =>
    buildSummary({
      connections: [connection('ads-a')],
      runs: new Map([['r-1', run('r-1', 'SUCCEEDED', [])]]),
      runOf: new Map([['ads-a', 'r-1']]),
      notImplemented: new Set(),
      dlq: [],
      landed: {},
    });

  it('prints no pending section when nothing is pending', () => {
    const summary = oneSucceeded();
    expect(summary.ok).toBe(true);
    expect(summary.pendingDocuments).toEqual([]);
    expect(formatSummary(summary)).not.toContain('pending documents');
  });
  it('prints the faults each simulator injected (a run with --faults), and none without', () => {
    const summary = oneSucceeded();
    expect(formatSummary(summary)).not.toContain('faults injected');
    const none = zeroCounts();
    summary.faults = {
      'amazon-ads': { ...none, serverError: 3, reset: 2, expiredUrl: 1 },
      cm360: none,
    };
    const text = formatSummary(summary);
    expect(text).toContain('faults injected by the simulators:');
    expect(text).toContain('  amazon-ads: serverError 3, reset 2, expiredUrl 1');
    expect(text).toContain('  cm360: none');
  });

  it('prints each connection its control totals: gaps by code, invoices, money by currency and status, the file', () => {
    const record = run('r-2', 'PARTIAL', []);
    record.reconciliations = {
      'ads-a': {
        runId: 'r-2',
        provider: 'amazon-ads',
        connection: 'ads-a',
        reconciledAt: '2026-03-15T12:01:00.000Z',
        key: 'reconciliation/provider=amazon-ads/connection=ads-a/r-2.jsonl',
        scopes: [],
        invoices: 3,
        totals: [
          { currency: 'USD', status: 'PAID_IN_FULL', invoices: 2, total: '10.5', tax: '1', amountDue: '0' },
          { currency: 'USD', status: 'ISSUED', invoices: 1, total: '3', tax: '0', amountDue: '3' },
        ],
        documentsMissing: 0,
        gaps: 2,
        gapsByCode: { 'not-in-api': 1, 'amount-differs': 1 },
      },
    };
    const summary = buildSummary({
      connections: [connection('ads-a'), connection('ads-b')],
      runs: new Map([['r-2', record]]),
      runOf: new Map([
        ['ads-a', 'r-2'],
        ['ads-b', 'r-2'],
      ]),
      notImplemented: new Set(),
      dlq: [],
      landed: {},
    });
    expect(summary.rows.map((r) => r.gaps)).toEqual([2, undefined]);
    const text = formatSummary(summary);
    expect(text).toContain(
      'ads-a: 2 gap(s): not-in-api 1, amount-differs 1; 3 invoice(s) in the window; reconciliation/provider=amazon-ads/connection=ads-a/r-2.jsonl',
    );
    expect(text).toContain('    USD: PAID_IN_FULL 2 (10.5), ISSUED 1 (3)');
    expect(summary.partial).toBe(true);
  });
});
