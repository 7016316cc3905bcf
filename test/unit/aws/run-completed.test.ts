import { afterEach, describe, expect, it, vi } from 'vitest';
import { announceRunCompleted, runCompletedDetail } from '../../../shared/aws/run-completed.ts';
import type { RunRecord } from '../../../shared/aws/run-ledger.ts';

const run: RunRecord = {
  runId: 'r-1',
  status: 'FAILED',
  createdAt: '2026-03-01T10:00:00.000Z',
  updatedAt: '2026-03-01T10:05:00.000Z',
  request: {
    provider: 'sp-api',
    connections: ['sp-a', 'sp-b'],
    window: { from: '2026-02-01', to: '2026-02-28' },
    source: 'schedule',
  },
  pending: 0,
  connections: { 'sp-a': { invoices: 3, bytes: 100 }, 'sp-b': { invoices: 2, exportsFailed: 1 } },
  failures: [{ at: '2026-03-01T10:04:00.000Z', connection: 'sp-b', messageType: 'poll', reason: 'DEADLINE' }],
  problems: [],
  monthFiles: ['invoices/provider=sp-api/issue_month=2026-02/sp-a-M.jsonl'],
  reconciliations: {
    'sp-a': {
      runId: 'r-1',
      provider: 'sp-api',
      connection: 'sp-a',
      reconciledAt: '2026-03-01T10:04:30.000Z',
      key: 'reconciliation/provider=sp-api/connection=sp-a/r-1.jsonl',
      scopes: [],
      invoices: 3,
      totals: [],
      documentsMissing: 0,
      gaps: 1,
      gapsByCode: { 'xml-missing': 1 },
    },
  },
};

/** EMF lines Powertools writes to stdout while `fn` runs. */
async function emfDuring(fn: () => Promise<void>): Promise<Array<Record<string, unknown>>> {
  const lines: Array<Record<string, unknown>> = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    const text = String(chunk);
    if (text.includes('"_aws"')) lines.push(JSON.parse(text) as Record<string, unknown>);
    return true;
  });
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return lines;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('run-completed event', () => {
  it('carries the run id, connections, window, outcome, counts per connection and summed, month files and control totals', () => {
    expect(runCompletedDetail(run, 'FAILED', new Date('2026-03-01T10:05:01.000Z'))).toEqual({
      runId: 'r-1',
      outcome: 'FAILED',
      provider: 'sp-api',
      connections: ['sp-a', 'sp-b'],
      window: { from: '2026-02-01', to: '2026-02-28' },
      source: 'schedule',
      startedAt: '2026-03-01T10:00:00.000Z',
      completedAt: '2026-03-01T10:05:01.000Z',
      counts: run.connections,
      totals: { invoices: 5, bytes: 100, exportsFailed: 1 },
      failures: 1,
      problems: 0,
      monthFiles: ['invoices/provider=sp-api/issue_month=2026-02/sp-a-M.jsonl'],
      reconciliations: {
        'sp-a': {
          gaps: 1,
          gapsByCode: { 'xml-missing': 1 },
          key: 'reconciliation/provider=sp-api/connection=sp-a/r-1.jsonl',
        },
      },
    });
  });

  it('takes any status string as the outcome (PARTIAL included)', () => {
    expect(runCompletedDetail(run, 'PARTIAL', new Date()).outcome).toBe('PARTIAL');
  });

  it('counts the outcome under {status} and {provider, status}, inside a function only', async () => {
    const ledger = { getRun: async () => run };
    const inFunction = await emfDuring(() =>
      announceRunCompleted(ledger, 'r-1', 'PARTIAL', {
        env: { AWS_LAMBDA_FUNCTION_NAME: 'sp-api-invoices' },
      }),
    );
    expect(inFunction).toHaveLength(1);
    expect(inFunction[0]).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'InvoiceIngest',
            Dimensions: [['status'], ['status', 'provider']],
            Metrics: [{ Name: 'RunsCompleted', Unit: 'Count' }],
          },
        ],
      },
      status: 'PARTIAL',
      provider: 'sp-api',
      RunsCompleted: 1,
    });
    expect(inFunction[0]).not.toHaveProperty('service');
    expect(await emfDuring(() => announceRunCompleted(ledger, 'r-1', 'FAILED', { env: {} }))).toEqual([]);
  });

  it('never throws: the run has settled whatever the announcement meets', async () => {
    const broken = {
      getRun: async (): Promise<RunRecord | undefined> => {
        throw new Error('table unavailable');
      },
    };
    const lines = await emfDuring(() =>
      announceRunCompleted(broken, 'r-1', 'FAILED', {
        env: { AWS_LAMBDA_FUNCTION_NAME: 'export-poller', RUN_EVENTS_QUEUE_URL: 'http://127.0.0.1:9/q' },
      }),
    );
    // The alarm still hears of it, under {status} alone.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 'FAILED', RunsCompleted: 1 });
    expect(lines[0]).not.toHaveProperty('provider');
  });
});
