/** What the run reconciler did, in npm start's summary (pending documents: summary.test.ts). */
import { describe, expect, it } from 'vitest';
import { buildSummary, formatSummary } from '../../../infra/local/summary.ts';
import type { RunRecord } from '../../../shared/aws/run-ledger.ts';
import type { Connection } from '../../../shared/config/schema.ts';

const connection = { id: 'sp-br', provider: 'sp-api' } as Connection;
const run: RunRecord = {
  runId: 'r-1',
  status: 'FAILED',
  createdAt: '2026-03-01T06:00:00.000Z',
  updatedAt: '2026-03-01T06:10:00.000Z',
  request: { provider: 'sp-api', connections: ['sp-br'], source: 'local' },
  pending: 0,
  connections: { 'sp-br': { invoices: 4 } },
  failures: [
    {
      at: '2026-03-01T06:10:00.000Z',
      connection: 'sp-br',
      messageType: 'fetch',
      reason:
        'fetch message reached the sp-api-invoices DLQ without being settled (timeout or out of memory?)',
    },
  ],
  problems: [],
  monthFiles: [],
};

describe('the local summary', () => {
  it('prints what the run reconciler did: the message found in a DLQ, the runs stopped and settled', () => {
    const summary = buildSummary({
      connections: [connection],
      runs: new Map([['r-1', run]]),
      runOf: new Map([['sp-br', 'r-1']]),
      notImplemented: new Set(),
      dlq: [],
      landed: {},
    });
    summary.reconciled = {
      running: 2,
      deadMessages: [
        {
          runId: 'r-1',
          queue: 'sp-api-invoices',
          messageId: 'm-1',
          messageType: 'fetch',
          connection: 'sp-br',
        },
      ],
      stopped: [{ runId: 'r-0', pending: 2, quietSince: '2026-02-28T06:00:00.000Z' }],
      settled: [
        { runId: 'r-1', status: 'FAILED', cause: 'DLQ' },
        { runId: 'r-0', status: 'FAILED', cause: 'STOPPED' },
      ],
      markersDropped: 0,
    };
    expect(summary.rows[0]?.status).toBe('FAILED');
    const text = formatSummary(summary);
    expect(text).toContain(
      [
        'run reconciler (a run was still RUNNING once every queue was empty):',
        '  sp-br: a fetch message of run r-1 reached the sp-api-invoices DLQ without being settled (timeout or out of memory?)',
        '  run r-0: stopped moving with 2 message(s) pending since 2026-02-28T06:00:00.000Z',
        '  run r-1 settled FAILED (DLQ)',
        '  run r-0 settled FAILED (STOPPED)',
      ].join('\n'),
    );
    expect(text).not.toMatch(/running/);
  });
});
