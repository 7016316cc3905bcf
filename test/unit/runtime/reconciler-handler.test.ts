import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RunLedger } from '../../../shared/aws/run-ledger.ts';
import { peekDlq } from '../../../shared/jobs/peek-dlq.ts';
import { RECONCILE_QUEUES_ENV } from '../../../shared/runtime/reconciler-env.ts';
import { reconcilerHandler } from '../../../shared/runtime/reconciler-handler.ts';
import { type SqsServer, startSqsServer } from '../../helpers/sqs-server.ts';
import { type StateTable, startStateTable } from '../../helpers/state-table.ts';

/** The run-reconciler function as Lambda runs it: its environment, the SDK's own clients, its EMF lines. */

let db: StateTable;
let sqs: SqsServer;
let dlqUrl: string;

beforeAll(async () => {
  db = await startStateTable();
  sqs = await startSqsServer();
  dlqUrl = await sqs.queue('sp-api-invoices-dlq');
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_LAMBDA_FUNCTION_NAME: 'run-reconciler',
    STATE_TABLE: db.table,
    [RECONCILE_QUEUES_ENV]: JSON.stringify([
      { queue: 'sp-api-invoices', dlqUrl, maxReceiveCount: 5, visibilityTimeoutSeconds: 720 },
    ]),
    RUN_STALE_AFTER_MINUTES: '0',
    POWERTOOLS_LOG_LEVEL: 'CRITICAL',
  });
});
afterAll(async () => {
  await db?.close();
  await sqs?.close();
});

describe('run-reconciler handler', () => {
  it('settles from the DLQs and by age, answers its report and counts RunsReconciled under {cause} only', async () => {
    const ledger = new RunLedger(db.ddb, db.table);
    const request = { provider: 'sp-api' as const, connections: ['sp-br'], source: 'schedule' as const };
    await ledger.ensureRun('r-dlq', request, 1);
    await ledger.ensureRun('r-stale', request, 1);
    const body = { v: 1, type: 'poll', runId: 'r-dlq', provider: 'sp-api', connection: 'sp-br' };
    await sqs.sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: JSON.stringify(body) }));
    await new Promise((r) => setTimeout(r, 5));

    const lines: Array<Record<string, unknown>> = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      const text = String(chunk);
      if (text.includes('"_aws"')) lines.push(JSON.parse(text) as Record<string, unknown>);
      return true;
    });
    const report = await reconcilerHandler()().finally(() => spy.mockRestore());

    expect(report.settled.sort((a, b) => a.runId.localeCompare(b.runId))).toEqual([
      { runId: 'r-dlq', status: 'FAILED', cause: 'DLQ' },
      { runId: 'r-stale', status: 'FAILED', cause: 'STOPPED' },
    ]);
    const reconciled = lines.filter((l) => 'RunsReconciled' in l);
    expect(reconciled.map((l) => [l.cause, l.RunsReconciled]).sort()).toEqual([
      ['DLQ', 1],
      ['STOPPED', 1],
    ]);
    for (const l of reconciled) {
      expect(l._aws).toMatchObject({
        CloudWatchMetrics: [
          { Namespace: 'InvoiceIngest', Dimensions: [['cause']], Metrics: [{ Name: 'RunsReconciled' }] },
        ],
      });
      expect(l).not.toHaveProperty('service');
    }
    // The settlings were announced (RunsCompleted) by the ledger's own path.
    expect(lines.filter((l) => l.RunsCompleted === 1 && l.status === 'FAILED')).toHaveLength(2);
    // The DLQ keeps its message for the operator.
    const again = await reconcilerHandler()();
    expect(again).toMatchObject({ running: 0, settled: [] });
    expect(await peekDlq(sqs.sqs, dlqUrl, { waitTimeSeconds: 0 })).toHaveLength(1);
  });
});
